// SIGTERM as Kubernetes sends it to a real operator process (src/main.ts): endpoints drop the terminating pod
// asynchronously, so the replica goes unready at once but keeps answering deliveries for the drain period —
// Bitbucket never retries a refused one — and exits once the period is over.
import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { test } from "node:test";
import type { Repository } from "../../src/api/repository.ts";
import { PipelineRuns } from "../../src/pipelines/tekton.ts";
import { Repositories } from "../../src/repositories/resource.ts";
import { Secrets } from "../../src/runtime/kube.ts";
import { createNamespace } from "../support/cluster.ts";
import { spawnOperator, testKube, useSimulator } from "../support/operator.ts";
import { allEvents, prRun } from "../support/pipelines-world.ts";
import { waitFor } from "../support/wait.ts";

test("after SIGTERM the replica is unready at once, still answers deliveries (and runs them) through the drain, then exits", async (t) => {
  const ns = await createNamespace(t);
  const sim = await useSimulator(t);
  sim.createUser({ name: "admin", password: "admin-password", admin: true });
  sim.createUser({ name: "dev", password: "dev-password", displayName: "Developer" });
  sim.createProject({ key: "PRJ" });
  await sim.createRepository({
    project: "PRJ",
    slug: "app",
    files: { "README.md": "# app\n", ".tekton/build.yaml": prRun },
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
  await kube.create(Repositories, {
    apiVersion: "baton.dev/v1alpha1",
    kind: "Repository",
    metadata: { name: "app", namespace: ns },
    spec: {
      url: `${sim.url}/projects/PRJ/repos/app`,
      secretRef: { name: "bb-token", key: "token" },
      cloneTokenRef: { kind: "Secret", name: "bb-clone", key: "token" },
      webhook: { managed: false, scope: "repository", secretRef: { name: "hook", key: "secret" } },
      pipelines: { path: ".tekton" },
    },
  } as Repository);

  const { child, logs, exited, intakePort, readyz } = await spawnOperator(t, ns, {
    BATON_SHUTDOWN_DRAIN: "15s",
    BATON_ALLOWED_SERVERS: sim.url,
  });
  sim.createWebhook({
    project: "PRJ",
    repo: "app",
    name: "baton",
    url: `http://127.0.0.1:${intakePort}/hooks/bitbucket`,
    events: allEvents,
    configuration: { secret: webhookSecret },
  });

  child.kill("SIGTERM");
  await waitFor(async () => (await readyz()) === 503, { message: "/readyz to answer unready" });

  // The Service may still route Bitbucket's deliveries here: they are answered and acted on.
  await sim.push({ project: "PRJ", repo: "app", branch: "feature", files: { "src.txt": "v1\n" }, as: "dev" });
  await sim.openPullRequest({ project: "PRJ", repo: "app", from: { branch: "feature" }, title: "Add src", as: "dev" });
  await sim.settled();
  const [answer] = sim.deliveries({ eventKey: "pr:opened" });
  assert.equal(answer?.status, 200, answer?.responseBody ?? "no answer");
  assert.equal(JSON.parse(answer?.responseBody ?? "{}").outcome, "accepted");
  const runs = await kube.list(PipelineRuns, { namespace: ns });
  assert.equal(runs.items.length, 1, "the delivery answered during the drain started its run");
  assert.equal(child.exitCode, null, "still running when the delivery was answered");

  assert.equal(await exited, 0, logs.join("\n"));
  assert.ok(
    logs.some((l) => l.includes("drain period over")),
    "it stopped because the drain period ended",
  );
});
