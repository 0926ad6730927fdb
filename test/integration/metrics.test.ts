// What Prometheus and Grafana see: /metrics exposes every series the dashboards and alerts use, passes promtool's
// lint, shows 0 (not "No data") where a healthy operator has had no failure, times deliveries for real, the
// dashboard is up to date, and the alert rules pass Prometheus's own rule parser.
import assert from "node:assert/strict";
import { readFile } from "node:fs/promises";
import { join } from "node:path";
import { test } from "node:test";
import { parse } from "yaml";
import { dashboard, dashboardQueries } from "../../hack/lib/dashboard.ts";
import { endpointGroups } from "../../src/providers/bitbucket-datacenter/index.ts";
import { createNamespace } from "../support/cluster.ts";
import { sampleSum } from "../support/exposition.ts";
import { startOperator } from "../support/operator.ts";
import { listRuns, openFeaturePullRequest, pipelinesWorld } from "../support/pipelines-world.ts";
import { promtool } from "../support/promtool.ts";

const root = join(import.meta.dirname, "../..");

/** The series every issue names, and Node's default process metrics. */
const required = [
  "baton_token_expiration_timestamp_seconds",
  "baton_token_renewal_timestamp_seconds",
  "baton_token_ready_status",
  "baton_token_rotations_total",
  "baton_webhook_sync_total",
  "baton_bitbucket_requests_total",
  "baton_bitbucket_request_duration_seconds",
  "baton_bitbucket_rate_limited_total",
  "baton_catchup_events_total",
  "baton_webhook_events_total",
  "baton_event_to_pipelinerun_seconds",
  "baton_pipelineruns_created_total",
  "baton_pipelinerun_duration_seconds",
  "baton_reconcile_total",
  "baton_reconcile_duration_seconds",
  "baton_workqueue_depth",
  "process_resident_memory_bytes",
  "nodejs_heap_size_used_bytes",
];

/** Metric names used by a PromQL expression (histogram suffixes folded onto their family). */
function seriesIn(expr: string): string[] {
  return [...expr.matchAll(/\b(baton_[a-z_]+)/g)].map((m) => (m[1] ?? "").replace(/_(bucket|count|sum)$/, ""));
}

/** A scrape of /metrics of an operator just started in a namespace of its own. */
async function freshScrape(t: Parameters<typeof createNamespace>[0]): Promise<string> {
  const ns = await createNamespace(t);
  const operator = await startOperator(t, ns, { healthServer: true, config: { metricsBindAddress: "127.0.0.1" } });
  const res = await fetch(`http://127.0.0.1:${operator.manager.healthPort}/metrics`);
  assert.equal(res.status, 200);
  assert.match(res.headers.get("content-type") ?? "", /text\/plain/);
  return res.text();
}

async function assertPromtoolAccepts(scrape: string): Promise<void> {
  const result = await promtool(["check", "metrics"], { input: scrape });
  assert.equal(result.code, 0, `promtool check metrics refuses the scrape:\n${result.stdout}${result.stderr}`);
}

test("/metrics exposes every named series, and the dashboard and alerts use only those", async (t) => {
  const text = await freshScrape(t);
  const names = new Set([...text.matchAll(/^# HELP (\S+)/gm)].map((m) => m[1] ?? ""));
  const missing = required.filter((n) => !names.has(n));
  assert.deepEqual(missing, [], "series missing from /metrics");

  for (const expr of dashboardQueries()) {
    for (const series of seriesIn(expr))
      assert.ok(names.has(series), `dashboard query uses ${series}, which Baton does not export: ${expr}`);
  }
  const rule = parse(await readFile(join(root, "config/monitoring/prometheusrule.yaml"), "utf8")) as {
    spec: { groups: { rules: { alert: string; expr: string }[] }[] };
  };
  for (const r of rule.spec.groups.flatMap((g) => g.rules)) {
    for (const series of seriesIn(r.expr))
      assert.ok(names.has(series), `alert ${r.alert} uses ${series}, which Baton does not export`);
  }
});

test("the committed Grafana dashboard is the generated one (run npm run generate)", async () => {
  const committed = JSON.parse(await readFile(join(root, "config/monitoring/baton-dashboard.json"), "utf8"));
  assert.deepEqual(committed, dashboard());
});

test("a real scrape of a running operator passes promtool check metrics", async (t) => {
  await assertPromtoolAccepts(await freshScrape(t));
});

test("a fresh operator shows 0 on the Reconcile errors and 429 panels, not No data", async (t) => {
  const text = await freshScrape(t);
  for (const controller of ["bitbucketprojecttoken", "repository", "pipelinerun-queue", "buildstatus"]) {
    assert.equal(
      sampleSum(text, "baton_reconcile_total", { controller, result: "error" }),
      0,
      `baton_reconcile_total{controller="${controller}",result="error"}`,
    );
  }
  for (const group of endpointGroups) {
    assert.equal(
      sampleSum(text, "baton_bitbucket_rate_limited_total", { group }),
      0,
      `baton_bitbucket_rate_limited_total{group="${group}"}`,
    );
  }
});

test("deliveries are timed from their arrival: webhook duration and event → PipelineRun", async (t) => {
  const w = await pipelinesWorld(t);
  // The wall time around the deliveries bounds what the intake may have measured for them.
  const started = performance.now();
  await openFeaturePullRequest(w);
  const wall = (performance.now() - started) / 1000;
  assert.equal((await listRuns(w)).length, 1);
  const deliveries = w.sim.deliveries();
  assert.ok(deliveries.length >= 2, `the simulator delivered ${deliveries.length} events`);
  assert.ok(
    deliveries.every((d) => d.status === 200),
    JSON.stringify(deliveries.map((d) => d.status)),
  );

  const text = await w.op.manager.metrics.text();
  assert.equal(sampleSum(text, "baton_webhook_duration_seconds_count"), deliveries.length);
  const answered = sampleSum(text, "baton_webhook_duration_seconds_sum") ?? 0;
  assert.ok(answered > 0 && answered <= wall, `webhook duration sum ${answered}s, wall time ${wall}s`);

  assert.equal(sampleSum(text, "baton_event_to_pipelinerun_seconds_count", { event: "pull_request" }), 1);
  const toRun = sampleSum(text, "baton_event_to_pipelinerun_seconds_sum", { event: "pull_request" }) ?? 0;
  // The run exists before the delivery is answered.
  const accepted = sampleSum(text, "baton_webhook_duration_seconds_sum", { outcome: "accepted" }) ?? 0;
  assert.ok(
    toRun > 0 && toRun <= accepted,
    `event → PipelineRun ${toRun}s, accepted delivery answered in ${accepted}s`,
  );
  assert.ok(toRun <= wall, `event → PipelineRun ${toRun}s, wall time ${wall}s`);
  // Histograms and Bitbucket call series exist now too: promtool's lint covers them as well.
  await assertPromtoolAccepts(text);
});
