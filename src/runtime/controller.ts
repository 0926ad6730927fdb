import { type Clock, realClock } from "./clock.ts";
import type { Informer } from "./informer.ts";
import { controllerOf, isConflict, type KubeObject, keyOf, parseKey, type Resource } from "./kube.ts";
import { keyString, type Logger, type ObjectKey, objectLogger, silentLogger } from "./logger.ts";
import { type RuntimeMetrics, reconcileResults } from "./metrics.ts";
import { type RateLimiter, WorkQueue } from "./workqueue.ts";

// A generic controller with controller-runtime's semantics: informer events become keys in a de-duplicating
// work queue, N workers run the reconciler, a thrown error requeues the key with per-key back-off, success
// forgets it, and `requeueAfter` asks for another pass later.

export interface ReconcileResult {
  /** Reconcile this key again after so many milliseconds (for example at the token's renewal time). */
  requeueAfter?: number;
  /** Reconcile again with back-off, without it counting as an error. */
  requeue?: boolean;
}

export interface ReconcileContext {
  /** Logger with the controller and the object key on every line. */
  log: Logger;
  /** Aborts when shutdown's deadline passes; pass it to long calls. */
  signal: AbortSignal;
  /** Failed attempts since the last success (0 on a first try). */
  attempt: number;
}

/** Brings one object's world in line with its spec. Throw to retry with back-off. */
// biome-ignore lint/suspicious/noConfusingVoidType: lets a reconciler with nothing to ask for simply return
export type Reconcile = (request: ObjectKey, ctx: ReconcileContext) => Promise<ReconcileResult | undefined | void>;

/** Filters informer events before they become keys. */
export interface Predicate<T> {
  add?(obj: T): boolean;
  update?(oldObj: T, newObj: T): boolean;
  delete?(obj: T): boolean;
}

/**
 * Passes updates that change the spec (generation), labels, annotations, finalizers or deletion, and periodic
 * resyncs; drops status-only updates, which are usually the controller's own writes echoing back.
 */
export const specChanged: Predicate<KubeObject> = {
  update(oldObj, newObj) {
    if (oldObj === newObj) return true;
    const a = oldObj.metadata ?? {};
    const b = newObj.metadata ?? {};
    return (
      a.generation !== b.generation ||
      a.deletionTimestamp !== b.deletionTimestamp ||
      JSON.stringify(a.labels) !== JSON.stringify(b.labels) ||
      JSON.stringify(a.annotations) !== JSON.stringify(b.annotations) ||
      JSON.stringify(a.finalizers) !== JSON.stringify(b.finalizers)
    );
  },
};

/** Turns informer events into keys for a controller's queue. */
export interface EventSource {
  /** Starts delivering keys (objects already cached at once); returns a function that stops it. */
  subscribe(enqueue: (key: string) => void): () => void;
  waitForSync(signal: AbortSignal): Promise<boolean>;
}

type KeysOf = string | ObjectKey | undefined | null | Array<string | ObjectKey>;

function toKeys(keys: KeysOf): string[] {
  if (keys === undefined || keys === null) return [];
  const list = Array.isArray(keys) ? keys : [keys];
  return list.map((k) => (typeof k === "string" ? k : keyString(k)));
}

/** Keys mapped from an informer's objects by `map` (related objects: a Secret → the Repositories using it). */
export function mapped<T extends KubeObject>(
  informer: Informer<T>,
  map: (obj: T) => KeysOf,
  predicate: Predicate<T> = {},
): EventSource {
  return {
    subscribe(enqueue) {
      const deliver = (obj: T) => {
        for (const key of toKeys(map(obj))) enqueue(key);
      };
      return informer.addHandlers({
        add: (obj) => {
          if (predicate.add?.(obj) ?? true) deliver(obj);
        },
        update: (oldObj, newObj) => {
          if (!(predicate.update?.(oldObj, newObj) ?? true)) return;
          deliver(newObj);
          // If the mapping moved (a label changed), the object it pointed at before must hear about it too.
          if (oldObj !== newObj) deliver(oldObj);
        },
        delete: (obj) => {
          if (predicate.delete?.(obj) ?? true) deliver(obj);
        },
      });
    },
    waitForSync: (signal) => informer.waitForSync(signal),
  };
}

/** Each object under its own key. */
export function objects<T extends KubeObject>(informer: Informer<T>, predicate?: Predicate<T>): EventSource {
  return mapped(informer, (obj) => keyOf(obj), predicate);
}

