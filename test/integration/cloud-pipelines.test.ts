// Bitbucket Cloud end to end: the Cloud simulator delivers signed webhooks to Baton's Cloud intake; Baton resolves
// the 12-hex head, reads .tekton through Cloud's /src, creates the PipelineRun and its git Secret (Basic
// x-token-auth), and posts INPROGRESS to Cloud's build status API.
import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { PipelineRuns } from "../../src/pipelines/tekton.ts";
import { subscribedEvents } from "../../src/providers/bitbucket-cloud/payloads.ts";
import { Repositories } from "../../src/repositories/resource.ts";
import { realClock } from "../../src/runtime/clock.ts";
import { Secrets } from "../../src/runtime/kube.ts";
import { startCloudSimulator } from "../../src/simulator/bitbucket-cloud/index.ts";
import { createNamespace } from "../support/cluster.ts";
import { startOperator, testKube } from "../support/operator.ts";
import { waitFor } from "../support/wait.ts";

const prRun = `apiVersion: tekton.dev/v1
kind: PipelineRun
metadata:
  name: build
  annotations:
    pipelinesascode.tekton.dev/on-event: "[pull_request, push]"
    pipelinesascode.tekton.dev/on-target-branch: "[main, feature]"
spec:
  params:
    - name: revision
      value: "{{ revision }}"
    - name: url
      value: "{{ repo_url }}"
  pipelineSpec:
    params:
      - name: revision
      - name: url
    tasks: []
  workspaces:
    - name: basic-auth
`;

describe("Bitbucket Cloud end to end", () => {
  test("pull request → run with the full head, Basic git Secret, INPROGRESS on Cloud; decline cancels", async (t) => {
    const ns = await createNamespace(t);
    const sim = await startCloudSimulator({});
    t.after(() => sim.close());
    sim.createUser({ nickname: "dev" });
    sim.createWorkspace({ slug: "ws", owner: "dev", members: ["dev"] });
    await sim.createRepository({ workspace: "ws", slug: "app", isPrivate: true });
    await sim.push({
      workspace: "ws",
      repo: "app",
      branch: "main",
      files: { "README.md": "#\n", ".tekton/build.yaml": prRun },
      as: "dev",
    });
    const { token } = sim.createToken({
      kind: "repository",
      workspace: "ws",
      repo: "app",
      name: "baton",
      scopes: ["repository", "pullrequest", "webhook"],
    });
    const kube = await testKube();
    for (const [name, data] of [
      ["bb-token", { token }],
      ["hook", { secret: "hook-secret" }],
    ] as const)
      await kube.create(Secrets, {
        apiVersion: "v1",
        kind: "Secret",
        metadata: { name, namespace: ns },
        stringData: data,
      });
    await kube.create(Repositories, {
      apiVersion: "baton.dev/v1alpha1",
      kind: "Repository",
      metadata: { name: "app", namespace: ns },
      spec: {
        url: `${sim.url}/ws/app`,
        provider: "bitbucket-cloud",
        secretRef: { name: "bb-token", key: "token" },
        pipelines: { path: ".tekton", cloneWithOperatorToken: true },
        webhook: { managed: false, scope: "repository", secretRef: { name: "hook", key: "secret" } },
      },
    } as never);
    const op = await startOperator(t, ns, {
      domainClock: realClock,
      catchUp: async () => ({ started: false, detail: "off" }),
    });
    const port = await waitFor(() => op.intake.port, { message: "intake" });
    sim.createWebhook({
      workspace: "ws",
      repo: "app",
      url: `http://127.0.0.1:${port}/hooks/bitbucket-cloud`,
      events: [...subscribedEvents],
      secret: "hook-secret",
      active: true,
    });
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
