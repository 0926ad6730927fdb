// A namespace user who may create PipelineRuns can label one as Baton's. Baton must not post its outcome to
// Bitbucket with the operator's token, neither for a run made up from scratch nor for a copy of a genuine run's
// metadata under a new name, while it keeps reporting the runs it did create.
import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { test } from "node:test";
import { RunSigningKey } from "../../src/pipelines/signing-key.ts";
import { ConfigMaps, KubeClient, type KubeObject } from "../../src/runtime/kube.ts";
import { statusKey } from "../../src/status/report.ts";
import { PipelineRuns } from "../../src/status/reporter.ts";
import { createNamespace, kubectl, useCluster } from "../support/cluster.ts";
import { startOperator } from "../support/operator.ts";
import { createRun, statusWorld } from "../support/status-world.ts";
import { waitFor } from "../support/wait.ts";

test("runs Baton did not create are not reported, a copy of a genuine run's metadata neither; Baton's own are", async (t) => {
  const w = await statusWorld(t);
  // Mallory may create and read PipelineRuns in the namespace, as Tekton's edit role allows; she cannot write their
  // status, which Tekton's controller does for her when her run finishes (the stand-in below).
  const rbac = `apiVersion: rbac.authorization.k8s.io/v1
kind: Role
metadata: {name: pipelinerun-author, namespace: ${w.ns}}
rules:
  - apiGroups: [tekton.dev]
    resources: [pipelineruns]
    verbs: [get, list, create]
---
apiVersion: rbac.authorization.k8s.io/v1
kind: RoleBinding
metadata: {name: mallory, namespace: ${w.ns}}
roleRef: {apiGroup: rbac.authorization.k8s.io, kind: Role, name: pipelinerun-author}
subjects:
  - {apiGroup: rbac.authorization.k8s.io, kind: User, name: mallory}
`;
  const applied = await kubectl(["apply", "-f", "-"], rbac);
  assert.equal(applied.code, 0, applied.stderr);
  const asMallory = async (run: KubeObject): Promise<string> => {
    const created = await kubectl(
      ["--as", "mallory", "create", "-o", "jsonpath={.metadata.name}", "-f", "-"],
      JSON.stringify(run),
    );
    assert.equal(created.code, 0, created.stderr);
    return created.stdout;
  };

  // A genuine run of `lint`, which fails.
  const genuine = await createRun(w, "lint");
  const original = (await w.kube.get(PipelineRuns, { namespace: w.ns, name: genuine })) as KubeObject;
  // Mallory's runs: `deploy` from scratch on an arbitrary commit, and a copy of the genuine run's labels and
  // annotations (its signature included) under a name of her own.
  const arbitrary = randomBytes(20).toString("hex");
  const pipelineSpec = {
    tasks: [{ name: "t", taskSpec: { steps: [{ name: "s", image: "alpine", script: "true" }] } }],
  };
  const madeUp = await asMallory({
    apiVersion: "tekton.dev/v1",
    kind: "PipelineRun",
    metadata: {
      name: "deploy-forged",
      namespace: w.ns,
      labels: {
        "app.kubernetes.io/managed-by": "baton",
        "baton.dev/repository": "api",
        "baton.dev/sha": arbitrary,
        "baton.dev/pipeline": "deploy",
        "baton.dev/event": "push",
      },
      annotations: { "pipelinesascode.tekton.dev/branch": "main" },
    },
    spec: { pipelineSpec },
  });
  const copied = await asMallory({
    apiVersion: "tekton.dev/v1",
    kind: "PipelineRun",
    metadata: {
      name: "lint-copy",
      namespace: w.ns,
      labels: original.metadata?.labels ?? {},
      annotations: original.metadata?.annotations ?? {},
    },
    spec: { pipelineSpec },
  });
  assert.match(copied, /^lint-copy$/);
  await w.tekton.finish(w.ns, madeUp, "Succeeded");
  await w.tekton.finish(w.ns, copied, "Succeeded");
  await w.tekton.finish(w.ns, genuine, "Failed");

  const op = await startOperator(t, w.ns);
  const lintKey = statusKey("baton", w.ns, "api", "lint");
  await waitFor(() => w.sim.buildStatuses({ commit: w.sha, key: lintKey }).find((s) => s.state === "FAILED"), {
    message: "the genuine run's FAILED status",
  });
  // Both of Mallory's runs were looked at, finished, and turned away.
  for (const name of [madeUp, copied]) {
    await waitFor(
      () => op.logs.some((l) => l.msg === "reconciled" && l.controller === "buildstatus" && l.name === name),
      { message: `the reporter reconciled ${name}` },
    );
    assert.ok(
      op.logs.some((l) => l.level === "warn" && l.name === name && /not reporting a PipelineRun/.test(String(l.msg))),
      `a warning about ${name}`,
    );
  }
  assert.deepEqual(w.sim.buildStatuses({ commit: arbitrary }), [], "nothing posted for the made-up commit");
  assert.deepEqual(
    w.sim.buildStatuses({ commit: w.sha }).map((s) => [s.key, s.state]),
    [[lintKey, "FAILED"]],
    "the genuine run's status stays FAILED",
  );
  const posts = w.sim.requests({ method: "POST", group: "build-status" });
  assert.equal(posts.length, 1, "one status posted, for the genuine run");
});

