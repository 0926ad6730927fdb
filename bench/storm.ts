// An event storm: thousands of pull-request events over many Repositories, as fast as the intake takes them,
// against the real API server and the simulator. Nothing may be lost or run twice.
//
//   node bench/storm.ts [--repositories 50] [--prs 40] [--concurrency 50] [--redeliver 0.1]
//
// Each event is a signed `pr:opened` for its own commit on its own branch, POSTed straight to Baton's intake by this
// script (as bench/events.ts does) rather than sent by the simulator: the simulator delivers one event at a time per
// webhook and opening a pull request there costs ~0.2 s of git work, so it would pace the storm instead of Baton.
// The simulator still answers every Bitbucket call Baton makes (`.tekton` listing and file at the commit, build
// status), so the commits are real: they are written into each repository with `git fast-import` beforehand.
// The intake answers 2xx only once the PipelineRun exists, so an answer's arrival is "event → PipelineRun".
// A sample of the deliveries is sent a second time with the same X-Request-Id (a "Resend"), a little later in the
// same storm, sometimes while the first is still being handled; each must be answered as a duplicate.
// At the end the PipelineRuns are counted from the API server per (repository, pull request, head commit,
// pipeline): lost = an expected key with no run, duplicate = a key with more than one.
// The operator runs in-process as its ServiceAccount (config/rbac), with a 1,000 requests/s Bitbucket budget (the
// default 5/s would make this a benchmark of the budget). Tekton is not running: the runs stay as created.
// Results: bench/results/storm.json and a table on stdout.
import { execFile } from "node:child_process";
import { randomBytes } from "node:crypto";
import { loadavg } from "node:os";
import { performance } from "node:perf_hooks";
import { parseArgs } from "node:util";
import type { Repository } from "../src/api/repository.ts";
import { createOperator } from "../src/operator.ts";
import { labels } from "../src/pipelines/build.ts";
import { PipelineRuns } from "../src/pipelines/tekton.ts";
import { Repositories } from "../src/repositories/resource.ts";
import { configSchema } from "../src/runtime/config.ts";
import { Secrets } from "../src/runtime/kube.ts";
import { createLogger } from "../src/runtime/logger.ts";
import { startSimulator } from "../src/simulator/index.ts";
import {
  byGroup,
  type DeliveryAnswer,
  deliverSigned,
  pool,
  printTable,
  progress,
  pullRequestOpenedBody,
  pullRequestPipeline,
  round,
  startBenchCluster,
  stopwatch,
  summarise,
  until,
  writeResults,
} from "./lib.ts";

const { values } = parseArgs({
  options: {
    repositories: { type: "string", default: "50" },
    prs: { type: "string", default: "40" },
    concurrency: { type: "string", default: "50" },
    redeliver: { type: "string", default: "0.1" },
  },
});
const repositoryCount = Number(values.repositories);
const prsPerRepository = Number(values.prs);
const concurrency = Number(values.concurrency);
const redeliverShare = Number(values.redeliver);
/** How many deliveries later in the queue a re-delivery is sent: close enough to overlap its original sometimes. */
const redeliveryLag = concurrency * 2;

const project = "STORM";
const slugOf = (i: number) => `r${String(i).padStart(2, "0")}`;

function git(gitDir: string, args: string[], input?: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = execFile("git", ["--git-dir", gitDir, ...args], { maxBuffer: 64 * 1024 * 1024 }, (err, stdout) =>
      err ? reject(err) : resolve(stdout),
    );
    if (input !== undefined) child.stdin?.end(input);
  });
}

