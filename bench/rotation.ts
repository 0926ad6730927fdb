// Token rotation at scale (DESIGN §6: 200 tokens rotated in the same hour, all before expiry, 0 consumer
// authentication failures), against the real API server and the simulator, with the operator's default budget.
//
//   node bench/rotation.ts [--tokens 200] [--projects 10] [--rps 5] [--consumers 16] [--mount-refresh 60]
//
// 1. issue: the BitbucketProjectTokens are created (lifetime 720h, renewBefore 1h) and issued; their renewal times
//    all fall in one simulated hour (they are issued within minutes of each other).
// 2. rotation: the simulator's clock moves just past the latest renewal time, so every token is due at once, and
//    every object is poked (Flux's reconcile-requested annotation). Timed until every Secret holds a new token;
//    every rotation is checked to happen before the old token expires.
// 3. revocation: once every consumer holds a new token, the clock moves past the 2h grace period, and the previous
//    tokens are revoked.
// Throughout, a consumer pool calls Bitbucket with whatever the Secrets hold: half read them fresh (as a client of
// the API server would), half through a copy refreshed every --mount-refresh seconds (as the kubelet refreshes a
// mounted Secret). Any answer other than 200 counts as a failure.
// The operator's Bitbucket calls (access-tokens and application-properties groups; the consumers only call the
// repository endpoint) are counted per phase from the simulator's request log, with their peak rate.
// Results: bench/results/rotation.json and a table on stdout.
import { parseArgs } from "node:util";
import type { BitbucketProjectToken } from "../src/api/token.ts";
import { createOperator } from "../src/operator.ts";
import { realClock } from "../src/runtime/clock.ts";
import { configSchema } from "../src/runtime/config.ts";
import { Secrets } from "../src/runtime/kube.ts";
import { createLogger } from "../src/runtime/logger.ts";
import { type RequestLogEntry, startSimulator } from "../src/simulator/index.ts";
import { Tokens } from "../src/tokens/reconciler.ts";
import {
  byGroup,
  peakRate,
  pool,
  printTable,
  progress,
  round,
  simulatorClock,
  sleep,
  startBenchCluster,
  stopwatch,
  summarise,
  until,
  writeResults,
} from "./lib.ts";

const { values } = parseArgs({
  options: {
    tokens: { type: "string", default: "200" },
    projects: { type: "string", default: "10" },
    rps: { type: "string", default: "5" },
    consumers: { type: "string", default: "16" },
    "mount-refresh": { type: "string", default: "60" },
  },
});
const tokenCount = Number(values.tokens);
const projectCount = Number(values.projects);
const rps = Number(values.rps);
const consumerCount = Number(values.consumers);
const mountRefreshMs = Number(values["mount-refresh"]) * 1000;

const hour = 3_600_000;
const operatorGroups = new Set(["access-tokens", "application-properties"]);
const adminPassword = "bench-admin-password";
/** The operator's budget lets a burst of one second's worth through after a quiet spell (src/operator.ts). */
const burst = Math.max(1, Math.ceil(rps));

const cluster = await startBenchCluster();
const ns = await cluster.namespace("bench-rotation");
const kube = cluster.kube;
const sim = await startSimulator();
sim.createUser({ name: "root", password: "bench-root-password", admin: true });
sim.createUser({ name: "admin", password: adminPassword });
const projects = Array.from({ length: projectCount }, (_, i) => `P${String(i).padStart(2, "0")}`);
for (const project of projects) {
  sim.createProject({ key: project });
  sim.grant({ permission: "PROJECT_ADMIN", user: "admin", project });
  await sim.createRepository({ project, slug: "api" });
}
await kube.create(Secrets, {
  apiVersion: "v1",
  kind: "Secret",
  metadata: { name: "bb-admin", namespace: ns },
  stringData: { username: "admin", password: adminPassword },
});

const config = configSchema.parse({
  kubeconfig: cluster.operatorKubeconfigPath,
  watchNamespace: ns,
  podName: "baton-bench-rotation",
  allowedServers: sim.url,
  leaderElection: "false",
  metricsPort: "0",
  intakePort: "0",
  logLevel: "warn",
  bitbucketRequestsPerSecond: String(rps),
});
const operator = createOperator({
  config,
  healthServer: false,
  logger: createLogger({ level: "warn" }),
  domainClock: simulatorClock(sim, realClock),
});
await operator.start();