test("replicas that start at once share one run-signing key, and a restart reads the same", async (t) => {
  const ns = await createNamespace(t);
  const { kubeConfig } = await useCluster();
  const replicas = [1, 2, 3].map(() => new RunSigningKey(new KubeClient(kubeConfig, { fieldManager: "test" }), ns));
  const keys = await Promise.all(replicas.map((r) => r.get()));
  const restarted = await new RunSigningKey(new KubeClient(kubeConfig, { fieldManager: "test" }), ns).get();
  for (const key of [...keys, restarted]) {
    assert.equal(Buffer.from(key.secret).toString("hex"), Buffer.from(restarted.secret).toString("hex"));
    assert.equal(key.createdAt, restarted.createdAt);
  }
  assert.equal(restarted.secret.length, 32);
});

test("upgrade: a run the previous version created, unsigned, before the signing key existed is still reported", async (t) => {
  const w = await statusWorld(t);
  const operatorNamespace = await createNamespace(t); // no key there yet: this operator is the first new version
  const legacy = await w.kube.create(PipelineRuns, {
    apiVersion: "tekton.dev/v1",
    kind: "PipelineRun",
    metadata: {
      generateName: "legacy-",
      namespace: w.ns,
      labels: {
        "app.kubernetes.io/managed-by": "baton",
        "baton.dev/repository": "api",
        "baton.dev/sha": w.sha,
        "baton.dev/pipeline": "legacy",
      },
    },
    spec: { pipelineSpec: { tasks: [{ name: "t", taskSpec: { steps: [{ name: "s", image: "alpine" }] } }] } },
  } as KubeObject);
  await w.tekton.finish(w.ns, legacy.metadata?.name ?? "", "Succeeded");
  // Timestamps have whole seconds: let the API server's clock pass the run's second before the key can be created.
  const created = Date.parse(legacy.metadata?.creationTimestamp ?? "");
  await waitFor(
    async () => {
      const probe = await w.kube.create(ConfigMaps, {
        apiVersion: "v1",
        kind: "ConfigMap",
        metadata: { generateName: "clock-", namespace: w.ns },
      });
      return Date.parse(probe.metadata?.creationTimestamp ?? "") > created;
    },
    { message: "the API server's clock past the legacy run's second" },
  );

  await startOperator(t, w.ns, { config: { podNamespace: operatorNamespace } });
  const status = await waitFor(
    () => w.sim.buildStatuses({ commit: w.sha, key: statusKey("baton", w.ns, "api", "legacy") })[0],
    { message: "the legacy run's status" },
  );
  assert.equal(status.state, "SUCCESSFUL");
  const key = await new RunSigningKey(w.kube, operatorNamespace).get();
  assert.ok(key.createdAt > created, "the key was created by this operator, after the run");
});
