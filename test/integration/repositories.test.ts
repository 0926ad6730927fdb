// Repository end to end: the real API server, Baton in-process, and the Bitbucket simulator. What users notice:
// the webhook Bitbucket holds (URL, events, a secret that verifies deliveries), drift repaired, hooks gone with
// their Repositories, one shared project hook, conditions that say what is wrong, duplicates refused, and pull
// requests whose delivery was lost built anyway.
import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { freePort } from "../../hack/lib/net.ts";
import type { Repository } from "../../src/api/repository.ts";
import type { BitbucketProjectToken } from "../../src/api/token.ts";
import type { PullRequestSnapshot } from "../../src/providers/provider.ts";
import { projectWebhookSecretName, Repositories, webhookSecretName } from "../../src/repositories/resource.ts";
import { defineResource, Events, type KubeClient, Secrets } from "../../src/runtime/kube.ts";
import type { Event, KubeObject } from "../../src/runtime/kube-types.ts";
import {
  type Simulator,
  type SimulatorOptions,
  signBody,
  startWebhookReceiver,
  type WebhookReceiver,
} from "../../src/simulator/index.ts";
import { statusKey } from "../../src/status/report.ts";
import { Tokens } from "../../src/tokens/reconciler.ts";
import { createNamespace } from "../support/cluster.ts";
import { startOperator, type TestOperator, testKube, useSimulator } from "../support/operator.ts";
import { waitFor } from "../support/wait.ts";

type T = Parameters<typeof createNamespace>[0];

interface World {
  ns: string;
  sim: Simulator;
  kube: KubeClient;
  receiver: WebhookReceiver;
  /** The project token Baton uses (PROJECT_ADMIN + REPO_ADMIN on PRJ), in Secret bb-token. */
  token: string;
  tokenId: string;
}

const PipelineRuns = defineResource<KubeObject>({
  apiVersion: "tekton.dev/v1",
  kind: "PipelineRun",
  plural: "pipelineruns",
});

async function world(
  t: T,
  options: { simulator?: SimulatorOptions; repos?: string[]; files?: Record<string, string> } = {},
) {
  const ns = await createNamespace(t);
  const sim = await useSimulator(t, options.simulator ?? {});
  const receiver = await startWebhookReceiver();
  t.after(() => receiver.close());
  sim.createUser({ name: "admin", password: "admin-password", admin: true });
  sim.createProject({ key: "PRJ" });
  for (const slug of options.repos ?? ["app"])
    await sim.createRepository({ project: "PRJ", slug, files: options.files ?? { "README.md": `# ${slug}\n` } });
  const created = sim.createToken({
    scope: { kind: "project", project: "PRJ" },
    name: "baton",
    permissions: ["PROJECT_ADMIN", "REPO_ADMIN"],
  });
  const kube = await testKube();
  await secret(kube, ns, "bb-token", { token: created.token });
  return { ns, sim, kube, receiver, token: created.token, tokenId: created.id } satisfies World;
}

function secret(kube: KubeClient, namespace: string, name: string, data: Record<string, string>) {
  return kube.create(Secrets, { apiVersion: "v1", kind: "Secret", metadata: { name, namespace }, stringData: data });
}

function operator(t: T, w: World, extra: Parameters<typeof startOperator>[2] = {}): Promise<TestOperator> {
  return startOperator(t, w.ns, {
    ...extra,
    // The project webhook Secrets live in the operator's namespace: this test's.
    config: { intakeUrl: w.receiver.url, podNamespace: w.ns, ...extra.config },
  });
}

function repositoryObject(
  w: World,
  name: string,
  spec: Partial<Repository["spec"]> & { slug?: string } = {},
): Repository {
  const { slug, ...rest } = spec;
  return {
    apiVersion: "baton.dev/v1alpha1",
    kind: "Repository",
    metadata: { name, namespace: w.ns },
    spec: {
      url: `${w.sim.url}/projects/PRJ/repos/${slug ?? name}`,
      secretRef: { name: "bb-token", key: "token" },
      ...rest,
    },
  } as Repository;
}

const create = (w: World, name: string, spec: Parameters<typeof repositoryObject>[2] = {}) =>
  w.kube.create(Repositories, repositoryObject(w, name, spec));
const get = (w: World, name: string) => w.kube.get(Repositories, { namespace: w.ns, name });

function condition(repo: Repository | undefined, type: string) {
  return repo?.status?.conditions?.find((c) => c.type === type);
}

async function waitForRepository(
  w: World,
  name: string,
  what: string,
  ok: (r: Repository) => boolean,
  timeout = 30_000,
) {
  return waitFor(
    async () => {
      const repo = await get(w, name);
      return repo && ok(repo) ? repo : undefined;
    },
    { message: `${name}: ${what}`, timeout },
  );
}

const synced = (r: Repository) =>
  condition(r, "WebhookSynced")?.status === "True" &&
  condition(r, "WebhookSynced")?.observedGeneration === r.metadata.generation;

