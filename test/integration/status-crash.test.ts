// An operator killed between creating a run and posting its INPROGRESS status: a real operator process (src/main.ts)
// gets SIGKILL while Bitbucket has not answered its status POSTs. What a developer would notice: the pull request's
// runs show on the commit once an operator runs again — the Pending one as waiting for a free slot while it still
// waits — each reported exactly once, also across a further restart.
import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { test } from "node:test";
import type { Repository } from "../../src/api/repository.ts";
import { pendingStatus } from "../../src/pipelines/build.ts";
import { PipelineRuns } from "../../src/pipelines/tekton.ts";
import { Repositories } from "../../src/repositories/resource.ts";
import { Secrets } from "../../src/runtime/kube.ts";
import { statusKey } from "../../src/status/report.ts";
import { reportedAnnotation } from "../../src/status/reporter.ts";
import { createNamespace } from "../support/cluster.ts";
import { spawnOperator, startOperator, testKube, useSimulator } from "../support/operator.ts";
import { allEvents, lintRun, prRun } from "../support/pipelines-world.ts";
import { waitFor } from "../support/wait.ts";

test("runs whose creator was killed before posting get their INPROGRESS status from the next operator, once", async (t) => {
  const ns = await createNamespace(t);
  const sim = await useSimulator(t);
  sim.createUser({ name: "admin", password: "admin-password", admin: true });
  sim.createUser({ name: "dev", password: "dev-password", displayName: "Developer" });
  sim.createProject({ key: "PRJ" });
  await sim.createRepository({
    project: "PRJ",
    slug: "app",
    files: { "README.md": "# app\n", ".tekton/build.yaml": prRun, ".tekton/lint.yaml": lintRun },
  });
  sim.grant({ permission: "REPO_WRITE", user: "dev", project: "PRJ", repo: "app" });
  const token = (name: string) =>
    sim.createToken({ scope: { kind: "project", project: "PRJ" }, name, permissions: ["REPO_READ"] }).token;
  const webhookSecret = randomBytes(20).toString("hex");
  const kube = await testKube();
  const secret = (name: string, data: Record<string, string>) =>
    kube.create(Secrets, { apiVersion: "v1", kind: "Secret", metadata: { name, namespace: ns }, stringData: data });
  await secret("bb-token", { token: token("baton") });
  await secret("bb-clone", { token: token("clone") });
  await secret("hook", { secret: webhookSecret });
  // One slot: of the pull request's two pipelines, one runs and the other waits Pending.
  await kube.create(Repositories, {
    apiVersion: "baton.dev/v1alpha1",
    kind: "Repository",
    metadata: { name: "app", namespace: ns },
    spec: {
      url: `${sim.url}/projects/PRJ/repos/app`,
      secretRef: { name: "bb-token", key: "token" },
      cloneTokenRef: { kind: "Secret", name: "bb-clone", key: "token" },
      webhook: { managed: false, scope: "repository", secretRef: { name: "hook", key: "secret" } },
      pipelines: { path: ".tekton", concurrencyLimit: 1 },
    },
  } as Repository);

  const { child, logs, exited, intakePort } = await spawnOperator(t, ns, { BATON_ALLOWED_SERVERS: "*" });
  sim.createWebhook({
    project: "PRJ",
    repo: "app",
    name: "baton",
    url: `http://127.0.0.1:${intakePort}/hooks/bitbucket`,
    events: allEvents,
    configuration: { secret: webhookSecret },
  });

  // Bitbucket holds the two status POSTs without answering, then drops them: the process dies meanwhile.
  const post = { method: "POST", group: "build-status" } as const;
  const held = sim.injectFaults({ ...post, count: 2, delayMs: 10_000, reset: true });
  await sim.push({ project: "PRJ", repo: "app", branch: "feature", files: { "src.txt": "v1\n" }, as: "dev" });
  const pr = await sim.openPullRequest({
    project: "PRJ",
    repo: "app",
    from: { branch: "feature" },
    title: "Add src",
    as: "dev",
  });
  const head = pr.fromRef.latestCommit;
  await waitFor(() => held.hits === 2, { message: "both status POSTs under way", timeout: 30_000 });
  child.kill("SIGKILL");
  await exited;

  const runs = (await kube.list(PipelineRuns, { namespace: ns })).items;
  assert.equal(runs.length, 2, logs.join("\n"));
  const pending = runs.find((r) => r.spec?.status === pendingStatus);
  assert.ok(pending, "one run waits for the slot");
  assert.deepEqual(sim.buildStatuses({ commit: head }), [], "the killed operator posted no status");

  // The next operator (its grace shortened: the runs' creator is known dead here) reports both runs.
  const key = (pipeline: string) => statusKey("baton", ns, "app", pipeline);
  const statusOf = (pipeline: string) => sim.buildStatuses({ commit: head, key: key(pipeline) })[0];
  const next = await startOperator(t, ns, { config: { statusGrace: "1s" } });
  const waiting = await waitFor(() => statusOf(pending.metadata?.labels?.["baton.dev/pipeline"] ?? ""), {
    message: "the Pending run's status on the commit",
    timeout: 30_000,
  });
  assert.equal(waiting.state, "INPROGRESS");
  assert.equal(waiting.description, "queued: waiting for a free slot (concurrency limit)");
  const stillPending = await kube.get(PipelineRuns, { namespace: ns, name: pending.metadata?.name ?? "" });
  assert.equal(stillPending?.spec?.status, pendingStatus, "shown while the run still waits, before it starts");
  const active = runs.find((r) => r !== pending);
  const started = await waitFor(() => statusOf(active?.metadata?.labels?.["baton.dev/pipeline"] ?? ""), {
    message: "the active run's status on the commit",
    timeout: 30_000,
  });
  assert.equal(started.state, "INPROGRESS");
  assert.equal(started.description, "queued: waiting for Tekton to start it");

  const recorded = async () =>
    (await kube.list(PipelineRuns, { namespace: ns })).items.every(
      (r) => r.metadata?.annotations?.[reportedAnnotation] === "queued",
    );
  await waitFor(recorded, { message: "the reported state recorded on both runs" });
  const delivered = () => sim.requestCount({ ...post, status: 204 });
  assert.equal(delivered(), 2, "one status POST per run");
  await next.stop();

  // Another restart: every run reconciled again, nothing posted again.
  const third = await startOperator(t, ns, { config: { statusGrace: "1s" } });
  for (const run of runs) {
    await waitFor(
      () =>
        third.logs.some(
          (l) => l.msg === "reconciled" && l.controller === "buildstatus" && l.name === run.metadata?.name,
        ),
      { message: `the restarted operator reconciled ${run.metadata?.name}` },
    );
  }
  assert.equal(delivered(), 2, "no state reported twice");
  assert.equal(sim.buildStatuses({ commit: head }).length, 2);
});
