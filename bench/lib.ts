// What every benchmark needs: the real control plane (or the one named by BATON_TEST_KUBECONFIG), the operator's own
// identity, a namespace, the simulator's clock as a domain clock, timing and percentile helpers, a bounded-concurrency
// pool, and results written to bench/results/<name>.json together with a description of the machine.
import { execFileSync } from "node:child_process";
import { randomBytes } from "node:crypto";
import { readFileSync } from "node:fs";
import { mkdir, writeFile } from "node:fs/promises";
import { cpus, release, totalmem } from "node:os";
import { performance } from "node:perf_hooks";
import { CoreV1Api, type KubeConfig } from "@kubernetes/client-node";
import {
  installCrds,
  kubeConfigFrom,
  operatorKubeconfig,
  repoRoot,
  startControlPlane,
} from "../hack/lib/controlplane.ts";
import type { Clock } from "../src/runtime/clock.ts";
import { KubeClient } from "../src/runtime/kube.ts";
import { type RequestLogEntry, type Simulator, signBody } from "../src/simulator/index.ts";

export const MiB = 1024 * 1024;

export const round = (n: number, digits = 2): number => {
  const f = 10 ** digits;
  return Math.round(n * f) / f;
};

export const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** Progress on stderr, so stdout keeps only the results table. */
export function progress(message: string): void {
  process.stderr.write(`bench: ${message}\n`);
}

export interface BenchCluster {
  kubeconfigPath: string;
  kubeConfig: KubeConfig;
  /** A client as the cluster admin (field manager "bench"): what users and other tools do. */
  kube: KubeClient;
  /** The ServiceAccount baton-system/baton bound to exactly config/rbac: what the operator runs as. */
  operatorKubeconfigPath: string;
  /** Creates a namespace with a random suffix (deleted by stop()). */
  namespace(prefix: string): Promise<string>;
  stop(): Promise<void>;
}

/**
 * The control plane from hack/testenv: the one BATON_TEST_KUBECONFIG names, or a private one started for this run
 * (and killed with this process, however it ends).
 */
export async function startBenchCluster(): Promise<BenchCluster> {
  const external = process.env.BATON_TEST_KUBECONFIG;
  const controlPlane = external ? undefined : await startControlPlane({ dieWithParent: true });
  const kubeconfigPath = external ?? controlPlane?.kubeconfigPath ?? "";
  if (controlPlane) await installCrds(kubeconfigPath);
  const operatorKubeconfigPath =
    process.env.BATON_TEST_OPERATOR_KUBECONFIG ?? (await operatorKubeconfig(kubeconfigPath));
  const kubeConfig = kubeConfigFrom(kubeconfigPath);
  const core = kubeConfig.makeApiClient(CoreV1Api);
  const namespaces: string[] = [];
  return {
    kubeconfigPath,
    kubeConfig,
    kube: new KubeClient(kubeConfig, { fieldManager: "bench" }),
    operatorKubeconfigPath,
    async namespace(prefix) {
      const name = `${prefix}-${randomBytes(3).toString("hex")}`;
      await core.createNamespace({ body: { metadata: { name, labels: { "baton.dev/bench": "true" } } } });
      namespaces.push(name);
      return name;
    },
    async stop() {
      for (const name of namespaces) await core.deleteNamespace({ name }).catch(() => undefined);
      await controlPlane?.stop();
    },
  };
}

/** The simulator's clock as the operator's domain clock: real timers, simulated "now" (as the tests do). */
export function simulatorClock(sim: Pick<Simulator, "clock">, base: Clock): Clock {
  return { now: () => sim.clock.now(), setTimeout: base.setTimeout.bind(base), sleep: base.sleep.bind(base) };
}

/** Runs `fn` over `items` with at most `concurrency` at once; results in input order. */
export async function pool<T, R>(items: readonly T[], concurrency: number, fn: (item: T, index: number) => Promise<R>) {
  const out = new Array<R>(items.length);
  let next = 0;
  await Promise.all(
    Array.from({ length: Math.min(concurrency, items.length) }, async () => {
      while (next < items.length) {
        const index = next++;
        out[index] = await fn(items[index] as T, index);
      }
    }),
  );
  return out;
}