/** Flux's convention, which Baton honours: a new value asks for a check against Bitbucket now. */
async function poke(w: World, name: string) {
  await w.kube.patch(
    Repositories,
    { namespace: w.ns, name },
    { metadata: { annotations: { "baton.dev/reconcile-requested-at": `${Date.now()}-${Math.random()}` } } },
  );
}

async function secretValue(w: World, namespace: string, name: string, key = "secret"): Promise<string | undefined> {
  const s = await w.kube.get(Secrets, { namespace, name });
  return s?.data?.[key] ? Buffer.from(s.data[key], "base64").toString() : undefined;
}

async function events(w: World, name: string): Promise<{ reason: string; message: string; type: string }[]> {
  const list = await w.kube.list(Events, { namespace: w.ns });
  return (list.items as (Event & { involvedObject?: { name?: string } })[])
    .filter((e) => e.involvedObject?.name === name)
    .map((e) => ({ reason: e.reason ?? "", message: e.message ?? "", type: e.type ?? "" }));
}

const ourHooks = (w: World, filter: { project?: string; repo?: string } = { project: "PRJ" }) =>
  w.sim.webhooks(filter).filter((h) => h.name === "baton");

/** Replaces a hook the way a person in the Bitbucket UI (or a script) would: PUT with admin credentials. */
async function editHook(w: World, path: string, body: Record<string, unknown>) {
  const res = await fetch(`${w.sim.url}/rest/api/latest/projects/PRJ${path}`, {
    method: "PUT",
    headers: {
      authorization: `Basic ${Buffer.from("admin:admin-password").toString("base64")}`,
      "content-type": "application/json",
    },
    body: JSON.stringify(body),
  });
  assert.equal(res.status, 200, await res.text());
}

const allEvents = [
  "pr:comment:added",
  "pr:declined",
  "pr:deleted",
  "pr:from_ref_updated",
  "pr:merged",
  "pr:modified",
  "pr:opened",
  "repo:refs_changed",
];

/** Nothing Baton shows users may contain a credential. */
async function assertNoSecrets(w: World, op: TestOperator, names: string[], secrets: string[]) {
  const shown = JSON.stringify([
    await Promise.all(names.map((n) => get(w, n).then((r) => r?.status))),
    await Promise.all(names.map((n) => events(w, n))),
    op.logs,
  ]);
  for (const value of secrets) assert.ok(!shown.includes(value), "a secret leaked into status, Events or logs");
}

