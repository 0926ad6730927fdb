// The Repository controller on Bitbucket Cloud, against the Cloud simulator: reachability from the workspace's
// repository listing, the repository webhook created through Cloud's 2.0 hooks API with a secret, repaired when
// edited (Cloud never shows the secret: `secret_set` and Baton's own print judge it), removed with the Repository,
// and delivering signed events that start runs; a token that cannot see the repository, and a workspace hook
// (owners only) asked for with a token that is not an owner, each get a clear condition.
import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { freePort } from "../../hack/lib/net.ts";
import type { Repository } from "../../src/api/repository.ts";
import { PipelineRuns } from "../../src/pipelines/tekton.ts";
import { subscribedEvents } from "../../src/providers/bitbucket-cloud/payloads.ts";
import { Repositories } from "../../src/repositories/resource.ts";
import { cleanupLedgerName, LedgerEntry } from "../../src/runtime/cleanup-ledger.ts";
import { realClock } from "../../src/runtime/clock.ts";
import { type KubeClient, Secrets } from "../../src/runtime/kube.ts";
import { type CloudSimulator, startCloudSimulator } from "../../src/simulator/bitbucket-cloud/index.ts";
import { createNamespace } from "../support/cluster.ts";
import { startOperator, testKube } from "../support/operator.ts";
import { waitFor } from "../support/wait.ts";

const prRun = `apiVersion: tekton.dev/v1
kind: PipelineRun
metadata:
  name: build
  annotations:
    pipelinesascode.tekton.dev/on-event: "[pull_request]"
    pipelinesascode.tekton.dev/on-target-branch: "[main]"
spec:
  pipelineSpec:
    tasks: []
`;

interface World {
  ns: string;
  kube: KubeClient;
  sim: CloudSimulator;
  port: number;
}

type T = Parameters<typeof createNamespace>[0] & { after(fn: () => unknown): void };

/** A workspace `ws` with repositories `app` (with .tekton) and `other`, and the operator with an intake URL. */
async function world(t: T, options: { deletionPatience?: number } = {}): Promise<World> {
  const ns = await createNamespace(t);
  const sim = await startCloudSimulator({});
  t.after(() => sim.close());
  sim.createUser({ nickname: "dev" });
  sim.createWorkspace({ slug: "ws", owner: "dev", members: ["dev"] });
  for (const slug of ["app", "other"]) await sim.createRepository({ workspace: "ws", slug, isPrivate: true });
  await sim.push({
    workspace: "ws",
    repo: "app",
    branch: "main",
    files: { "README.md": "#\n", ".tekton/build.yaml": prRun },
    as: "dev",
  });
  const kube = await testKube();
  const port = await freePort();
  await startOperator(t, ns, {
    domainClock: realClock,
    catchUp: async () => ({ started: false, detail: "off" }),
    ...(options.deletionPatience === undefined ? {} : { repositoryDeletionPatience: options.deletionPatience }),
    config: { intakeUrl: `http://127.0.0.1:${port}/hooks/bitbucket`, intakePort: String(port), podNamespace: ns },
  });
  return { ns, kube, sim, port };
}

async function repository(w: World, repo: string, webhook: Record<string, unknown> = {}): Promise<void> {
  const { token } = w.sim.createToken({
    kind: "repository",
    workspace: "ws",
    repo,
    name: `baton-${repo}`,
    scopes: ["repository", "pullrequest", "webhook"],
  });
  await w.kube.create(Secrets, {
    apiVersion: "v1",
    kind: "Secret",
    metadata: { name: "bb-token", namespace: w.ns },
    stringData: { token },
  });
  await w.kube.create(Repositories, {
    apiVersion: "baton.dev/v1alpha1",
    kind: "Repository",
    metadata: { name: "app", namespace: w.ns },
    spec: {
      url: `${w.sim.url}/ws/app`,
      provider: "bitbucket-cloud",
      secretRef: { name: "bb-token", key: "token" },
      pipelines: { path: ".tekton", cloneWithOperatorToken: true },
      webhook,
    },
  } as never);
}

const condition = (r: Repository | undefined, type: string) => r?.status?.conditions?.find((c) => c.type === type);

async function waitForApp(w: World, what: string, ok: (r: Repository) => boolean): Promise<Repository> {
  return waitFor(
    async () => {
      const r = (await w.kube.get(Repositories, { namespace: w.ns, name: "app" })) as Repository | undefined;
      return r && ok(r) ? r : undefined;
    },
    { message: what, timeout: 60_000 },
  );
}

