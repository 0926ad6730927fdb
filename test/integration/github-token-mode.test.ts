// GitHub in token mode through the operator: a Repository with a fine-grained personal token (no App) and
// spec.webhook.managed: true gets a repository webhook Baton creates, repairs and deletes on the GitHub simulator,
// exactly as on Data Center; a token without "Webhooks: Read and write" is told so. A BitbucketProjectToken naming
// a GitHub repository tracks the token's expiry from what GitHub states on every answer
// (`github-authentication-token-expiration`), warns before it, and says so when the token has expired.
import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import type { BitbucketProjectToken } from "../../src/api/token.ts";
import { Repositories } from "../../src/repositories/resource.ts";
import { Events } from "../../src/runtime/kube.ts";
import type { PersonalToken } from "../../src/simulator/github/control.ts";
import type { PermissionSet } from "../../src/simulator/github/permissions.ts";
import { Tokens } from "../../src/tokens/reconciler.ts";
import {
  condition,
  frozenClock,
  type GitHubOperatorWorld,
  githubOperatorWorld,
  githubPipeline,
} from "../support/github-world.ts";
import { waitFor } from "../support/wait.ts";

const webhookSecret = "tökën-möde-🪝";
const day = 86_400_000;
/** What Baton needs of a fine-grained token for its own calls, webhooks aside. */
const basePermissions = {
  contents: "read",
  metadata: "read",
  statuses: "write",
  pull_requests: "write",
  issues: "write",
} as const;

type Hook = {
  id: number;
  active: boolean;
  events: string[];
  config: { url: string; secret: string | null; content_type: string; insecure_ssl: string };
};

