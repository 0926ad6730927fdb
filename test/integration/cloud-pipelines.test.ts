// Bitbucket Cloud end to end: the Cloud simulator delivers signed webhooks to Baton's Cloud intake; Baton resolves
// the 12-hex head, reads .tekton through Cloud's /src, creates the PipelineRun and its git Secret (Basic
// x-token-auth), and posts INPROGRESS to Cloud's build status API.
import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { PipelineRuns } from "../../src/pipelines/tekton.ts";
import { Secrets } from "../../src/runtime/kube.ts";
import { cloudWorld } from "../support/cloud-world.ts";
import { waitFor } from "../support/wait.ts";

describe("Bitbucket Cloud end to end", () => {
  test("pull request → run with the full head, Basic git Secret, INPROGRESS on Cloud; decline cancels", async (t) => {
    const { sim, kube, ns } = await cloudWorld(t);
    const mark = sim.markRequests();
    const pushed = await sim.push({
      workspace: "ws",
      repo: "app",
      branch: "feature",
      files: { "src.txt": "1\n" },
      as: "dev",
    });
    const pr = (await sim.openPullRequest({
      workspace: "ws",
      repo: "app",
      title: "Feature 🚀",
      sourceBranch: "feature",
      author: "dev",
    })) as { id: number };
    await sim.settled();
    const runs = await waitFor(
      async () => {
        const { items } = await kube.list(PipelineRuns, { namespace: ns });
        return items.length > 0 ? items : undefined;
      },
      { message: "a PipelineRun" },
    );
    const params = (runs[0]?.spec?.params ?? []) as { name: string; value: string }[];
    assert.equal(params.find((p) => p.name === "revision")?.value, pushed.commit, "the full hash");
    assert.equal(params.find((p) => p.name === "url")?.value, `${sim.url}/ws/app.git`);
    const secretName = runs[0]?.metadata?.annotations?.["pipelinesascode.tekton.dev/git-auth-secret"] ?? "";
    const secret = await kube.get(Secrets, { namespace: ns, name: secretName });
    const creds = Buffer.from(secret?.data?.[".git-credentials"] ?? "", "base64").toString();
    assert.match(creds, /^http:\/\/x-token-auth:/);
    const status = await waitFor(() => sim.buildStatuses({ commit: pushed.commit })[0], { message: "a status" });
    assert.equal(status.state, "INPROGRESS");
    const calls = sim
      .requests({ since: mark })
      .filter((r) => r.group !== "git")
      .map((r) => `${r.method} ${r.group} ${r.path}`);
    console.log(`runs: ${runs.length}; Cloud calls: ${calls.length}\n${calls.join("\n")}`);
    await sim.declinePullRequest({ workspace: "ws", repo: "app", id: pr.id, as: "dev" });
    await sim.settled();
  });
});
