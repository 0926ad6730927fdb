// SIGTERM as Kubernetes sends it to a real operator process (src/main.ts): endpoints drop the terminating pod
// asynchronously, so the replica goes unready at once but keeps answering deliveries for the drain period —
// Bitbucket never retries a refused one — and exits once the period is over.
import assert from "node:assert/strict";
import { test } from "node:test";
import { PipelineRuns } from "../../src/pipelines/tekton.ts";
import { prRun } from "../support/pipelines-world.ts";
import { processWorld } from "../support/process-world.ts";
import { waitFor } from "../support/wait.ts";

test("after SIGTERM the replica is unready at once, still answers deliveries (and runs them) through the drain, then exits", async (t) => {
  const { sim, kube, ns, operator } = await processWorld(t, {
    files: { ".tekton/build.yaml": prRun },
    env: { BATON_SHUTDOWN_DRAIN: "15s" },
  });
  const { child, logs, exited, readyz } = operator;

  child.kill("SIGTERM");
  await waitFor(async () => (await readyz()) === 503, { message: "/readyz to answer unready" });

  // The Service may still route Bitbucket's deliveries here: they are answered and acted on.
  await sim.push({ project: "PRJ", repo: "app", branch: "feature", files: { "src.txt": "v1\n" }, as: "dev" });
  await sim.openPullRequest({ project: "PRJ", repo: "app", from: { branch: "feature" }, title: "Add src", as: "dev" });
  await sim.settled();
  // The push and the pull request are one change: whichever delivery is handled first starts the run with the pull
  // request's context (shared-run.ts) and the other is its duplicate, so which one says "accepted" is a race.
  const answers = [...sim.deliveries({ eventKey: "repo:refs_changed" }), ...sim.deliveries({ eventKey: "pr:opened" })];
  assert.equal(answers.length, 2);
  for (const answer of answers) assert.equal(answer.status, 200, answer.responseBody ?? "no answer");
  const outcomes = answers.map((a) => JSON.parse(a.responseBody ?? "{}").outcome);
  assert.ok(outcomes.includes("accepted"), `one delivery started the run: ${outcomes.join(", ")}`);
  const runs = await kube.list(PipelineRuns, { namespace: ns });
  assert.equal(runs.items.length, 1, "the deliveries answered during the drain started their run");
  assert.equal(runs.items[0]?.metadata?.labels?.["baton.dev/pull-request"], "1", "with the pull request's context");
  assert.equal(child.exitCode, null, "still running when the delivery was answered");

  assert.equal(await exited, 0, logs.join("\n"));
  assert.ok(
    logs.some((l) => l.includes("drain period over")),
    "it stopped because the drain period ended",
  );
});
