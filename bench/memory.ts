// Operator memory with full caches (DESIGN §6: 1,000 Repositories and 10,000 PipelineRuns cached, RSS ≤ 150 MiB).
//
//   node bench/memory.ts [--repositories 1000] [--runs 10000] [--projects 20] [--concurrency 32]
//                        [--variants "--max-semi-space-size=1;MALLOC_ARENA_MAX=2"]
//
// The objects are written straight into the API server with a fast client: Repositories (webhook.managed false,
// pointing at simulator repositories that exist) and completed PipelineRuns shaped like Baton's own (its labels and
// Pipelines-as-Code annotations, params, an inline pipeline, a workspace, and the status Tekton writes, including
// the copy of the pipeline spec and the child references), signed with the installation's run-signing key as Baton
// signs its own, and already marked as reported so that Bitbucket is not asked about 10,000 old runs. Then the image's entry point, `node dist/main.js` (built here as the Dockerfile
// builds it), runs in its own process as the operator's ServiceAccount, with a preload (bench/gc-hook.mjs) that answers a "measure" message over IPC. Measured
// once caches are synced (/readyz, and baton_informer_cached_objects counts every object) and every work queue has
// been idle for 5 s: memoryUsage() before and after forced GC, /proc VmRSS and the peak VmHWM. The same operator in
// an empty namespace gives the baseline; each --variants entry (`;`-separated; node flags and NAME=value environment
// settings, space-separated; node flags given there win over the image's NODE_OPTIONS, which every run gets) is
// measured over the full namespace as well, for comparison only. Results: bench/results/memory.json and a table on stdout.
import { type ChildProcess, execFileSync, spawn } from "node:child_process";
import { randomBytes } from "node:crypto";
import { mkdtemp, open, readFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { parseArgs } from "node:util";
import { repoRoot } from "../hack/lib/controlplane.ts";
import { freePort } from "../hack/lib/net.ts";
import type { Repository } from "../src/api/repository.ts";
import { namedAndSigned } from "../src/pipelines/provenance.ts";
import { RunSigningKey } from "../src/pipelines/signing-key.ts";
import { PipelineRuns } from "../src/pipelines/tekton.ts";
import { Repositories } from "../src/repositories/resource.ts";
import { type KubeObject, Secrets } from "../src/runtime/kube.ts";
import { startSimulator } from "../src/simulator/index.ts";
import {
  type BenchCluster,
  MiB,
  pool,
  printTable,
  procMemory,
  progress,
  round,
  sleep,
  startBenchCluster,
  stopwatch,
  until,
  writeResults,
} from "./lib.ts";

const { values } = parseArgs({
  options: {
    repositories: { type: "string", default: "1000" },
    runs: { type: "string", default: "10000" },
    projects: { type: "string", default: "20" },
    concurrency: { type: "string", default: "32" },
    variants: { type: "string", default: "--max-semi-space-size=1;MALLOC_ARENA_MAX=2" },
  },
});
const repositoryCount = Number(values.repositories);
const runCount = Number(values.runs);
const projectCount = Number(values.projects);
const concurrency = Number(values.concurrency);
const variants = String(values.variants)
  .split(";")
  .map((v) => v.trim())
  .filter(Boolean);
const targetRssMiB = 150;

// The operator runs with the image's NODE_OPTIONS (heap sizing among them), read from the Dockerfile so that what
// is measured is what ships.
async function imageNodeOptions(): Promise<string> {
  const dockerfile = await readFile(join(repoRoot, "Dockerfile"), "utf8");
  const match = /^\s*(?:ENV\s+)?NODE_OPTIONS="([^"]*)"/m.exec(dockerfile.replace(/\\\n/g, "\n"));
  if (!match) throw new Error('the Dockerfile sets no NODE_OPTIONS="..."');
  return match[1] as string;
}
const nodeOptions = await imageNodeOptions();
// …and the image's JavaScript, emitted by the same tsc step.
execFileSync(process.execPath, [join(repoRoot, "node_modules/typescript/bin/tsc"), "-p", "tsconfig.build.json"], {
  cwd: repoRoot,
  stdio: "inherit",
});