describe("repository webhook", () => {
  test("created with the intake URL, every event and a secret that verifies deliveries; drift repaired; deleted with the Repository", async (t) => {
    const w = await world(t);
    const op = await operator(t, w);
    await create(w, "app");
    const repo = await waitForRepository(w, "app", "webhook synced", synced);

    assert.equal(condition(repo, "Ready")?.status, "True");
    assert.equal(condition(repo, "TokenReady")?.status, "True");
    assert.deepEqual([repo.status?.server, repo.status?.project, repo.status?.slug], [w.sim.url, "PRJ", "app"]);
    const [hook, ...others] = ourHooks(w, { project: "PRJ", repo: "app" });
    assert.ok(hook, "Bitbucket has Baton's webhook");
    assert.equal(others.length, 0);
    assert.equal(hook.url, w.receiver.url);
    assert.deepEqual([...hook.events].sort(), allEvents);
    assert.equal(hook.active, true);
    assert.equal(repo.status?.webhook?.id, hook.id);
    assert.equal(repo.status?.webhook?.scope, "repository");
    assert.ok(repo.status?.webhook?.lastSyncTime);

    // The generated secret: a Secret owned by the Repository, and deliveries signed with it verify.
    const generated = await w.kube.get(Secrets, { namespace: w.ns, name: webhookSecretName(repo) });
    assert.equal(generated?.metadata?.ownerReferences?.[0]?.name, "app");
    assert.equal(generated?.metadata?.labels?.["baton.dev/watched"], "true");
    const value = await secretValue(w, w.ns, webhookSecretName(repo));
    assert.ok(value && value.length >= 32);
    await w.sim.push({ project: "PRJ", repo: "app", branch: "main", files: { "a.txt": "a\n" } });
    await w.sim.settled();
    const delivery = w.receiver.received.at(-1);
    assert.ok(delivery, "the push was delivered");
    assert.equal(delivery.headers["x-event-key"], "repo:refs_changed");
    assert.equal(delivery.headers["x-hub-signature"], signBody(value, delivery.body));
    assert.ok((await events(w, "app")).some((e) => e.reason === "Created"));

    // Someone points the hook elsewhere and clears its secret (a PUT without configuration does that).
    await editHook(w, `/repos/app/webhooks/${hook.id}`, {
      name: "baton",
      url: "https://elsewhere.example.com/hook",
      events: ["pr:opened"],
      active: false,
    });
    await poke(w, "app");
    await waitFor(
      () => {
        const now = ourHooks(w, { project: "PRJ", repo: "app" })[0];
        return now?.url === w.receiver.url && now.secret === value && now.active && now.events.length === 8;
      },
      { message: "the hook repaired" },
    );
    const repaired = await waitFor(async () => (await events(w, "app")).find((e) => e.reason === "DriftRepaired"), {
      message: "a DriftRepaired Event",
    });
    assert.match(repaired.message, /url/);
    assert.match(repaired.message, /secret/);

    // Other tools' hooks are never touched.
    const jenkins = w.sim.createWebhook({
      project: "PRJ",
      repo: "app",
      name: "jenkins",
      url: "https://jenkins.example.com/hook",
      events: ["repo:refs_changed"],
    });

    await w.kube.delete(Repositories, { namespace: w.ns, name: "app" });
    await waitFor(async () => (await get(w, "app")) === undefined, { message: "Repository gone (finalizer done)" });
    assert.deepEqual(ourHooks(w, { project: "PRJ", repo: "app" }), [], "Baton's hook is gone");
    assert.deepEqual(
      w.sim.webhooks({ project: "PRJ", repo: "app" }).map((h) => h.id),
      [jenkins.id],
      "the other tool's hook stays",
    );
    await assertNoSecrets(w, op, ["app"], [w.token, value]);
  });

  test("changing spec.webhook.events updates the hook at once, told as Updated", async (t) => {
    const w = await world(t);
    await operator(t, w);
    await create(w, "app");
    const first = await waitForRepository(w, "app", "synced", synced);
    await w.kube.patch(
      Repositories,
      { namespace: w.ns, name: "app" },
      { spec: { webhook: { events: ["pr:opened", "repo:refs_changed"] } } },
    );
    const updated = await waitForRepository(
      w,
      "app",
      "synced with two events",
      (r) => synced(r) && r.status?.webhook?.events?.join() === "pr:opened,repo:refs_changed",
    );
    assert.equal(updated.status?.webhook?.id, first.status?.webhook?.id, "the same hook, replaced");
    assert.deepEqual([...(ourHooks(w, { project: "PRJ", repo: "app" })[0]?.events ?? [])].sort(), [
      "pr:opened",
      "repo:refs_changed",
    ]);
    const reasons = (await events(w, "app")).map((e) => e.reason);
    assert.ok(reasons.includes("Updated"), `Events: ${reasons}`);
    assert.ok(!reasons.includes("DriftRepaired"));
  });

  test("a no-op drift check costs one Bitbucket call and writes nothing", async (t) => {
    const w = await world(t);
    await operator(t, w);
    await create(w, "app");
    const before = await waitForRepository(w, "app", "webhook synced", synced);
    const mark = w.sim.markRequests();
    await poke(w, "app");
    await waitFor(() => w.sim.requestCount({ since: mark, group: "webhooks" }) >= 1, { message: "the check" });
    // Let any follow-up reconcile (the annotation change, the status echo) run before counting.
    await new Promise((r) => setTimeout(r, 1500));
    // Catch-up's start-up pass (pull requests) is not webhook sync.
    const calls = w.sim.requests({ since: mark, group: ["webhooks", "repos", "application-properties"] });
    assert.deepEqual(
      calls.map((c) => `${c.method} ${c.route}`),
      ["GET /rest/api/latest/projects/:projectKey/repos/:repositorySlug/webhooks"],
    );
    const after = await get(w, "app");
    assert.deepEqual(after?.status, before.status, "status untouched, lastSyncTime included");
  });
});

