import type { KubeConfig } from "@kubernetes/client-node";
import { type Clock, realClock } from "./clock.ts";
import type { Config } from "./config.ts";
import { Controller, type ControllerOptions } from "./controller.ts";
import { EventRecorder } from "./events.ts";
import { HealthServer } from "./health.ts";
import { Informer, type InformerOptions, resourceName } from "./informer.ts";
import { KubeClient, type KubeClientOptions, type KubeObject, loadKubeConfig, type Resource } from "./kube.ts";
import { LeaderElector, leaderIdentity, type StoppedReason } from "./leader.ts";
import { createLogger, type Logger } from "./logger.ts";
import { Metrics, type RuntimeMetrics, runtimeMetrics } from "./metrics.ts";

// Wires the runtime together for one process: kube access, shared informers, controllers that run only in the
// leader, runnables, the health/metrics server, and a graceful shutdown. Domain modules only call
// addController/addRunnable/informer; they never start or stop anything themselves.

/** Something with its own lifetime: a webhook intake server, a periodic job. */
export interface Runnable {
  name: string;
  /** True (the default) to run only while this replica leads; false to run in every replica. */
  needLeaderElection?: boolean;
  /** Runs until `signal` aborts, then cleans up and resolves. Rejecting early stops the manager. */
  start(signal: AbortSignal): Promise<void> | void;
}

export type ManagedControllerOptions = Omit<ControllerOptions, "clock" | "logger" | "metrics">;

export interface ManagerOptions {
  config: Config;
  /** Defaults to loading `config.kubeconfig` (or the in-cluster service account). */
  kubeConfig?: KubeConfig;
  kubeClientOptions?: KubeClientOptions;
  logger?: Logger;
  clock?: Clock;
  metrics?: Metrics;
  /** Serve /healthz, /readyz and /metrics on config.metricsPort (default true). */
  healthServer?: boolean;
}

interface RunningRunnable {
  abort: AbortController;
  done: Promise<void>;
}

export class Manager {
  readonly config: Config;
  readonly kube: KubeClient;
  readonly logger: Logger;
  readonly clock: Clock;
  readonly metrics: Metrics;
  readonly runtimeMetrics: RuntimeMetrics;
  readonly events: EventRecorder;
  readonly health: HealthServer;
  /** This replica's leader-election identity (pod name + random suffix). */
  readonly identity: string;

  readonly #serveHealth: boolean;
  readonly #informers = new Map<string, Informer<KubeObject>>();
  readonly #transforms = new Map<string, unknown>();
  readonly #controllers: Controller[] = [];
  readonly #runnables: Runnable[] = [];
  readonly #running = new Map<Runnable, RunningRunnable>();
  readonly #elector: LeaderElector | undefined;
  #leading = false;
  #started = false;
  #stopping: Promise<void> | undefined;
  #healthPort: number | undefined;
  #failure: Error | undefined;
  #stoppedWaiters: Array<() => void> = [];

  constructor(options: ManagerOptions) {
    this.config = options.config;
    this.clock = options.clock ?? realClock;
    this.logger = options.logger ?? createLogger({ level: options.config.logLevel });
    this.metrics = options.metrics ?? new Metrics();
    this.runtimeMetrics = runtimeMetrics(this.metrics);
    this.kube = new KubeClient(
      options.kubeConfig ?? loadKubeConfig(options.config.kubeconfig),
      options.kubeClientOptions,
    );
    this.identity = leaderIdentity(options.config.podName);
    this.events = new EventRecorder({
      kube: this.kube,
      instance: this.identity,
      clock: this.clock,
      logger: this.logger,
    });
    this.#serveHealth = options.healthServer ?? true;
    this.health = new HealthServer({
      metrics: this.metrics,
      host: options.config.metricsBindAddress,
      port: options.config.metricsPort,
    });
    this.health.addHealthCheck("informers", () => {
      const unhealthy = [...this.#informers.values()].map((i) => i.healthy()).find((h) => !h.ok);
      return unhealthy ?? { ok: true };
    });
    this.health.addReadyCheck("caches", () => {
      const pending = [...this.#informers.values()].filter((i) => !i.hasSynced()).map((i) => i.name);
      return pending.length === 0 ? { ok: true } : { ok: false, reason: `waiting for ${pending.join(", ")}` };
    });
    if (options.config.leaderElection) {
      this.#elector = new LeaderElector({
        kube: this.kube,
        namespace: options.config.leaseNamespace,
        name: options.config.leaseName,
        identity: this.identity,
        leaseDurationMs: options.config.leaseDuration,
        renewDeadlineMs: options.config.renewDeadline,
        retryPeriodMs: options.config.retryPeriod,
        clock: this.clock,
        logger: this.logger,
        metrics: this.runtimeMetrics,
        onStartedLeading: () => this.#startLeading(),
        onStoppedLeading: (reason) => this.#stopLeading(reason),
      });
    }
  }