/** Objects mapped to their controlling owner of the given kind (owner references do the mapping). */
export function ownedBy<T extends KubeObject>(
  informer: Informer<T>,
  owner: Pick<Resource, "apiVersion" | "kind">,
): EventSource {
  const group = (apiVersion: string) => (apiVersion.includes("/") ? apiVersion.slice(0, apiVersion.indexOf("/")) : "");
  return mapped(informer, (obj) => {
    const ref = controllerOf(obj);
    if (!ref || ref.kind !== owner.kind || group(ref.apiVersion) !== group(owner.apiVersion)) return undefined;
    return { namespace: obj.metadata?.namespace, name: ref.name };
  });
}

export interface ControllerOptions {
  name: string;
  reconcile: Reconcile;
  /** Where keys come from: usually `objects(primaryInformer)`, `ownedBy(...)` for children, `mapped(...)` for the rest. */
  sources: EventSource[];
  /** Reconciles running at once; one key is never reconciled twice at the same time. */
  workers?: number;
  rateLimiter?: RateLimiter<string>;
  clock?: Clock;
  logger?: Logger;
  metrics?: RuntimeMetrics;
}

export class Controller {
  readonly name: string;
  readonly #options: ControllerOptions;
  readonly #clock: Clock;
  readonly #log: Logger;
  readonly #metrics: RuntimeMetrics | undefined;
  #queue: WorkQueue<string> | undefined;
  #unsubscribe: Array<() => void> = [];
  #workers: Promise<void>[] = [];
  #starting: Promise<void> | undefined;
  #stopping = false;
  #stopped: Promise<boolean> | undefined;
  #abort = new AbortController();
  // Reconciles running now, by key, across generations: a reconcile that outlived its stop must not overlap
  // the next generation's reconcile of the same key.
  #inFlight = new Map<string, Promise<void>>();

  constructor(options: ControllerOptions) {
    this.name = options.name;
    this.#options = options;
    this.#clock = options.clock ?? realClock;
    this.#log = (options.logger ?? silentLogger()).child({ controller: options.name });
    this.#metrics = options.metrics;
    // Every outcome at 0 from the start, so "no errors" reads 0 on a dashboard, not "No data".
    for (const result of reconcileResults) this.#metrics?.reconcileTotal.inc({ controller: this.name, result }, 0);
  }

  get running(): boolean {
    return this.#queue !== undefined && !this.#stopping;
  }

  /** The live queue (undefined while stopped); for metrics and tests. */
  get queue(): WorkQueue<string> | undefined {
    return this.#queue;
  }

  /** Queues a key from outside the informers (a webhook arrived for this Repository, say). */
  enqueue(key: string | ObjectKey): void {
    this.#queue?.add(typeof key === "string" ? key : keyString(key));
  }

