// Event → PipelineRun latency and Bitbucket calls per event, against the real API server and the simulator; with
// --tekton, also event → first TaskRun created by the REAL Tekton controller (hack/lib/tekton.ts).
//
//   node bench/events.ts [--events 60] [--levels 1,10,50] [--tekton]
//
// Each sample is one signed pull-request delivery POSTed to Baton's intake; the intake answers only once the
// PipelineRun (and its git Secret and INPROGRESS status) exist, so the answer's arrival is "PipelineRun created".
// Every delivery is a different commit of a different branch, so nothing is deduplicated and the `.tekton` listing
// and file are not cached (the cold case). The floor is measured in the same run, at the same concurrency: one
// PipelineRun create on the same API server followed by one build-status POST to the same simulator, nothing else.
// Results go to bench/results/events.json; a markdown table is printed.
//
// With --tekton the private control plane also runs Tekton's controller and admission webhook, a scheduler and kwok
// (Pods are simulated; every step exits 0 at once). "First TaskRun" is when a watch on TaskRuns first sees one
// labelled with the delivery's run, measured from the same delivery's send. Floor runs are created pending, so the
// controller leaves them alone; each batch waits until its runs finished before the next starts. Results go to
// bench/results/events-tekton.json.
import { randomBytes } from "node:crypto";
import { mkdir, writeFile } from "node:fs/promises";
import { performance } from "node:perf_hooks";
import { parseArgs } from "node:util";
import { CoreV1Api } from "@kubernetes/client-node";
import { installCrds, kubeConfigFrom, startControlPlane } from "../hack/lib/controlplane.ts";
import { startTekton } from "../hack/lib/tekton.ts";
import type { Repository } from "../src/api/repository.ts";
import { createOperator } from "../src/operator.ts";
import { PipelineRuns } from "../src/pipelines/tekton.ts";
import { BitbucketClient } from "../src/providers/bitbucket-datacenter/index.ts";
import { Repositories } from "../src/repositories/resource.ts";
import { configSchema } from "../src/runtime/config.ts";
import { KubeClient, Secrets } from "../src/runtime/kube.ts";
import { createLogger } from "../src/runtime/logger.ts";
import { startSimulator } from "../src/simulator/index.ts";
import { TaskRuns } from "../src/status/reporter.ts";
import {
  type DeliveryAnswer,
  deliverSigned,
  machine,
  percentile,
  progress,
  pullRequestOpenedBody,
  pullRequestPipeline,
  round,
} from "./lib.ts";

const { values } = parseArgs({
  options: {
    events: { type: "string", default: "60" },
    levels: { type: "string", default: "1,10,50" },
    tekton: { type: "boolean", default: false },
  },
});
const eventsPerLevel = Number(values.events);
const levels = String(values.levels).split(",").map(Number);
const withTekton = values.tekton === true;

async function pool<T>(items: T[], concurrency: number, fn: (item: T) => Promise<number>): Promise<number[]> {
  const out: number[] = [];
  let next = 0;
  await Promise.all(
    Array.from({ length: Math.min(concurrency, items.length) }, async () => {
      while (next < items.length) {
        const item = items[next++] as T;
        out.push(await fn(item));
      }
    }),
  );
  return out.sort((a, b) => a - b);
}

