import { randomBytes } from "node:crypto";
import { performance } from "node:perf_hooks";
import { type Clock, realClock, type Timer } from "./clock.ts";
import { isAlreadyExists, isConflict, type KubeClient, Leases } from "./kube.ts";
import type { Lease, LeaseSpec } from "./kube-types.ts";
import { type Logger, silentLogger } from "./logger.ts";
import type { RuntimeMetrics } from "./metrics.ts";

// Leader election on a coordination.k8s.io/v1 Lease, as client-go does it: expiry is judged by when this
// process last saw the lease change (never by comparing clocks across machines), a leader that cannot renew
// within the renew deadline steps down before anyone else may take over, and a graceful shutdown releases the
// lease so a standby takes over at once.
//
// Every timing decision runs on a monotonic clock (a wall clock stepped by NTP would stretch or cut a lease);
// only the Lease's own acquireTime/renewTime are wall-clock MicroTime, as Kubernetes defines them. A leader's
// term ends at (start of its last successful renewal + renew deadline): one deadline for the whole renewal
// round, aborting every request still in flight, so no slow answer can stretch leadership. A standby only
// takes over a lease duration after it saw that renewal land, which is later still.

export interface LeaderElectionTimings {
  /** How long a lease is valid after its last renewal, for the candidates watching it. */
  leaseDurationMs: number;
  /** A leader that has not renewed for this long steps down (shorter than the lease duration). */
  renewDeadlineMs: number;
  /** Pause between attempts to acquire or renew. */
  retryPeriodMs: number;
}

export const DEFAULT_TIMINGS: LeaderElectionTimings = {
  leaseDurationMs: 15_000,
  renewDeadlineMs: 10_000,
  retryPeriodMs: 2_000,
};

export type LeaseDecision = "create" | "renew" | "take" | "wait";

/**
 * What a candidate should do with the lease as it sees it now.
 * `observedAt` is when this process first saw the lease in its current state (its local clock).
 */
export function decideLease(input: {
  identity: string;
  spec: LeaseSpec | undefined;
  exists: boolean;
  observedAt: number;
  now: number;
}): LeaseDecision {
  if (!input.exists) return "create";
  const holder = input.spec?.holderIdentity ?? "";
  if (holder === input.identity) return "renew";
  if (holder === "") return "take"; // released
  const durationMs = (input.spec?.leaseDurationSeconds ?? 0) * 1000;
  return input.observedAt + durationMs > input.now ? "wait" : "take";
}

/** metav1.MicroTime: RFC 3339 with exactly six fractional digits. */
export function microTime(ms: number): string {
  return new Date(ms).toISOString().replace(/\.(\d{3})Z$/, ".$1000Z");
}

/** Pod name plus a random suffix, so a restarted pod with the same name is a new candidate. */
export function leaderIdentity(podName: string): string {
  return `${podName}_${randomBytes(4).toString("hex")}`;
}

export type StoppedReason = "lost" | "shutdown";

export interface LeaderElectorOptions extends Partial<LeaderElectionTimings> {
  kube: KubeClient;
  namespace: string;
  name: string;
  identity: string;
  /** Called on becoming leader; `signal` aborts when leadership ends. */
  onStartedLeading?: (signal: AbortSignal) => void | Promise<void>;
  /**
   * Called when leadership ends, before the lease is released; leadership counts as held until it returns.
   * On "lost" the lease may be taken by another replica soon (after the lease duration): stop work quickly.
   * Returning false on "shutdown" keeps the lease unreleased (work may still be running): a standby then
   * waits for it to expire.
   */
  // biome-ignore lint/suspicious/noConfusingVoidType: callbacks with nothing to say simply return
  onStoppedLeading?: (reason: StoppedReason) => void | boolean | Promise<void | boolean>;
  /** Called when a different holder is observed. */
  onNewLeader?: (identity: string) => void;
  /** Timers and the wall-clock times written into the Lease. */
  clock?: Clock;
  /** Milliseconds on a clock that never jumps (default performance.now); all lease timing is judged on it. */
  monotonic?: () => number;
  logger?: Logger;
  metrics?: RuntimeMetrics;
}

export class LeaderElector {
  readonly identity: string;
  readonly timings: LeaderElectionTimings;
  readonly #o: LeaderElectorOptions;
  readonly #clock: Clock;
  readonly #monotonic: () => number;
  readonly #log: Logger;
  #leading = false;
  #observed: Lease | undefined;
  #observedAt = 0;
  #lastRenew = 0;
  #abort: AbortController | undefined;
  #loop: Promise<void> | undefined;
  #release = true;

