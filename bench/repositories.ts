// Repository webhook sync at scale (DESIGN §6): 1,000 Repositories in 20 projects, the operator started cold over
// them, Bitbucket (the simulator, with Data Center's default per-user rate limiter on) behind a 5 requests/s budget.
//
//   node bench/repositories.ts [--repositories 1000] [--projects 20] [--rps 5] [--scopes project,repository]
//                              [--drift 60] [--steady-intervals 3] [--catch-up project]
//
// Per scope: time from operator start to every Repository WebhookSynced, the Bitbucket calls that took (by endpoint
// group; catch-up's pull-request listings are counted apart), the peak request rate over sliding windows, 429s,
// and then the steady state: calls per project per drift interval while nothing changes (project scope; with
// repository scope a steady drift check is one listing per repository per interval by construction, and at 5/s it
// needs an interval of minutes). With --catch-up the start-up catch-up pass (one pull-request listing per
// Repository, after the webhooks are synced) is timed too. Results go to bench/results/repositories.json.
import { randomBytes } from "node:crypto";
import { mkdir, writeFile } from "node:fs/promises";
import { cpus } from "node:os";
import { performance } from "node:perf_hooks";
import { parseArgs } from "node:util";
import { CoreV1Api } from "@kubernetes/client-node";
import { installCrds, kubeConfigFrom, startControlPlane } from "../hack/lib/controlplane.ts";
import type { Repository } from "../src/api/repository.ts";
import { createOperator } from "../src/operator.ts";
import { Repositories } from "../src/repositories/resource.ts";
import { configSchema } from "../src/runtime/config.ts";
import { KubeClient, Secrets } from "../src/runtime/kube.ts";
import { createLogger } from "../src/runtime/logger.ts";
import { type RequestLogEntry, startSimulator } from "../src/simulator/index.ts";

const { values } = parseArgs({
  options: {
    repositories: { type: "string", default: "1000" },
    projects: { type: "string", default: "20" },
    rps: { type: "string", default: "5" },
    scopes: { type: "string", default: "project,repository" },
    drift: { type: "string", default: "60" },
    "steady-intervals": { type: "string", default: "3" },
    "catch-up": { type: "string", default: "project" },
  },
});
const repositories = Number(values.repositories);
const projects = Number(values.projects);
const rps = Number(values.rps);
const scopes = String(values.scopes).split(",") as ("project" | "repository")[];
const drift = Number(values.drift) * 1000;
const steadyIntervals = Number(values["steady-intervals"]);
const catchUpScopes = String(values["catch-up"]).split(",");
const perProject = Math.ceil(repositories / projects);
const syncGroups = ["webhooks", "repos", "application-properties"];

const round = (n: number) => Math.round(n * 100) / 100;
const progress = (message: string) => process.stderr.write(`bench: ${message}\n`);
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

function byGroup(entries: RequestLogEntry[]): Record<string, number> {
  const out: Record<string, number> = {};
  for (const e of entries) out[`${e.group} ${e.method}`] = (out[`${e.group} ${e.method}`] ?? 0) + 1;
  return out;
}

/** The highest request rate seen over any window of `seconds`, in requests per second. */
function peakRate(entries: RequestLogEntry[], seconds: number): number {
  const times = entries.map((e) => e.time).sort((a, b) => a - b);
  let start = 0;
  let peak = 0;
  for (let end = 0; end < times.length; end++) {
    while ((times[end] ?? 0) - (times[start] ?? 0) >= seconds * 1000) start++;
    peak = Math.max(peak, end - start + 1);
  }
  return round(peak / seconds);
}

