// Access to the real control plane for integration tests. Under `npm test` the global setup starts one for the
// whole run; a test file run on its own (`node --test test/integration/x.test.ts`) starts a private one, and so
// does a file that asks for the real Tekton controller (useRealTekton).
import { execFile } from "node:child_process";
import { randomBytes } from "node:crypto";
import { dirname } from "node:path";
import { CoreV1Api, type KubeConfig } from "@kubernetes/client-node";
import {
  installCrds,
  kubeConfigFrom,
  kubectlPath,
  operatorKubeconfig,
  startControlPlane,
} from "../../hack/lib/controlplane.ts";
import { startTekton } from "../../hack/lib/tekton.ts";

export interface TestCluster {
  kubeconfigPath: string;
  kubeConfig: KubeConfig;
  server: string;
  /** etcd's client URL: tests use its v3 JSON gateway to force compaction (and so 410 Gone on watches). */
  etcdUrl: string;
  /** Where the control plane keeps its logs. */
  dir: string;
  /** The operator's own identity: ServiceAccount baton-system/baton bound to exactly config/rbac. */
  operatorKubeconfigPath: string;
}

let shared: Promise<TestCluster> | undefined;
let realTekton = false;
let stopPrivate: (() => Promise<void>) | undefined;

/**
 * Stops this file's private control plane (and its Tekton), if it has one: its processes would otherwise keep the
 * test file's process alive after its last test (an `after` hook of files that call useRealTekton).
 */
export async function stopPrivateCluster(): Promise<void> {
  await stopPrivate?.();
}

export function useCluster(): Promise<TestCluster> {
  shared ??= connect(false);
  return shared;
}

/**
 * THE switch for real Tekton: this test file's cluster runs Tekton's own controller and admission webhook, a
 * scheduler and kwok's simulated Node (hack/lib/tekton.ts), so PipelineRuns really run (their Pods are simulated).
 * It is a private control plane, not the run's shared one, where the stand-in patches run status and a real
 * controller would fight it. Call it before anything else touches the cluster (a `before` hook).
 */
export function useRealTekton(): Promise<TestCluster> {
  if (shared && !realTekton) throw new Error("useRealTekton must come before the first useCluster of this file");
  realTekton = true;
  shared ??= connect(true);
  return shared;
}

async function connect(withTekton: boolean): Promise<TestCluster> {
  const kubeconfigPath = process.env.BATON_TEST_KUBECONFIG;
  if (kubeconfigPath && !withTekton) {
    const kubeConfig = kubeConfigFrom(kubeconfigPath);
    return {
      kubeconfigPath,
      kubeConfig,
      server: kubeConfig.getCurrentCluster()?.server ?? "",
      etcdUrl: process.env.BATON_TEST_ETCD ?? "",
      dir: process.env.BATON_TEST_DIR ?? dirname(kubeconfigPath),
      operatorKubeconfigPath: process.env.BATON_TEST_OPERATOR_KUBECONFIG ?? (await operatorKubeconfig(kubeconfigPath)),
    };
  }
  const controlPlane = await startControlPlane({ dieWithParent: true });
  const kubeConfig = kubeConfigFrom(controlPlane.kubeconfigPath);
  await installCrds(controlPlane.kubeconfigPath);
  const tekton = withTekton
    ? await startTekton(controlPlane.kubeconfigPath, controlPlane.dir, { dieWithParent: true })
    : undefined;
  stopPrivate = async () => {
    await Promise.all([tekton?.stop(), controlPlane.stop()]);
  };
  process.once("beforeExit", () => void stopPrivate?.());
  return {
    kubeconfigPath: controlPlane.kubeconfigPath,
    kubeConfig,
    server: controlPlane.server,
    etcdUrl: controlPlane.etcdUrl,
    dir: controlPlane.dir,
    operatorKubeconfigPath: await operatorKubeconfig(controlPlane.kubeconfigPath),
  };
}

interface HasAfter {
  after(fn: () => Promise<void> | void): void;
  name?: string;
}

/** A namespace of its own for one test, deleted afterwards (kube-controller-manager finishes the deletion). */
export async function createNamespace(t: HasAfter): Promise<string> {
  const { kubeConfig } = await useCluster();
  const core = kubeConfig.makeApiClient(CoreV1Api);
  const base = (t.name ?? "test")
    .toLowerCase()
    .replace(/[^a-z0-9-]+/g, "-")
    .replace(/^-+|-+$/g, "")
    .slice(0, 40);
  const name = `${base || "test"}-${randomBytes(3).toString("hex")}`;
  await core.createNamespace({ body: { metadata: { name, labels: { "baton.dev/test": "true" } } } });
  t.after(async () => {
    if (process.env.BATON_KEEP_NAMESPACES) return;
    await core.deleteNamespace({ name }).catch(() => undefined);
  });
  return name;
}

export interface KubectlResult {
  code: number;
  stdout: string;
  stderr: string;
}

/** Runs the real kubectl (built from Kubernetes 1.36 into bin/) against the test cluster. */
export async function kubectl(args: string[], input?: string): Promise<KubectlResult> {
  const { kubeconfigPath } = await useCluster();
  return new Promise((resolve) => {
    const child = execFile(
      kubectlPath,
      ["--kubeconfig", kubeconfigPath, ...args],
      { maxBuffer: 16 * 1024 * 1024 },
      (error, stdout, stderr) => {
        const code = error ? (typeof error.code === "number" ? error.code : 1) : 0;
        resolve({ code, stdout, stderr });
      },
    );
    if (input !== undefined) child.stdin?.end(input);
  });
}