const cluster = await startBenchCluster();
const kube = cluster.kube;
const sim = await startSimulator();
sim.createUser({ name: "admin", password: "bench-admin-password", admin: true });
const projects = Array.from({ length: projectCount }, (_, i) => `P${String(i).padStart(2, "0")}`);
const repos = Array.from({ length: repositoryCount }, (_, i) => ({
  project: projects[i % projectCount] as string,
  slug: `repo-${String(i).padStart(4, "0")}`,
}));
progress(`creating ${repositoryCount} repositories in ${projectCount} projects in the simulator`);
for (const project of projects) sim.createProject({ key: project });
await pool(repos, 8, (r) => sim.createRepository({ project: r.project, slug: r.slug }));
const token = sim.createToken({ scope: { kind: "user", user: "admin" }, name: "baton", permissions: ["REPO_ADMIN"] });

// ---- objects ----------------------------------------------------------------------------------------------------
const sha = () => randomBytes(20).toString("hex");
const iso = (ms: number) => new Date(Math.floor(ms / 1000) * 1000).toISOString().replace(".000Z", "Z");

function repository(ns: string, r: (typeof repos)[number]): Repository {
  return {
    apiVersion: "baton.dev/v1alpha1",
    kind: "Repository",
    metadata: { name: r.slug, namespace: ns },
    spec: {
      url: `${sim.url}/projects/${r.project}/repos/${r.slug}`,
      secretRef: { name: "bb-token", key: "token" },
      webhook: { managed: false, scope: "repository" },
      pipelines: { path: ".tekton", serviceAccountName: "pipeline", timeout: "1h" },
      params: [
        { name: "registry", value: "registry.example.com/team" },
        { name: "cache", value: "true" },
      ],
    },
  } as unknown as Repository;
}

const pipelineSpec = {
  params: [{ name: "revision" }, { name: "url" }, { name: "image" }],
  workspaces: [{ name: "source" }, { name: "basic-auth" }],
  tasks: [
    {
      name: "fetch",
      taskRef: {
        resolver: "hub",
        params: [
          { name: "name", value: "git-clone" },
          { name: "version", value: "0.9" },
        ],
      },
      params: [
        { name: "url", value: "$(params.url)" },
        { name: "revision", value: "$(params.revision)" },
      ],
      workspaces: [
        { name: "output", workspace: "source" },
        { name: "basic-auth", workspace: "basic-auth" },
      ],
    },
    {
      name: "test",
      runAfter: ["fetch"],
      workspaces: [{ name: "source", workspace: "source" }],
      taskSpec: {
        workspaces: [{ name: "source" }],
        steps: [
          {
            name: "unit",
            image: "docker.io/library/node:24",
            workingDir: "$(workspaces.source.path)",
            script: "npm ci\nnpm test\n",
          },
        ],
      },
    },
  ],
};

