// The Tekton catalog `git-clone` task's own program (`git-init`, test/support/git-clone-task.ts) cloning what a
// Baton run names, with the run's git Secret mounted as the kubelet mounts it. Real git against the simulator's git
// over HTTP.
import assert from "node:assert/strict";
import { describe, test } from "node:test";
import type { PipelineRun } from "../../src/pipelines/tekton.ts";
import { pullRequestFetchRefspec } from "../../src/providers/bitbucket-datacenter/provider.ts";
import { cloneLikeTheCatalogTask } from "../support/git-clone-task.ts";
import { listRuns, openForkPullRequest, param, pipelinesWorld, type World } from "../support/pipelines-world.ts";
import { waitFor } from "../support/wait.ts";

async function onlyRun(w: World): Promise<PipelineRun> {
  const runs = await waitFor(async () => ((await listRuns(w)).length === 1 ? listRuns(w) : undefined), {
    message: "one PipelineRun",
  });
  return runs[0] as PipelineRun;
}

describe("the catalog git-clone task's git-init with a run's git Secret", () => {
  test("clones a same-repository pull request's head", async (t) => {
    const w = await pipelinesWorld(t);
    await w.sim.push({
      project: "PRJ",
      repo: "app",
      branch: "feature/ünïcode-✓",
      files: { "a.txt": "a\n" },
      as: "dev",
    });
    const pr = await w.sim.openPullRequest({
      project: "PRJ",
      repo: "app",
      from: { branch: "feature/ünïcode-✓" },
      title: "Add a",
      as: "dev",
    });
    await w.sim.settled();
    const run = await onlyRun(w);
    const sha = pr.fromRef.latestCommit;
    assert.equal(param(run, "revision"), sha);
    // A newer commit on main: the clone must be the PR's head, not whatever the default branch points at.
    await w.sim.push({ project: "PRJ", repo: "app", branch: "main", files: { "later.txt": "x\n" }, as: "dev" });

    const { head, results, log } = await cloneLikeTheCatalogTask(t, w.ns, run);
    assert.equal(head, sha);
    assert.deepEqual(
      results.filter((r) => r.key === "commit").map((r) => r.value),
      [sha],
      "git-init reports the commit as the task's result",
    );
    assert.doesNotMatch(log, new RegExp(w.cloneToken), "the token never reaches git-init's output");
  });

  test("clones a fork pull request's head from the target's refs/pull-requests/<id>/from", async (t) => {
    const w = await pipelinesWorld(t);
    const pr = await openForkPullRequest(w, {
      user: "contrib",
      branch: "fix",
      files: { "fix.txt": "fix\n" },
      title: "Fix",
    });
    const run = await onlyRun(w);
    const sha = pr.fromRef.latestCommit;
    assert.equal(param(run, "revision"), sha);
    assert.equal(param(run, "url"), `${w.sim.url}/scm/prj/app.git`, "the target repository, which the token reads");

    const { head } = await cloneLikeTheCatalogTask(t, w.ns, run, pullRequestFetchRefspec(pr.id));
    assert.equal(head, sha);
  });
});