describe("project webhook", () => {
  test("three Repositories share one project hook with the union of their events; it goes with the last", async (t) => {
    const w = await world(t, { repos: ["app1", "app2", "app3"] });
    await operator(t, w);
    await create(w, "app1", { webhook: { managed: true, scope: "project", events: ["pr:opened"] } });
    await create(w, "app2", { webhook: { managed: true, scope: "project", events: ["repo:refs_changed"] } });
    await create(w, "app3", { webhook: { managed: true, scope: "project", events: ["pr:opened", "pr:merged"] } });
    const union = ["pr:merged", "pr:opened", "repo:refs_changed"];
    const repos = await Promise.all(
      ["app1", "app2", "app3"].map((n) =>
        waitForRepository(
          w,
          n,
          "synced with the union of events",
          (r) => synced(r) && r.status?.webhook?.events?.join() === union.join(),
        ),
      ),
    );
    const hooks = ourHooks(w);
    assert.equal(hooks.length, 1, "one hook for the project");
    const [hook] = hooks;
    assert.equal(hook?.scope, "project");
    assert.deepEqual([...(hook?.events ?? [])].sort(), union);
    for (const r of repos) {
      assert.equal(r.status?.webhook?.id, hook?.id);
      assert.equal(r.status?.webhook?.scope, "project");
    }
    const shared = projectWebhookSecretName(w.sim.url, "PRJ");
    const before = await secretValue(w, w.ns, shared);
    assert.equal(hook?.secret, before, "signed with the project's shared Secret");

    // Someone deletes the shared Secret: a new one is generated and the hook re-signed, without waiting for a check.
    await w.kube.delete(Secrets, { namespace: w.ns, name: shared });
    await waitFor(
      async () => {
        const now = await secretValue(w, w.ns, shared);
        return now && now !== before && ourHooks(w)[0]?.secret === now;
      },
      { message: "a new shared secret on the hook" },
    );
    assert.equal(ourHooks(w).length, 1);

    for (const name of ["app1", "app2"]) {
      await w.kube.delete(Repositories, { namespace: w.ns, name });
      await waitFor(async () => (await get(w, name)) === undefined, { message: `${name} gone` });
    }
    assert.equal(ourHooks(w).length, 1, "still used by app3");
    await w.kube.delete(Repositories, { namespace: w.ns, name: "app3" });
    await waitFor(async () => (await get(w, "app3")) === undefined, { message: "app3 gone" });
    assert.deepEqual(ourHooks(w), [], "deleted with the last Repository");
    assert.equal(await w.kube.get(Secrets, { namespace: w.ns, name: shared }), undefined, "and its Secret");
  });

  test("the project hook's deliveries for a repository no Repository watches are ignored, not refused", async (t) => {
    const w = await world(t, { repos: ["app", "other"] });
    const port = await freePort();
    const op = await startOperator(t, w.ns, {
      config: { intakeUrl: `http://127.0.0.1:${port}/hooks/bitbucket`, intakePort: String(port), podNamespace: w.ns },
    });
    await create(w, "app", { webhook: { managed: true, scope: "project", events: ["repo:refs_changed"] } });
    await waitForRepository(w, "app", "synced", synced);
    // A push to the project's other repository: Bitbucket delivers it through the project hook, as it should.
    await w.sim.push({ project: "PRJ", repo: "other", branch: "main", files: { "o.txt": "o\n" } });
    await w.sim.settled();
    const [delivery] = w.sim.deliveries({ eventKey: "repo:refs_changed" });
    assert.equal(delivery?.status, 200, String(delivery?.responseBody));
    const metrics = await op.manager.metrics.text();
    assert.match(metrics, /^baton_webhook_events_total\{event="repo:refs_changed",outcome="ignored"\} 1$/m);
    assert.doesNotMatch(metrics, /outcome="unknown-repository"/);
    // Whoever does not hold the project hook's secret is still refused, and told nothing.
    const body = delivery?.body ?? "";
    const forged = await fetch(`http://127.0.0.1:${port}/hooks/bitbucket`, {
      method: "POST",
      headers: {
        "content-type": "application/json",
        "x-event-key": "repo:refs_changed",
        "x-hub-signature": signBody("not-the-secret", body),
      },
      body,
    });
    assert.equal(forged.status, 401);
    assert.doesNotMatch(await forged.text(), /other|PRJ/i);
  });

  test("a server without project webhooks: a repository hook instead, and a condition saying so", async (t) => {
    const w = await world(t, { simulator: { version: "8.5.0" } });
    await operator(t, w);
    await create(w, "app", { webhook: { managed: true, scope: "project" } });
    const repo = await waitForRepository(w, "app", "synced", synced);
    const webhookSynced = condition(repo, "WebhookSynced");
    assert.equal(webhookSynced?.reason, "RepositoryScopeFallback");
    assert.match(webhookSynced?.message ?? "", /8\.5\.0.*8\.9/);
    assert.equal(repo.status?.webhook?.scope, "repository");
    const [hook] = ourHooks(w, { project: "PRJ", repo: "app" });
    assert.equal(hook?.scope, "repository");
    // Signed with the project's secret, which is where the intake looks for a project-scope Repository.
    const shared = projectWebhookSecretName(w.sim.url, "PRJ");
    assert.equal(hook?.secret, await secretValue(w, w.ns, shared));

    await w.kube.delete(Repositories, { namespace: w.ns, name: "app" });
    await waitFor(async () => (await get(w, "app")) === undefined, { message: "gone" });
    assert.deepEqual(ourHooks(w, { project: "PRJ" }), []);
    assert.equal(await w.kube.get(Secrets, { namespace: w.ns, name: shared }), undefined);
  });
});

