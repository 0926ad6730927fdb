import { randomBytes } from "node:crypto";
import { type Clock, realClock } from "./clock.ts";
import { Events, isNotFound, type KubeClient, type KubeObject } from "./kube.ts";
import type { Event } from "./kube-types.ts";
import { type Logger, silentLogger } from "./logger.ts";
import { scrub } from "./redact.ts";

// Kubernetes Events (core/v1, what `kubectl describe` lists) with client-go's correlator behaviour: a repeat of
// the same event on the same object bumps count and lastTimestamp instead of creating another Event, and a
// per-object token bucket stops a hot loop from flooding the API server. Recording never throws and never
// blocks a reconciler.

export type EventType = "Normal" | "Warning";

const REASON = /^[A-Z][A-Za-z0-9]*$/;
const MAX_MESSAGE = 1024;

export interface EventRecorderOptions {
  kube: KubeClient;
  /** source.component and reportingComponent. */
  component?: string;
  /** reportingInstance: which replica said it. */
  instance?: string;
  clock?: Clock;
  logger?: Logger;
  /** Distinct events remembered for aggregation. */
  cacheSize?: number;
  /** Per-object budget: `burst` events, then one more every `refillMs`. */
  spamBurst?: number;
  spamRefillMs?: number;
}

interface Recorded {
  name: string;
  namespace: string;
  count: number;
}

interface Bucket {
  tokens: number;
  at: number;
}

/** metav1.Time: RFC 3339 to the second. */
function rfc3339(ms: number): string {
  return new Date(Math.floor(ms / 1000) * 1000).toISOString().replace(".000Z", "Z");
}

export class EventRecorder {
  readonly #kube: KubeClient;
  readonly #component: string;
  readonly #instance: string | undefined;
  readonly #clock: Clock;
  readonly #log: Logger;
  readonly #cacheSize: number;
  readonly #burst: number;
  readonly #refillMs: number;
  readonly #recorded = new Map<string, Recorded>();
  readonly #buckets = new Map<string, Bucket>();
  // Writes for one aggregation key run one after another, so two repeats never both create an Event.
  readonly #chains = new Map<string, Promise<void>>();

  constructor(options: EventRecorderOptions) {
    this.#kube = options.kube;
    this.#component = options.component ?? "baton";
    this.#instance = options.instance;
    this.#clock = options.clock ?? realClock;
    this.#log = (options.logger ?? silentLogger()).child({ part: "events" });
    this.#cacheSize = options.cacheSize ?? 4096;
    this.#burst = options.spamBurst ?? 25;
    this.#refillMs = options.spamRefillMs ?? 300_000;
  }

  normal(obj: KubeObject, reason: string, message: string): void {
    this.record(obj, "Normal", reason, message);
  }

  warning(obj: KubeObject, reason: string, message: string): void {
    this.record(obj, "Warning", reason, message);
  }

  /** Records an Event about `obj` in the background. Reason is CamelCase; the message is scrubbed. */
  record(obj: KubeObject, type: EventType, reason: string, message: string): void {
    try {
      const meta = obj.metadata ?? {};
      if (!meta.name || !obj.kind) {
        this.#log.warn({ reason }, "event about an object without kind or name dropped");
        return;
      }
      if (!REASON.test(reason)) this.#log.warn({ reason }, "event reason should be CamelCase");
      const text = scrub(message).slice(0, MAX_MESSAGE);
      const objectId = meta.uid ?? `${obj.kind}/${meta.namespace ?? ""}/${meta.name}`;
      if (!this.#allow(objectId)) {
        this.#log.debug({ reason, object: objectId }, "event dropped: too many for this object");
        return;
      }
      const key = JSON.stringify([objectId, type, reason, text]);
      const previous = this.#chains.get(key) ?? Promise.resolve();
      const next = previous
        .then(() => this.#write(key, obj, type, reason, text))
        .catch((err: unknown) => this.#log.warn({ err, reason }, "could not record event"))
        .finally(() => {
          if (this.#chains.get(key) === next) this.#chains.delete(key);
        });
      this.#chains.set(key, next);
    } catch (err) {
      this.#log.warn({ err, reason }, "could not record event");
    }
  }

  /** Resolves when every Event recorded so far has been written (or has failed). */
  async flush(): Promise<void> {
    while (this.#chains.size > 0) await Promise.all([...this.#chains.values()]);
  }

  async #write(key: string, obj: KubeObject, type: EventType, reason: string, message: string): Promise<void> {
    const now = this.#clock.now();
    const seen = this.#recorded.get(key);
    if (seen) {
      try {
        await this.#kube.patch(
          Events,
          { namespace: seen.namespace, name: seen.name },
          { count: seen.count + 1, lastTimestamp: rfc3339(now) },
        );
        seen.count++;
        this.#touch(key, seen);
        return;
      } catch (err) {
        // Events expire (an hour by default); after that a repeat starts a new one.
        if (!isNotFound(err)) throw err;
        this.#recorded.delete(key);
      }
    }
    const meta = obj.metadata ?? {};
    const namespace = meta.namespace || "default";
    const name = `${meta.name}.${now.toString(16)}${randomBytes(2).toString("hex")}`;
    const event: Event = {
      apiVersion: "v1",
      kind: "Event",
      metadata: { name, namespace },
      involvedObject: {
        apiVersion: obj.apiVersion,
        kind: obj.kind,
        name: meta.name,
        namespace: meta.namespace,
        uid: meta.uid,
        resourceVersion: meta.resourceVersion,
      },
      type,
      reason,
      message,
      count: 1,
      firstTimestamp: rfc3339(now),
      lastTimestamp: rfc3339(now),
      source: { component: this.#component },
      reportingComponent: this.#component,
      ...(this.#instance ? { reportingInstance: this.#instance.slice(0, 128) } : {}),
    };
    await this.#kube.create(Events, event);
    this.#touch(key, { name, namespace, count: 1 });
  }

  #touch(key: string, value: Recorded): void {
    this.#recorded.delete(key);
    this.#recorded.set(key, value);
    if (this.#recorded.size > this.#cacheSize) {
      const oldest = this.#recorded.keys().next().value;
      if (oldest !== undefined) this.#recorded.delete(oldest);
    }
  }

  #allow(objectId: string): boolean {
    const now = this.#clock.now();
    const bucket = this.#buckets.get(objectId) ?? { tokens: this.#burst, at: now };
    bucket.tokens = Math.min(this.#burst, bucket.tokens + (now - bucket.at) / this.#refillMs);
    bucket.at = now;
    this.#buckets.delete(objectId);
    this.#buckets.set(objectId, bucket);
    if (this.#buckets.size > this.#cacheSize) {
      const oldest = this.#buckets.keys().next().value;
      if (oldest !== undefined) this.#buckets.delete(oldest);
    }
    if (bucket.tokens < 1) return false;
    bucket.tokens -= 1;
    return true;
  }
}