function pipelineRun(ns: string, i: number): { run: KubeObject; status: Record<string, unknown> } {
  const r = repos[i % repos.length] as (typeof repos)[number];
  const head = sha();
  const pr = 1 + Math.floor(i / repos.length);
  const name = `${r.slug}-pull-request-${randomBytes(3).toString("hex")}`;
  const started = Date.now() - (runCount - i) * 60_000;
  const url = `${sim.url}/projects/${r.project}/repos/${r.slug}`;
  const run = {
    apiVersion: "tekton.dev/v1",
    kind: "PipelineRun",
    metadata: {
      name,
      namespace: ns,
      labels: {
        "app.kubernetes.io/managed-by": "baton",
        "baton.dev/repository": r.slug,
        "baton.dev/sha": head,
        "baton.dev/event": "pull_request",
        "baton.dev/pipeline": "pull-request",
        "baton.dev/pull-request": String(pr),
        "pipelinesascode.tekton.dev/managed-by": "pipelinesascode.tekton.dev",
        "pipelinesascode.tekton.dev/repository": r.slug,
        "pipelinesascode.tekton.dev/sha": head,
        "pipelinesascode.tekton.dev/event-type": "pull_request",
        "pipelinesascode.tekton.dev/pull-request": String(pr),
        "pipelinesascode.tekton.dev/original-prname": "pull-request",
        "pipelinesascode.tekton.dev/url-org": r.project,
        "pipelinesascode.tekton.dev/url-repository": r.slug,
        "pipelinesascode.tekton.dev/git-provider": "bitbucket-datacenter",
        "pipelinesascode.tekton.dev/sender": "developer",
        "pipelinesascode.tekton.dev/branch": "main",
        "tekton.dev/pipeline": name,
      },
      annotations: {
        "baton.dev/reported-state": "succeeded",
        "pipelinesascode.tekton.dev/on-event": "[pull_request]",
        "pipelinesascode.tekton.dev/on-target-branch": "[main]",
        "pipelinesascode.tekton.dev/repo-url": url,
        "pipelinesascode.tekton.dev/source-repo-url": url,
        "pipelinesascode.tekton.dev/sha-url": `${url}/commits/${head}`,
        "pipelinesascode.tekton.dev/sha-title": "Make the thing do the other thing",
        "pipelinesascode.tekton.dev/branch": "refs/heads/main",
        "pipelinesascode.tekton.dev/source-branch": `refs/heads/feature/change-${i}`,
        "pipelinesascode.tekton.dev/git-auth-secret": `baton-git-${randomBytes(5).toString("hex")}`,
        "pipelinesascode.tekton.dev/state": "completed",
      },
    },
    spec: {
      params: [
        { name: "revision", value: head },
        { name: "url", value: `${sim.url}/scm/${r.project.toLowerCase()}/${r.slug}.git` },
        { name: "image", value: `registry.example.com/team/${r.slug}:${head.slice(0, 12)}` },
      ],
      pipelineSpec,
      taskRunTemplate: { serviceAccountName: "pipeline" },
      timeouts: { pipeline: "1h0m0s" },
      workspaces: [
        {
          name: "source",
          volumeClaimTemplate: {
            spec: { accessModes: ["ReadWriteOnce"], resources: { requests: { storage: "1Gi" } } },
          },
        },
        { name: "basic-auth", secret: { secretName: `baton-git-${randomBytes(5).toString("hex")}` } },
      ],
    },
  } as unknown as KubeObject;
  const status = {
    startTime: iso(started),
    completionTime: iso(started + 95_000),
    conditions: [
      {
        type: "Succeeded",
        status: "True",
        reason: "Succeeded",
        message: "Tasks Completed: 2 (Failed: 0, Cancelled 0), Skipped: 0",
        lastTransitionTime: iso(started + 95_000),
      },
    ],
    pipelineSpec,
    childReferences: ["fetch", "test"].map((task) => ({
      apiVersion: "tekton.dev/v1",
      kind: "TaskRun",
      name: `${name}-${task}`,
      pipelineTaskName: task,
    })),
    provenance: {
      featureFlags: {
        runningInEnvWithInjectedSidecars: true,
        enableAPIFields: "beta",
        resultExtractionMethod: "termination-message",
        maxResultSize: 4096,
        coschedule: "workspaces",
      },
    },
  };
  return { run, status };
}

async function populate(ns: string): Promise<{ repositoriesSeconds: number; runsSeconds: number }> {
  await kube.create(Secrets, {
    apiVersion: "v1",
    kind: "Secret",
    metadata: { name: "bb-token", namespace: ns },
    stringData: { token: token.token },
  });
  let elapsed = stopwatch();
  await pool(repos, concurrency, (r) => kube.create(Repositories, repository(ns, r)));
  const repositoriesSeconds = elapsed() / 1000;
  progress(`${repositoryCount} Repositories in ${round(repositoriesSeconds, 1)} s`);
  elapsed = stopwatch();
  let done = 0;
  // Signed with the installation's key (the operator's lease namespace, "default" here), as Baton's runner signs
  // its runs: the build-status controller then parses and summarises each one, as it does in production, instead
  // of logging a refusal and skipping it.
  const { secret: signingKey } = await new RunSigningKey(kube, "default").get();
  await pool(
    Array.from({ length: runCount }, (_, i) => i),
    concurrency,
    async (i) => {
      const { run, status } = pipelineRun(ns, i);
      const created = await kube.create(
        PipelineRuns,
        namedAndSigned(run as KubeObject & { metadata: { name: string } }, signingKey, randomBytes),
      );
      await kube.patchStatus(PipelineRuns, { namespace: ns, name: created.metadata?.name ?? "" }, status);
      if (++done % 2000 === 0) progress(`${done} PipelineRuns`);
    },
  );
  const runsSeconds = elapsed() / 1000;
  progress(`${runCount} PipelineRuns (created and completed) in ${round(runsSeconds, 1)} s`);
  return { repositoriesSeconds, runsSeconds };
}

// ---- the operator process ---------------------------------------------------------------------------------------
interface Measure {
  before: NodeJS.MemoryUsage;
  after: NodeJS.MemoryUsage;
  heap: { total_heap_size: number; used_heap_size: number; heap_size_limit: number };
  gcExposed: boolean;
}

function metricValues(text: string, name: string): Map<string, number> {
  const out = new Map<string, number>();
  for (const line of text.split("\n")) {
    if (!line.startsWith(name)) continue;
    const match = /^(\S+?)(\{[^}]*\})?\s+(\S+)$/.exec(line);
    if (match && match[1] === name) out.set(match[2] ?? "", Number(match[3]));
  }
  return out;
}