describe("tokens and permissions", () => {
  test("a rotated token Secret takes effect without a restart", async (t) => {
    const w = await world(t);
    await operator(t, w);
    await create(w, "app");
    const first = await waitForRepository(w, "app", "synced", synced);
    const next = w.sim.createToken({
      scope: { kind: "project", project: "PRJ" },
      name: "baton-2",
      permissions: ["REPO_ADMIN"],
    });
    await w.kube.patch(
      Secrets,
      { namespace: w.ns, name: "bb-token" },
      { data: { token: Buffer.from(next.token).toString("base64") } },
    );
    // The label Baton put on the user's Secret is what lets this change wake the Repository.
    assert.equal(
      (await w.kube.get(Secrets, { namespace: w.ns, name: "bb-token" }))?.metadata?.labels?.["baton.dev/watched"],
      "true",
    );
    await waitFor(() => w.sim.requestCount({ tokenId: next.id }) > 0, { message: "Baton calling with the new token" });
    assert.ok(w.sim.revokeToken(w.tokenId));

    // Still working: a hook edited afterwards is repaired with the new token.
    const hookId = first.status?.webhook?.id ?? 0;
    await editHook(w, `/repos/app/webhooks/${hookId}`, {
      name: "baton",
      url: "https://elsewhere.example.com/x",
      events: allEvents,
      active: true,
    });
    await poke(w, "app");
    await waitFor(() => ourHooks(w, { project: "PRJ", repo: "app" })[0]?.url === w.receiver.url, {
      message: "repaired",
    });
    const repo = await waitForRepository(
      w,
      "app",
      "still ready",
      (r) => condition(r, "Ready")?.status === "True" && synced(r),
    );
    assert.equal(condition(repo, "TokenReady")?.status, "True");
    assert.equal(w.sim.requestCount({ tokenId: w.tokenId, status: 401 }), 0, "the revoked token was not used again");
  });

  test("a token revoked in Bitbucket reads as Unauthorized, not as a missing permission", async (t) => {
    const w = await world(t);
    await operator(t, w);
    await create(w, "app");
    await waitForRepository(w, "app", "synced", synced);
    assert.ok(w.sim.revokeToken(w.tokenId));
    await poke(w, "app");
    const repo = await waitForRepository(
      w,
      "app",
      "TokenReady False",
      (r) => condition(r, "TokenReady")?.status === "False",
    );
    assert.equal(condition(repo, "TokenReady")?.reason, "Unauthorized");
    assert.match(condition(repo, "TokenReady")?.message ?? "", /invalid, expired or revoked/);
    assert.equal(condition(repo, "Ready")?.status, "False");
    assert.notEqual(condition(repo, "WebhookSynced")?.reason, "InsufficientPermissions");
  });

  test("tokenRef: a BitbucketProjectToken's Secret changing wakes the Repository", async (t) => {
    const w = await world(t);
    // Externally managed: the user writes the token into the Secret the BitbucketProjectToken names.
    await secret(w.kube, w.ns, "external-token", { token: w.token });
    await w.kube.create(Tokens, {
      apiVersion: "baton.dev/v1alpha1",
      kind: "BitbucketProjectToken",
      metadata: { name: "ci", namespace: w.ns },
      spec: { server: w.sim.url, project: "PRJ", permissions: ["REPO_ADMIN"], secretName: "external-token" },
    } as BitbucketProjectToken);
    await operator(t, w);
    await w.kube.create(Repositories, {
      ...repositoryObject(w, "app"),
      spec: { url: `${w.sim.url}/projects/PRJ/repos/app`, tokenRef: { name: "ci" } },
    } as Repository);
    const first = await waitForRepository(w, "app", "synced", synced);
    assert.match(condition(first, "TokenReady")?.message ?? "", /BitbucketProjectToken ci/);

    const next = w.sim.createToken({
      scope: { kind: "project", project: "PRJ" },
      name: "next",
      permissions: ["REPO_ADMIN"],
    });
    await w.kube.patch(
      Secrets,
      { namespace: w.ns, name: "external-token" },
      { data: { token: Buffer.from(next.token).toString("base64") } },
    );
    await waitFor(() => w.sim.requestCount({ tokenId: next.id }) > 0, { message: "Baton calling with the new token" });
  });

  test("401 and 404 become conditions that say what to fix; managed: false makes no webhook call", async (t) => {
    const w = await world(t, { repos: ["ro", "proj", "hands-off", "bad", "unsecret"] });
    const readOnly = w.sim.createToken({
      scope: { kind: "project", project: "PRJ" },
      name: "ro",
      permissions: ["REPO_READ"],
    });
    const repoAdmin = w.sim.createToken({
      scope: { kind: "project", project: "PRJ" },
      name: "ra",
      permissions: ["REPO_ADMIN"],
    });
    await secret(w.kube, w.ns, "ro-token", { token: readOnly.token });
    await secret(w.kube, w.ns, "ra-token", { token: repoAdmin.token });
    await secret(w.kube, w.ns, "bad-token", { token: "BBDC-bm90LWEtdG9rZW4tYXQtYWxsLXJlYWxseS1ub3Q" });
    const op = await operator(t, w);
    await create(w, "ro", { secretRef: { name: "ro-token", key: "token" } });
    await create(w, "proj", {
      secretRef: { name: "ra-token", key: "token" },
      webhook: { managed: true, scope: "project" },
    });
    await create(w, "bad", { secretRef: { name: "bad-token", key: "token" } });
    await create(w, "ghost");
    await create(w, "nowhere", { url: `${w.sim.url}/projects/NOPE/repos/app` } as Partial<Repository["spec"]>);
    await create(w, "missing-secret", { slug: "unsecret", secretRef: { name: "does-not-exist", key: "token" } });
    await create(w, "hands-off", {
      secretRef: { name: "ro-token", key: "token" },
      webhook: { managed: false, scope: "repository" },
    });

    const expect = async (name: string, type: string, status: string, reason: string, message?: RegExp) => {
      const repo = await waitForRepository(w, name, `${type}=${status} ${reason}`, (r) => {
        const c = condition(r, type);
        return c?.status === status && c.reason === reason;
      });
      if (message) assert.match(condition(repo, type)?.message ?? "", message);
      return repo;
    };
    const ro = await expect("ro", "WebhookSynced", "False", "InsufficientPermissions", /REPO_ADMIN/);
    assert.equal(condition(ro, "TokenReady")?.status, "True", "the token itself is fine");
    assert.equal(condition(ro, "Ready")?.status, "False");
    await expect("proj", "WebhookSynced", "False", "InsufficientPermissions", /PROJECT_ADMIN/);
    await expect("bad", "TokenReady", "False", "Unauthorized", /401/);
    await expect("ghost", "Ready", "False", "RepositoryNotFound", /PRJ\/ghost/);
    await expect("nowhere", "Ready", "False", "ProjectNotFound", /NOPE/);
    await expect("missing-secret", "TokenReady", "False", "SecretNotFound", /does-not-exist/);
    const handsOff = await expect("hands-off", "Ready", "True", "Connected");
    assert.equal(condition(handsOff, "WebhookSynced")?.reason, "Unmanaged");
    assert.equal(handsOff.metadata.finalizers, undefined, "no finalizer: nothing to clean up");
    assert.equal(
      w.sim.requestCount({ group: "webhooks", tokenId: readOnly.id }),
      1,
      "ro listed its hooks once (401); hands-off, which shares the token, made no webhook call",
    );
    assert.ok((await events(w, "ro")).some((e) => e.type === "Warning" && e.reason === "Failed"));
    await assertNoSecrets(
      w,
      op,
      ["ro", "proj", "bad", "ghost", "nowhere", "hands-off"],
      [w.token, readOnly.token, repoAdmin.token],
    );
  });

  test("without an intake URL nothing is registered, and WebhookSynced says why", async (t) => {
    const w = await world(t);
    await startOperator(t, w.ns, { config: { podNamespace: w.ns } });
    await create(w, "app");
    const repo = await waitForRepository(
      w,
      "app",
      "IntakeUrlNotConfigured",
      (r) => condition(r, "WebhookSynced")?.reason === "IntakeUrlNotConfigured",
    );
    assert.equal(condition(repo, "WebhookSynced")?.status, "False");
    assert.match(condition(repo, "WebhookSynced")?.message ?? "", /--intake-url/);
    assert.equal(w.sim.requestCount({ group: "webhooks" }), 0);
  });
});