/** Polls `probe` until it returns a truthy value; throws with `what` after `timeoutMs`. */
export async function until<T>(what: string, probe: () => T | Promise<T>, timeoutMs: number, intervalMs = 250) {
  const deadline = performance.now() + timeoutMs;
  for (;;) {
    const value = await probe();
    if (value) return value as NonNullable<T>;
    if (performance.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await sleep(intervalMs);
  }
}

/** Nearest-rank percentile of an ascending array. */
export function percentile(sorted: readonly number[], p: number): number {
  if (sorted.length === 0) return Number.NaN;
  const index = Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1);
  return sorted[Math.max(0, index)] as number;
}

export interface Summary {
  count: number;
  min: number;
  p50: number;
  p90: number;
  p99: number;
  max: number;
  mean: number;
}

export function summarise(values: readonly number[], digits = 2): Summary {
  const sorted = [...values].sort((a, b) => a - b);
  const mean = sorted.reduce((a, b) => a + b, 0) / (sorted.length || 1);
  return {
    count: sorted.length,
    min: round(sorted[0] ?? Number.NaN, digits),
    p50: round(percentile(sorted, 50), digits),
    p90: round(percentile(sorted, 90), digits),
    p99: round(percentile(sorted, 99), digits),
    max: round(sorted.at(-1) ?? Number.NaN, digits),
    mean: round(mean, digits),
  };
}

/** Wall-clock stopwatch in milliseconds. */
export function stopwatch(): () => number {
  const started = performance.now();
  return () => performance.now() - started;
}

/**
 * The highest rate over any window of `seconds` (sliding, anchored at each request), in requests per second, from
 * request-log times. The simulator stamps requests with its clock: with a clock that follows real time, differences
 * between stamps are real milliseconds even after the clock was moved forward (so do not mix entries across a jump).
 */
export function peakRate(entries: readonly Pick<RequestLogEntry, "time">[], seconds: number): number {
  const times = entries.map((e) => e.time).sort((a, b) => a - b);
  let best = 0;
  let start = 0;
  for (let end = 0; end < times.length; end++) {
    while ((times[end] as number) - (times[start] as number) >= seconds * 1000) start++;
    best = Math.max(best, end - start + 1);
  }
  return round(best / seconds);
}

/** Counts by "<group> <method>", or by another key of each entry (e.g. its method and route). */
export function byGroup(
  entries: readonly RequestLogEntry[],
  keyOf: (e: RequestLogEntry) => string = (e) => `${e.group} ${e.method}`,
): Record<string, number> {
  const out: Record<string, number> = {};
  for (const e of entries) out[keyOf(e)] = (out[keyOf(e)] ?? 0) + 1;
  return Object.fromEntries(Object.entries(out).sort(([a], [b]) => a.localeCompare(b)));
}

export interface Machine {
  cpuModel: string;
  cpus: number;
  memoryGiB: number;
  node: string;
  platform: string;
  kernel: string;
  /** The commit measured (with "-dirty" when the tree had local changes). */
  commit: string;
}

export function machine(): Machine {
  const list = cpus();
  let commit = "unknown";
  try {
    commit = execFileSync("git", ["-C", repoRoot, "rev-parse", "--short", "HEAD"], { encoding: "utf8" }).trim();
    const dirty = execFileSync("git", ["-C", repoRoot, "status", "--porcelain", "--untracked-files=no"], {
      encoding: "utf8",
    }).trim();
    if (dirty) commit += "-dirty";
  } catch {
    // Not a git checkout: the figure stays unattributed.
  }
  return {
    cpuModel: list[0]?.model.trim() ?? "unknown",
    cpus: list.length,
    memoryGiB: round(totalmem() / 1024 ** 3, 1),
    node: process.version,
    platform: `${process.platform}/${process.arch}`,
    kernel: release(),
    commit,
  };
}

/** Writes bench/results/<name>.json: the benchmark's report with the date and the machine. */
export async function writeResults(name: string, report: Record<string, unknown>): Promise<string> {
  const dir = new URL("./results/", import.meta.url);
  await mkdir(dir, { recursive: true });
  const file = new URL(`${name}.json`, dir);
  const full = { benchmark: name, date: new Date().toISOString(), machine: machine(), ...report };
  await writeFile(file, `${JSON.stringify(full, null, 2)}\n`);
  return file.pathname;
}

/** A markdown table on stdout. */
export function printTable(headers: readonly string[], rows: readonly (readonly unknown[])[]): void {
  console.log(`| ${headers.join(" | ")} |`);
  console.log(`|${headers.map(() => "---").join("|")}|`);
  for (const row of rows) console.log(`| ${row.map((c) => String(c)).join(" | ")} |`);
}

