// config/namespaced: Baton confined to one namespace. Rendered by kustomize, applied to the real API server, and an
// operator run as that ServiceAccount with BATON_WATCH_NAMESPACE: it does its work in its namespace (a token issued
// into a Secret, a Repository's webhook and its secret, leader election) and cannot read a Secret anywhere else.
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join, relative } from "node:path";
import { test } from "node:test";
import { parse, parseAllDocuments, stringify } from "yaml";
import { kubeConfigFrom, kubectlPath, repoRoot } from "../../hack/lib/controlplane.ts";
import { Repositories } from "../../src/repositories/resource.ts";
import { KubeClient, Secrets } from "../../src/runtime/kube.ts";
import { startWebhookReceiver } from "../../src/simulator/index.ts";
import { Tokens } from "../../src/tokens/reconciler.ts";
import { adminWorld } from "../support/admin-world.ts";
import { createNamespace, useCluster } from "../support/cluster.ts";
import { startOperator, testKube } from "../support/operator.ts";
import { waitFor } from "../support/wait.ts";

function kubectl(kubeconfig: string, args: string[], input?: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = execFile(kubectlPath, ["--kubeconfig", kubeconfig, ...args], (error, stdout, stderr) =>
      error ? reject(new Error(`kubectl ${args.join(" ")}: ${stderr || error.message}`)) : resolve(stdout),
    );
    if (input !== undefined) child.stdin?.end(input);
  });
}

const conditionOf = (o: { status?: { conditions?: { type: string; status: string }[] } } | undefined, type: string) =>
  o?.status?.conditions?.find((c) => c.type === type)?.status;

test("config/namespaced: the operator works in its namespace and cannot read Secrets in another", async (t) => {
  const cluster = await useCluster();
  const ns = await createNamespace(t);
  const elsewhere = await createNamespace(t);
  const kube = await testKube();

  // The user's overlay: config/namespaced, installed into their namespace.
  const overlay = await mkdtemp(join(tmpdir(), "baton-namespaced-"));
  t.after(() => rm(overlay, { recursive: true, force: true }));
  await writeFile(
    join(overlay, "kustomization.yaml"),
    stringify({ namespace: ns, resources: [relative(overlay, join(repoRoot, "config/namespaced"))] }),
  );
  const rendered = await kubectl(cluster.kubeconfigPath, ["kustomize", overlay]);
  const objects = parseAllDocuments(rendered).map(
    (d) => d.toJS() as { kind: string; metadata: { name: string; namespace?: string } },
  );
  const kinds = objects.map((o) => o.kind);
  assert.ok(!kinds.includes("ClusterRole") && !kinds.includes("ClusterRoleBinding"), kinds.join(", "));
  for (const o of objects) assert.equal(o.metadata.namespace, ns, `${o.kind} ${o.metadata.name}`);
  await kubectl(cluster.kubeconfigPath, ["apply", "--server-side", "--field-manager=baton-test", "-f", "-"], rendered);

  // The operator as that ServiceAccount, configured as the rendered Deployment configures it.
  const deployment = objects.find((o) => o.kind === "Deployment") as unknown as {
    spec: {
      template: {
        spec: { containers: { env: { name: string; valueFrom?: { fieldRef?: { fieldPath: string } } }[] }[] };
      };
    };
  };
  const watch = deployment.spec.template.spec.containers[0]?.env.find((e) => e.name === "BATON_WATCH_NAMESPACE");
  assert.equal(watch?.valueFrom?.fieldRef?.fieldPath, "metadata.namespace");
  const token = (await kubectl(cluster.kubeconfigPath, ["create", "token", "baton", "-n", ns])).trim();
  const admin = parse(await readFile(cluster.kubeconfigPath, "utf8")) as { clusters: { cluster: unknown }[] };
  const kubeconfig = join(overlay, "operator.kubeconfig");
  await writeFile(
    kubeconfig,
    stringify({
      apiVersion: "v1",
      kind: "Config",
      clusters: [{ name: "testenv", cluster: admin.clusters[0]?.cluster }],
      users: [{ name: "baton", user: { token } }],
      contexts: [{ name: "baton", context: { cluster: "testenv", user: "baton", namespace: ns } }],
      "current-context": "baton",
    }),
    { mode: 0o600 },
  );

  // Its work: a token issued into a Secret, and a Repository's webhook with its secret.
  const { sim, repository, projectToken } = await adminWorld(t, ns);
  await kube.create(Secrets, {
    apiVersion: "v1",
    kind: "Secret",
    metadata: { name: "not-batons", namespace: elsewhere },
    stringData: { password: "another-teams-password" },
  });
  const receiver = await startWebhookReceiver();
  t.after(() => receiver.close());
  await startOperator(t, ns, {
    config: {
      kubeconfig,
      watchNamespace: ns,
      podNamespace: ns,
      leaderElection: "true",
      intakeUrl: receiver.url,
    },
  });
  await kube.create(Repositories, repository);
  await kube.create(Tokens, projectToken);
  await waitFor(
    async () => conditionOf(await kube.get(Repositories, { namespace: ns, name: "app" }), "WebhookSynced") === "True",
    {
      message: "the Repository's webhook to be synced",
    },
  );
  await waitFor(async () => conditionOf(await kube.get(Tokens, { namespace: ns, name: "ci" }), "Ready") === "True", {
    message: "the token to be issued",
  });
  assert.ok(await kube.get(Secrets, { namespace: ns, name: "ci-token" }));
  assert.equal(sim.webhooks({ project: "PRJ", repo: "app" }).length, 1);

  // Its identity can read Secrets in its namespace and in no other, nor list them cluster-wide.
  const asOperator = new KubeClient(kubeConfigFrom(kubeconfig));
  assert.ok(await asOperator.get(Secrets, { namespace: ns, name: "ci-token" }));
  await assert.rejects(asOperator.get(Secrets, { namespace: elsewhere, name: "not-batons" }), /403|[Ff]orbidden/);
  await assert.rejects(asOperator.list(Secrets, {}), /403|[Ff]orbidden/);
  await assert.rejects(asOperator.list(Repositories, { namespace: elsewhere }), /403|[Ff]orbidden/);
});