/** One commit per branch `pr-<n>` on top of main, each adding its own file; returns branch → commit. */
async function writeBranches(gitDir: string, main: string, count: number): Promise<Map<string, string>> {
  const data = (text: string) => `data ${Buffer.byteLength(text)}\n${text}\n`;
  let stream = "";
  for (let n = 1; n <= count; n++) {
    stream +=
      `commit refs/heads/pr-${n}\n` +
      "committer Bench <bench@example.com> 1767225600 +0000\n" +
      data(`change ${n}`) +
      `from ${main}\n` +
      `M 100644 inline change-${n}.txt\n` +
      data(`${n}`);
  }
  await git(gitDir, ["fast-import", "--quiet"], stream);
  const refs = await git(gitDir, ["for-each-ref", "--format=%(refname:short) %(objectname)", "refs/heads/pr-*"]);
  return new Map(
    refs
      .trim()
      .split("\n")
      .map((line) => line.split(" ") as [string, string]),
  );
}

interface Delivery {
  repository: string;
  pullRequest: number;
  sha: string;
  body: string;
  secret: string;
  requestId: string;
}

const cluster = await startBenchCluster();
const ns = await cluster.namespace("bench-storm");
const kube = cluster.kube;
const sim = await startSimulator();
sim.createUser({ name: "admin", password: "bench-admin-password", admin: true });
sim.createUser({ name: "dev", password: "bench-dev-password" });
sim.createProject({ key: project });
sim.grant({ permission: "PROJECT_WRITE", user: "dev", project });
const token = sim.createToken({ scope: { kind: "project", project }, name: "baton", permissions: ["REPO_READ"] });
await kube.create(Secrets, {
  apiVersion: "v1",
  kind: "Secret",
  metadata: { name: "bb-token", namespace: ns },
  stringData: { token: token.token },
});

progress(`${repositoryCount} repositories with ${prsPerRepository} branches each`);
const deliveries: Delivery[][] = [];
await pool(
  Array.from({ length: repositoryCount }, (_, i) => i),
  2,
  async (i) => {
    const slug = slugOf(i);
    const view = await sim.createRepository({
      project,
      slug,
      files: { "README.md": `# ${slug}\n`, ".tekton/build.yaml": pullRequestPipeline },
    });
    const main = (await sim.resolve({ project, repo: slug, rev: "refs/heads/main" })) ?? "";
    const branches = await writeBranches(view.gitDir, main, prsPerRepository);
    const secret = randomBytes(20).toString("hex");
    await kube.create(Secrets, {
      apiVersion: "v1",
      kind: "Secret",
      metadata: { name: `hook-${slug}`, namespace: ns },
      stringData: { secret },
    });
    await kube.create(Repositories, {
      apiVersion: "baton.dev/v1alpha1",
      kind: "Repository",
      metadata: { name: slug, namespace: ns },
      spec: {
        url: `${sim.url}/projects/${project}/repos/${slug}`,
        secretRef: { name: "bb-token", key: "token" },
        webhook: { managed: false, scope: "repository", secretRef: { name: `hook-${slug}`, key: "secret" } },
        // No concurrencyLimit: Tekton is not running, so a limit would only park runs as Pending.
        pipelines: { path: ".tekton", cloneWithOperatorToken: true },
      },
    } as unknown as Repository);
    deliveries[i] = Array.from({ length: prsPerRepository }, (_, j) => {
      const id = j + 1;
      const sha = branches.get(`pr-${id}`) ?? "";
      if (!/^[0-9a-f]{40}$/.test(sha)) throw new Error(`branch pr-${id} of ${slug} was not written`);
      return {
        repository: slug,
        pullRequest: id,
        sha,
        body: pullRequestOpenedBody({
          project,
          slug,
          repositoryId: view.id,
          id,
          branch: `pr-${id}`,
          sha,
          targetSha: main,
        }),
        secret,
        requestId: randomBytes(16).toString("hex"),
      };
    });
  },
);

