// An operator killed between creating a run and posting its INPROGRESS status: a real operator process (src/main.ts)
// gets SIGKILL while Bitbucket has not answered its status POSTs. What a developer would notice: the pull request's
// runs show on the commit once an operator runs again — the Pending one as waiting for a free slot while it still
// waits — each reported exactly once, also across a further restart.
import assert from "node:assert/strict";
import { test } from "node:test";
import { pendingStatus } from "../../src/pipelines/build.ts";
import { PipelineRuns } from "../../src/pipelines/tekton.ts";
import { statusKey } from "../../src/status/report.ts";
import { reportedAnnotation } from "../../src/status/reporter.ts";
import { startOperator } from "../support/operator.ts";
import { lintRun, prRun } from "../support/pipelines-world.ts";
import { processWorld } from "../support/process-world.ts";
import { waitFor } from "../support/wait.ts";

test("runs whose creator was killed before posting get their INPROGRESS status from the next operator, once", async (t) => {
  // One slot: of the pull request's two pipelines, one runs and the other waits Pending.
  const { sim, kube, ns, operator } = await processWorld(t, {
    files: { ".tekton/build.yaml": prRun, ".tekton/lint.yaml": lintRun },
    pipelines: { concurrencyLimit: 1 },
  });
  const { child, logs, exited } = operator;

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