  /**
   * A shared informer for a kind (one per kind, namespace and selectors), started with the manager. Without
   * `namespace` it watches config.watchNamespace (all namespaces when that is empty).
   */
  informer<T extends KubeObject>(
    rt: Resource<T>,
    options: Pick<
      InformerOptions<T>,
      "namespace" | "labelSelector" | "fieldSelector" | "resyncPeriodMs" | "transform" | "watchdogMs"
    > = {},
  ): Informer<T> {
    const namespace = rt.namespaced ? (options.namespace ?? this.config.watchNamespace) : "";
    const id = [resourceName(rt), namespace, options.labelSelector ?? "", options.fieldSelector ?? ""].join("|");
    const existing = this.#informers.get(id);
    if (existing) {
      // A shared cache holds what its first caller's transform kept: a second caller expecting other fields
      // would silently read undefined.
      if (this.#transforms.get(id) !== options.transform) {
        throw new Error(`informer ${id} is already registered with a different transform`);
      }
      return existing as unknown as Informer<T>;
    }
    this.#transforms.set(id, options.transform);
    const informer = new Informer<T>(this.kube, rt, {
      ...options,
      namespace,
      clock: this.clock,
      logger: this.logger,
      metrics: this.runtimeMetrics,
    });
    this.#informers.set(id, informer as unknown as Informer<KubeObject>);
    if (this.#started) informer.start();
    return informer;
  }

  /** Registers a controller; it runs while this replica leads (always, without leader election). */
  addController(options: ManagedControllerOptions): Controller {
    const controller = new Controller({
      ...options,
      clock: this.clock,
      logger: this.logger,
      metrics: this.runtimeMetrics,
    });
    this.#controllers.push(controller);
    if (this.#leading) void controller.start();
    return controller;
  }

  addRunnable(runnable: Runnable): void {
    this.#runnables.push(runnable);
    if (this.#started && (!(runnable.needLeaderElection ?? true) || this.#leading)) this.#startRunnable(runnable);
  }

  /** True while this replica's controllers run. */
  isLeader(): boolean {
    return this.#leading;
  }

  /** The port the health server listens on (after start). */
  get healthPort(): number | undefined {
    return this.#healthPort;
  }

  async start(): Promise<void> {
    if (this.#started) return;
    this.#started = true;
    const c = this.config;
    this.logger.info(
      {
        identity: this.identity,
        server: this.kube.server,
        watchNamespace: c.watchNamespace || "(all)",
        leaderElection: c.leaderElection ? `${c.leaseNamespace}/${c.leaseName}` : "off",
      },
      "starting",
    );
    if (this.#serveHealth) this.#healthPort = await this.health.start();
    for (const informer of this.#informers.values()) informer.start();
    for (const runnable of this.#runnables) {
      if (!(runnable.needLeaderElection ?? true)) this.#startRunnable(runnable);
    }
    if (this.#elector) this.#elector.start();
    else await this.#startLeading();
  }

  /**
   * Graceful shutdown: readiness fails, controllers stop taking keys and finish in-flight reconciles within
   * config.shutdownTimeout, the lease is released for a standby, then runnables, informers and the server stop.
   */
  stop(): Promise<void> {
    this.#stopping ??= this.#shutdown();
    return this.#stopping;
  }

  /** Resolves when the manager has stopped (after stop(), a signal, or a failed runnable). */
  stopped(): Promise<void> {
    if (this.#stopping) return this.#stopping;
    return new Promise((resolve) => this.#stoppedWaiters.push(resolve));
  }

  /** Starts, stops on SIGTERM/SIGINT, and resolves once stopped; rejects when a runnable failed. */
  async run(): Promise<void> {
    let signals = 0;
    const onSignal = (signal: NodeJS.Signals) => {
      signals++;
      if (signals > 1) {
        this.logger.warn({ signal }, "second signal; exiting without waiting");
        process.exit(1);
      }
      void this.#drainThenStop(signal);
    };
    process.on("SIGTERM", onSignal);
    process.on("SIGINT", onSignal);
    try {
      await this.start();
      await this.stopped();
    } finally {
      process.off("SIGTERM", onSignal);
      process.off("SIGINT", onSignal);
    }
    if (this.#failure) throw this.#failure;
  }

  // -------------------------------------------------------------------------------------------------------------

  // Endpoints drop a terminating pod asynchronously to SIGTERM: go unready at once, keep serving (intake,
  // controllers, lease) for the drain period so deliveries still routed here are answered, then stop.
  async #drainThenStop(signal: NodeJS.Signals): Promise<void> {
    this.health.markShuttingDown();
    const drainMs = this.config.shutdownDrain;
    this.logger.info({ signal, drainMs }, "shutting down: unready, serving until the drain period ends");
    const stopping = new AbortController();
    void this.stopped().then(() => stopping.abort());
    await this.clock.sleep(drainMs, stopping.signal);
    this.logger.info("drain period over; stopping");
    await this.stop();
  }

  async #startLeading(): Promise<void> {
    if (this.#stopping) return;
    this.#leading = true;
    for (const runnable of this.#runnables) {
      if (runnable.needLeaderElection ?? true) this.#startRunnable(runnable);
    }
    await Promise.all(this.#controllers.map((c) => c.start()));
  }

  /** Resolves true when nothing this replica ran as leader is still running (so the lease may be released). */
  async #stopLeading(reason: StoppedReason): Promise<boolean> {
    // Once the term ends, another replica may take over a lease duration after our last renewal: aborted work
    // gets half the slack between renew deadline and lease duration to return, the other half is margin.
    const abortGrace = this.#elector ? (this.config.leaseDuration - this.config.renewDeadline) / 2 : 0;
    // Nobody renews while draining, so a graceful drain ends with the term (at the latest).
    const drain =
      reason === "lost" ? 0 : Math.min(this.config.shutdownTimeout, this.#elector?.termRemainingMs() ?? Infinity);
    const stopped = await Promise.all([
      ...this.#controllers.map((c) => c.stop(drain, abortGrace)),
      ...this.#runnables
        .filter((r) => r.needLeaderElection ?? true)
        .map((r) => this.#stopRunnable(r, drain + abortGrace)),
    ]);
    this.#leading = false;
    if (reason === "lost") {
      // As controller-runtime does: a replica that lost the lease exits (and is restarted) rather than risk
      // running beside the new leader; run() rejects with this error.
      this.logger.error("leader election lost; stopping");
      this.#failure ??= new Error("leader election lost");
      void this.stop();
    }
    return stopped.every(Boolean);
  }

  #startRunnable(runnable: Runnable): void {
    if (this.#running.has(runnable)) return;
    const abort = new AbortController();
    const done = Promise.resolve()
      .then(() => runnable.start(abort.signal))
      .then(
        () => undefined,
        (err: unknown) => {
          if (abort.signal.aborted) return;
          this.logger.fatal({ err, runnable: runnable.name }, "runnable failed; stopping");
          this.#failure ??= err instanceof Error ? err : new Error(String(err));
          void this.stop();
        },
      );
    this.#running.set(runnable, { abort, done });
  }

  /** Resolves true when the runnable has returned, false when it did not within the deadline. */
  async #stopRunnable(runnable: Runnable, deadlineMs: number): Promise<boolean> {
    const running = this.#running.get(runnable);
    if (!running) return true;
    this.#running.delete(runnable);
    running.abort.abort();
    let timer: ReturnType<Clock["setTimeout"]> | undefined;
    const timeout = new Promise<false>((resolve) => {
      timer = this.clock.setTimeout(() => {
        this.logger.warn({ runnable: runnable.name }, "runnable did not stop in time");
        resolve(false);
      }, deadlineMs);
    });
    const stopped = await Promise.race([running.done.then(() => true), timeout]);
    timer?.cancel();
    return stopped;
  }

  async #shutdown(): Promise<void> {
    this.health.markShuttingDown();
    if (this.#elector) await this.#elector.stop({ release: true });
    else if (this.#leading) await this.#stopLeading("shutdown");
    await Promise.all([...this.#running.keys()].map((r) => this.#stopRunnable(r, this.config.shutdownTimeout)));
    const flushed = new AbortController();
    await Promise.race([this.events.flush(), this.clock.sleep(5_000, flushed.signal)]);
    flushed.abort();
    await Promise.all([...this.#informers.values()].map((i) => i.stop()));
    await this.health.stop();
    this.logger.info("stopped");
    for (const w of this.#stoppedWaiters.splice(0)) w();
  }
}
