// Runs the REAL Tekton Pipelines controller and admission webhook against a test control plane, with a
// kube-scheduler and kwok standing in for a node: Pods are simulated (no container runtime; hack/kwok/stages.yaml
// decides how each step ends), everything else is Tekton's own code. Used by tests that ask for real Tekton
// (test/support/cluster.ts useRealTekton) and by the demo. /work/shared/reference/tekton-kwok.md lists the pitfalls
// each step below answers.
import { type ChildProcess, execFile, spawn } from "node:child_process";
import { open, readdir, readFile, rm, writeFile } from "node:fs/promises";
import { dirname, join } from "node:path";
import { promisify } from "node:util";
import type { KubernetesObject } from "@kubernetes/client-node";
import { parseAllDocuments } from "yaml";
import { binDir, kubectlPath, repoRoot, serviceAccountKubeconfig, stopProcess, tektonCrdDir } from "./controlplane.ts";
import { freePort } from "./net.ts";

const run = promisify(execFile);

export const tektonNamespace = "tekton-pipelines";
/** The one fake Node; kwok manages Nodes carrying this annotation only. */
export const fakeNodeName = "kwok-node";
const kwokNodeAnnotation = "kwok.x-k8s.io/node";

export interface RealTekton {
  /** Where each process logs (tekton-controller.log, tekton-webhook.log, kube-scheduler.log, kwok.log). */
  dir: string;
  stop(): Promise<void>;
}

export interface TektonOptions {
  /** Kill every process when this process exits, however it exits (test runs). */
  dieWithParent?: boolean;
}

/** Builds the controller, webhook and kwok if missing or stale (`make tekton`); a no-op when up to date. */
export async function buildTekton(): Promise<void> {
  await run("make", ["-s", "-C", repoRoot, "tekton"], { maxBuffer: 64 * 1024 * 1024 });
}

/**
 * Installs Tekton's namespace, ConfigMaps, RBAC and webhook configurations from the pinned module's config/ into a
 * control plane whose CRDs are installed (installCrds), then starts the scheduler, kwok with one fake Node, the
 * webhook (waiting until it admits) and the controller. `dir` is the control plane's directory.
 */
