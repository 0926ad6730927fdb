// GitHub App mode at scale: REST calls per event, installation-token mints per hour and event → PipelineRun latency
// for 100 active repositories of one App, against the real API server and the GitHub simulator.
//
//   node bench/github.ts [--repositories 100] [--hours 3]
//
// The simulator (served as an Enterprise Server) holds the repositories under one organisation, each with one
// pipeline for pull requests and pushes to main; one App is installed on the organisation with statuses and
// checks: write, and its webhook delivers the simulator's own signed events (pull_request, push, issue_comment)
// through a timing relay to Baton's /hooks/github. The operator runs in-process as its ServiceAccount
// (config/rbac), with the simulator's "now" as its domain clock and a 1,000 requests/s GitHub budget (the default 5/s
// would make this a benchmark of the budget). Tekton is not running: runs stay as created.
//
// Each simulated hour every repository gets two events, one at a time, round-robin, and the simulator's clock moves
// on by an equal share of the hour after each (so Baton's own token ages as it would): hour 1 opens a pull request
// and pushes to main; later hours push to the pull request's branch (push + synchronize) and then either push to main
// or, for one repository in four, fail the pull request's run (Tekton's stand-in; the status reporter tells GitHub,
// counted as its own row) and comment /retest. Calls per event are what the request log holds between one
// action and the next once its deliveries are answered (git excluded; nothing else runs meanwhile but the operator's
// own background work, which is counted apart at start-up). Mints are read from the simulator's installation tokens:
// unnarrowed ones are Baton's own, those narrowed to one repository are per-run. Latency is the intake's answer to a
// delivery that created a run (the intake answers once the PipelineRun, its git Secret and the first status exist).
// Results: bench/results/github.json and a table on stdout.
import { createServer } from "node:http";
import type { AddressInfo } from "node:net";
import { performance } from "node:perf_hooks";
import { parseArgs } from "node:util";
import { TektonStandIn } from "../hack/lib/tekton-standin.ts";
import { createOperator } from "../src/operator.ts";
import { labels } from "../src/pipelines/build.ts";
import { PipelineRuns } from "../src/pipelines/tekton.ts";
import { appPermissionsUsed } from "../src/providers/github/app-tokens.ts";
import { Repositories } from "../src/repositories/resource.ts";
import { realClock } from "../src/runtime/clock.ts";
import { configSchema } from "../src/runtime/config.ts";
import { Secrets } from "../src/runtime/kube.ts";
import { createLogger } from "../src/runtime/logger.ts";
import { startGitHubSimulator } from "../src/simulator/github/index.ts";
import type { RequestLogEntry } from "../src/simulator/request-log.ts";
import {
  byGroup,
  pool,
  printTable,
  progress,
  pullRequestPipeline,
  round,
  simulatorClock,
  startBenchCluster,
  stopwatch,
  summarise,
  until,
  writeResults,
} from "./lib.ts";

const { values } = parseArgs({
  options: {
    repositories: { type: "string", default: "100" },
    hours: { type: "string", default: "3" },
  },
});
const repositoryCount = Number(values.repositories);
const hours = Number(values.hours);
const eventsPerRepositoryHour = 2;
const owner = "bench-org";
const slugOf = (i: number) => `r${String(i).padStart(3, "0")}`;
const pipeline = pullRequestPipeline.replace("[pull_request]", "[pull_request, push]");
const permissions = appPermissionsUsed;
const webhookSecret = "bench-hook-secret";

const cluster = await startBenchCluster();
const ns = await cluster.namespace("bench-github");
const kube = cluster.kube;
const sim = await startGitHubSimulator({ clock: { start: Math.floor(Date.now() / 1000) * 1000, frozen: true } });