async function measureOperator(
  c: BenchCluster,
  ns: string,
  expect: { repositories: number; runs: number },
  variant: string[] = [],
) {
  const nodeFlags = variant.filter((v) => v.startsWith("-"));
  const extraEnv = Object.fromEntries(
    variant.filter((v) => !v.startsWith("-") && v.includes("=")).map((v) => v.split("=", 2) as [string, string]),
  );
  const metricsPort = await freePort();
  const intakePort = await freePort();
  const dir = await mkdtemp(join(tmpdir(), "baton-bench-memory-"));
  const logPath = join(dir, "operator.log");
  const log = await open(logPath, "w");
  const child: ChildProcess = spawn(
    process.execPath,
    [
      ...nodeFlags,
      "--expose-gc",
      "--import",
      new URL("./gc-hook.mjs", import.meta.url).href,
      join(repoRoot, "dist/main.js"),
    ],
    {
      cwd: repoRoot,
      stdio: ["ignore", log.fd, log.fd, "ipc"],
      env: {
        ...process.env,
        BATON_KUBECONFIG: c.operatorKubeconfigPath,
        BATON_WATCH_NAMESPACE: ns,
        BATON_LEADER_ELECT: "false",
        BATON_METRICS_BIND_ADDRESS: "127.0.0.1",
        BATON_METRICS_PORT: String(metricsPort),
        BATON_INTAKE_PORT: String(intakePort),
        BATON_LOG_LEVEL: "warn",
        // Nothing routes traffic here: no need to keep serving after SIGTERM.
        BATON_SHUTDOWN_DRAIN: "0s",
        POD_NAME: "baton-bench-memory",
        NODE_OPTIONS: nodeOptions,
        ...extraEnv,
      },
    },
  );
  await log.close();
  const exited = new Promise<void>((r) => child.once("exit", () => r()));
  const failIfExited = () => {
    if (child.exitCode !== null) throw new Error(`the operator exited (${child.exitCode}); see ${logPath}`);
  };
  const pid = child.pid ?? 0;
  const get = async (path: string) => {
    const res = await fetch(`http://127.0.0.1:${metricsPort}${path}`).catch(() => undefined);
    const text = res ? await res.text() : "";
    return { ok: res?.ok ?? false, text };
  };
  try {
    const elapsed = stopwatch();
    await until(
      "/readyz",
      async () => {
        failIfExited();
        return (await get("/readyz")).ok;
      },
      10 * 60_000,
    );
    const readySeconds = elapsed() / 1000;
    const rssAtReady = procMemory(pid);
    await until(
      "every object in the caches",
      async () => {
        const cached = metricValues((await get("/metrics")).text, "baton_informer_cached_objects");
        const of = (resource: string) =>
          [...cached].filter(([labels]) => labels.includes(resource)).reduce((m, [, v]) => Math.max(m, v), 0);
        return of("repositories") >= expect.repositories && of("pipelineruns") >= expect.runs;
      },
      10 * 60_000,
    );
    // Quiet: no queued key and no reconcile running, five seconds in a row (the start-up pass over every object).
    let quietSince = performance.now();
    await until(
      "idle work queues",
      async () => {
        const text = (await get("/metrics")).text;
        const busy =
          [...metricValues(text, "baton_workqueue_depth").values()].some((v) => v > 0) ||
          [...metricValues(text, "baton_controller_active_workers").values()].some((v) => v > 0);
        if (busy) quietSince = performance.now();
        return performance.now() - quietSince >= 5_000;
      },
      15 * 60_000,
      500,
    );
    const settledSeconds = elapsed() / 1000;
    const measured = await new Promise<Measure>((resolve, reject) => {
      child.once("message", (m) => resolve(m as Measure));
      child.send("measure", (err) => err && reject(err));
    });
    await sleep(500);
    const proc = procMemory(pid);
    const metrics = (await get("/metrics")).text;
    const cached = Object.fromEntries(metricValues(metrics, "baton_informer_cached_objects"));
    return {
      readySeconds: round(readySeconds, 1),
      settledSeconds: round(settledSeconds, 1),
      cachedObjects: cached,
      rssMiB: round((proc?.rssBytes ?? Number.NaN) / MiB, 1),
      peakRssMiB: round((proc?.peakRssBytes ?? Number.NaN) / MiB, 1),
      rssAtReadyMiB: round((rssAtReady?.rssBytes ?? Number.NaN) / MiB, 1),
      beforeGc: {
        rssMiB: round(measured.before.rss / MiB, 1),
        heapUsedMiB: round(measured.before.heapUsed / MiB, 1),
        heapTotalMiB: round(measured.before.heapTotal / MiB, 1),
      },
      afterGc: {
        rssMiB: round(measured.after.rss / MiB, 1),
        heapUsedMiB: round(measured.after.heapUsed / MiB, 1),
        heapTotalMiB: round(measured.after.heapTotal / MiB, 1),
        externalMiB: round(measured.after.external / MiB, 1),
        arrayBuffersMiB: round(measured.after.arrayBuffers / MiB, 1),
      },
      heapLimitMiB: round(measured.heap.heap_size_limit / MiB, 1),
      gcExposed: measured.gcExposed,
    };
  } catch (error) {
    process.stderr.write(`--- operator log (${logPath}) ---\n${(await readFile(logPath, "utf8")).slice(-5000)}\n`);
    throw error;
  } finally {
    child.kill("SIGTERM");
    await Promise.race([exited, sleep(35_000)]);
    if (child.exitCode === null) child.kill("SIGKILL");
  }
}