export async function startTekton(
  kubeconfigPath: string,
  dir: string,
  options: TektonOptions = {},
): Promise<RealTekton> {
  await buildTekton();
  const kubectl = (args: string[], input?: string) =>
    new Promise<string>((resolvePromise, reject) => {
      const child = execFile(
        kubectlPath,
        ["--kubeconfig", kubeconfigPath, ...args],
        { maxBuffer: 16 * 1024 * 1024 },
        (error, stdout, stderr) =>
          error ? reject(new Error(`kubectl ${args[0]}: ${stderr || error.message}`)) : resolvePromise(stdout),
      );
      if (input !== undefined) child.stdin?.end(input);
    });
  const apply = (objects: KubernetesObject[]) =>
    kubectl(
      ["apply", "--server-side", "--force-conflicts", "--field-manager=baton-testenv", "-f", "-"],
      JSON.stringify({ apiVersion: "v1", kind: "List", items: objects }),
    );

  const [webhookPort, controllerPorts, webhookPorts] = await Promise.all([
    freePort(),
    Promise.all([freePort(), freePort()]),
    Promise.all([freePort(), freePort()]),
  ]);
  await apply(await tektonManifests(webhookPort));

  const processes: ChildProcess[] = [];
  const stop = async () => {
    await Promise.all(processes.map((child) => stopProcess(child)));
  };
  const start = async (name: string, command: string, args: string[], env: Record<string, string> = {}) => {
    const log = await open(join(dir, `${name}.log`), "w");
    // setpriv (util-linux) hands the child a parent-death signal: none of these may outlive a killed test run.
    const [file, argv] = options.dieWithParent
      ? ["setpriv", ["--pdeathsig", "KILL", "--", command, ...args]]
      : [command, args];
    const child = spawn(file, argv, {
      stdio: ["ignore", log.fd, log.fd],
      env: { ...process.env, ...env },
      detached: !options.dieWithParent,
    });
    await log.close();
    // Never what keeps this process alive: with dieWithParent the kernel ends them with it, else they outlive it.
    child.unref();
    processes.push(child);
    return child;
  };

  try {
    // kwok acts only on Pods bound to its Nodes, and nothing else binds them.
    await start("kube-scheduler", join(binDir, "testenv"), [
      "scheduler",
      `--kubeconfig=${kubeconfigPath}`,
      "--leader-elect=false",
      "--secure-port=0",
    ]);
    await start("kwok", join(binDir, "kwok"), [
      `--kubeconfig=${kubeconfigPath}`,
      "--manage-all-nodes=false",
      `--manage-nodes-with-annotation-selector=${kwokNodeAnnotation}=fake`,
      `--config=${join(repoRoot, "hack/kwok/stages.yaml")}`,
      "--server-address=",
    ]);
    await createFakeNode(kubectl);

    // Tekton's own probe server dies (log.Fatal) on a port in use, so each process gets a free one. knative's shared
    // probe server always takes :8080; whichever process (of this or another run) binds it second only loses that
    // server and goes on running, so several real Tektons can run on one machine.
    const common = {
      SYSTEM_NAMESPACE: tektonNamespace,
      KUBERNETES_MIN_VERSION: "v1.28.0",
      CONFIG_LOGGING_NAME: "config-logging",
      CONFIG_OBSERVABILITY_NAME: "config-observability",
      CONFIG_FEATURE_FLAGS_NAME: "feature-flags",
      METRICS_DOMAIN: "tekton.dev/pipeline",
    };
    const webhookKubeconfig = await serviceAccountKubeconfig(
      kubeconfigPath,
      tektonNamespace,
      "tekton-pipelines-webhook",
      "tekton-webhook.kubeconfig",
    );
    await start("tekton-webhook", join(binDir, "tekton-webhook"), [`--kubeconfig=${webhookKubeconfig}`], {
      ...common,
      CONFIG_LEADERELECTION_NAME: "config-leader-election-webhook",
      WEBHOOK_PORT: String(webhookPort),
      WEBHOOK_SERVICE_NAME: "tekton-pipelines-webhook",
      WEBHOOK_SECRET_NAME: "webhook-certs",
      WEBHOOK_ADMISSION_CONTROLLER_NAME: "webhook.pipeline.tekton.dev",
      PROBES_PORT: String(webhookPorts[0]),
      PROFILING_PORT: String(webhookPorts[1]),
    });
    const controllerKubeconfig = await serviceAccountKubeconfig(
      kubeconfigPath,
      tektonNamespace,
      "tekton-pipelines-controller",
      "tekton-controller.kubeconfig",
    );
    // Image names are never pulled (kwok runs no containers) but Tekton requires all six.
    const images = ["entrypoint", "nop", "sidecarlogresults", "workingdirinit", "shell", "shell-image-win"].map((i) =>
      i.endsWith("-win") ? i : `${i}-image`,
    );
    await start(
      "tekton-controller",
      join(binDir, "tekton-controller"),
      [
        `--kubeconfig=${controllerKubeconfig}`,
        "--disable-ha",
        ...images.flatMap((flag) => [`-${flag}`, `tekton.invalid/${flag}`]),
      ],
      {
        ...common,
        CONFIG_DEFAULTS_NAME: "config-defaults",
        CONFIG_LEADERELECTION_NAME: "config-leader-election-controller",
        CONFIG_SPIRE: "config-spire",
        PROBES_PORT: String(controllerPorts[0]),
        PROFILING_PORT: String(controllerPorts[1]),
      },
    );
    await waitUntilAdmitting(kubectl, processes);
  } catch (error) {
    await stop();
    throw error;
  }
  // Processes that outlive this one (make cluster-up) are found again by stopTektonAt.
  if (!options.dieWithParent)
    await writeFile(join(dir, pidsFile), `${JSON.stringify(processes.map((p) => p.pid).filter(Boolean))}\n`);
  return { dir, stop };
}

const pidsFile = "tekton.json";

/** Stops the processes a detached startTekton left running in `dir`; false when none were recorded. */
export async function stopTektonAt(dir: string): Promise<boolean> {
  let pids: number[];
  try {
    pids = JSON.parse(await readFile(join(dir, pidsFile), "utf8")) as number[];
  } catch {
    return false;
  }
  const alive = (pid: number) => {
    try {
      process.kill(pid, 0);
      return true;
    } catch {
      return false;
    }
  };
  for (const pid of pids.filter(alive)) process.kill(pid, "SIGTERM");
  // The webhook drains for ~45 s on SIGTERM; a developer's cluster state is disposable.
  for (let i = 0; i < 30 && pids.some(alive); i++) await new Promise((r) => setTimeout(r, 100));
  for (const pid of pids.filter(alive)) process.kill(pid, "SIGKILL");
  await rm(join(dir, pidsFile), { force: true });
  return true;
}