async function run(kubeconfigPath: string, scope: "project" | "repository") {
  const kubeConfig = kubeConfigFrom(kubeconfigPath);
  const ns = `bench-repos-${scope}-${randomBytes(3).toString("hex")}`;
  await kubeConfig.makeApiClient(CoreV1Api).createNamespace({ body: { metadata: { name: ns } } });
  const kube = new KubeClient(kubeConfig, { fieldManager: "bench" });
  // Data Center's default limiter (60 burst, 5/s per user): Baton's budget must keep every token under it.
  const sim = await startSimulator({ rateLimit: { enabled: true, capacity: 60, refillPerSecond: 5 } });
  sim.createUser({ name: "admin", password: "admin-password", admin: true });

  progress(`${scope}: creating ${projects} projects × ${perProject} repositories in the simulator`);
  const objects: Repository[] = [];
  for (let p = 0; p < projects; p++) {
    const key = `P${p}`;
    sim.createProject({ key });
    const slugs = Array.from({ length: perProject }, (_, i) => `r${i}`).slice(0, repositories - p * perProject);
    await Promise.all(slugs.map((slug) => sim.createRepository({ project: key, slug })));
    const { token } = sim.createToken({
      scope: { kind: "project", project: key },
      name: "baton",
      permissions: ["PROJECT_ADMIN", "REPO_ADMIN"],
    });
    await kube.create(Secrets, {
      apiVersion: "v1",
      kind: "Secret",
      metadata: { name: `token-p${p}`, namespace: ns },
      stringData: { token },
    });
    for (const slug of slugs)
      objects.push({
        apiVersion: "baton.dev/v1alpha1",
        kind: "Repository",
        metadata: { name: `p${p}-${slug}`, namespace: ns },
        spec: {
          url: `${sim.url}/projects/${key}/repos/${slug}`,
          secretRef: { name: `token-p${p}`, key: "token" },
          webhook: { managed: true, scope },
        },
      } as Repository);
  }
  progress(`${scope}: creating ${objects.length} Repositories`);
  for (let i = 0; i < objects.length; i += 50)
    await Promise.all(objects.slice(i, i + 50).map((o) => kube.create(Repositories, o)));

  const config = configSchema.parse({
    kubeconfig: kubeconfigPath,
    watchNamespace: ns,
    podName: "baton-bench",
    allowedServers: sim.url,
    podNamespace: ns,
    leaderElection: "false",
    metricsPort: "0",
    intakePort: "0",
    logLevel: "warn",
    intakeUrl: "https://baton.example.com/hooks/bitbucket",
    bitbucketRequestsPerSecond: String(rps),
  });
  const measureCatchUp = catchUpScopes.includes(scope);
  let handedOver = 0;
  const operator = createOperator({
    config,
    healthServer: false,
    logger: createLogger({ level: "warn" }),
    // With repository scope a 30 s interval would be all drift checks: at 5/s, 1,000 listings take 200 s.
    repositoryDriftInterval: scope === "project" ? drift : 3_600_000,
    // One start-up pass, timed below; the next one would be an hour later.
    catchUpInterval: 3_600_000,
    catchUp: async () => {
      handedOver++;
      return { started: true, detail: "counted by the benchmark" };
    },
  });

  const mark = sim.markRequests();
  const started = performance.now();
  await operator.start();
  progress(`${scope}: operator started cold over ${objects.length} Repositories`);
  let synced = 0;
  while (synced < objects.length) {
    await sleep(250);
    const { items } = await kube.list(Repositories, { namespace: ns });
    synced = items.filter((r) =>
      r.status?.conditions?.some((c) => c.type === "WebhookSynced" && c.status === "True"),
    ).length;
  }
  const coldSeconds = (performance.now() - started) / 1000;
  const coldEntries = sim.requests({ since: mark });
  const cold = coldEntries.filter((e) => syncGroups.includes(e.group));
  progress(`${scope}: all ${objects.length} WebhookSynced after ${round(coldSeconds)} s, ${cold.length} calls`);
  const hooks = sim.webhooks().filter((h) => h.name === "baton");

  let catchUp: Record<string, unknown> | undefined;
  if (measureCatchUp) {
    const before = performance.now();
    while (sim.requestCount({ since: mark, group: "pull-requests" }) < objects.length) await sleep(250);
    const entries = sim.requests({ since: mark, group: ["pull-requests", "build-status"] });
    catchUp = {
      seconds: round((performance.now() - before) / 1000),
      requests: entries.length,
      requestsPerRepository: round(entries.length / objects.length),
      handedOver,
    };
    progress(`${scope}: start-up catch-up pass took ${catchUp.seconds} s, ${entries.length} calls`);
  }

  let steady: Record<string, unknown> | undefined;
  if (scope === "project" && steadyIntervals > 0) {
    progress(`${scope}: steady state for ${steadyIntervals} drift intervals of ${drift / 1000} s`);
    const steadyMark = sim.markRequests();
    const steadyStart = performance.now();
    await sleep(steadyIntervals * drift);
    const window = performance.now() - steadyStart;
    const entries = sim.requests({ since: steadyMark });
    const sync = entries.filter((e) => syncGroups.includes(e.group));
    const perProjectCounts = Array.from(
      { length: projects },
      (_, p) => sync.filter((e) => e.path.includes(`/projects/P${p}/`)).length,
    );
    steady = {
      driftIntervalSeconds: drift / 1000,
      windowSeconds: round(window / 1000),
      requests: sync.length,
      byGroup: byGroup(sync),
      otherRequests: entries.length - sync.length,
      callsPerProjectPerInterval: round(sync.length / projects / (window / drift)),
      maxCallsPerProjectPerInterval: round(Math.max(...perProjectCounts) / (window / drift)),
      statusWrites: "none expected: lastSyncTime moves at most hourly when nothing changes",
    };
  }

  await operator.stop();
  await sim.close();
  await kubeConfig
    .makeApiClient(CoreV1Api)
    .deleteNamespace({ name: ns })
    .catch(() => undefined);
  return {
    scope,
    repositories: objects.length,
    projects,
    budgetRequestsPerSecond: rps,
    coldSecondsToAllWebhookSynced: round(coldSeconds),
    coldRequests: cold.length,
    coldRequestsByGroup: byGroup(cold),
    coldRequestsPerRepository: round(cold.length / objects.length),
    coldRequestsPerProject: round(cold.length / projects),
    webhooks: hooks.length,
    peakRequestsPerSecond: {
      over1s: peakRate(coldEntries, 1),
      over5s: peakRate(coldEntries, 5),
      over10s: peakRate(coldEntries, 10),
    },
    rateLimited429: coldEntries.filter((e) => e.rateLimited).length,
    ...(catchUp ? { startUpCatchUp: catchUp } : {}),
    ...(steady ? { steadyState: steady } : {}),
  };
}

