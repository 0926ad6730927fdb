// Starts and stops the real control plane built by hack/testenv (etcd + kube-apiserver + kube-controller-manager),
// and installs Baton's and Tekton's CRDs into it. Shared by the test harness, `make cluster-up` and the demo.
import { type ChildProcess, execFile, spawn } from "node:child_process";
import { existsSync } from "node:fs";
import { mkdir, mkdtemp, open, readdir, readFile, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { dirname, join, resolve } from "node:path";
import { promisify } from "node:util";
import { KubeConfig, type KubernetesObject } from "@kubernetes/client-node";
import { parse, parseAllDocuments, stringify } from "yaml";

const run = promisify(execFile);

export const repoRoot = resolve(import.meta.dirname, "../..");
export const binDir = join(repoRoot, "bin");
export const kubectlPath = join(binDir, "kubectl");

export interface ControlPlane {
  dir: string;
  kubeconfigPath: string;
  server: string;
  etcdUrl: string;
  pid: number;
  stop(): Promise<void>;
}

export interface StartOptions {
  /** Where certificates, etcd data, logs and the kubeconfig go; a fresh temporary directory by default. */
  dir?: string;
  /** Kill the control plane when this process exits, however it exits (test runs). */
  dieWithParent?: boolean;
}

/** Builds bin/testenv if it is missing or stale; a no-op when it is up to date. */
export async function buildTestenv(): Promise<void> {
  await run("make", ["-s", "-C", repoRoot, "testenv"], { maxBuffer: 64 * 1024 * 1024 });
}

export async function startControlPlane(options: StartOptions = {}): Promise<ControlPlane> {
  await buildTestenv();
  const dir = options.dir ?? (await mkdtemp(join(tmpdir(), "baton-testenv-")));
  await mkdir(dir, { recursive: true });
  const args = ["--dir", dir];
  if (options.dieWithParent) args.push("--die-with-parent");
  // Files, not pipes: a control plane that outlives this process must not depend on it to drain its output.
  const out = await open(join(dir, "testenv.out"), "w");
  const log = await open(join(dir, "kube-apiserver.log"), "w");
  const child = spawn(join(binDir, "testenv"), args, {
    stdio: ["ignore", out.fd, log.fd],
    detached: !options.dieWithParent,
  });
  await Promise.all([out.close(), log.close()]);
  const ready = await waitForReadyLine(child, dir);
  const info = JSON.parse(await readFile(join(dir, "testenv.json"), "utf8")) as { etcd: string; pid: number };
  if (!options.dieWithParent) child.unref();
  return {
    dir,
    kubeconfigPath: ready.kubeconfig,
    server: ready.server,
    etcdUrl: info.etcd,
    pid: info.pid,
    stop: () => stopProcess(child),
  };
}

async function waitForReadyLine(child: ChildProcess, dir: string): Promise<{ kubeconfig: string; server: string }> {
  const deadline = Date.now() + 180_000;
  for (;;) {
    const text = await readFile(join(dir, "testenv.out"), "utf8").catch(() => "");
    const match = /^ready kubeconfig=(\S+) server=(\S+)$/m.exec(text);
    if (match?.[1] && match[2]) return { kubeconfig: match[1], server: match[2] };
    if (child.exitCode !== null || child.signalCode !== null || Date.now() > deadline) {
      child.kill("SIGKILL");
      const log = join(dir, "kube-apiserver.log");
      throw new Error(
        `the test control plane did not become ready (exit ${child.exitCode ?? child.signalCode}); see ${log}`,
      );
    }
    await new Promise((r) => setTimeout(r, 50));
  }
}

/**
 * Stops a child process: SIGTERM, then SIGKILL after `graceMs`. Test and demo data are disposable, so nothing is
 * worth waiting longer for (Tekton's webhook alone would take ~45 s to drain).
 */
export async function stopProcess(child: ChildProcess, graceMs = 3_000): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise<void>((r) => child.once("exit", () => r()));
  child.kill("SIGTERM");
  const timer = setTimeout(() => child.kill("SIGKILL"), graceMs);
  await exited;
  clearTimeout(timer);
}

/** Stops a control plane started by another process, found by its testenv.json. */
export async function stopControlPlaneAt(dir: string): Promise<boolean> {
  const file = join(dir, "testenv.json");
  if (!existsSync(file)) return false;
  const { pid } = JSON.parse(await readFile(file, "utf8")) as { pid: number };
  return stopPid(pid);
}