// The relay between the simulator's deliveries and Baton's intake: times each answer (real milliseconds).
interface Answered {
  event: string;
  status: number;
  /** The intake's outcome (accepted, duplicate, ignored…). */
  outcome: string;
  ms: number;
  runs: number;
}
const answered: Answered[] = [];
let intakeUrl = "";
const relay = createServer((req, res) => {
  const chunks: Buffer[] = [];
  req.on("data", (c: Buffer) => chunks.push(c));
  req.on("end", async () => {
    const headers: Record<string, string> = {};
    for (const [name, value] of Object.entries(req.headers)) {
      if (typeof value === "string" && !["host", "content-length", "connection"].includes(name)) headers[name] = value;
    }
    const body = Buffer.concat(chunks);
    const started = performance.now();
    try {
      const answer = await fetch(intakeUrl, { method: "POST", headers, body });
      const text = await answer.text();
      const ms = performance.now() - started;
      let runs = 0;
      let outcome = "";
      try {
        const json = JSON.parse(text) as { outcome?: string; results?: { outcome?: string; runs?: unknown[] }[] };
        runs = (json.results ?? []).reduce((n, r) => n + (Array.isArray(r.runs) ? r.runs.length : 0), 0);
        outcome = [...new Set((json.results ?? []).map((r) => r.outcome ?? ""))].join(",") || (json.outcome ?? "");
      } catch {
        // Not JSON: counted as no run.
      }
      const action = JSON.parse(body.toString("utf8")) as { action?: string };
      const event = `${headers["x-github-event"]}${action.action ? `.${action.action}` : ""}`;
      answered.push({ event, status: answer.status, outcome, ms, runs });
      res.writeHead(answer.status, { "content-type": answer.headers.get("content-type") ?? "application/json" });
      res.end(text);
    } catch (err) {
      const failed = { status: 0, outcome: (err as Error).message, ms: performance.now() - started, runs: 0 };
      answered.push({ event: String(headers["x-github-event"]), ...failed });
      res.writeHead(502).end((err as Error).message);
    }
  });
});
await new Promise<void>((resolve) => relay.listen(0, "127.0.0.1", resolve));
const relayUrl = `http://127.0.0.1:${(relay.address() as AddressInfo).port}/hooks/github`;

sim.createAccount({ login: owner, type: "Organization" });
sim.createAccount({ login: "dev" });
const app = sim.createApp({
  name: "Baton Bench",
  owner,
  permissions,
  events: ["push", "pull_request", "issue_comment"],
  webhook: { url: relayUrl, secret: webhookSecret },
});
progress(`${repositoryCount} repositories`);
const slugs = Array.from({ length: repositoryCount }, (_, i) => slugOf(i));
await pool(slugs, 4, async (slug) => {
  await sim.createRepository({
    owner,
    name: slug,
    files: { ".tekton/build.yaml": pipeline, "README.md": `# ${slug}\n` },
  });
  sim.setCollaborator({ owner, repo: slug, login: "dev", role: "write" });
});
sim.install({ appId: app.id, account: owner, permissions });
for (const [name, data] of [
  ["app-key", { "private-key.pem": app.privateKey }],
  ["hook", { secret: webhookSecret }],
] as const) {
  await kube.create(Secrets, { apiVersion: "v1", kind: "Secret", metadata: { name, namespace: ns }, stringData: data });
}
await pool(slugs, 8, (slug) =>
  kube.create(Repositories, {
    apiVersion: "baton.dev/v1alpha1",
    kind: "Repository",
    metadata: { name: slug, namespace: ns },
    spec: {
      url: `${sim.url}/${owner}/${slug}`,
      provider: "github",
      githubApp: { appId: String(app.id), privateKeyRef: { name: "app-key" } },
      webhook: { managed: false, scope: "repository", secretRef: { name: "hook", key: "secret" } },
    },
  } as never),
);

const config = configSchema.parse({
  kubeconfig: cluster.operatorKubeconfigPath,
  watchNamespace: ns,
  podName: "baton-bench-github",
  allowedServers: sim.url,
  leaderElection: "false",
  metricsPort: "0",
  intakePort: "0",
  logLevel: "warn",
  githubRequestsPerSecond: "1000",
});
const startup = sim.markRequests();
const startupClock = stopwatch();
const operator = createOperator({
  config,
  healthServer: false,
  logger: createLogger({ level: "warn" }),
  domainClock: simulatorClock(sim, realClock),
});
await operator.start();
const port = await until("the intake to listen", () => operator.intake.port, 30_000, 20);
intakeUrl = `http://127.0.0.1:${port}/hooks/github`;
await until(
  "every Repository Ready",
  async () =>
    (await kube.list(Repositories, { namespace: ns })).items.filter((r) =>
      r.status?.conditions?.some((c) => c.type === "Ready" && c.status === "True"),
    ).length === repositoryCount,
  180_000,
  500,
);
await sim.settled();
const startupCalls = sim.requests({ since: startup }).filter((e) => e.group !== "git");
const startupSeconds = round(startupClock() / 1000, 1);
progress(`operator ready: ${startupCalls.length} calls in ${startupSeconds} s`);