const names = Array.from({ length: tokenCount }, (_, i) => `t${String(i).padStart(3, "0")}`);
const projectOf = (i: number) => projects[i % projects.length] as string;
const tokenObject = (name: string, i: number): BitbucketProjectToken => ({
  apiVersion: "baton.dev/v1alpha1",
  kind: "BitbucketProjectToken",
  metadata: { name, namespace: ns },
  spec: {
    server: sim.url,
    project: projectOf(i),
    permissions: ["REPO_READ"],
    lifetime: "720h",
    renewBefore: "1h",
    revocationGracePeriod: "2h",
    adminCredentialsRef: { name: "bb-admin" },
    secretName: `${name}-token`,
    deletionPolicy: "Revoke",
  },
});
const listTokens = async () => (await kube.list(Tokens, { namespace: ns })).items;
const poke = (name: string) =>
  kube.patch(
    Tokens,
    { namespace: ns, name },
    { metadata: { annotations: { "baton.dev/reconcile-requested-at": new Date().toISOString() } } },
  );
const operatorRequests = (since: number, until?: number): RequestLogEntry[] =>
  sim.requests({ since }).filter((r) => operatorGroups.has(r.group) && (until === undefined || r.seq <= until));
const phase = (entries: RequestLogEntry[], wallMs: number) => ({
  wallSeconds: round(wallMs / 1000, 1),
  bitbucketRequests: entries.length,
  byGroup: byGroup(entries),
  peakRequestsPerSecond1s: peakRate(entries, 1),
  peakRequestsPerSecond10s: peakRate(entries, 10),
  // A token bucket of `burst` and `rps` lets at most burst + rps × W requests into any W seconds; the simulator
  // stamps a request when it answers it, not when it left, so one request of jitter is allowed.
  withinBudget:
    entries.length / (wallMs / 1000) <= rps * 1.02 &&
    peakRate(entries, 1) <= burst + rps + 1 &&
    peakRate(entries, 10) * 10 <= burst + rps * 10 + 1,
  meanRequestsPerSecond: round(entries.length / (wallMs / 1000)),
  errors: entries.filter((e) => e.status >= 400).length,
});

// ---- 1. issue ---------------------------------------------------------------------------------------------------
progress(`issuing ${tokenCount} tokens in ${projectCount} projects at ${rps} requests/s`);
let mark = sim.markRequests();
let elapsed = stopwatch();
await pool(names, 16, (name, i) => kube.create(Tokens, tokenObject(name, i)));
const issued = await until(
  "every token issued",
  async () => {
    const items = await listTokens();
    const done = items.filter((t) => t.status?.revision === 1 && t.status.tokenId);
    return done.length === tokenCount ? items : undefined;
  },
  20 * 60_000,
  500,
);
const issueWall = elapsed();
const issuePhase = phase(operatorRequests(mark), issueWall);
const renewalTimes = issued.map((t) => Date.parse(t.status?.renewalTime ?? ""));
const renewalSpreadMs = Math.max(...renewalTimes) - Math.min(...renewalTimes);
const firstExpiry = new Map(issued.map((t) => [t.metadata?.name ?? "", Date.parse(t.status?.notAfter ?? "")]));
progress(`issued in ${round(issueWall / 1000, 1)} s; renewal times spread over ${round(renewalSpreadMs / 1000)} s`);