/** SIGTERM, up to 15 s to finish, then SIGKILL; false when `pid` was not running. */
export async function stopPid(pid: number): Promise<boolean> {
  if (!Number.isInteger(pid) || pid <= 1) return false;
  try {
    process.kill(pid, "SIGTERM");
  } catch {
    return false;
  }
  for (let i = 0; i < 150; i++) {
    try {
      process.kill(pid, 0);
    } catch {
      return true;
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  process.kill(pid, "SIGKILL");
  return true;
}

export function kubeConfigFrom(path: string): KubeConfig {
  const kc = new KubeConfig();
  kc.loadFromFile(path);
  return kc;
}

/** The verified directory of the pinned Tekton Pipelines module's CRDs (hack/tekton/go.mod). */
export async function tektonCrdDir(): Promise<string> {
  const { stdout } = await run("go", ["mod", "download", "-json", "github.com/tektoncd/pipeline"], {
    cwd: join(repoRoot, "hack/tekton"),
  });
  const { Dir, Error: error } = JSON.parse(stdout) as { Dir?: string; Error?: string };
  if (!Dir) throw new Error(`cannot locate the Tekton module: ${error ?? "no directory"}`);
  return join(Dir, "config/300-crds");
}

async function readCrds(dir: string): Promise<KubernetesObject[]> {
  const files = (await readdir(dir)).filter((f) => f.endsWith(".yaml")).sort();
  const crds: KubernetesObject[] = [];
  for (const file of files) {
    for (const doc of parseAllDocuments(await readFile(join(dir, file), "utf8"))) {
      const obj = doc.toJS() as KubernetesObject | null;
      if (obj?.kind === "CustomResourceDefinition") crds.push(obj);
    }
  }
  return crds;
}

/**
 * Installs Baton's CRDs (crds/) and Tekton's real CRDs with the real kubectl's server-side apply: three Tekton CRDs
 * exceed the 256 KiB annotation limit of client-side apply, and client-node's generic object API serialises
 * CustomResourceDefinitions through typed models that silently drop `x-kubernetes-*` keys (the CEL rules among
 * them). Tekton's conversion webhook does not run here, so conversion is set to None; v1 is their storage version
 * and the only one Baton writes.
 */
export async function installCrds(kubeconfigPath: string): Promise<string[]> {
  const tekton = (await readCrds(await tektonCrdDir())).map((crd) => {
    (crd as KubernetesObject & { spec: Record<string, unknown> }).spec.conversion = { strategy: "None" };
    return crd;
  });
  const crds = [...(await readCrds(join(repoRoot, "crds"))), ...tekton];
  const list = JSON.stringify({ apiVersion: "v1", kind: "List", items: crds });
  const kubectl = (args: string[], input?: string) =>
    new Promise<void>((resolvePromise, reject) => {
      const child = execFile(
        kubectlPath,
        ["--kubeconfig", kubeconfigPath, ...args],
        { maxBuffer: 16 * 1024 * 1024 },
        (error, _stdout, stderr) =>
          error ? reject(new Error(`kubectl ${args[0]}: ${stderr || error.message}`)) : resolvePromise(),
      );
      if (input !== undefined) child.stdin?.end(input);
    });
  await kubectl(["apply", "--server-side", "--force-conflicts", "--field-manager=baton-testenv", "-f", "-"], list);
  const names = crds.map((crd) => crd.metadata?.name ?? "");
  await kubectl(["wait", "--for=condition=Established", "--timeout=60s", ...names.map((n) => `crd/${n}`)]);
  return names;
}

/**
 * A kubeconfig for the identity the operator runs as in a real installation: the ServiceAccount baton in
 * baton-system, bound to exactly the RBAC in config/rbac. The integration tests run the operator with it, so a
 * verb missing from the role fails a test, and the role can be checked against what the tests exercise.
 */
export async function operatorKubeconfig(adminKubeconfig: string): Promise<string> {
  const kubectl = (args: string[]) =>
    new Promise<string>((resolvePromise, reject) => {
      execFile(kubectlPath, ["--kubeconfig", adminKubeconfig, ...args], (error, stdout, stderr) =>
        error ? reject(new Error(`kubectl ${args.join(" ")}: ${stderr || error.message}`)) : resolvePromise(stdout),
      );
    });
  await kubectl(["create", "namespace", "baton-system"]).catch((error: Error) => {
    if (!/AlreadyExists/.test(error.message)) throw error;
  });
  await kubectl([
    "apply",
    "--server-side",
    "--field-manager=baton-testenv",
    "-n",
    "baton-system",
    "-k",
    join(repoRoot, "config/rbac"),
  ]);
  return serviceAccountKubeconfig(adminKubeconfig, "baton-system", "baton", "operator.kubeconfig");
}

/**
 * Writes (next to the admin kubeconfig, as `file`) a kubeconfig for a ServiceAccount, with a token from the
 * TokenRequest API: the identity a Pod of that ServiceAccount would have.
 */
export async function serviceAccountKubeconfig(
  adminKubeconfig: string,
  namespace: string,
  serviceAccount: string,
  file: string,
): Promise<string> {
  const token = await new Promise<string>((resolvePromise, reject) => {
    const args = ["--kubeconfig", adminKubeconfig, "create", "token", serviceAccount, "-n", namespace];
    execFile(kubectlPath, [...args, "--duration=48h"], (error, stdout, stderr) =>
      error ? reject(new Error(`kubectl create token: ${stderr || error.message}`)) : resolvePromise(stdout.trim()),
    );
  });
  // Same server and CA as the admin kubeconfig (which embeds its CA data); only the user differs.
  const admin = parse(await readFile(adminKubeconfig, "utf8")) as { clusters: { cluster: Record<string, string> }[] };
  const cluster = admin.clusters[0]?.cluster;
  if (!cluster) throw new Error(`no cluster in ${adminKubeconfig}`);
  const path = join(dirname(adminKubeconfig), file);
  const config = {
    apiVersion: "v1",
    kind: "Config",
    clusters: [{ name: "testenv", cluster }],
    users: [{ name: serviceAccount, user: { token } }],
    contexts: [{ name: serviceAccount, context: { cluster: "testenv", user: serviceAccount, namespace } }],
    "current-context": serviceAccount,
  };
  await writeFile(path, stringify(config), { mode: 0o600 });
  return path;
}