const kinds = [
  "open pull request",
  "push to main",
  "push to the pull request's branch",
  "the pull request's run fails",
  "comment /retest",
] as const;
type Kind = (typeof kinds)[number];
const pullRequests = new Map<string, number>();
async function act(kind: Kind, slug: string, n: number): Promise<void> {
  switch (kind) {
    case "open pull request": {
      await sim.push({ owner, repo: slug, branch: "feature", files: { "f.txt": `${n}\n` }, startPoint: "main" });
      const pr = (await sim.openPullRequest({
        owner,
        repo: slug,
        head: "feature",
        title: `Change ${n} ✨`,
        as: "dev",
      })) as {
        number: number;
      };
      pullRequests.set(slug, pr.number);
      return;
    }
    case "push to main":
      await sim.push({ owner, repo: slug, branch: "main", files: { "m.txt": `${n}\n` }, as: "dev" });
      return;
    case "push to the pull request's branch":
      await sim.push({ owner, repo: slug, branch: "feature", files: { "f.txt": `${n}\n` }, as: "dev" });
      return;
    case "the pull request's run fails": {
      // Tekton is not running: its stand-in fails the head's newest run, and the status reporter tells GitHub.
      const { items } = await kube.list(PipelineRuns, {
        namespace: ns,
        labelSelector: `${labels.repository}=${slug},${labels.pullRequest}=${pullRequests.get(slug)}`,
      });
      const created = (r: (typeof items)[number]) => `${r.metadata?.creationTimestamp} ${r.metadata?.name}`;
      const newest = items.sort((a, b) => created(a).localeCompare(created(b))).at(-1);
      const sha = newest?.metadata?.labels?.[labels.sha] ?? "";
      await new TektonStandIn(kube).finish(ns, newest?.metadata?.name ?? "", "Failed");
      await until(
        `the failure of ${slug}'s run reported`,
        () =>
          (sim.statuses({ owner, repo: slug, sha }) as { state: string }[]).some((st) => st.state === "failure") &&
          (sim.checkRuns({ owner, repo: slug, sha }) as { status: string }[]).some((c) => c.status === "completed"),
        30_000,
        20,
      );
      return;
    }
    case "comment /retest":
      sim.comment({ owner, repo: slug, number: pullRequests.get(slug) ?? 0, body: "/retest", as: "dev" });
      return;
  }
}
/** A repository's events in one hour: its two events, a run failing before a /retest. */
function plan(hour: number, i: number): Kind[][] {
  if (hour === 0) return [["open pull request"], ["push to main"]];
  return [
    ["push to the pull request's branch"],
    i % 4 === 0 ? ["the pull request's run fails", "comment /retest"] : ["push to main"],
  ];
}

interface Step {
  hour: number;
  kind: Kind;
  calls: RequestLogEntry[];
  answers: Answered[];
}
const steps: Step[] = [];
const measured = sim.markRequests();
const measuredFrom = sim.clock.now();
const ownBefore = new Set(sim.installationTokens().map((t) => t.id));
const gap = 3_600_000 / (repositoryCount * eventsPerRepositoryHour);
const wall = stopwatch();
let n = 0;
for (let hour = 0; hour < hours; hour++) {
  progress(`simulated hour ${hour + 1} of ${hours}`);
  for (let k = 0; k < eventsPerRepositoryHour; k++) {
    for (const [i, slug] of slugs.entries()) {
      for (const kind of plan(hour, i)[k] ?? []) {
        const mark = sim.markRequests();
        const from = answered.length;
        await act(kind, slug, n++);
        await sim.settled();
        steps.push({
          hour,
          kind,
          calls: sim.requests({ since: mark }).filter((e) => e.group !== "git"),
          answers: answered.slice(from),
        });
      }
      // The next event a share of the hour later: this hour's events fall in [hour, hour + 1).
      sim.clock.advance(gap);
    }
  }
}
const wallSeconds = round(wall() / 1000, 1);
const events = steps.filter((s) => s.kind !== "the pull request's run fails");
const all = sim.requests({ since: measured }).filter((e) => e.group !== "git");
const route = (e: RequestLogEntry) => `${e.method} ${(e.route ?? e.path).replace(/^\/api\/v3/, "")}`;