test("a second Repository for the same repository is a Duplicate and left alone; it takes over when the first goes", async (t) => {
  const w = await world(t);
  // The second Repository has a token of its own, so its calls (there must be none) can be told apart.
  const own = w.sim.createToken({
    scope: { kind: "project", project: "PRJ" },
    name: "second",
    permissions: ["REPO_ADMIN"],
  });
  await secret(w.kube, w.ns, "second-token", { token: own.token });
  await operator(t, w);
  await create(w, "first", { slug: "app" });
  await waitForRepository(w, "first", "synced", synced);
  // Same repository, written as a clone URL.
  await w.kube.create(Repositories, {
    ...repositoryObject(w, "second"),
    spec: { url: `${w.sim.url}/scm/prj/app.git`, secretRef: { name: "second-token", key: "token" } },
  } as Repository);
  const second = await waitForRepository(
    w,
    "second",
    "Duplicate",
    (r) => condition(r, "Ready")?.reason === "Duplicate",
  );
  assert.match(condition(second, "Ready")?.message ?? "", new RegExp(`${w.ns}/first`));
  assert.equal(second.status?.webhook, undefined);
  assert.equal(second.metadata.finalizers, undefined);
  await poke(w, "second");
  await poke(w, "first");
  await waitForRepository(w, "first", "checked again", (r) => !!r.metadata.annotations);
  assert.equal(w.sim.requestCount({ tokenId: own.id }), 0, "the duplicate never called Bitbucket");
  assert.equal(ourHooks(w, { project: "PRJ", repo: "app" }).length, 1);

  await w.kube.delete(Repositories, { namespace: w.ns, name: "first" });
  const takenOver = await waitForRepository(
    w,
    "second",
    "took over",
    (r) => synced(r) && condition(r, "Ready")?.status === "True",
  );
  const [hook, ...extra] = ourHooks(w, { project: "PRJ", repo: "app" });
  assert.equal(extra.length, 0);
  assert.equal(hook?.id, takenOver.status?.webhook?.id);
  assert.equal(hook?.secret, await secretValue(w, w.ns, webhookSecretName(takenOver)), "signed with its own secret");
  assert.ok(w.sim.requestCount({ tokenId: own.id }) > 0);
});