describe("GitHub token mode through the operator", () => {
  let w: GitHubOperatorWorld;
  const closers: (() => Promise<void> | void)[] = [];
  const scope = { after: (fn: () => Promise<void> | void) => closers.push(fn) };
  let intake: string;

  const hooksOf = (repo: string) => w.sim.hooks({ owner: "octo-org", repo }) as unknown as Hook[];
  const repository = (name: string) => w.kube.get(Repositories, { namespace: w.ns, name });
  const poke = (resource: typeof Repositories | typeof Tokens, name: string) =>
    w.kube.patch(
      resource as typeof Repositories,
      { namespace: w.ns, name },
      { metadata: { annotations: { "baton.dev/reconcile-requested-at": `${Date.now()}-${Math.random()}` } } },
    );
  const pat = (repo: string, permissions: PermissionSet, extra: Partial<{ expiresAt: number }> = {}) =>
    w.sim.personalToken({ user: "mona", owner: "octo-org", repositories: [repo], permissions, ...extra });
  const managedRepository = (name: string, secretName: string, cloneSecret?: string) =>
    w.kube.create(Repositories, {
      apiVersion: "baton.dev/v1alpha1",
      kind: "Repository",
      metadata: { name, namespace: w.ns },
      spec: {
        url: `${w.sim.url}/octo-org/${name}`,
        provider: "github",
        secretRef: { name: secretName },
        ...(cloneSecret ? { cloneTokenRef: { kind: "Secret", name: cloneSecret } } : {}),
        webhook: { managed: true, scope: "repository", secretRef: { name: "hook", key: "secret" } },
      },
    } as never);
  const events = async (name: string) =>
    (await w.kube.list(Events, { namespace: w.ns })).items.filter(
      (e) => (e as { involvedObject?: { name?: string } }).involvedObject?.name === name,
    ) as { reason?: string; type?: string; message?: string }[];

  before(async () => {
    w = await githubOperatorWorld(scope, { simulator: frozenClock() });
    intake = w.intakeUrl;
    w.sim.createAccount({ login: "octo-org", type: "Organization" });
    w.sim.createAccount({ login: "mona" });
    for (const name of ["hooked", "no-hooks", "expiring"]) {
      await w.sim.createRepository({ owner: "octo-org", name, files: { ".tekton/build.yaml": githubPipeline } });
      w.sim.setCollaborator({ owner: "octo-org", repo: name, login: "mona", role: "admin" });
    }
    await w.secret("hook", { secret: webhookSecret });
  });

  after(async () => {
    for (const close of closers.reverse()) await close();
  });

  test("a managed webhook: created at the intake's GitHub path with Baton's events and secret, and a signed push through it runs", async () => {
    const token = pat("hooked", { ...basePermissions, repository_hooks: "write" });
    const clone = pat("hooked", { contents: "read", metadata: "read" });
    await w.secret("hooked-pat", { token: token.token });
    await w.secret("hooked-clone", { token: clone.token });
    const mark = w.sim.markRequests();
    await managedRepository("hooked", "hooked-pat", "hooked-clone");
    const synced = await waitFor(
      async () => {
        const r = await repository("hooked");
        return condition(r, "WebhookSynced")?.status === "True" && condition(r, "Ready")?.status === "True"
          ? r
          : undefined;
      },
      { message: "the token-mode Repository's webhook to be synced" },
    );
    assert.deepEqual(synced.metadata?.finalizers, ["baton.dev/webhook"]);
    const hooks = hooksOf("hooked");
    assert.equal(hooks.length, 1, JSON.stringify(hooks));
    const calls = w.sim.requests({ since: mark }).map((r) => `${r.method} ${r.route ?? r.path} ${r.status}`);
    console.log(
      `GitHub calls from a token-mode Repository's creation to a synced webhook: ${calls.length}\n${calls.join("\n")}`,
    );
    const [hook] = hooks;
    assert.equal(hook?.config.url, intake);
    assert.deepEqual([...(hook?.events ?? [])].sort(), ["issue_comment", "pull_request", "push"]);
    assert.equal(hook?.config.secret, webhookSecret);
    assert.equal(hook?.active, true);
    assert.equal(String(synced.status?.webhook?.id), String(hook?.id), "status records the hook GitHub made");
    // GitHub itself never shows the secret back.
    const listed = await fetch(`${w.sim.url}/api/v3/repos/octo-org/hooked/hooks`, {
      headers: { authorization: `Bearer ${token.token}` },
    });
    const [shown] = (await listed.json()) as Hook[];
    assert.equal(shown?.config.secret, "********");

    const pushed = await w.sim.push({ owner: "octo-org", repo: "hooked", branch: "main", files: { "a.txt": "a\n" } });
    await w.sim.settled();
    const [run] = await w.runsAt(pushed.sha);
    assert.ok(run);
    assert.equal(await w.runToken(run), clone.token, "the run holds the clone token, never the webhook-capable one");
    const delivery = w.sim.deliveries().find((d) => d.eventKey === "push" && d.body.includes(pushed.sha));
    assert.equal(delivery?.url, intake, "delivered through Baton's hook");
    assert.equal(delivery?.status, 200);
  });

  test("a hook edited behind Baton's back (URL, events, deactivated, form bodies, TLS unchecked) is repaired in place", async () => {
    const [before] = hooksOf("hooked");
    assert.ok(before);
    const admin = pat("hooked", { repository_hooks: "write" });
    const edit = await fetch(`${w.sim.url}/api/v3/repos/octo-org/hooked/hooks/${before.id}`, {
      method: "PATCH",
      headers: { authorization: `Bearer ${admin.token}`, "content-type": "application/json" },
      body: JSON.stringify({
        active: false,
        events: ["push"],
        config: { url: "https://elsewhere.example/ci", content_type: "form", insecure_ssl: "1" },
      }),
    });
    assert.equal(edit.status, 200);
    const mark = w.sim.markRequests();
    await poke(Repositories, "hooked");
    const repaired = await waitFor(
      () => {
        const [hook] = hooksOf("hooked");
        return hook?.config.url === intake &&
          hook.active &&
          hook.events.length === 3 &&
          hook.config.content_type === "json"
          ? hook
          : undefined;
      },
      { message: "the hook repaired" },
    );
    assert.equal(repaired.id, before.id, "the same hook, rewritten, not a second one");
    const calls = w.sim.requests({ since: mark }).map((r) => `${r.method} ${r.route ?? r.path} ${r.status}`);
    console.log(`GitHub calls for one repair: ${calls.length}\n${calls.join("\n")}`);
    assert.equal(hooksOf("hooked").length, 1);
    assert.equal(repaired.config.secret, webhookSecret);
    const told = await waitFor(async () => (await events("hooked")).find((e) => e.reason === "DriftRepaired"), {
      message: "an Event naming the repair",
    });
    assert.match(told.message ?? "", /url, active, events, content_type, insecure_ssl had been changed in GitHub/);
    assert.equal(repaired.config.insecure_ssl, "0");
  });

  test("a token without Webhooks: write gets WebhookSynced False naming the permission to add, and no hook", async () => {
    const token = pat("no-hooks", basePermissions);
    await w.secret("no-hooks-pat", { token: token.token });
    await managedRepository("no-hooks", "no-hooks-pat");
    const refused = await waitFor(
      async () => {
        const r = await repository("no-hooks");
        return condition(r, "WebhookSynced")?.status === "False" ? r : undefined;
      },
      { message: "WebhookSynced False for the token without webhook permission" },
    );
    const synced = condition(refused, "WebhookSynced");
    assert.equal(synced?.reason, "InsufficientPermissions");
    assert.match(synced?.message ?? "", /Webhooks: Read and write/);
    assert.equal(condition(refused, "TokenReady")?.status, "True", "the token itself works");
    assert.deepEqual(hooksOf("no-hooks"), []);
    assert.ok(!JSON.stringify(refused.status).includes(token.token));
  });

  test("deleting the Repository deletes its hook, and only then lets the Repository go", async () => {
    await w.kube.delete(Repositories, { namespace: w.ns, name: "hooked" });
    await waitFor(async () => (await repository("hooked")) === undefined, { message: "the Repository gone" });
    assert.deepEqual(hooksOf("hooked"), []);
  });

  test("a BitbucketProjectToken for a GitHub token: GitHub's stated expiry, the warning, and a clear Expired", async () => {
    const expiresAt = w.sim.clock.now() + 3 * day;
    const token: PersonalToken = pat("expiring", { ...basePermissions, repository_hooks: "write" }, { expiresAt });
    const clone = pat("expiring", { contents: "read", metadata: "read" });
    await w.secret("expiring-clone", { token: clone.token });
    // The annotation is a person's note and disagrees with GitHub: GitHub wins, with a Warning.
    await w.secret("gh-token", { token: token.token }, { "baton.dev/expires-at": "2099-01-01T00:00:00Z" });
    await w.kube.create(Tokens, {
      apiVersion: "baton.dev/v1alpha1",
      kind: "BitbucketProjectToken",
      metadata: { name: "gh", namespace: w.ns },
      spec: {
        server: w.sim.url,
        provider: "github",
        project: "octo-org",
        repository: "expiring",
        permissions: ["REPO_READ"],
        secretName: "gh-token",
      },
    } as never);
    await w.kube.create(Repositories, {
      apiVersion: "baton.dev/v1alpha1",
      kind: "Repository",
      metadata: { name: "expiring", namespace: w.ns },
      spec: {
        url: `${w.sim.url}/octo-org/expiring`,
        provider: "github",
        tokenRef: { name: "gh" },
        cloneTokenRef: { kind: "Secret", name: "expiring-clone" },
        webhook: { managed: true, scope: "repository", secretRef: { name: "hook", key: "secret" } },
      },
    } as never);
    const tracked = await waitFor(
      async () => {
        const t = (await w.kube.get(Tokens, { namespace: w.ns, name: "gh" })) as BitbucketProjectToken | undefined;
        return condition(t, "Ready")?.status === "True" ? t : undefined;
      },
      { message: "the GitHub token Ready" },
    );
    assert.equal(tracked.status?.notAfter, token.expiresAt, "status.notAfter is the expiry GitHub states");
    assert.equal(condition(tracked, "ExpiringSoon")?.status, "True");
    assert.match(condition(tracked, "ExpiringSoon")?.message ?? "", /as GitHub states/);
    await waitFor(
      async () => {
        const recorded = await events("gh");
        return ["ExpiringSoon", "ExpiryMismatch"].every((reason) =>
          recorded.some((e) => e.reason === reason && e.type === "Warning"),
        );
      },
      { message: "ExpiringSoon and ExpiryMismatch Warnings" },
    );
    const connected = await waitFor(
      async () => {
        const r = await repository("expiring");
        return condition(r, "Ready")?.status === "True" ? r : undefined;
      },
      { message: "the Repository using the token through tokenRef, its webhook synced" },
    );
    assert.match(
      condition(connected, "TokenReady")?.message ?? "",
      /GitHub accepts the token from BitbucketProjectToken gh/,
    );
    assert.equal(hooksOf("expiring").length, 1);
    // The runner reads .tekton with the BitbucketProjectToken's token; the run clones with the clone token.
    const pushed = await w.sim.push({ owner: "octo-org", repo: "expiring", branch: "main", files: { "e.txt": "e\n" } });
    await w.sim.settled();
    const [run] = await w.runsAt(pushed.sha);
    assert.ok(run);
    assert.equal(await w.runToken(run), clone.token);

    // Past GitHub's expiry on the simulator clock: GitHub refuses it, and both objects say why.
    w.sim.clock.advance(3 * day + 1000);
    await poke(Tokens, "gh");
    const expired = await waitFor(
      async () => {
        const t = (await w.kube.get(Tokens, { namespace: w.ns, name: "gh" })) as BitbucketProjectToken | undefined;
        return condition(t, "Ready")?.reason === "Expired" ? t : undefined;
      },
      { message: "Ready=False Expired" },
    );
    assert.equal(condition(expired, "Ready")?.status, "False");
    assert.match(
      condition(expired, "Ready")?.message ?? "",
      new RegExp(`expired at ${token.expiresAt}.*GitHub refuses it; write a new one`),
    );
    // No poke: the refusal drops the listings made with the token, and the token's new status wakes the Repository.
    const refused = await waitFor(
      async () => {
        const r = await repository("expiring");
        return condition(r, "TokenReady")?.status === "False" ? r : undefined;
      },
      { message: "the Repository's TokenReady False" },
    );
    assert.match(condition(refused, "TokenReady")?.message ?? "", /GitHub refused the token .*expired/);
    const seen = JSON.stringify([expired, refused, await events("gh"), await events("expiring")]);
    assert.ok(!seen.includes(token.token), "the token appears in no status or Event");
  });

  test("a GitHub token without expiry: no expiry tracked and no warning, said so", async () => {
    const forever = w.sim.personalToken({
      user: "mona",
      owner: "octo-org",
      repositories: ["expiring"],
      permissions: basePermissions,
      expiresInDays: null,
    });
    await w.secret("forever-token", { token: forever.token });
    await w.kube.create(Tokens, {
      apiVersion: "baton.dev/v1alpha1",
      kind: "BitbucketProjectToken",
      metadata: { name: "forever", namespace: w.ns },
      spec: {
        server: w.sim.url,
        provider: "github",
        project: "octo-org",
        repository: "expiring",
        permissions: ["REPO_READ"],
        secretName: "forever-token",
      },
    } as never);
    const ready = await waitFor(
      async () => {
        const t = (await w.kube.get(Tokens, { namespace: w.ns, name: "forever" })) as BitbucketProjectToken | undefined;
        return condition(t, "Ready")?.status === "True" ? t : undefined;
      },
      { message: "the token without expiry Ready" },
    );
    assert.equal(ready.status?.notAfter, undefined);
    assert.equal(condition(ready, "ExpiringSoon")?.status, "False");
    assert.equal(condition(ready, "ExpiringSoon")?.reason, "NoExpiry");
    assert.ok(!(await events("forever")).some((e) => e.type === "Warning"));
  });
});
