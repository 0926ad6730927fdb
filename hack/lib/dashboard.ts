// The Grafana dashboard in config/monitoring/baton-dashboard.json, described here so its queries can be checked
// against the series Baton really exports (test/integration/metrics.test.ts). `node hack/dashboard.ts` writes it.

interface Panel {
  title: string;
  type: "timeseries" | "table" | "stat";
  description: string;
  targets: { expr: string; legend?: string; instant?: boolean }[];
  unit?: string;
  width?: number;
  height?: number;
}

const rows: { title: string; panels: Panel[] }[] = [
  {
    title: "Tokens",
    panels: [
      {
        title: "Token expiry",
        type: "table",
        width: 16,
        description: "Every BitbucketProjectToken: time left until it expires and until Baton renews it (or warns).",
        unit: "s",
        targets: [
          { expr: "baton_token_expiration_timestamp_seconds - time()", legend: "expires in", instant: true },
          { expr: "baton_token_renewal_timestamp_seconds - time()", legend: "renews in", instant: true },
        ],
      },
      {
        title: "Tokens not Ready",
        type: "stat",
        width: 8,
        description: "BitbucketProjectTokens whose Ready condition is False.",
        targets: [{ expr: 'sum(baton_token_ready_status{condition="False"}) or vector(0)' }],
      },
      {
        title: "Rotations",
        type: "timeseries",
        width: 24,
        description: "Token issues and renewals per hour, by result.",
        targets: [{ expr: "sum by (result) (increase(baton_token_rotations_total[1h]))", legend: "{{result}}" }],
      },
    ],
  },
  {
    title: "Webhooks and events",
    panels: [
      {
        title: "Webhook sync",
        type: "timeseries",
        description: "Webhook checks and repairs per second, by result.",
        targets: [{ expr: "sum by (result) (rate(baton_webhook_sync_total[5m]))", legend: "{{result}}" }],
      },
      {
        title: "Deliveries",
        type: "timeseries",
        description: "Webhook deliveries per second, by event and outcome.",
        targets: [
          { expr: "sum by (event, outcome) (rate(baton_webhook_events_total[5m]))", legend: "{{event}} {{outcome}}" },
        ],
      },
      {
        title: "Event → PipelineRun latency",
        type: "timeseries",
        unit: "s",
        description: "Time from a delivery's arrival to its PipelineRuns existing.",
        targets: [
          {
            expr: "histogram_quantile(0.5, sum by (le) (rate(baton_event_to_pipelinerun_seconds_bucket[5m])))",
            legend: "p50",
          },
          {
            expr: "histogram_quantile(0.99, sum by (le) (rate(baton_event_to_pipelinerun_seconds_bucket[5m])))",
            legend: "p99",
          },
        ],
      },
      {
        title: "Caught-up events",
        type: "timeseries",
        description: "Pull requests whose delivery was lost, given a run by catch-up.",
        targets: [
          {
            expr: 'sum(increase(baton_catchup_events_total{result="dispatched"}[1h]))',
            legend: "runs started per hour",
          },
        ],
      },
    ],
  },
  {
    title: "Bitbucket",
    panels: [
      {
        title: "Bitbucket calls",
        type: "timeseries",
        description: "REST calls per second by endpoint group and status code.",
        targets: [
          { expr: "sum by (group, code) (rate(baton_bitbucket_requests_total[5m]))", legend: "{{group}} {{code}}" },
        ],
      },
      {
        title: "429 Too Many Requests",
        type: "timeseries",
        description: "Bitbucket's rate limiter answering Baton.",
        targets: [{ expr: "sum by (group) (rate(baton_bitbucket_rate_limited_total[5m]))", legend: "{{group}}" }],
      },
      {
        title: "Bitbucket call latency p99",
        type: "timeseries",
        unit: "s",
        description: "",
        targets: [
          {
            expr: "histogram_quantile(0.99, sum by (le, group) (rate(baton_bitbucket_request_duration_seconds_bucket[5m])))",
            legend: "{{group}}",
          },
        ],
      },
    ],
  },
  {
    title: "Runs and the operator",
    panels: [
      {
        title: "Run results",
        type: "timeseries",
        description: "Finished PipelineRuns per hour, by result.",
        targets: [
          { expr: "sum by (result) (increase(baton_pipelinerun_duration_seconds_count[1h]))", legend: "{{result}}" },
        ],
      },
      {
        title: "Runs created",
        type: "timeseries",
        description: "PipelineRuns Baton created per hour.",
        targets: [{ expr: "sum(increase(baton_pipelineruns_created_total[1h]))", legend: "created" }],
      },
      {
        title: "Reconcile errors",
        type: "timeseries",
        description: "Failed reconciles per second, by controller.",
        targets: [
          { expr: 'sum by (controller) (rate(baton_reconcile_total{result="error"}[5m]))', legend: "{{controller}}" },
        ],
      },
      {
        title: "Work queue depth",
        type: "timeseries",
        description: "Keys waiting per controller.",
        targets: [{ expr: "sum by (controller) (baton_workqueue_depth)", legend: "{{controller}}" }],
      },
    ],
  },
];

export function dashboard(): Record<string, unknown> {
  const panels: Record<string, unknown>[] = [];
  let y = 0;
  let id = 1;
  for (const row of rows) {
    panels.push({ id: id++, type: "row", title: row.title, collapsed: false, gridPos: { h: 1, w: 24, x: 0, y } });
    y += 1;
    let x = 0;
    for (const panel of row.panels) {
      const w = panel.width ?? 24 / row.panels.length;
      const h = panel.height ?? 8;
      if (x + w > 24) {
        x = 0;
        y += h;
      }
      panels.push({
        id: id++,
        type: panel.type,
        title: panel.title,
        description: panel.description,
        // biome-ignore lint/suspicious/noTemplateCurlyInString: Grafana's own variable syntax, resolved by Grafana
        datasource: { type: "prometheus", uid: "${datasource}" },
        gridPos: { h, w, x, y },
        fieldConfig: { defaults: { unit: panel.unit ?? "short" }, overrides: [] },
        options: panel.type === "table" ? { showHeader: true } : {},
        ...(panel.type === "table" ? { transformations: [{ id: "merge", options: {} }] } : {}),
        targets: panel.targets.map((t, i) => ({
          refId: String.fromCharCode(65 + i),
          expr: t.expr,
          legendFormat: t.legend ?? "",
          ...(t.instant ? { instant: true, format: "table" } : {}),
        })),
      });
      x += w;
    }
    y += 8;
  }
  return {
    title: "Baton",
    uid: "baton-overview",
    description: "Bitbucket tokens, webhooks, events, PipelineRuns and Bitbucket calls of the Baton operator.",
    tags: ["baton", "bitbucket", "tekton"],
    schemaVersion: 39,
    time: { from: "now-24h", to: "now" },
    refresh: "1m",
    templating: {
      list: [{ name: "datasource", type: "datasource", query: "prometheus", label: "Data source" }],
    },
    panels,
  };
}

/** Every PromQL expression on the dashboard. */
export function dashboardQueries(): string[] {
  return rows.flatMap((r) => r.panels.flatMap((p) => p.targets.map((t) => t.expr)));
}