// ---- consumers --------------------------------------------------------------------------------------------------
// Fresh view: every token Secret, re-listed twice a second (what a client reading the Secret gets).
const fresh = new Map<string, string>();
let consuming = true;
const refreshFresh = async () => {
  const { items } = await kube.list(Secrets, { namespace: ns, labelSelector: "baton.dev/token" });
  for (const s of items) {
    const owner = s.metadata?.labels?.["baton.dev/token"];
    const value = s.data?.token ? Buffer.from(s.data.token, "base64").toString("utf8") : undefined;
    if (owner && value) fresh.set(owner, value);
  }
};
await refreshFresh();
const watcher = (async () => {
  while (consuming) {
    await refreshFresh().catch(() => undefined);
    await sleep(500);
  }
})();
// Mounted view: a copy per object, refreshed from the fresh view every mountRefreshMs (staggered), like kubelet.
const mounted = new Map<string, { value: string; at: number }>();
const started = performance.now();
names.forEach((name, i) => {
  mounted.set(name, { value: fresh.get(name) ?? "", at: started - (i / names.length) * mountRefreshMs });
});
const mountedValue = (name: string): string => {
  const entry = mounted.get(name) as { value: string; at: number };
  if (performance.now() - entry.at >= mountRefreshMs) {
    entry.value = fresh.get(name) ?? entry.value;
    entry.at = performance.now();
  }
  return entry.value;
};
const consumerStats = { fresh: { calls: 0, failures: 0 }, mounted: { calls: 0, failures: 0 } };
const failuresByStatus: Record<string, number> = {};
const seenTokens = new Set<string>();
const consumers = Array.from({ length: consumerCount }, async (_, worker) => {
  const kind = worker % 2 === 0 ? "fresh" : "mounted";
  let i = worker;
  while (consuming) {
    const index = i++ % names.length;
    const name = names[index] as string;
    const value = kind === "fresh" ? (fresh.get(name) ?? "") : mountedValue(name);
    seenTokens.add(value);
    const project = projectOf(index);
    let status = 0;
    try {
      const res = await fetch(`${sim.url}/rest/api/latest/projects/${project}/repos/api`, {
        headers: { authorization: `Bearer ${value}` },
      });
      await res.body?.cancel();
      status = res.status;
    } catch {
      status = 0;
    }
    consumerStats[kind].calls++;
    if (status !== 200) {
      consumerStats[kind].failures++;
      failuresByStatus[String(status)] = (failuresByStatus[String(status)] ?? 0) + 1;
    }
    await sleep(100);
  }
});

// ---- 2. rotation ------------------------------------------------------------------------------------------------
const latestRenewal = Math.max(...renewalTimes);
sim.clock.set(latestRenewal + 1_000);
const rotationStartSim = sim.clock.now();
progress(`clock at the latest renewal time + 1 s; rotating ${tokenCount} tokens`);
mark = sim.markRequests();
elapsed = stopwatch();
await pool(names, 16, poke);
const rotated = await until(
  "every token rotated",
  async () => {
    const items = await listTokens();
    return items.filter((t) => t.status?.revision === 2).length === tokenCount ? items : undefined;
  },
  20 * 60_000,
  250,
);
const rotationWall = elapsed();
const rotationEnd = sim.markRequests();
const rotationPhase = phase(operatorRequests(mark, rotationEnd), rotationWall);
const margins = rotated.map((t) => {
  const expiredAt = firstExpiry.get(t.metadata?.name ?? "") ?? 0;
  return expiredAt - Date.parse(t.status?.notBefore ?? "");
});
const allBeforeExpiry = margins.every((m) => m > 0);
const rotationSimSeconds =
  (Math.max(...rotated.map((t) => Date.parse(t.status?.notBefore ?? ""))) - rotationStartSim) / 1000;
progress(
  `rotated in ${round(rotationWall / 1000, 1)} s; min margin to the old token's expiry ${round(Math.min(...margins) / 60_000, 1)} min`,
);

// ---- 3. revocation after the grace period -----------------------------------------------------------------------
// Every consumer must hold a new token first: wait until the mounted copies have all refreshed once more.
await until(
  "every mounted copy refreshed past the rotation",
  () => [...mounted.keys()].every((n) => mountedValue(n) === fresh.get(n)),
  mountRefreshMs + 30_000,
  1_000,
);
sim.clock.advance(2 * hour + 60_000);
progress("clock past the 2h grace period; revoking the previous tokens");
mark = sim.markRequests();
elapsed = stopwatch();
await pool(names, 16, poke);
await until(
  "every previous token revoked",
  async () => (await listTokens()).every((t) => t.status?.revision === 2 && !t.status.previousToken),
  20 * 60_000,
  250,
);
const revocationWall = elapsed();
const revocationPhase = phase(operatorRequests(mark), revocationWall);
consuming = false;
await Promise.all(consumers);
await watcher;

