// What ships: the install manifests as an operator user applies them (`kubectl apply -k config/default`), and the
// image's JavaScript as its Dockerfile builds it.
import assert from "node:assert/strict";
import { execFile, spawn } from "node:child_process";
import { mkdir, mkdtemp, readFile, rm } from "node:fs/promises";
import { join } from "node:path";
import { after, before, test } from "node:test";
import { promisify } from "node:util";
import { parseAllDocuments } from "yaml";
import { repoRoot } from "../../hack/lib/controlplane.ts";
import { configSchema } from "../../src/runtime/config.ts";
import { createNamespace, kubectl, useCluster } from "../support/cluster.ts";
import { startOperator } from "../support/operator.ts";
import { waitFor } from "../support/wait.ts";

const run = promisify(execFile);

test("kubectl apply -k config/default passes server-side dry run within the restricted Pod Security level", async () => {
  // Namespaced objects need their namespace to exist for a server-side dry run; create it for real first.
  const ns = await kubectl(["create", "namespace", "baton-system"]);
  assert.ok(ns.code === 0 || /AlreadyExists/.test(ns.stderr), ns.stderr);
  const result = await kubectl(["apply", "-k", "config/default", "--dry-run=server"]);
  assert.equal(result.code, 0, result.stderr);
  for (const kind of [
    "customresourcedefinition.apiextensions.k8s.io/bitbucketprojecttokens.baton.dev",
    "customresourcedefinition.apiextensions.k8s.io/repositories.baton.dev",
    "clusterrole.rbac.authorization.k8s.io/baton",
    "role.rbac.authorization.k8s.io/baton-leader-election",
    "deployment.apps/baton",
    "service/baton",
    "poddisruptionbudget.policy/baton",
  ]) {
    assert.match(
      result.stdout,
      new RegExp(
        `${kind.replaceAll(".", "\\.")} (created|configured|unchanged|serverside-applied) \\(server dry run\\)`,
      ),
    );
  }
  // The namespace enforces the restricted Pod Security level; a Deployment breaking it draws this warning.
  assert.doesNotMatch(result.stderr, /would violate PodSecurity/);
});

// The image's JavaScript, built once as the Dockerfile builds it, inside the repository so the emitted modules
// find node_modules as they do in the image.
let dist = "";
before(async () => {
  await mkdir(join(repoRoot, ".cache"), { recursive: true });
  dist = await mkdtemp(join(repoRoot, ".cache", "build-"));
  const tsc = join(repoRoot, "node_modules/typescript/bin/tsc");
  await run(process.execPath, [tsc, "-p", "tsconfig.build.json", "--outDir", dist], { cwd: repoRoot });
});
after(() => rm(dist, { recursive: true, force: true }));

test("the image's build step emits JavaScript whose every import resolves, and the entry point starts", async () => {
  const dockerfile = await readFile(join(repoRoot, "Dockerfile"), "utf8");
  assert.match(dockerfile, /tsc -p tsconfig\.build\.json/);
  assert.match(dockerfile, /ENTRYPOINT \["node", "dist\/main\.js"\]/);
  // A flag it does not know: the whole module graph loads, then configuration is refused with a clear message.
  const started = await run(process.execPath, [join(dist, "main.js"), "--no-such-flag"], { cwd: repoRoot }).then(
    () => ({ code: 0, stderr: "" }),
    (err: { code?: number; stderr?: string }) => ({ code: err.code, stderr: err.stderr ?? "" }),
  );
  assert.notEqual(started.code, 0);
  assert.match(started.stderr, /invalid configuration[\s\S]*--no-such-flag/);
});

interface Port {
  name?: string;
  containerPort: number;
}
interface Probe {
  httpGet?: { path?: string; port?: string | number };
}
interface Container {
  ports?: Port[];
  startupProbe?: Probe;
  livenessProbe?: Probe;
  readinessProbe?: Probe;
}
interface Rendered {
  kind?: string;
  metadata?: { name?: string };
  spec?: Record<string, unknown>;
}

/** The install manifests exactly as `kubectl apply -k config/default` sends them. */
async function renderDefault(): Promise<Rendered[]> {
  const result = await kubectl(["kustomize", join(repoRoot, "config/default")]);
  assert.equal(result.code, 0, result.stderr);
  return parseAllDocuments(result.stdout).map((doc) => doc.toJS() as Rendered);
}

function operatorDeployment(docs: Rendered[]) {
  const deployment = docs.find((d) => d.kind === "Deployment" && d.metadata?.name === "baton");
  assert.ok(deployment, "config/default renders the baton Deployment");
  const spec = deployment.spec as {
    replicas: number;
    template: { metadata: { labels: Record<string, string> }; spec: Record<string, unknown> };
  };
  const containers = spec.template.spec.containers as Container[];
  const container = containers.find((c) => (c as { name?: string }).name === "baton");
  assert.ok(container, "the Deployment runs a container named baton");
  return { spec, container };
}

/** TCP ports in LISTEN state in the network namespace of `pid` (the kernel's own table, IPv4 and IPv6). */
async function listeningPorts(pid: number): Promise<number[]> {
  const ports = new Set<number>();
  for (const file of ["tcp", "tcp6"]) {
    const table = await readFile(`/proc/${pid}/net/${file}`, "utf8").catch(() => "");
    for (const line of table.split("\n").slice(1)) {
      const [, local, , state] = line.trim().split(/\s+/);
      if (state === "0A" && local) ports.add(Number.parseInt(local.split(":")[1] ?? "", 16));
    }
  }
  return [...ports].sort((a, b) => a - b);
}