async function main(): Promise<void> {
  const external = process.env.BATON_TEST_KUBECONFIG;
  const controlPlane = external ? undefined : await startControlPlane({ dieWithParent: true });
  const kubeconfigPath = external ?? controlPlane?.kubeconfigPath ?? "";
  if (controlPlane) await installCrds(kubeconfigPath);
  const results = [];
  try {
    for (const scope of scopes) results.push(await run(kubeconfigPath, scope));
  } finally {
    await controlPlane?.stop();
  }
  const report = {
    benchmark: "Repository webhook sync at scale",
    date: new Date().toISOString(),
    machine: { cpus: cpus().length, node: process.version },
    setup: `${repositories} Repositories in ${projects} projects (one project token each), operator started cold over them, budget ${rps} requests/s shared by the whole operator, simulator with DC's default per-user rate limiter (60, 5/s); catch-up pull-request listings counted apart from webhook sync`,
    target:
      "project scope: ≤ 60 s to all WebhookSynced within the budget, one repository listing and one webhook listing per project, steady state ≤ 1 call per project per drift interval; repository scope: ≤ 2.2 calls per repository from cold",
    results,
  };
  await mkdir(new URL("./results/", import.meta.url), { recursive: true });
  await writeFile(new URL("./results/repositories.json", import.meta.url), `${JSON.stringify(report, null, 2)}\n`);
  console.log(
    "| scope | cold → all synced | calls | calls/repo | calls/project | peak req/s (1 s / 10 s) | 429 | steady calls/project/interval |",
  );
  console.log("|---|---|---|---|---|---|---|---|");
  for (const r of results) {
    const steady = (r as { steadyState?: { maxCallsPerProjectPerInterval: number } }).steadyState;
    console.log(
      `| ${r.scope} | ${r.coldSecondsToAllWebhookSynced} s | ${r.coldRequests} | ${r.coldRequestsPerRepository} | ${r.coldRequestsPerProject} | ${r.peakRequestsPerSecond.over1s} / ${r.peakRequestsPerSecond.over10s} | ${r.rateLimited429} | ${steady ? steady.maxCallsPerProjectPerInterval : "—"} |`,
    );
  }
}

await main();