async function main(): Promise<void> {
  const external = process.env.BATON_TEST_KUBECONFIG;
  if (external && withTekton) throw new Error("--tekton starts its own control plane: unset BATON_TEST_KUBECONFIG");
  const controlPlane = external ? undefined : await startControlPlane({ dieWithParent: true });
  const kubeconfigPath = external ?? controlPlane?.kubeconfigPath ?? "";
  if (controlPlane) await installCrds(kubeconfigPath);
  const tekton =
    withTekton && controlPlane
      ? await startTekton(kubeconfigPath, controlPlane.dir, { dieWithParent: true })
      : undefined;
  if (tekton) progress(`real Tekton running (logs in ${tekton.dir})`);
  const kubeConfig = kubeConfigFrom(kubeconfigPath);
  const ns = `bench-events-${randomBytes(3).toString("hex")}`;
  await kubeConfig.makeApiClient(CoreV1Api).createNamespace({ body: { metadata: { name: ns } } });
  const kube = new KubeClient(kubeConfig, { fieldManager: "bench" });

  // When a TaskRun of each PipelineRun was first seen (performance.now()), by the run's name.
  const firstTaskRun = new Map<string, number>();
  const stopWatching = new AbortController();
  const watching = tekton ? watchFirstTaskRuns(kube, ns, firstTaskRun, stopWatching.signal) : Promise.resolve();

  const sim = await startSimulator();
  sim.createUser({ name: "admin", password: "admin-password", admin: true });
  sim.createUser({ name: "dev", password: "dev-password" });
  sim.createProject({ key: "PRJ" });
  await sim.createRepository({ project: "PRJ", slug: "app", files: { ".tekton/build.yaml": pullRequestPipeline } });
  sim.grant({ permission: "REPO_WRITE", user: "dev", project: "PRJ", repo: "app" });
  const token = sim.createToken({
    scope: { kind: "project", project: "PRJ" },
    name: "baton",
    permissions: ["REPO_READ"],
  });
  const secret = randomBytes(20).toString("hex");
  await kube.create(Secrets, {
    apiVersion: "v1",
    kind: "Secret",
    metadata: { name: "bb-token", namespace: ns },
    stringData: { token: token.token },
  });
  await kube.create(Secrets, {
    apiVersion: "v1",
    kind: "Secret",
    metadata: { name: "hook", namespace: ns },
    stringData: { secret },
  });
  await kube.create(Repositories, {
    apiVersion: "baton.dev/v1alpha1",
    kind: "Repository",
    metadata: { name: "app", namespace: ns },
    spec: {
      url: `${sim.url}/projects/PRJ/repos/app`,
      secretRef: { name: "bb-token", key: "token" },
      webhook: { managed: false, scope: "repository", secretRef: { name: "hook", key: "secret" } },
      pipelines: { path: ".tekton", cloneWithOperatorToken: true },
    },
  } as unknown as Repository);

  const config = configSchema.parse({
    kubeconfig: kubeconfigPath,
    watchNamespace: ns,
    podName: "baton-bench",
    allowedServers: sim.url,
    leaderElection: "false",
    metricsPort: "0",
    intakePort: "0",
    logLevel: "warn",
    // The default 5 requests/s budget would make this a benchmark of the budget.
    bitbucketRequestsPerSecond: "1000",
  });
  const operator = createOperator({ config, healthServer: false, logger: createLogger({ level: "warn" }) });
  await operator.start();
  progress("operator started");
  while (operator.intake.port === undefined) await new Promise((r) => setTimeout(r, 20));
  const intakeUrl = `http://127.0.0.1:${operator.intake.port}/hooks/bitbucket`;

  progress(`intake at ${intakeUrl}; pushing branches`);
  // One branch (and commit) per delivery.
  const total = eventsPerLevel * levels.length + 5;
  const heads: { branch: string; sha: string }[] = [];
  for (let i = 0; i < total; i++) {
    const branch = `bench-${i}`;
    await sim.push({ project: "PRJ", repo: "app", branch, files: { [`f${i}.txt`]: `${i}\n` }, as: "dev" });
    heads.push({
      branch,
      sha: (await sim.resolve({ project: "PRJ", repo: "app", rev: `refs/heads/${branch}` })) ?? "",
    });
  }
  const main = (await sim.resolve({ project: "PRJ", repo: "app", rev: "refs/heads/main" })) ?? "";
  let prNumber = 1000;
  // Every answer of the current batch, for the first-TaskRun figure.
  let answers: DeliveryAnswer[] = [];
  const deliverOne = async (head: { branch: string; sha: string }): Promise<number> => {
    const body = pullRequestOpenedBody({
      project: "PRJ",
      slug: "app",
      repositoryId: 1,
      id: prNumber++,
      branch: head.branch,
      sha: head.sha,
      targetSha: main,
    });
    const answer = await deliverSigned(intakeUrl, {
      eventKey: "pr:opened",
      body,
      secret,
      requestId: randomBytes(16).toString("hex"),
    });
    if (answer.status !== 200 || answer.outcome !== "accepted") {
      throw new Error(`delivery answered ${answer.status}: ${answer.outcome}`);
    }
    answers.push(answer);
    return answer.elapsedMs;
  };

  const client = new BitbucketClient({ baseUrl: sim.url, auth: { kind: "bearer", token: token.token } });
  const floorOne = async (head: { branch: string; sha: string }): Promise<number> => {
    const started = performance.now();
    await kube.create(PipelineRuns, {
      apiVersion: "tekton.dev/v1",
      kind: "PipelineRun",
      metadata: { generateName: "floor-", namespace: ns, labels: { bench: "floor" } },
      spec: {
        // Never started: with --tekton the controller would otherwise run every floor run too.
        status: "PipelineRunPending",
        pipelineSpec: {
          tasks: [{ name: "noop", taskSpec: { steps: [{ name: "s", image: "alpine", script: "true" }] } }],
        },
      },
    });
    await client.buildStatus.set({ project: "PRJ", repository: "app" }, head.sha, {
      key: "floor",
      state: "INPROGRESS",
      url: "http://example.invalid/floor",
    });
    return performance.now() - started;
  };

  progress(`${heads.length} branches pushed; warming up`);
  // Warm-up: connection pools, informers, JIT.
  let cursor = 0;
  await deliverOne(heads[cursor++] as (typeof heads)[number]);
  await floorOne(heads[0] as (typeof heads)[number]);

  // Warm: the same commit (its .tekton listing and file cached), each delivery from another branch name, so
  // each is still a new run (a different run key) — what a busy repository's events mostly look like.
  const warmHead = heads[0] as (typeof heads)[number];
  let warmBranch = 0;
  const warmOne = () => deliverOne({ branch: `warm-${warmBranch++}`, sha: warmHead.sha });

  const results = [];
  for (const [mode, concurrency] of levels.flatMap((c) => [["warm", c] as const, ["cold", c] as const])) {
    const batch =
      mode === "cold"
        ? heads.slice(cursor, cursor + eventsPerLevel)
        : Array.from({ length: eventsPerLevel }, () => warmHead);
    if (mode === "cold") cursor += eventsPerLevel;
    progress(`${mode}, concurrency ${concurrency}`);
    const floor = await pool(batch, concurrency, floorOne);
    const mark = sim.markRequests();
    answers = [];
    const latency = await pool(batch, concurrency, mode === "cold" ? deliverOne : warmOne);
    const taskRun = tekton ? await firstTaskRunLatencies(kube, ns, answers, firstTaskRun) : undefined;
    const calls = sim
      .requests({ since: mark })
      .filter((r) => ["content", "users", "pull-requests", "build-status"].includes(r.group));
    const floorP99 = percentile(floor, 99);
    results.push({
      mode,
      concurrency,
      events: batch.length,
      latencyMs: { p50: round(percentile(latency, 50)), p99: round(percentile(latency, 99)) },
      floorMs: { p50: round(percentile(floor, 50)), p99: round(percentile(floor, 99)) },
      ...(taskRun && {
        firstTaskRunMs: { p50: round(percentile(taskRun, 50)), p99: round(percentile(taskRun, 99)) },
      }),
      p99OverFloor: round(percentile(latency, 99) / floorP99),
      bitbucketCallsPerEvent: round(calls.length / batch.length),
      callsByKind: Object.fromEntries(
        [...new Set(calls.map((c) => `${c.method} ${c.group}`))].map((k) => [
          k,
          round(calls.filter((c) => `${c.method} ${c.group}` === k).length / batch.length),
        ]),
      ),
    });
  }

  const report = {
    benchmark: tekton
      ? "event → PipelineRun created → first TaskRun created (real Tekton)"
      : "event → PipelineRun created",
    date: new Date().toISOString(),
    machine: { ...machine(), loadAverage: (await import("node:os")).loadavg().map((l) => round(l)) },
    setup:
      "warm: deliveries for one commit whose .tekton listing and file are cached, each from another branch (a new " +
      "run each); cold: one delivery per distinct commit (list + read + status); one matching PipelineRun, intake → " +
      "runner → PipelineRun + git Secret + INPROGRESS status; floor = one PipelineRun create + one build-status " +
      "POST on the same API server and simulator, at the same concurrency; bitbucketRequestsPerSecond 1000",
    target: "p99 ≤ 1.5 × floor; ≤ 3 Bitbucket calls per pull-request event",
    results,
  };
  await mkdir(new URL("./results/", import.meta.url), { recursive: true });
  const file = tekton ? "./results/events-tekton.json" : "./results/events.json";
  await writeFile(new URL(file, import.meta.url), `${JSON.stringify(report, null, 2)}\n`);

  console.log(
    `| .tekton cache | concurrent events | events | p50 ms | p99 ms | floor p50 ms | floor p99 ms | p99 / floor | Bitbucket calls / event |${tekton ? " first TaskRun p50 ms | first TaskRun p99 ms |" : ""}`,
  );
  console.log(`|---|---|---|---|---|---|---|---|---|${tekton ? "---|---|" : ""}`);
  for (const r of results) {
    const taskRunCells = r.firstTaskRunMs ? ` ${r.firstTaskRunMs.p50} | ${r.firstTaskRunMs.p99} |` : "";
    console.log(
      `| ${r.mode} | ${r.concurrency} | ${r.events} | ${r.latencyMs.p50} | ${r.latencyMs.p99} | ${r.floorMs.p50} | ${r.floorMs.p99} | ${r.p99OverFloor} | ${r.bitbucketCallsPerEvent} |${taskRunCells}`,
    );
  }

  stopWatching.abort();
  await watching;
  await operator.stop();
  await client.close();
  await sim.close();
  await kubeConfig
    .makeApiClient(CoreV1Api)
    .deleteNamespace({ name: ns })
    .catch(() => undefined);
  await tekton?.stop();
  await controlPlane?.stop();
}