/** Baton's hooks on the repository, as Cloud shows them. */
const hooks = (w: World) =>
  w.sim.webhooks({ workspace: "ws", repo: "app" }) as {
    uuid: string;
    description: string;
    url: string;
    events: string[];
    active: boolean;
    secret_set: boolean;
  }[];

/** Edits the hook the way a person or a script would: Cloud's PUT, with a token that may manage hooks. */
async function editHook(w: World, uuid: string, body: Record<string, unknown>): Promise<void> {
  const { token } = w.sim.createToken({
    kind: "repository",
    workspace: "ws",
    repo: "app",
    name: `editor-${Math.random()}`,
    scopes: ["repository", "pullrequest", "webhook"],
  });
  const res = await fetch(`${w.sim.url}/2.0/repositories/ws/app/hooks/${encodeURIComponent(uuid)}`, {
    method: "PUT",
    headers: { authorization: `Bearer ${token}`, "content-type": "application/json" },
    body: JSON.stringify(body),
  });
  assert.equal(res.status, 200, await res.text());
}

/** Asks for a check against Cloud now (the drift interval is minutes). */
async function poke(w: World): Promise<void> {
  await w.kube.patch(
    Repositories,
    { namespace: w.ns, name: "app" },
    { metadata: { annotations: { "baton.dev/reconcile-requested-at": `${Date.now()}-${Math.random()}` } } },
  );
}