const perKind = kinds.map((kind) => {
  const of = steps.filter((s) => s.kind === kind);
  const calls = of.flatMap((s) => s.calls);
  const by = byGroup(calls, route);
  return {
    event: kind,
    deliveries: [...new Set(of.flatMap((s) => s.answers.map((a) => `${a.event} (${a.outcome})`)))].sort().join(" + "),
    count: of.length,
    runs: of.reduce((sum, s) => sum + s.answers.reduce((r, a) => r + a.runs, 0), 0),
    callsPerEvent: round(calls.length / (of.length || 1)),
    perEventByRoute: Object.fromEntries(Object.entries(by).map(([k, v]) => [k, round(v / (of.length || 1))])),
  };
});

const tokens = sim.installationTokens().filter((t) => !ownBefore.has(t.id) && t.issuedAt >= measuredFrom);
const mintsPerHour = Array.from({ length: hours }, (_, hour) => {
  const inHour = tokens.filter((t) => Math.floor((t.issuedAt - measuredFrom) / 3_600_000) === hour);
  return {
    hour: hour + 1,
    own: inHour.filter((t) => t.repositories === null).length,
    perRun: inHour.filter((t) => t.repositories !== null).length,
    runs: steps.filter((s) => s.hour === hour).reduce((sum, s) => sum + s.answers.reduce((r, a) => r + a.runs, 0), 0),
  };
});
const created = answered.filter((a) => a.runs > 0).map((a) => a.ms);
const latency = summarise(created, 1);
const refused = all.filter((e) => e.status === 401 || e.status === 403).map((e) => `${route(e)} ${e.status}`);
const failedDeliveries = steps
  .flatMap((s) => s.answers)
  .filter((a) => a.status < 200 || a.status >= 300)
  .map((a) => `${a.event} ${a.status}`);
const runsInCluster = (await kube.list(PipelineRuns, { namespace: ns })).items.length;

printTable(
  ["event", "deliveries", "count", "runs", "GitHub calls per event"],
  perKind.map((k) => [k.event, k.deliveries, k.count, k.runs, k.callsPerEvent]),
);
console.log();
printTable(
  ["simulated hour", "Baton's own token mints", "per-run token mints", "runs created"],
  mintsPerHour.map((h) => [h.hour, h.own, h.perRun, h.runs]),
);
console.log();
console.log(
  `event → PipelineRun: p50 ${latency.p50} ms, p99 ${latency.p99} ms over ${latency.count} deliveries; ` +
    `refused calls ${refused.length}; failed deliveries ${failedDeliveries.length}; ` +
    `start-up ${startupCalls.length} calls (${startupSeconds} s); ${wallSeconds} s for ${hours} simulated hours`,
);

const file = await writeResults("github", {
  parameters: {
    repositories: repositoryCount,
    hours,
    eventsPerRepositoryHour,
    installations: 1,
    githubRequestsPerSecond: 1000,
  },
  startup: { calls: startupCalls.length, seconds: startupSeconds, byRoute: byGroup(startupCalls, route) },
  perEvent: perKind,
  mintsPerHour,
  latencyMs: latency,
  totals: {
    events: events.length,
    calls: all.length,
    // Everything Baton asked GitHub for, run failures reported included, per event delivered.
    callsPerEvent: round(all.length / events.length),
    runs: runsInCluster,
    refused,
    failedDeliveries,
    wallSeconds,
  },
});
progress(`results in ${file}`);

await operator.stop();
relay.close();
await sim.close();
await cluster.stop();