  /** Subscribes to the sources and, once their caches have synced, starts the workers. */
  async start(): Promise<void> {
    // A restart waits for the previous stop to finish, so old workers never share the new queue.
    if (this.#stopped) await this.#stopped;
    if (this.#queue && !this.#stopping) return this.#starting;
    this.#stopping = false;
    this.#abort = new AbortController();
    const queue = new WorkQueue<string>({
      name: this.name,
      clock: this.#clock,
      ...(this.#options.rateLimiter ? { rateLimiter: this.#options.rateLimiter } : {}),
      ...(this.#metrics ? { metrics: this.#metrics } : {}),
    });
    this.#queue = queue;
    this.#unsubscribe = this.#options.sources.map((s) => s.subscribe((key) => queue.add(key)));
    const signal = this.#abort.signal;
    this.#starting = (async () => {
      const synced = await Promise.all(this.#options.sources.map((s) => s.waitForSync(signal)));
      if (signal.aborted || this.#stopping || synced.includes(false)) return;
      const workers = Math.max(1, this.#options.workers ?? 1);
      this.#log.info({ workers, queued: queue.len() }, "controller started");
      this.#workers = Array.from({ length: workers }, () => this.#work(queue, signal));
    })();
    return this.#starting;
  }

  /**
   * Stops taking keys, lets in-flight reconciles finish within `deadlineMs`, then aborts their signal and waits
   * up to `abortGraceMs` more for them to return. Resolves true when no reconcile is still running.
   */
  stop(deadlineMs = 30_000, abortGraceMs = 0): Promise<boolean> {
    if (!this.#queue) return Promise.resolve(this.#inFlight.size === 0);
    if (this.#stopping && this.#stopped) return this.#stopped;
    this.#stopping = true;
    this.#stopped = this.#stop(this.#queue, deadlineMs, abortGraceMs).finally(() => {
      this.#stopped = undefined;
    });
    return this.#stopped;
  }

  async #stop(queue: WorkQueue<string>, deadlineMs: number, abortGraceMs: number): Promise<boolean> {
    for (const unsubscribe of this.#unsubscribe.splice(0)) unsubscribe();
    queue.shutdown();
    const workers = Promise.all(this.#workers);
    let done = await this.#within(workers, deadlineMs);
    if (!done) {
      this.#log.warn(
        { inFlight: [...this.#inFlight.keys()] },
        "reconciles still running at the deadline; aborting them",
      );
      this.#abort.abort();
      done = await this.#within(workers, abortGraceMs);
      if (!done) this.#log.error({ inFlight: [...this.#inFlight.keys()] }, "reconciles ignored the abort");
    }
    this.#abort.abort();
    this.#workers = [];
    this.#queue = undefined;
    this.#log.info("controller stopped");
    return done;
  }

  async #within(work: Promise<unknown>, ms: number): Promise<boolean> {
    let timer: ReturnType<Clock["setTimeout"]> | undefined;
    const deadline = new Promise<false>((resolve) => {
      timer = this.#clock.setTimeout(() => resolve(false), ms);
    });
    const outcome = await Promise.race([work.then(() => true), deadline]);
    timer?.cancel();
    return outcome;
  }

  async #work(queue: WorkQueue<string>, signal: AbortSignal): Promise<void> {
    for (;;) {
      const key = await queue.get();
      if (key === undefined) return;
      if (this.#stopping || signal.aborted) {
        queue.done(key);
        return;
      }
      try {
        await this.#reconcileOne(queue, key, signal);
      } finally {
        queue.done(key);
      }
    }
  }

  async #reconcileOne(queue: WorkQueue<string>, key: string, signal: AbortSignal): Promise<void> {
    // Only a reconcile left over from before a restart can hold the key; the queue guards it within a generation.
    for (let straggler = this.#inFlight.get(key); straggler; straggler = this.#inFlight.get(key)) await straggler;
    let finished = () => {};
    this.#inFlight.set(
      key,
      new Promise<void>((resolve) => {
        finished = resolve;
      }),
    );
    try {
      await this.#reconcileExclusive(queue, key, signal);
    } finally {
      this.#inFlight.delete(key);
      finished();
    }
  }

  async #reconcileExclusive(queue: WorkQueue<string>, key: string, signal: AbortSignal): Promise<void> {
    const request = parseKey(key);
    const log = objectLogger(this.#log, request);
    const attempt = queue.numRequeues(key);
    const labels = { controller: this.name };
    const started = this.#clock.now();
    this.#metrics?.activeWorkers.inc(labels);
    try {
      const result = (await this.#options.reconcile(request, { log, signal, attempt })) ?? {};
      if (result.requeueAfter !== undefined && result.requeueAfter > 0) {
        queue.forget(key);
        queue.addAfter(key, result.requeueAfter);
        this.#metrics?.reconcileTotal.inc({ ...labels, result: "requeue_after" });
        log.debug({ requeueAfterMs: result.requeueAfter }, "reconciled; will look again later");
      } else if (result.requeue) {
        queue.addRateLimited(key);
        this.#metrics?.reconcileTotal.inc({ ...labels, result: "requeue" });
      } else {
        queue.forget(key);
        this.#metrics?.reconcileTotal.inc({ ...labels, result: "success" });
        log.debug("reconciled");
      }
    } catch (err) {
      queue.addRateLimited(key);
      this.#metrics?.reconcileTotal.inc({ ...labels, result: "error" });
      if (isConflict(err)) {
        // Expected under concurrent writers: the retry re-reads.
        log.info({ attempt: attempt + 1 }, "object changed while reconciling; retrying");
      } else {
        log.error({ err, attempt: attempt + 1 }, "reconcile failed; retrying with back-off");
      }
    } finally {
      this.#metrics?.activeWorkers.dec(labels);
      this.#metrics?.reconcileDuration.observe(labels, (this.#clock.now() - started) / 1000);
    }
  }
}