test("the image EXPOSEs exactly the ports the entry point listens on by default, and the Deployment declares them", async (t) => {
  const dockerfile = await readFile(join(repoRoot, "Dockerfile"), "utf8");
  const exposed = [...dockerfile.matchAll(/^EXPOSE\s+(.+)$/gm)]
    .flatMap((m) => (m[1] ?? "").trim().split(/\s+/))
    .map((p) => Number.parseInt(p, 10))
    .sort((a, b) => a - b);
  assert.ok(exposed.length > 0, "the Dockerfile EXPOSEs its ports");

  // The entry point as the image runs it (no flags, default ports), in a network namespace of its own so the
  // default ports are free and every listening socket there is its own. The API server is out of reach from
  // there; the servers start regardless and the controllers keep retrying. The instance is named, since deriving it
  // needs one API call at start (a replica that cannot make it exits and is restarted, as controller-runtime's do).
  const { operatorKubeconfigPath } = await useCluster();
  const child = spawn("unshare", ["--net", "--map-root-user", process.execPath, join(dist, "main.js")], {
    cwd: repoRoot,
    env: {
      ...process.env,
      BATON_KUBECONFIG: operatorKubeconfigPath,
      POD_NAME: "baton-packaging",
      BATON_INSTANCE: "packaging",
      NODE_OPTIONS: "",
    },
    stdio: ["ignore", "pipe", "pipe"],
  });
  t.after(() => {
    child.kill("SIGKILL");
  });
  let output = "";
  child.stdout.on("data", (chunk) => {
    output += String(chunk);
  });
  child.stderr.on("data", (chunk) => {
    output += String(chunk);
  });
  // The health server binds before the runnables start, so once the intake says it listens both are bound.
  await waitFor(() => child.exitCode === null && /webhook intake listening/.test(output), {
    message: "the entry point to start its servers",
  }).catch((error: Error) => {
    throw new Error(`${error.message}\n${output.slice(0, 2000)}`);
  });
  const listening = await listeningPorts(child.pid ?? 0);
  assert.deepEqual(exposed, listening, "EXPOSE names the ports the process listens on");

  const { container } = operatorDeployment(await renderDefault());
  const declared = (container.ports ?? []).map((p) => p.containerPort).sort((a, b) => a - b);
  assert.deepEqual(declared, listening, "the Deployment's containerPorts are the ports the process listens on");
});

test("config/default renders a PodDisruptionBudget, anti-affinity by node and probes on paths Baton serves", async (t) => {
  const docs = await renderDefault();
  const { spec, container } = operatorDeployment(docs);
  const podLabels = spec.template.metadata.labels;
  const selects = (selector: { matchLabels?: Record<string, string> } | undefined) =>
    Object.keys(selector?.matchLabels ?? {}).length > 0 &&
    Object.entries(selector?.matchLabels ?? {}).every(([k, v]) => podLabels[k] === v);

  const pdb = docs.find((d) => d.kind === "PodDisruptionBudget");
  assert.ok(pdb, "a PodDisruptionBudget is rendered");
  const budget = pdb.spec as { maxUnavailable?: number; minAvailable?: number; selector?: never };
  assert.ok(selects(budget.selector), "the PodDisruptionBudget selects the operator's pods");
  assert.ok(spec.replicas >= 2, "more than one replica, so a budget can keep one running");
  const allowed = budget.maxUnavailable ?? spec.replicas - (budget.minAvailable ?? spec.replicas);
  assert.ok(allowed >= 1 && allowed < spec.replicas, `a drain may evict ${allowed} of ${spec.replicas} replicas`);

  const affinity = spec.template.spec.affinity as {
    podAntiAffinity?: {
      preferredDuringSchedulingIgnoredDuringExecution?: {
        podAffinityTerm: { topologyKey: string; labelSelector?: never };
      }[];
    };
  };
  const terms = affinity?.podAntiAffinity?.preferredDuringSchedulingIgnoredDuringExecution ?? [];
  assert.ok(
    terms.some(
      (term) =>
        term.podAffinityTerm.topologyKey === "kubernetes.io/hostname" && selects(term.podAffinityTerm.labelSelector),
    ),
    "replicas prefer different nodes",
  );

  // Every probe names a declared port; that port is where the health server listens by default, and Baton's health
  // server answers the probe's path there.
  const defaults = configSchema.parse({ podName: "defaults" });
  const ns = await createNamespace(t);
  const op = await startOperator(t, ns, { healthServer: true });
  const port = await waitFor(() => op.manager.healthPort, { message: "the health server to listen" });
  for (const kind of ["startupProbe", "livenessProbe", "readinessProbe"] as const) {
    const probe = container[kind]?.httpGet;
    assert.ok(probe?.path, `the container has an HTTP ${kind}`);
    const named = (container.ports ?? []).find((p) => p.name === probe.port || p.containerPort === probe.port);
    assert.ok(named, `${kind} names a declared port (${probe.port})`);
    assert.equal(named.containerPort, defaults.metricsPort, `${kind} targets the health server's port`);
    await waitFor(async () => (await fetch(`http://127.0.0.1:${port}${probe.path}`)).status === 200, {
      message: `GET ${probe.path} to answer 200`,
    });
  }
});
