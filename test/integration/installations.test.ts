// Two Baton installations (two clusters, simulated by two namespaces with an operator each, each with its own
// BATON_INSTANCE) managing BitbucketProjectTokens and Repositories of the same Bitbucket project: neither revokes
// the other's tokens, and each keeps its own webhook delivering to its own intake.
import assert from "node:assert/strict";
import { test } from "node:test";
import { freePort } from "../../hack/lib/net.ts";
import type { Repository } from "../../src/api/repository.ts";
import type { BitbucketProjectToken } from "../../src/api/token.ts";
import { PipelineRuns } from "../../src/pipelines/tekton.ts";
import { Repositories } from "../../src/repositories/resource.ts";
import { realClock } from "../../src/runtime/clock.ts";
import { installationInstance, installationSecretName } from "../../src/runtime/installation.ts";
import { type KubeClient, Secrets } from "../../src/runtime/kube.ts";
import type { Simulator } from "../../src/simulator/index.ts";
import { Tokens } from "../../src/tokens/reconciler.ts";
import { createNamespace } from "../support/cluster.ts";
import { simulatorClock, startOperator, type TestOperator, testKube, useSimulator } from "../support/operator.ts";
import { prRun } from "../support/pipelines-world.ts";
import { waitFor } from "../support/wait.ts";

type T = Parameters<typeof createNamespace>[0];

interface Installation {
  ns: string;
  instance: string;
  intakeUrl: string;
  port: number;
  op?: TestOperator;
}

const isTrue = (obj: { status?: { conditions?: { type: string; status: string }[] } } | undefined, type: string) =>
  obj?.status?.conditions?.some((c) => c.type === type && c.status === "True") ?? false;

async function install(t: T, kube: KubeClient, sim: Simulator, instance: string): Promise<Installation> {
  const ns = await createNamespace(t);
  await kube.create(Secrets, {
    apiVersion: "v1",
    kind: "Secret",
    metadata: { name: "bb-admin", namespace: ns },
    stringData: { username: "admin", password: "admin-password" },
  });
  await kube.create(Tokens, {
    apiVersion: "baton.dev/v1alpha1",
    kind: "BitbucketProjectToken",
    metadata: { name: "ci", namespace: ns },
    spec: {
      server: sim.url,
      project: "PRJ",
      permissions: ["PROJECT_ADMIN", "REPO_ADMIN"],
      lifetime: "720h",
      revocationGracePeriod: "2h",
      adminCredentialsRef: { name: "bb-admin" },
      secretName: "ci-token",
      deletionPolicy: "Revoke",
    },
  } as BitbucketProjectToken);
  await kube.create(Repositories, {
    apiVersion: "baton.dev/v1alpha1",
    kind: "Repository",
    metadata: { name: "app", namespace: ns },
    spec: { url: `${sim.url}/projects/PRJ/repos/app`, tokenRef: { name: "ci" }, webhook: { scope: "repository" } },
  } as Repository);
  const port = await freePort();
  return { ns, instance, port, intakeUrl: `http://127.0.0.1:${port}/hooks/bitbucket` };
}

async function run(t: T, sim: Simulator, i: Installation): Promise<TestOperator> {
  i.op = await startOperator(t, i.ns, {
    domainClock: simulatorClock(sim, realClock),
    // Catch-up would start the pull request's runs without a delivery; this test is about deliveries.
    catchUp: async () => ({ started: false, detail: "catch-up is off in this test" }),
    config: { instance: i.instance, intakeUrl: i.intakeUrl, intakePort: String(i.port), podNamespace: i.ns },
  });
  return i.op;
}

async function settled(kube: KubeClient, i: Installation): Promise<void> {
  await waitFor(async () => isTrue(await kube.get(Tokens, { namespace: i.ns, name: "ci" }), "Ready"), {
    message: `token ${i.ns}/ci Ready`,
    timeout: 60_000,
  });
  await waitFor(async () => isTrue(await kube.get(Repositories, { namespace: i.ns, name: "app" }), "WebhookSynced"), {
    message: `Repository ${i.ns}/app's webhook synced`,
    timeout: 60_000,
  });
}

