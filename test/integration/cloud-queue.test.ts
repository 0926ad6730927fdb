// A Bitbucket Cloud run held by concurrencyLimit and released after the user replaced the token: it starts with the
// current token in the form Cloud's git takes (Basic x-token-auth in .git-credentials, never a Bearer header),
// judged by the catalog git-clone task's git-init cloning from the Cloud simulator with the run's Secret.
import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { TektonStandIn } from "../../hack/lib/tekton-standin.ts";
import { labels, pendingStatus } from "../../src/pipelines/build.ts";
import { type PipelineRun, PipelineRuns } from "../../src/pipelines/tekton.ts";
import { Secrets } from "../../src/runtime/kube.ts";
import { type CloudWorld, cloudWorld } from "../support/cloud-world.ts";
import { cloneLikeTheCatalogTask, tryCloneLikeTheCatalogTask } from "../support/git-clone-task.ts";
import { param } from "../support/pipelines-world.ts";
import { waitFor } from "../support/wait.ts";

async function runOf(w: CloudWorld, pr: number): Promise<PipelineRun | undefined> {
  const { items } = await w.kube.list(PipelineRuns, {
    namespace: w.ns,
    labelSelector: `${labels.pullRequest}=${pr}`,
  });
  return items[0];
}

/** The user and token in a run's `.git-credentials` (one URL-encoded line, as git's store helper reads it). */
async function gitCredentials(w: CloudWorld, run: PipelineRun): Promise<{ user: string; token: string }> {
  const name = run.metadata?.annotations?.["pipelinesascode.tekton.dev/git-auth-secret"] ?? "";
  const secret = await w.kube.get(Secrets, { namespace: w.ns, name });
  const line = Buffer.from(secret?.data?.[".git-credentials"] ?? "", "base64")
    .toString("utf8")
    .trim();
  if (!line) return { user: "", token: "" };
  const url = new URL(line);
  return { user: decodeURIComponent(url.username), token: decodeURIComponent(url.password) };
}

describe("a queued Bitbucket Cloud run released after the token was replaced", () => {
  test("clones with the new token as Cloud's git takes it", async (t) => {
    const w = await cloudWorld(t, {
      spec: { pipelines: { path: ".tekton", cloneWithOperatorToken: true, concurrencyLimit: 1 } },
    });
    const prs: { id: number; head: string }[] = [];
    for (const branch of ["één", "two-🚀"]) {
      const pushed = await w.sim.push({
        workspace: "ws",
        repo: "app",
        branch,
        files: { "a.txt": `${branch}\n` },
        as: "dev",
      });
      const pr = (await w.sim.openPullRequest({
        workspace: "ws",
        repo: "app",
        title: branch,
        sourceBranch: branch,
        author: "dev",
      })) as { id: number };
      prs.push({ id: pr.id, head: pushed.commit });
      await w.sim.settled();
    }
    const [first, second] = prs as [(typeof prs)[0], (typeof prs)[0]];
    const [running, queued] = await waitFor(
      async () => {
        const runs = [await runOf(w, first.id), await runOf(w, second.id)];
        return runs[0] && runs[1] ? (runs as [PipelineRun, PipelineRun]) : undefined;
      },
      { message: "both pull requests' runs" },
    );
    assert.equal(running.spec?.status, undefined, "the first runs");
    assert.equal(queued.spec?.status, pendingStatus, "the second waits for the slot");
    assert.deepEqual(
      await gitCredentials(w, queued),
      { user: "x-token-auth", token: w.token.token },
      "queued with the token current then",
    );
    assert.equal((await cloneLikeTheCatalogTask(t, w.ns, running)).head, first.head, "the running run clones");

    // Cloud issues no tokens through its API: the user makes a new one, writes it into the Secret, revokes the old.
    const fresh = w.sim.createToken({
      kind: "repository",
      workspace: "ws",
      repo: "app",
      name: "baton-2",
      scopes: ["repository", "pullrequest", "webhook"],
    });
    await w.kube.patch(Secrets, { namespace: w.ns, name: "bb-token" }, { stringData: { token: fresh.token } });
    assert.ok(w.sim.revokeToken(w.token.id));
    const stale = await tryCloneLikeTheCatalogTask(t, w.ns, queued);
    assert.notEqual(stale.code, 0, "the queued run's Secret, as queued, no longer clones");

    await new TektonStandIn(w.kube).finish(w.ns, running.metadata?.name ?? "", "Succeeded");
    const started = await waitFor(
      async () => {
        const run = await runOf(w, second.id);
        return run && run.spec?.status === undefined ? run : undefined;
      },
      { message: "the queued run to be released" },
    );
    assert.equal(param(started, "url"), w.sim.cloneUrl("ws", "app"));
    const { head, log } = await cloneLikeTheCatalogTask(t, w.ns, started);
    assert.equal(head, second.head, "the released run clones its pull request's head");
    assert.ok(!log.includes(fresh.token), "the token never reaches git-init's output");
    assert.deepEqual(
      await gitCredentials(w, started),
      { user: "x-token-auth", token: fresh.token },
      "the released run holds the current token",
    );
  });
});
