// The API server restarts under a running operator (an upgrade, a control-plane failover): watches resume, work
// that happened while it was away is picked up, and nothing is reported to Bitbucket twice.
import assert from "node:assert/strict";
import { test } from "node:test";
import { installCrds, kubeConfigFrom, operatorKubeconfig, startControlPlane } from "../../hack/lib/controlplane.ts";
import { TektonStandIn } from "../../hack/lib/tekton-standin.ts";
import type { BitbucketProjectToken } from "../../src/api/token.ts";
import { Repositories } from "../../src/repositories/resource.ts";
import { KubeClient, type KubeObject, Secrets } from "../../src/runtime/kube.ts";
import { Tokens } from "../../src/tokens/reconciler.ts";
import { startOperator, useSimulator } from "../support/operator.ts";
import { createSignedRun } from "../support/status-world.ts";
import { waitFor } from "../support/wait.ts";

test("watches resume after the API server restarts; nothing is lost or reported twice", async (t) => {
  // A private control plane: restarting the shared one would disturb the other test files.
  const first = await startControlPlane({ dieWithParent: true });
  let current = first;
  t.after(() => current.stop());
  await installCrds(first.kubeconfigPath);
  const operatorConfig = await operatorKubeconfig(first.kubeconfigPath);
  const kube = new KubeClient(kubeConfigFrom(first.kubeconfigPath), { fieldManager: "test" });
  const ns = "restart";
  await kube.create(
    { apiVersion: "v1", kind: "Namespace", plural: "namespaces", namespaced: false },
    { apiVersion: "v1", kind: "Namespace", metadata: { name: ns } },
  );

  const sim = await useSimulator(t);
  sim.createUser({ name: "root", password: "root-password", admin: true });
  sim.createUser({ name: "admin", password: "admin-password" });
  sim.createProject({ key: "PLATFORM" });
  sim.grant({ permission: "PROJECT_ADMIN", user: "admin", project: "PLATFORM" });
  await sim.createRepository({ project: "PLATFORM", slug: "api", files: { "README.md": "api\n" } });
  const sha = (await sim.resolve({ project: "PLATFORM", repo: "api", rev: "main" })) ?? "";
  const readToken = sim.createToken({
    scope: { kind: "project", project: "PLATFORM" },
    name: "read",
    permissions: ["REPO_READ"],
  });
  await kube.create(Secrets, {
    apiVersion: "v1",
    kind: "Secret",
    metadata: { name: "bb-admin", namespace: ns },
    stringData: { username: "admin", password: "admin-password" },
  });
  await kube.create(Secrets, {
    apiVersion: "v1",
    kind: "Secret",
    metadata: { name: "bb-read", namespace: ns },
    stringData: { token: readToken.token },
  });
  await kube.create(Repositories, {
    apiVersion: "baton.dev/v1alpha1",
    kind: "Repository",
    metadata: { name: "api", namespace: ns },
    spec: {
      url: `${sim.url}/projects/PLATFORM/repos/api`,
      secretRef: { name: "bb-read", key: "token" },
      webhook: { managed: false, scope: "repository" },
      pipelines: { path: ".tekton" },
    },
  });
  const token = (name: string): BitbucketProjectToken => ({
    apiVersion: "baton.dev/v1alpha1",
    kind: "BitbucketProjectToken",
    metadata: { name, namespace: ns },
    spec: {
      server: sim.url,
      project: "PLATFORM",
      permissions: ["REPO_READ"],
      lifetime: "720h",
      revocationGracePeriod: "2h",
      adminCredentialsRef: { name: "bb-admin" },
      secretName: `${name}-token`,
      deletionPolicy: "Revoke",
    },
  });
  const ready = (name: string) =>
    waitFor(
      async () =>
        (await kube.get(Tokens, { namespace: ns, name }))?.status?.conditions?.some(
          (c) => c.type === "Ready" && c.status === "True",
        ),
      {
        message: `${name} Ready`,
        timeout: 60_000,
      },
    );

  // Its run is created below, not by Baton's runner (which posts a run's first INPROGRESS): reported at once.
  await startOperator(t, ns, { config: { kubeconfig: operatorConfig, statusGrace: "0s" } });
  await kube.create(Tokens, token("before"));
  await ready("before");
  const run = await createSignedRun(kube, {
    apiVersion: "tekton.dev/v1",
    kind: "PipelineRun",
    metadata: {
      generateName: "build-",
      namespace: ns,
      labels: {
        "app.kubernetes.io/managed-by": "baton",
        "baton.dev/repository": "api",
        "baton.dev/sha": sha,
        "baton.dev/pipeline": "build",
      },
    },
    spec: {
      pipelineSpec: { tasks: [{ name: "t", taskSpec: { steps: [{ name: "s", image: "alpine", script: "true" }] } }] },
    },
  } as KubeObject);
  const runName = run.metadata?.name ?? "";
  await waitFor(() => sim.buildStatuses({ commit: sha }).some((s) => s.state === "INPROGRESS"), {
    message: "INPROGRESS reported",
  });

  // The API server goes away and comes back on the same address with the same data.
  await first.stop();
  current = await startControlPlane({ dir: first.dir, dieWithParent: true });
  assert.equal(current.server, first.server);

  // Work that happens after the restart reaches the operator through its resumed watches.
  await new TektonStandIn(kube).finish(ns, runName, "Succeeded");
  await kube.create(Tokens, token("after"));
  await ready("after");
  await waitFor(() => sim.buildStatuses({ commit: sha }).some((s) => s.state === "SUCCESSFUL"), {
    message: "SUCCESSFUL reported",
    timeout: 60_000,
  });
  const posts = sim.requests({ method: "POST", group: "build-status" });
  assert.equal(posts.length, 2, "INPROGRESS once and SUCCESSFUL once");
  const issued = sim.tokens().filter((tk) => tk.name.startsWith(`baton/${ns}/`));
  assert.equal(issued.length, 2, "one token per object: the restart caused no second issue");
});