const liveBaton = sim.tokens().filter((t) => t.name.startsWith(`baton/${ns}/`));
const ready = (await listTokens()).filter((t) =>
  t.status?.conditions?.some((c) => c.type === "Ready" && c.status === "True"),
);
const consumerCalls = consumerStats.fresh.calls + consumerStats.mounted.calls;
const consumerFailures = consumerStats.fresh.failures + consumerStats.mounted.failures;
const budgetOk = [issuePhase, rotationPhase, revocationPhase].every((p) => p.withinBudget);

const report = {
  setup: {
    tokens: tokenCount,
    projects: projectCount,
    bitbucketRequestsPerSecond: rps,
    lifetime: "720h",
    renewBefore: "1h",
    revocationGracePeriod: "2h",
    consumers: {
      workers: consumerCount,
      fresh: Math.ceil(consumerCount / 2),
      mounted: Math.floor(consumerCount / 2),
      mountRefreshSeconds: mountRefreshMs / 1000,
      pauseMs: 100,
    },
    operator: "in-process, as ServiceAccount baton-system/baton (config/rbac), domain clock = simulator clock",
    renewalTimesSpreadSeconds: round(renewalSpreadMs / 1000),
  },
  target:
    "200 tokens rotated in the same hour, all before expiry, 0 consumer authentication failures; within the 5 requests/s budget",
  results: {
    issue: issuePhase,
    rotation: {
      ...rotationPhase,
      simulatedSeconds: round(rotationSimSeconds, 1),
      allBeforeExpiry,
      minutesToExpiry: summarise(
        margins.map((m) => m / 60_000),
        1,
      ),
      bitbucketRequestsPerToken: round(rotationPhase.bitbucketRequests / tokenCount),
    },
    revocation: {
      ...revocationPhase,
      bitbucketRequestsPerToken: round(revocationPhase.bitbucketRequests / tokenCount),
    },
    consumers: {
      calls: consumerCalls,
      failures: consumerFailures,
      ...consumerStats,
      failuresByStatus,
      distinctTokensSeen: seenTokens.size,
    },
    end: { ready: ready.length, liveBatonTokens: liveBaton.length },
  },
  verdict: {
    rotatedInTheHour: rotationSimSeconds < 3600 && rotated.length === tokenCount,
    allBeforeExpiry,
    zeroConsumerFailures: consumerFailures === 0,
    withinBudget: budgetOk,
    oneLiveTokenPerObject: liveBaton.length === tokenCount,
  },
};
const file = await writeResults("rotation", report);

printTable(
  ["phase", "wall s", "Bitbucket requests", "per token", "peak req/s (1 s)", "peak req/s (10 s)", "errors"],
  [
    [
      "issue",
      issuePhase.wallSeconds,
      issuePhase.bitbucketRequests,
      round(issuePhase.bitbucketRequests / tokenCount),
      issuePhase.peakRequestsPerSecond1s,
      issuePhase.peakRequestsPerSecond10s,
      issuePhase.errors,
    ],
    [
      "rotation",
      rotationPhase.wallSeconds,
      rotationPhase.bitbucketRequests,
      round(rotationPhase.bitbucketRequests / tokenCount),
      rotationPhase.peakRequestsPerSecond1s,
      rotationPhase.peakRequestsPerSecond10s,
      rotationPhase.errors,
    ],
    [
      "revocation",
      revocationPhase.wallSeconds,
      revocationPhase.bitbucketRequests,
      round(revocationPhase.bitbucketRequests / tokenCount),
      revocationPhase.peakRequestsPerSecond1s,
      revocationPhase.peakRequestsPerSecond10s,
      revocationPhase.errors,
    ],
  ],
);
console.log("");
printTable(
  [
    "tokens",
    "rotated before expiry",
    "min time to expiry",
    "consumer calls",
    "consumer failures",
    "live Baton tokens at the end",
  ],
  [
    [
      tokenCount,
      `${margins.filter((m) => m > 0).length}/${tokenCount}`,
      `${round(Math.min(...margins) / 60_000, 1)} min`,
      consumerCalls,
      consumerFailures,
      liveBaton.length,
    ],
  ],
);
progress(`results in ${file}`);

await operator.stop();
await sim.close();
await cluster.stop();