  constructor(options: LeaderElectorOptions) {
    this.#o = options;
    this.identity = options.identity;
    this.timings = {
      leaseDurationMs: options.leaseDurationMs ?? DEFAULT_TIMINGS.leaseDurationMs,
      renewDeadlineMs: options.renewDeadlineMs ?? DEFAULT_TIMINGS.renewDeadlineMs,
      retryPeriodMs: options.retryPeriodMs ?? DEFAULT_TIMINGS.retryPeriodMs,
    };
    const { leaseDurationMs, renewDeadlineMs, retryPeriodMs } = this.timings;
    if (!(leaseDurationMs > renewDeadlineMs && renewDeadlineMs > retryPeriodMs)) {
      throw new Error("leader election needs leaseDuration > renewDeadline > retryPeriod");
    }
    this.#clock = options.clock ?? realClock;
    this.#monotonic = options.monotonic ?? (() => performance.now());
    this.#log = (options.logger ?? silentLogger()).child({
      lease: `${options.namespace}/${options.name}`,
      identity: options.identity,
    });
  }

  /** True from acquiring the lease until onStoppedLeading has returned. */
  isLeader(): boolean {
    return this.#leading;
  }

  /**
   * Milliseconds this leader may still act as one (its renew deadline, on the monotonic clock); 0 when it does
   * not lead. Shutdown uses it to bound how long controllers may drain without renewing.
   */
  termRemainingMs(): number {
    if (!this.#leading) return 0;
    return Math.max(0, this.#lastRenew + this.timings.renewDeadlineMs - this.#monotonic());
  }

  /** The holder this process last saw (itself, another replica, or undefined when nobody holds it). */
  leader(): string | undefined {
    return this.#observed?.spec?.holderIdentity || undefined;
  }

  /** Starts campaigning; after losing the lease the elector campaigns again until stopped. */
  start(): void {
    if (this.#loop) return;
    this.#abort = new AbortController();
    this.#release = true;
    this.#loop = this.#run(this.#abort.signal);
  }

  /** Stops campaigning; a leader steps down (onStoppedLeading "shutdown") and, unless told not to, releases. */
  async stop(options: { release?: boolean } = {}): Promise<void> {
    this.#release = options.release ?? true;
    this.#abort?.abort();
    await this.#loop;
    this.#loop = undefined;
  }

  async #run(signal: AbortSignal): Promise<void> {
    while (!signal.aborted) {
      const acquired = await this.#acquire(signal);
      if (!acquired) break;
      this.#leading = true;
      this.#o.metrics?.leader.set({ lease: this.#o.name }, 1);
      this.#log.info("became leader");
      const leadership = new AbortController();
      Promise.resolve()
        .then(() => this.#o.onStartedLeading?.(leadership.signal))
        .catch((err: unknown) => this.#log.error({ err }, "onStartedLeading failed"));
      const reason = await this.#renewLoop(signal);
      leadership.abort();
      this.#log.info({ reason }, reason === "lost" ? "lost the lease; stepping down" : "stepping down");
      let release = this.#release;
      try {
        if ((await this.#o.onStoppedLeading?.(reason)) === false) release = false;
      } catch (err) {
        this.#log.error({ err }, "onStoppedLeading failed");
      }
      this.#leading = false;
      this.#o.metrics?.leader.set({ lease: this.#o.name }, 0);
      this.#log.info({ reason }, "stopped leading");
      if (reason === "shutdown") {
        if (release) await this.#releaseLease();
        else this.#log.warn("leaving the lease to expire: work may still be running");
        break;
      }
    }
  }

  async #acquire(signal: AbortSignal): Promise<boolean> {
    while (!signal.aborted) {
      const started = this.#monotonic();
      // An attempt answered after the renew deadline would start a term that has already ended.
      const attempt = this.#until(signal, started + this.timings.renewDeadlineMs);
      const acquired = await this.#tryAcquireOrRenew(attempt.signal);
      attempt.cancel();
      if (acquired && !attempt.signal.aborted) {
        this.#lastRenew = started;
        return true;
      }
      // Jitter keeps candidates from retrying in lock-step.
      await this.#clock.sleep(this.timings.retryPeriodMs * (1 + Math.random() * 0.2), signal);
    }
    return false;
  }

  async #renewLoop(signal: AbortSignal): Promise<StoppedReason> {
    let term = this.#until(signal, this.#lastRenew + this.timings.renewDeadlineMs);
    try {
      for (;;) {
        await this.#clock.sleep(this.timings.retryPeriodMs, term.signal);
        if (signal.aborted) return "shutdown";
        if (term.signal.aborted) return "lost";
        const started = this.#monotonic();
        const renewed = await this.#tryAcquireOrRenew(term.signal);
        if (signal.aborted) return "shutdown";
        if (term.signal.aborted) return "lost";
        if (renewed) {
          this.#lastRenew = started;
          term.cancel();
          term = this.#until(signal, started + this.timings.renewDeadlineMs);
          continue;
        }
        const holder = this.leader();
        if (holder !== undefined && holder !== this.identity) return "lost";
      }
    } finally {
      term.cancel();
    }
  }

  /** A signal that aborts with `parent` or at `deadline` on the monotonic clock, whichever comes first. */
  #until(parent: AbortSignal, deadline: number): { signal: AbortSignal; cancel(): void } {
    const expired = new AbortController();
    const timer: Timer = this.#clock.setTimeout(() => expired.abort(), deadline - this.#monotonic());
    return { signal: AbortSignal.any([parent, expired.signal]), cancel: () => timer.cancel() };
  }

  async #tryAcquireOrRenew(signal: AbortSignal): Promise<boolean> {
    const { kube, namespace, name } = this.#o;
    const key = { namespace, name };
    const now = this.#clock.now();
    const leaseDurationSeconds = Math.ceil(this.timings.leaseDurationMs / 1000);
    try {
      const lease = await kube.get(Leases, key, signal);
      this.#observe(lease);
      const decision = decideLease({
        identity: this.identity,
        spec: lease?.spec,
        exists: lease !== undefined,
        observedAt: this.#observedAt,
        now: this.#monotonic(),
      });
      if (decision === "wait") return false;
      if (decision === "create") {
        const created = await kube.create(
          Leases,
          {
            apiVersion: "coordination.k8s.io/v1",
            kind: "Lease",
            metadata: { name, namespace },
            spec: {
              holderIdentity: this.identity,
              leaseDurationSeconds,
              acquireTime: microTime(now),
              renewTime: microTime(now),
              leaseTransitions: 0,
            },
          },
          { signal },
        );
        this.#observe(created);
        return true;
      }
      const previous = lease?.spec ?? {};
      const spec: LeaseSpec =
        decision === "renew"
          ? { ...previous, leaseDurationSeconds, renewTime: microTime(now) }
          : {
              ...previous,
              holderIdentity: this.identity,
              leaseDurationSeconds,
              acquireTime: microTime(now),
              renewTime: microTime(now),
              leaseTransitions: (previous.leaseTransitions ?? 0) + 1,
            };
      // The resourceVersion in `lease` makes this a compare-and-swap: a concurrent taker gets a conflict.
      const updated = await kube.replace(Leases, { ...lease, spec }, { signal });
      this.#observe(updated);
      return true;
    } catch (err) {
      if (signal.aborted) return false;
      if (isConflict(err) || isAlreadyExists(err)) {
        this.#log.debug("another candidate changed the lease first");
      } else {
        this.#log.warn({ err }, "could not read or update the lease");
      }
      return false;
    }
  }

  #observe(lease: Lease | undefined): void {
    const before = this.#observed;
    if (before?.metadata?.resourceVersion !== lease?.metadata?.resourceVersion || !before) {
      this.#observedAt = this.#monotonic();
    }
    const previousHolder = before?.spec?.holderIdentity || undefined;
    this.#observed = lease;
    const holder = this.leader();
    if (holder && holder !== previousHolder) {
      if (holder !== this.identity) this.#log.info({ leader: holder }, "observed a new leader");
      this.#o.onNewLeader?.(holder);
    }
  }

  async #releaseLease(): Promise<void> {
    const lease = this.#observed;
    if (!lease || lease.spec?.holderIdentity !== this.identity) return;
    const now = this.#clock.now();
    try {
      // An empty holder lets any candidate take the lease at once; a one-second duration covers clients that
      // only look at expiry.
      const released = await this.#o.kube.replace(
        Leases,
        {
          ...lease,
          spec: {
            ...lease.spec,
            holderIdentity: "",
            leaseDurationSeconds: 1,
            acquireTime: microTime(now),
            renewTime: microTime(now),
          },
        },
        { signal: AbortSignal.timeout(this.timings.renewDeadlineMs) },
      );
      this.#observed = released;
      this.#log.info("released the lease");
    } catch (err) {
      this.#log.warn({ err }, "could not release the lease; a standby takes over when it expires");
    }
  }
}