/** Records when a TaskRun of each PipelineRun is first seen, resuming the watch whenever the server ends it. */
async function watchFirstTaskRuns(
  kube: KubeClient,
  namespace: string,
  seen: Map<string, number>,
  signal: AbortSignal,
): Promise<void> {
  let resourceVersion: string | undefined;
  while (!signal.aborted) {
    try {
      for await (const event of kube.watch(TaskRuns, { namespace, resourceVersion, signal })) {
        if (event.type === "BOOKMARK" || event.type === "ERROR") continue;
        const at = performance.now();
        resourceVersion = event.object.metadata?.resourceVersion ?? resourceVersion;
        const run = event.object.metadata?.labels?.["tekton.dev/pipelineRun"];
        if (run && !seen.has(run)) seen.set(run, at);
      }
    } catch (error) {
      if (signal.aborted) return;
      progress(`TaskRun watch ended (${(error as Error).message}); resuming`);
      resourceVersion = undefined;
    }
  }
}

/**
 * Send → first TaskRun of the delivery's run, per delivery (sorted), once every run of the batch has one; then
 * waits until the batch's runs finished, so the next batch meets an idle controller.
 */
async function firstTaskRunLatencies(
  kube: KubeClient,
  namespace: string,
  answers: readonly DeliveryAnswer[],
  seen: ReadonlyMap<string, number>,
): Promise<number[]> {
  const runs = answers.map((a) => ({ answer: a, run: a.runs[0] ?? "" }));
  const missing = runs.filter((r) => r.run === "");
  if (missing.length > 0) throw new Error(`${missing.length} deliveries answered without naming a run`);
  const deadline = performance.now() + 300_000;
  while (runs.some((r) => !seen.has(r.run))) {
    if (performance.now() > deadline) throw new Error("some runs got no TaskRun within 5 minutes");
    await new Promise((r) => setTimeout(r, 50));
  }
  const names = new Set(runs.map((r) => r.run));
  for (;;) {
    const list = await kube.list(PipelineRuns, { namespace });
    const running = list.items.filter(
      (run) =>
        names.has(run.metadata?.name ?? "") &&
        !(run.status?.conditions ?? []).some((c) => c.type === "Succeeded" && c.status !== "Unknown"),
    );
    if (running.length === 0) break;
    if (performance.now() > deadline) throw new Error(`${running.length} runs did not finish within 5 minutes`);
    await new Promise((r) => setTimeout(r, 250));
  }
  return runs.map((r) => (seen.get(r.run) as number) - r.answer.startedAt).sort((a, b) => a - b);
}

await main();