/** Resident set size and its peak, from /proc (Linux), for any process. */
export function procMemory(pid: number): { rssBytes: number; peakRssBytes: number } | undefined {
  try {
    const status = readFileSync(`/proc/${pid}/status`, "utf8");
    const kib = (field: string) => Number(new RegExp(`^${field}:\\s+(\\d+) kB`, "m").exec(status)?.[1] ?? Number.NaN);
    return { rssBytes: kib("VmRSS") * 1024, peakRssBytes: kib("VmHWM") * 1024 };
  } catch {
    return undefined;
  }
}

/** The pipeline the event benchmarks put in each repository's `.tekton/`: one PipelineRun for pull requests to main. */
export const pullRequestPipeline = `apiVersion: tekton.dev/v1
kind: PipelineRun
metadata:
  name: build
  annotations:
    pipelinesascode.tekton.dev/on-event: "[pull_request]"
    pipelinesascode.tekton.dev/on-target-branch: "[main]"
spec:
  params:
    - name: revision
      value: "{{ revision }}"
  pipelineSpec:
    params:
      - name: revision
    workspaces:
      - name: basic-auth
    tasks:
      - name: noop
        taskSpec:
          steps:
            - name: echo
              image: alpine
              script: echo "$(params.revision)"
  workspaces:
    - name: basic-auth
`;

export interface PullRequestOpened {
  project: string;
  slug: string;
  /** Bitbucket's numeric repository id (any stable number will do for Baton). */
  repositoryId: number;
  id: number;
  branch: string;
  sha: string;
  /** Head of main, the target. */
  targetSha: string;
}

/** A `pr:opened` body as Bitbucket Data Center sends it, for a pull request from a branch of the same repository. */
export function pullRequestOpenedBody(pr: PullRequestOpened): string {
  const repository = {
    slug: pr.slug,
    id: pr.repositoryId,
    name: pr.slug,
    project: { key: pr.project, id: 1, name: pr.project, type: "NORMAL" },
  };
  return JSON.stringify({
    eventKey: "pr:opened",
    date: new Date().toISOString(),
    actor: { name: "dev", slug: "dev", id: 2 },
    pullRequest: {
      id: pr.id,
      version: 0,
      title: `bench ${pr.id}`,
      state: "OPEN",
      fromRef: { id: `refs/heads/${pr.branch}`, displayId: pr.branch, latestCommit: pr.sha, repository },
      toRef: { id: "refs/heads/main", displayId: "main", latestCommit: pr.targetSha, repository },
      author: { user: { name: "dev", slug: "dev", id: 2 }, role: "AUTHOR" },
    },
  });
}

export interface DeliveryAnswer {
  status: number;
  /** The intake's `outcome` (accepted, duplicate, …), or the transport error when there was no answer. */
  outcome: string;
  /** The PipelineRuns the delivery created, by name (from the answer's per-event results). */
  runs: string[];
  /** When the request was sent (performance.now()), to time later effects of the same delivery. */
  startedAt: number;
  elapsedMs: number;
}

/** POSTs a delivery to the intake signed with `secret`, as Bitbucket does; times it to the answer's body. */
export async function deliverSigned(
  intakeUrl: string,
  delivery: { eventKey: string; body: string; secret: string; requestId: string },
): Promise<DeliveryAnswer> {
  const started = performance.now();
  try {
    const res = await fetch(intakeUrl, {
      method: "POST",
      headers: {
        "content-type": "application/json; charset=utf-8",
        "x-event-key": delivery.eventKey,
        "x-request-id": delivery.requestId,
        "x-hub-signature": signBody(delivery.secret, delivery.body),
      },
      body: delivery.body,
    });
    const text = await res.text();
    const elapsedMs = performance.now() - started;
    let outcome = "";
    let runs: string[] = [];
    try {
      const answer = JSON.parse(text) as { outcome?: unknown; results?: { runs?: unknown }[] };
      outcome = String(answer.outcome ?? "");
      runs = (answer.results ?? []).flatMap((r) => (Array.isArray(r.runs) ? r.runs.map(String) : []));
    } catch {
      outcome = "unparsable answer";
    }
    return { status: res.status, outcome, runs, startedAt: started, elapsedMs };
  } catch (err) {
    return {
      status: 0,
      outcome: (err as Error).message,
      runs: [],
      startedAt: started,
      elapsedMs: performance.now() - started,
    };
  }
}