/** The module's namespace, config-* ConfigMaps, 200-/201- RBAC and webhook configurations, adapted to loopback. */
async function tektonManifests(webhookPort: number): Promise<KubernetesObject[]> {
  const config = dirname(await tektonCrdDir());
  const files = [
    ...(await readdir(join(config, "100-namespace"))).map((f) => join("100-namespace", f)),
    ...(await readdir(config)).filter((f) => /^(config-|200-|201-|500-webhooks).*\.yaml$/.test(f)),
  ].filter((f) => f.endsWith(".yaml"));
  const objects: KubernetesObject[] = [];
  for (const file of files.sort((a, b) => a.localeCompare(b))) {
    for (const doc of parseAllDocuments(await readFile(join(config, file), "utf8"))) {
      const obj = doc.toJS() as (KubernetesObject & Record<string, unknown>) | null;
      if (!obj?.kind) continue;
      // Metrics would need one more port per process and nothing scrapes them here.
      if (obj.kind === "ConfigMap" && obj.metadata?.name === "config-observability")
        obj.data = { ...(obj.data as object), "metrics-protocol": "none" };
      // The API server reaches the webhook on loopback; the webhook's self-made certificate names the Service.
      if (obj.kind === "ValidatingWebhookConfiguration" || obj.kind === "MutatingWebhookConfiguration")
        for (const hook of obj.webhooks as { clientConfig: { service: Record<string, unknown> } }[])
          hook.clientConfig.service.port = webhookPort;
      objects.push(obj);
    }
  }
  objects.push({
    apiVersion: "v1",
    kind: "Service",
    metadata: { name: "tekton-pipelines-webhook", namespace: tektonNamespace },
    spec: { type: "ExternalName", externalName: "localhost" },
  } as KubernetesObject);
  return objects;
}

/** One Node for kwok; the API server taints a new Node not-ready and no node-lifecycle controller lifts it here. */
async function createFakeNode(kubectl: (args: string[], input?: string) => Promise<string>): Promise<void> {
  const node = {
    apiVersion: "v1",
    kind: "Node",
    metadata: {
      name: fakeNodeName,
      annotations: { [kwokNodeAnnotation]: "fake" },
      labels: { "kubernetes.io/hostname": fakeNodeName, "kubernetes.io/os": "linux", type: "kwok" },
    },
  };
  await kubectl(["apply", "--server-side", "--field-manager=baton-testenv", "-f", "-"], JSON.stringify(node));
  await kubectl(["patch", "node", fakeNodeName, "--type=json", "-p", '[{"op":"remove","path":"/spec/taints"}]']).catch(
    (error: Error) => {
      if (!/not exist|nonexistent|NotFound.*taints/.test(error.message)) throw error;
    },
  );
  await kubectl(["wait", "--for=condition=Ready", "--timeout=60s", `node/${fakeNodeName}`]);
}

/**
 * The webhook's configurations fail closed: until it serves, every PipelineRun create fails. A server-side dry
 * run goes through the webhook without storing anything.
 */
async function waitUntilAdmitting(
  kubectl: (args: string[], input?: string) => Promise<string>,
  processes: ChildProcess[],
): Promise<void> {
  const probe = JSON.stringify({
    apiVersion: "tekton.dev/v1",
    kind: "PipelineRun",
    metadata: { name: "admission-probe", namespace: tektonNamespace },
    spec: {
      pipelineSpec: { tasks: [{ name: "t", taskSpec: { steps: [{ name: "s", image: "x", script: "true" }] } }] },
    },
  });
  const deadline = Date.now() + 180_000;
  let last = "";
  for (;;) {
    const exited = processes.find((p) => p.exitCode !== null || p.signalCode !== null);
    if (exited) throw new Error(`${exited.spawnargs.join(" ")} exited (${exited.exitCode ?? exited.signalCode})`);
    try {
      const out = await kubectl(
        ["create", "--dry-run=server", "-o", "jsonpath={.spec.timeouts.pipeline}", "-f", "-"],
        probe,
      );
      // Defaulting filled in the timeout: the mutating webhook answered.
      if (out) return;
      last = "created without defaults";
    } catch (error) {
      last = (error as Error).message;
    }
    if (Date.now() > deadline) throw new Error(`Tekton's webhook did not start admitting: ${last}`);
    await new Promise((r) => setTimeout(r, 500));
  }
}