test("two installations on one Bitbucket project keep their own tokens and webhooks", async (t) => {
  const sim = await useSimulator(t);
  // A system administrator acts for the simulator's set-up calls; Baton only ever uses the project admin.
  sim.createUser({ name: "root", password: "root-password", admin: true });
  sim.createUser({ name: "admin", password: "admin-password" });
  sim.createUser({ name: "dev", password: "dev-password" });
  sim.createProject({ key: "PRJ" });
  sim.grant({ permission: "PROJECT_ADMIN", user: "admin", project: "PRJ" });
  await sim.createRepository({ project: "PRJ", slug: "app", files: { ".tekton/build.yaml": prRun } });
  sim.grant({ permission: "REPO_WRITE", user: "dev", project: "PRJ", repo: "app" });
  const kube = await testKube();
  const east = await install(t, kube, sim, "east");
  const west = await install(t, kube, sim, "west");
  const both = [east, west];

  // Both start at once, as two clusters would.
  await Promise.all(both.map((i) => run(t, sim, i)));
  await Promise.all(both.map((i) => settled(kube, i)));
  const issued = async () =>
    Promise.all(both.map(async (i) => (await kube.get(Tokens, { namespace: i.ns, name: "ci" }))?.status?.tokenId));
  const firstIds = await issued();

  // A rotation in both: issuing searches the project's tokens for orphans, the other installation's among them.
  sim.clock.advance(20 * 86_400_000 + 60_000);
  for (const i of both) {
    await kube.patch(
      Tokens,
      { namespace: i.ns, name: "ci" },
      { metadata: { annotations: { "baton.dev/reconcile-requested-at": String(Date.now()) } } },
    );
  }
  for (const i of both) {
    await waitFor(async () => (await kube.get(Tokens, { namespace: i.ns, name: "ci" }))?.status?.revision === 2, {
      message: `${i.ns}/ci rotated`,
      timeout: 60_000,
    });
  }
  const secondIds = await issued();

  // Then each installation restarts (a full re-reconcile), the other running.
  for (const i of both) {
    await i.op?.stop();
    await run(t, sim, i);
    await Promise.all(both.map((x) => settled(kube, x)));
  }
  // Every token either issued is alive: the current ones, and the previous ones within their grace period.
  const alive = new Set(sim.tokens().map((tk) => tk.id));
  for (const [n, id] of [...firstIds, ...secondIds].entries()) {
    assert.ok(id, `token ${n} recorded`);
    assert.ok(alive.has(id), `token ${id} is still alive in Bitbucket`);
  }
  assert.equal(new Set([...firstIds, ...secondIds]).size, 4);
  assert.deepEqual(await issued(), secondIds, "neither installation had to issue another token");

  // One webhook per installation, each delivering to its own intake.
  const hooks = sim.webhooks({ project: "PRJ", repo: "app" });
  assert.deepEqual(hooks.map((h) => h.url).sort(), both.map((i) => i.intakeUrl).sort());
  assert.equal(new Set(hooks.map((h) => h.name)).size, 2, "the two hooks carry different names");

  // A pull request reaches both installations, and each starts its run.
  await sim.push({ project: "PRJ", repo: "app", branch: "feature", files: { "a.txt": "1\n" }, as: "dev" });
  const pr = await sim.openPullRequest({
    project: "PRJ",
    repo: "app",
    from: { branch: "feature" },
    title: "A",
    as: "dev",
  });
  const sha = pr.fromRef.latestCommit;
  for (const i of both) {
    await waitFor(
      async () =>
        (await kube.list(PipelineRuns, { namespace: i.ns, labelSelector: `baton.dev/sha=${sha}` })).items.length > 0,
      { message: `a run in ${i.ns} for the pull request`, timeout: 60_000 },
    );
  }
});

test("the default instance name is derived once per installation and stays across restarts", async (t) => {
  const kube = await testKube();
  const [a, b] = [await createNamespace(t), await createNamespace(t)];
  const first = await installationInstance(kube, a);
  assert.equal(await installationInstance(kube, a), first, "a restart finds the same name");
  const secret = await kube.get(Secrets, { namespace: a, name: installationSecretName });
  assert.ok(secret?.metadata?.uid && first.includes(secret.metadata.uid.replaceAll("-", "").slice(0, 12)));
  assert.notEqual(await installationInstance(kube, b), first, "another installation gets another name");
});

test("upgrade: the webhook made under the fixed name is renamed, not duplicated; another cluster's is left alone", async (t) => {
  const sim = await useSimulator(t);
  sim.createUser({ name: "root", password: "root-password", admin: true });
  sim.createUser({ name: "admin", password: "admin-password" });
  sim.createProject({ key: "PRJ" });
  sim.grant({ permission: "PROJECT_ADMIN", user: "admin", project: "PRJ" });
  await sim.createRepository({ project: "PRJ", slug: "app", files: { ".tekton/build.yaml": prRun } });
  const kube = await testKube();
  // This cluster before the upgrade: the old fixed instance name made and recorded its hook.
  const here = await install(t, kube, sim, "baton");
  const before = await run(t, sim, here);
  await settled(kube, here);
  const recorded = (await kube.get(Repositories, { namespace: here.ns, name: "app" }))?.status?.webhook?.id;
  assert.ok(typeof recorded === "number", "the old release recorded its hook (Data Center ids are numbers)");
  await before.stop();
  // Another cluster still on the old release (the two fought then): its hook carries the old fixed name too.
  const theirs = sim.createWebhook({
    project: "PRJ",
    repo: "app",
    name: "baton",
    url: "https://other-cluster.example.com/hooks/bitbucket",
    events: ["pr:opened"],
    configuration: { secret: "theirs" },
  });

  // After the upgrade, under its own instance name.
  here.instance = "east";
  await run(t, sim, here);
  await waitFor(() => sim.webhooks({ project: "PRJ", repo: "app" }).some((h) => h.name === "baton-east"), {
    message: "the recorded hook renamed",
    timeout: 60_000,
  });
  await settled(kube, here);
  const hooks = sim.webhooks({ project: "PRJ", repo: "app" }).map((h) => ({ id: h.id, name: h.name, url: h.url }));
  assert.deepEqual(
    hooks.sort((a, b) => a.id - b.id),
    [
      { id: theirs.id, name: "baton", url: "https://other-cluster.example.com/hooks/bitbucket" },
      { id: recorded, name: "baton-east", url: here.intakeUrl },
    ].sort((a, b) => a.id - b.id),
  );
});