describe("Repositories on Bitbucket Cloud", () => {
  test("Ready with its webhook created, repaired when edited or stripped of its secret, deleted with the Repository; its deliveries start runs", async (t) => {
    const w = await world(t);
    await repository(w, "app");
    const intake = `http://127.0.0.1:${w.port}/hooks/bitbucket-cloud`;
    const ready = await waitForApp(
      w,
      "Ready",
      (r) => condition(r, "Ready")?.status === "True" && condition(r, "WebhookSynced")?.status === "True",
    );
    assert.equal(condition(ready, "TokenReady")?.status, "True");
    const [hook, ...extra] = hooks(w);
    assert.equal(extra.length, 0, "one hook");
    assert.ok(hook);
    assert.equal(hook.description, "baton");
    assert.equal(hook.url, intake, "delivers to the Cloud intake");
    assert.deepEqual([...hook.events].sort(), [...subscribedEvents].sort());
    assert.equal(hook.active, true);
    assert.equal(hook.secret_set, true, "signed");
    assert.equal(ready.status?.webhook?.id, hook.uuid);
    const generated = await w.kube.get(Secrets, { namespace: w.ns, name: "app-webhook" });
    const secret = Buffer.from(generated?.data?.secret ?? "", "base64").toString();
    assert.ok(secret.length > 20, "a generated webhook secret");
    const print = ready.status?.webhook?.secretPrint ?? "";
    assert.ok(print !== "" && !print.includes(secret), "status keeps a print of the secret, never the secret");

    // A pull request: Cloud delivers through the hook Baton made, signed with its secret, and a run starts.
    await w.sim.push({ workspace: "ws", repo: "app", branch: "feature", files: { "x.txt": "1\n" }, as: "dev" });
    await w.sim.openPullRequest({
      workspace: "ws",
      repo: "app",
      title: "Feature ✨",
      sourceBranch: "feature",
      author: "dev",
    });
    await w.sim.settled();
    await waitFor(
      async () => ((await w.kube.list(PipelineRuns, { namespace: w.ns })).items.length > 0 ? true : undefined),
      { message: "a PipelineRun from the delivery", timeout: 60_000 },
    );

    // Someone points the hook elsewhere, narrows its events and removes its secret: repaired at the next check.
    await editHook(w, hook.uuid, {
      description: "baton",
      url: "https://elsewhere.example.com/hooks",
      events: ["repo:push"],
      active: true,
      secret: null,
    });
    await poke(w);
    await waitFor(
      () => {
        const [now] = hooks(w);
        return now?.url === intake && now.events.length === subscribedEvents.length && now.secret_set ? now : undefined;
      },
      { message: "the edited hook repaired", timeout: 60_000 },
    );
    assert.equal(hooks(w).length, 1, "repaired in place, not duplicated");

    // Only the secret removed: nothing but secret_set shows it, and that is enough.
    await editHook(w, hook.uuid, {
      description: "baton",
      url: intake,
      events: [...subscribedEvents],
      active: true,
      secret: null,
    });
    assert.equal(hooks(w)[0]?.secret_set, false);
    await poke(w);
    await waitFor(() => (hooks(w)[0]?.secret_set ? true : undefined), {
      message: "the secret set again",
      timeout: 60_000,
    });

    // Deleting the Repository removes its hook (the finalizer), and nothing else.
    const foreign = w.sim.createWebhook({
      workspace: "ws",
      repo: "app",
      url: "https://other-tool.example.com/hook",
      events: ["repo:push"],
      active: true,
    }) as { uuid: string };
    await w.kube.delete(Repositories, { namespace: w.ns, name: "app" });
    await waitFor(async () => ((await w.kube.get(Repositories, { namespace: w.ns, name: "app" })) ? undefined : true), {
      message: "the Repository gone",
      timeout: 60_000,
    });
    assert.deepEqual(
      hooks(w).map((h) => h.uuid),
      [foreign.uuid],
      "Baton's hook deleted, another tool's left alone",
    );
  });

  test("a token that cannot see the repository is told so; a workspace hook asked of a token that is no owner is refused clearly", async (t) => {
    const w = await world(t);
    // A repository token of `other` lists only `other` in the workspace.
    await repository(w, "other");
    const missing = await waitForApp(
      w,
      "RepositoryNotFound",
      (r) => condition(r, "Ready")?.reason === "RepositoryNotFound",
    );
    assert.equal(condition(missing, "TokenReady")?.status, "True", "the token itself works");
    assert.match(condition(missing, "Ready")?.message ?? "", /ws\/app .*repository scope/);
    assert.deepEqual(hooks(w), [], "no hook made");

    // The right token, but a workspace hook (owners only): a clear condition, and no hook anywhere.
    const { token } = w.sim.createToken({
      kind: "repository",
      workspace: "ws",
      repo: "app",
      name: "baton-app",
      scopes: ["repository", "pullrequest", "webhook"],
    });
    // The scope first, and seen by the operator (its conditions observe the new generation) before the token can
    // make a reconcile act: a reconcile between the two changes must not make a repository hook.
    const rescoped = await w.kube.patch(
      Repositories,
      { namespace: w.ns, name: "app" },
      { spec: { webhook: { scope: "project" } } },
    );
    await waitForApp(
      w,
      "the new scope observed",
      (r) => condition(r, "Ready")?.observedGeneration === rescoped.metadata?.generation,
    );
    await w.kube.patch(Secrets, { namespace: w.ns, name: "bb-token" }, { stringData: { token } });
    const refused = await waitForApp(
      w,
      "InsufficientPermissions",
      (r) => condition(r, "WebhookSynced")?.reason === "InsufficientPermissions",
    );
    assert.equal(condition(refused, "Ready")?.status, "False");
    assert.match(condition(refused, "WebhookSynced")?.message ?? "", /workspace owners/);
    assert.deepEqual(w.sim.webhooks({ workspace: "ws" }), [], "no hook made");
  });

  test("a Repository deleted while Cloud does not answer leaves its hook in the cleanup ledger, removed through Cloud once it answers", async (t) => {
    const w = await world(t, { deletionPatience: 2_000 });
    await repository(w, "app");
    const synced = await waitForApp(w, "WebhookSynced", (r) => condition(r, "WebhookSynced")?.status === "True");
    const uuid = synced.status?.webhook?.id;
    assert.deepEqual(
      hooks(w).map((h) => h.uuid),
      [uuid],
    );
    const outage = w.sim.injectFaults({ status: 503, group: "webhooks" });
    await w.kube.delete(Repositories, { namespace: w.ns, name: "app" });
    await waitFor(async () => ((await w.kube.get(Repositories, { namespace: w.ns, name: "app" })) ? undefined : true), {
      message: "the Repository deleted after the patience",
      timeout: 90_000,
    });
    assert.equal(hooks(w).length, 1, "the hook is left on Cloud for now");
    const ledger = await w.kube.get(Secrets, { namespace: w.ns, name: cleanupLedgerName });
    const entries = Object.values(ledger?.data ?? {}).map((v) =>
      LedgerEntry.parse(JSON.parse(Buffer.from(v, "base64").toString())),
    );
    assert.deepEqual(
      entries.map((e) => [e.kind, e.provider, e.id, e.project, e.repository]),
      [["webhook", "bitbucket-cloud", uuid, "ws", "app"]],
    );
    outage.clear();
    await waitFor(() => (hooks(w).length === 0 ? true : undefined), {
      message: "the hook removed once Cloud answers",
      timeout: 90_000,
    });
  });
});