const config = configSchema.parse({
  kubeconfig: cluster.operatorKubeconfigPath,
  watchNamespace: ns,
  podName: "baton-bench-storm",
  allowedServers: sim.url,
  leaderElection: "false",
  metricsPort: "0",
  intakePort: "0",
  logLevel: "warn",
  bitbucketRequestsPerSecond: "1000",
});
const operator = createOperator({ config, healthServer: false, logger: createLogger({ level: "warn" }) });
await operator.start();
const port = await until("the intake to listen", () => operator.intake.port, 30_000, 20);
const intakeUrl = `http://127.0.0.1:${port}/hooks/bitbucket`;

// Every Repository ready, and catch-up's start-up pass (one pull-request listing each) over, so neither is counted.
await until(
  "every Repository Ready",
  async () =>
    (await kube.list(Repositories, { namespace: ns })).items.filter((r) =>
      r.status?.conditions?.some((c) => c.type === "Ready" && c.status === "True"),
    ).length === repositoryCount,
  120_000,
  500,
);
await until(
  "catch-up's start-up pass",
  () => sim.requestCount({ group: "pull-requests" }) >= repositoryCount,
  120_000,
  250,
).catch(() => progress("catch-up's start-up pass not seen; its calls may be counted"));

// Round-robin over the repositories, so the storm hits all of them at once; re-deliveries interleaved.
const originals = Array.from({ length: prsPerRepository }, (_, j) =>
  deliveries.map((perRepo) => perRepo[j] as Delivery),
).flat();
const every = redeliverShare > 0 ? Math.max(1, Math.round(1 / redeliverShare)) : Number.POSITIVE_INFINITY;
const queue: { delivery: Delivery; resend: boolean }[] = originals.map((delivery) => ({ delivery, resend: false }));
const resends = originals.filter((_, i) => i % every === every - 1);
for (const [k, delivery] of resends.entries()) {
  const at = Math.min(queue.length, originals.indexOf(delivery) + redeliveryLag + k);
  queue.splice(at, 0, { delivery, resend: true });
}

progress(`storm: ${originals.length} events + ${resends.length} re-deliveries, ${concurrency} in flight`);
const mark = sim.markRequests();
const cpuBefore = process.cpuUsage();
const loadBefore = loadavg();
const wall = stopwatch();
let answered = 0;
const answers: (DeliveryAnswer & { resend: boolean; requestId: string; answeredAt: number })[] = await pool(
  queue,
  concurrency,
  async ({ delivery, resend }) => {
    const answer = await deliverSigned(intakeUrl, { eventKey: "pr:opened", ...delivery });
    if (++answered % Math.ceil(queue.length / 10) === 0) progress(`${answered}/${queue.length} answered`);
    return { ...answer, resend, requestId: delivery.requestId, answeredAt: performance.now() };
  },
);
const wallMs = wall();
const cpu = process.cpuUsage(cpuBefore);
const calls = sim.requests({ since: mark });

progress("counting PipelineRuns");
const { items: runs } = await kube.listAll(PipelineRuns, {
  namespace: ns,
  labelSelector: `${labels.managedBy}=baton`,
});
const runsByKey = new Map<string, number>();
for (const run of runs) {
  const l = run.metadata?.labels ?? {};
  const key = `${l[labels.repository]}|${l[labels.pullRequest]}|${l[labels.sha]}|${l[labels.pipeline]}`;
  runsByKey.set(key, (runsByKey.get(key) ?? 0) + 1);
}
const expected = originals.map((d) => `${d.repository}|${d.pullRequest}|${d.sha}|build`);
const expectedSet = new Set(expected);
const lost = expected.filter((k) => !runsByKey.has(k));
const duplicated = [...runsByKey].filter(([, n]) => n > 1).map(([k]) => k);
const unexpected = [...runsByKey.keys()].filter((k) => !expectedSet.has(k));