test("a repository created in Bitbucket after its project was listed is Ready in seconds, not after back-off", async (t) => {
  const w = await world(t);
  await operator(t, w);
  await create(w, "app");
  await waitForRepository(w, "app", "Ready", (r) => condition(r, "Ready")?.status === "True");
  const listed = w.sim.requestCount({ group: "repos" });

  // The project's listing is cached now and does not have the new repository; a RepositoryNotFound back-off
  // starts at 30 s, twice the time allowed here.
  await w.sim.createRepository({ project: "PRJ", slug: "fresh", files: { "README.md": "# fresh\n" } });
  await create(w, "fresh");
  await waitForRepository(w, "fresh", "Ready", (r) => condition(r, "Ready")?.status === "True", 15_000);
  const relisted = w.sim.requestCount({ group: "repos" }) - listed;
  assert.ok(relisted >= 1 && relisted <= 2, `the project was listed again ${relisted} times (at most twice)`);
});

describe("catch-up", () => {
  test("an open pull request whose head has neither a run nor a build status is handed over once", async (t) => {
    const w = await world(t);
    const handed: { repository: string; pr: number; sha: string }[] = [];
    const op = await operator(t, w, {
      catchUpInterval: 1500,
      catchUp: async (repository: Repository, pr: PullRequestSnapshot) => {
        handed.push({ repository: repository.metadata.name, pr: pr.number, sha: pr.latestCommit });
        return { started: true, detail: "recorded by the test" };
      },
    });
    await create(w, "app");
    await waitForRepository(w, "app", "synced", synced);

    // Head 2 has a Baton run (of pipeline "build"); head 3 has a build status under that pipeline's key.
    const push = (branch: string) =>
      w.sim.push({
        project: "PRJ",
        repo: "app",
        branch,
        files: { [`${branch}.txt`]: `${branch}\n` },
        startPoint: "main",
      });
    const head2 = (await push("two")).sha;
    const head3 = (await push("three")).sha;
    await push("one");
    assert.match(head2, /^[0-9a-f]{40}$/);
    await w.kube.create(PipelineRuns, {
      apiVersion: "tekton.dev/v1",
      kind: "PipelineRun",
      metadata: {
        name: "build-two",
        namespace: w.ns,
        labels: { "baton.dev/repository": "app", "baton.dev/sha": head2, "baton.dev/pipeline": "build" },
        annotations: { "pipelinesascode.tekton.dev/original-prname": "build" },
      },
      spec: { pipelineRef: { name: "build" } },
    } as KubeObject);
    const statusResponse = await fetch(`${w.sim.url}/rest/api/latest/projects/PRJ/repos/app/commits/${head3}/builds`, {
      method: "POST",
      headers: { authorization: `Bearer ${w.token}`, "content-type": "application/json" },
      body: JSON.stringify({
        key: statusKey("baton", w.ns, "app", "build"),
        state: "SUCCESSFUL",
        url: "https://ci.example.com/1",
      }),
    });
    assert.equal(statusResponse.status, 204);

    // Their pr:opened deliveries are lost.
    w.sim.dropNextDeliveries(3);
    const opened = [];
    for (const branch of ["one", "two", "three"])
      opened.push(
        await w.sim.openPullRequest({ project: "PRJ", repo: "app", from: { branch }, title: branch, as: "admin" }),
      );
    await w.sim.settled();
    assert.equal(w.sim.deliveries({ eventKey: "pr:opened" }).filter((d) => d.dropped).length, 3);

    await waitFor(() => handed.length > 0, { message: "catch-up handing over the lost pull request", timeout: 20_000 });
    // Two more passes: nothing else is handed over, and the first is not handed over again.
    const listed = () => w.sim.requestCount({ group: "pull-requests" });
    const seen = listed();
    await waitFor(() => listed() >= seen + 2, { message: "two more catch-up passes", timeout: 20_000 });
    assert.deepEqual(handed, [
      { repository: "app", pr: opened[0]?.id ?? 0, sha: opened[0]?.fromRef.latestCommit ?? "" },
    ]);
    assert.ok(w.sim.requestCount({ group: "build-status", method: "GET" }) >= 1, "a status was looked up for head 3");
    assert.match(await op.manager.metrics.text(), /baton_catchup_events_total\{result="dispatched"\} 1/);
  });

  test("a head whose sibling run was pruned (its build status stays) is not handed over; one never run is", async (t) => {
    const w = await world(t);
    const handed: number[] = [];
    await operator(t, w, {
      catchUpInterval: 1500,
      catchUp: async (_repository: Repository, pr: PullRequestSnapshot) => {
        handed.push(pr.number);
        return { started: true, detail: "recorded by the test" };
      },
    });
    await create(w, "app");
    await waitForRepository(w, "app", "synced", synced);
    const heads: Record<string, string> = {};
    for (const branch of ["pruned", "half"])
      heads[branch] = (
        await w.sim.push({
          project: "PRJ",
          repo: "app",
          branch,
          files: { [`${branch}.txt`]: `${branch}\n` },
          startPoint: "main",
        })
      ).sha;
    // Both heads' events started build and lint; only build's run is left. On "pruned", lint ran and reported
    // (max-keep-runs deleted its run since); on "half", the operator stopped before creating it.
    for (const [branch, sha] of Object.entries(heads))
      await w.kube.create(PipelineRuns, {
        apiVersion: "tekton.dev/v1",
        kind: "PipelineRun",
        metadata: {
          name: `build-${branch}`,
          namespace: w.ns,
          labels: { "baton.dev/repository": "app", "baton.dev/sha": sha, "baton.dev/pipeline": "build" },
          annotations: { "pipelinesascode.tekton.dev/original-prname": "build", "baton.dev/pipelines": "build,lint" },
        },
        spec: { pipelineRef: { name: "build" } },
      } as KubeObject);
    const reported = await fetch(`${w.sim.url}/rest/api/latest/projects/PRJ/repos/app/commits/${heads.pruned}/builds`, {
      method: "POST",
      headers: { authorization: `Bearer ${w.token}`, "content-type": "application/json" },
      body: JSON.stringify({
        key: statusKey("baton", w.ns, "app", "lint"),
        state: "SUCCESSFUL",
        url: "https://ci.example.com/2",
      }),
    });
    assert.equal(reported.status, 204);
    w.sim.dropNextDeliveries(2);
    const opened: Record<string, number> = {};
    for (const branch of ["pruned", "half"])
      opened[branch] = (
        await w.sim.openPullRequest({ project: "PRJ", repo: "app", from: { branch }, title: branch, as: "admin" })
      ).id;
    await w.sim.settled();

    await waitFor(() => handed.length > 0, { message: "catch-up handing over the half-started head", timeout: 20_000 });
    const listed = () => w.sim.requestCount({ group: "pull-requests" });
    const seen = listed();
    await waitFor(() => listed() >= seen + 2, { message: "two more catch-up passes", timeout: 20_000 });
    assert.deepEqual(handed, [opened.half]);
  });

  test("end to end: the pipeline runner starts the run the lost delivery would have started", async (t) => {
    const pipeline = `apiVersion: tekton.dev/v1
kind: PipelineRun
metadata:
  name: build
  annotations:
    pipelinesascode.tekton.dev/on-event: "[pull_request]"
    pipelinesascode.tekton.dev/on-target-branch: "[main]"
spec:
  pipelineSpec:
    tasks:
      - name: noop
        taskSpec:
          steps:
            - name: echo
              image: alpine
              script: echo "{{ revision }}"
`;
    const w = await world(t, { files: { "README.md": "# app\n", ".tekton/build.yaml": pipeline } });
    const port = await freePort();
    await startOperator(t, w.ns, {
      catchUpInterval: 1500,
      config: { intakeUrl: `http://127.0.0.1:${port}/hooks/bitbucket`, intakePort: String(port), podNamespace: w.ns },
    });
    // This test is about catch-up, not clone tokens: runs get the operator's token, by the explicit opt-in.
    await create(w, "app", { pipelines: { path: ".tekton", cloneWithOperatorToken: true } });
    await waitForRepository(w, "app", "synced", synced);
    await w.sim.push({ project: "PRJ", repo: "app", branch: "feature", files: { "f.txt": "f\n" }, startPoint: "main" });
    await w.sim.settled();
    w.sim.dropNextDeliveries(1);
    const pr = await w.sim.openPullRequest({
      project: "PRJ",
      repo: "app",
      from: { branch: "feature" },
      title: "Feature",
      as: "admin",
    });
    await w.sim.settled();
    assert.ok(w.sim.deliveries({ eventKey: "pr:opened" })[0]?.dropped, "the pr:opened delivery was lost");
    const sha = pr.fromRef.latestCommit;
    const runs = await waitFor(
      async () => {
        const { items } = await w.kube.list(PipelineRuns, { namespace: w.ns, labelSelector: `baton.dev/sha=${sha}` });
        return items.length > 0 ? items : undefined;
      },
      { message: "a PipelineRun for the pull request's head", timeout: 30_000 },
    );
    assert.equal(runs.length, 1);
    assert.equal(runs[0]?.metadata?.labels?.["baton.dev/pull-request"], String(pr.id));
  });
});