// ---- run --------------------------------------------------------------------------------------------------------
const idleNs = await cluster.namespace("bench-memory-idle");
await kube.create(Secrets, {
  apiVersion: "v1",
  kind: "Secret",
  metadata: { name: "bb-token", namespace: idleNs },
  stringData: { token: token.token },
});
progress("baseline: the operator over an empty namespace");
const baseline = await measureOperator(cluster, idleNs, { repositories: 0, runs: 0 });

const ns = await cluster.namespace("bench-memory");
const populated = await populate(ns);
progress("the operator over the full namespace");
const full = await measureOperator(cluster, ns, { repositories: repositoryCount, runs: runCount });
const tuned: Record<string, Measured> = {};
for (const variant of variants) {
  progress(`the operator over the full namespace with ${variant}`);
  tuned[variant] = await measureOperator(
    cluster,
    ns,
    { repositories: repositoryCount, runs: runCount },
    variant.split(/\s+/),
  );
}

const report = {
  setup: {
    repositories: repositoryCount,
    projects: projectCount,
    pipelineRuns: runCount,
    operator:
      "node --expose-gc --import bench/gc-hook.mjs dist/main.js (tsconfig.build.json, as in the image), its own process, as ServiceAccount baton-system/baton " +
      "(config/rbac), watching one namespace, leader election off, log level warn, NODE_OPTIONS as in the Dockerfile",
    nodeOptions,
    objects:
      "Repositories with webhook.managed false on existing simulator repositories; completed PipelineRuns shaped " +
      "like Baton's (labels, Pipelines-as-Code annotations, params, inline pipeline, workspaces, Tekton's status " +
      "with the pipeline spec copy and child references), signed with the run-signing key, marked as reported",
    populateSeconds: {
      repositories: round(populated.repositoriesSeconds, 1),
      pipelineRuns: round(populated.runsSeconds, 1),
    },
  },
  target: `RSS ≤ ${targetRssMiB} MiB with 1,000 Repositories and 10,000 PipelineRuns cached`,
  results: { baseline, full, variants: tuned },
  verdict: {
    rssMiB: full.rssMiB,
    peakRssMiB: full.peakRssMiB,
    withinTarget: full.rssMiB <= targetRssMiB,
    peakWithinTarget: full.peakRssMiB <= targetRssMiB,
  },
};
const file = await writeResults("memory", report);

type Measured = Awaited<ReturnType<typeof measureOperator>>;
const row = (label: string, m: Measured) => [
  label,
  m.readySeconds,
  m.settledSeconds,
  m.rssMiB,
  m.peakRssMiB,
  m.afterGc.heapUsedMiB,
  m.afterGc.heapTotalMiB,
  m.afterGc.externalMiB,
];
printTable(
  [
    "operator over",
    "ready s",
    "settled s",
    "RSS MiB (settled, after GC)",
    "peak RSS MiB",
    "heap used MiB (after GC)",
    "heap total MiB",
    "external MiB",
  ],
  [
    row("empty namespace", baseline),
    row(`${repositoryCount} Repositories + ${runCount} PipelineRuns`, full),
    ...Object.entries(tuned).map(([variant, m]) => row(`the same, with ${variant}`, m)),
  ],
);
console.log(
  `\ntarget: RSS ≤ ${targetRssMiB} MiB → ${full.rssMiB <= targetRssMiB ? "met" : "missed"} (peak ${full.peakRssMiB} MiB)`,
);
progress(`results in ${file}`);

await sim.close();
await cluster.stop();
