import { Counter, collectDefaultMetrics, Gauge, Histogram, Registry } from "prom-client";

// One registry per manager (so two managers in one test process do not collide), with get-or-create helpers so
// every domain declares its series where it uses them: `metrics.counter({ name: "baton_token_renewals_total", ... })`.

const misnamedDefaults = [
  "nodejs_active_handles_total",
  "nodejs_active_requests_total",
  "nodejs_active_resources_total",
];

export interface MetricConfig<L extends string> {
  name: string;
  help: string;
  labelNames?: readonly L[];
}

export interface HistogramConfig<L extends string> extends MetricConfig<L> {
  buckets?: number[];
}

export class Metrics {
  readonly registry: Registry;

  constructor(options: { defaultMetrics?: boolean } = {}) {
    this.registry = new Registry();
    if (options.defaultMetrics ?? true) {
      collectDefaultMetrics({ register: this.registry });
      // Gauges named like counters fail `promtool check metrics`, and sum() over their per-type siblings
      // (nodejs_active_handles, …) gives the same number.
      for (const name of misnamedDefaults) this.registry.removeSingleMetric(name);
    }
  }

  counter<L extends string>(config: MetricConfig<L>): Counter<L> {
    return this.#getOrCreate(
      config,
      Counter,
      () => new Counter({ ...config, labelNames: config.labelNames ?? [], registers: [this.registry] }),
    );
  }

  gauge<L extends string>(config: MetricConfig<L>): Gauge<L> {
    return this.#getOrCreate(
      config,
      Gauge,
      () => new Gauge({ ...config, labelNames: config.labelNames ?? [], registers: [this.registry] }),
    );
  }

  histogram<L extends string>(config: HistogramConfig<L>): Histogram<L> {
    return this.#getOrCreate(
      config,
      Histogram,
      () => new Histogram({ ...config, labelNames: config.labelNames ?? [], registers: [this.registry] }),
    );
  }

  /** The exposition text served at /metrics. */
  async text(): Promise<string> {
    return this.registry.metrics();
  }

  get contentType(): string {
    return this.registry.contentType;
  }

  #getOrCreate<M, L extends string>(
    config: MetricConfig<L>,
    // biome-ignore lint/suspicious/noExplicitAny: prom-client's metric classes have differing constructor signatures
    kind: abstract new (...args: any[]) => M,
    create: () => M,
  ): M {
    const existing = this.registry.getSingleMetric(config.name);
    if (existing === undefined) return create();
    if (!(existing instanceof kind)) {
      throw new Error(`metric ${config.name} is already registered as another type; pick a different name`);
    }
    return existing as M;
  }
}

/** The `result` label of baton_reconcile_total. */
export const reconcileResults = ["success", "requeue_after", "requeue", "error"] as const;

const DURATION_BUCKETS = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60];

/** The series the runtime itself exports; created once per registry. */
export function runtimeMetrics(metrics: Metrics) {
  return {
    workqueueDepth: metrics.gauge({
      name: "baton_workqueue_depth",
      help: "Keys waiting in a controller's work queue (not counting delayed or in-flight ones).",
      labelNames: ["controller"],
    }),
    workqueueAdds: metrics.counter({
      name: "baton_workqueue_adds_total",
      help: "Keys added to a controller's work queue, after de-duplication.",
      labelNames: ["controller"],
    }),
    workqueueRetries: metrics.counter({
      name: "baton_workqueue_retries_total",
      help: "Keys requeued with back-off after a failed reconcile.",
      labelNames: ["controller"],
    }),
    workqueueWait: metrics.histogram({
      name: "baton_workqueue_queue_duration_seconds",
      help: "Time a key waits in the queue before a worker picks it up.",
      labelNames: ["controller"],
      buckets: DURATION_BUCKETS,
    }),
    reconcileTotal: metrics.counter({
      name: "baton_reconcile_total",
      help: "Reconciles by outcome: success, requeue_after, requeue, error.",
      labelNames: ["controller", "result"],
    }),
    reconcileDuration: metrics.histogram({
      name: "baton_reconcile_duration_seconds",
      help: "Time spent in one reconcile.",
      labelNames: ["controller"],
      buckets: DURATION_BUCKETS,
    }),
    activeWorkers: metrics.gauge({
      name: "baton_controller_active_workers",
      help: "Workers currently running a reconcile.",
      labelNames: ["controller"],
    }),
    informerRelists: metrics.counter({
      name: "baton_informer_relists_total",
      help: "Full lists an informer made after its start (410 Gone or errors), which rebuild its cache.",
      labelNames: ["resource"],
    }),
    informerWatchRestarts: metrics.counter({
      name: "baton_informer_watch_restarts_total",
      help: "Watches an informer opened again, by why the previous one ended (closed, expired, watchdog, error).",
      labelNames: ["resource", "reason"],
    }),
    informerObjects: metrics.gauge({
      name: "baton_informer_cached_objects",
      help: "Objects held in an informer's cache.",
      labelNames: ["resource"],
    }),
    leader: metrics.gauge({
      name: "baton_leader_election_is_leader",
      help: "1 while this replica holds the leader lease.",
      labelNames: ["lease"],
    }),
  };
}

export type RuntimeMetrics = ReturnType<typeof runtimeMetrics>;