const first = answers.filter((a) => !a.resend);
const again = answers.filter((a) => a.resend);
const answeredAt = new Map(first.map((a) => [a.requestId, a.answeredAt]));
const outcomes = (list: typeof answers) => {
  const out: Record<string, number> = {};
  for (const a of list) out[`${a.status} ${a.outcome}`] = (out[`${a.status} ${a.outcome}`] ?? 0) + 1;
  return out;
};
const report = {
  setup:
    `${repositoryCount} Repositories (one project, repository-scope webhook secrets, no concurrencyLimit), ` +
    `${prsPerRepository} pull requests each, one matching pipeline; every event a new commit on a new branch ` +
    `(cold: .tekton listing at the commit, file by blob id, build status); ${concurrency} deliveries in flight; ` +
    `operator in-process as its ServiceAccount, bitbucketRequestsPerSecond 1000, Tekton not running`,
  delivery:
    "direct: the benchmark signs each pr:opened with the Repository's webhook secret and POSTs it to the intake, so " +
    "the figures are Baton's; the simulator answers Baton's REST calls and serves real commits",
  target: "0 lost, 0 duplicated runs under re-deliveries (DESIGN §6); ≤ 3 Bitbucket calls per pull-request event",
  events: originals.length,
  redeliveries: resends.length,
  concurrency,
  wallSeconds: round(wallMs / 1000, 1),
  eventsPerSecond: round(originals.length / (wallMs / 1000), 1),
  eventToPipelineRunMs: summarise(first.map((a) => a.elapsedMs)),
  redeliveryAnswerMs: summarise(again.map((a) => a.elapsedMs)),
  answers: { events: outcomes(first), redeliveries: outcomes(again) },
  // The intake answers a re-delivery as a duplicate at once, even while the first delivery is still creating its
  // run: had that first attempt then failed, Bitbucket would show the re-delivery as a success for a run that never
  // came (catch-up would still start it for a pull request's current head).
  redeliveriesAnsweredBeforeTheirOriginal: again.filter(
    (a) => a.answeredAt < (answeredAt.get(a.requestId) ?? Number.POSITIVE_INFINITY),
  ).length,
  bitbucketCallsPerEvent: round(calls.length / originals.length),
  bitbucketCallsByGroup: byGroup(calls),
  // The bench, the simulator (and its git processes' parents) and the operator share this process.
  // Other work on the machine shows here: the 1-minute load average before and after the storm.
  loadAverage: { before: round(loadBefore[0] ?? 0), after: round(loadavg()[0] ?? 0) },
  processCpuSecondsPerEvent: round((cpu.user + cpu.system) / 1e6 / originals.length, 4),
  pipelineRuns: {
    total: runs.length,
    expectedKeys: expected.length,
    lost: lost.length,
    duplicated: duplicated.length,
    unexpected: unexpected.length,
    ...(lost.length + duplicated.length + unexpected.length > 0
      ? { examples: { lost: lost.slice(0, 5), duplicated: duplicated.slice(0, 5), unexpected: unexpected.slice(0, 5) } }
      : {}),
  },
};
const file = await writeResults("storm", report);

const l = report.eventToPipelineRunMs;
printTable(
  [
    "events",
    "re-deliveries",
    "in flight",
    "events/s",
    "p50 ms",
    "p90 ms",
    "p99 ms",
    "Bitbucket calls / event",
    "runs",
    "lost",
    "duplicated",
    "re-deliveries answered duplicate",
  ],
  [
    [
      report.events,
      report.redeliveries,
      concurrency,
      report.eventsPerSecond,
      l.p50,
      l.p90,
      l.p99,
      report.bitbucketCallsPerEvent,
      runs.length,
      lost.length,
      duplicated.length,
      again.filter((a) => a.status === 200 && a.outcome === "duplicate").length,
    ],
  ],
);
progress(`results in ${file}`);

await operator.stop();
await sim.close();
await cluster.stop();
const failed = lost.length + duplicated.length + unexpected.length;
if (failed > 0) {
  progress(`FAILED: ${lost.length} lost, ${duplicated.length} duplicated, ${unexpected.length} unexpected`);
  process.exitCode = 1;
}
