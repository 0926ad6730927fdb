import { type Clock, realClock, type Timer } from "./clock.ts";
import {
  isGone,
  KubeApiError,
  type KubeClient,
  type KubeObject,
  keyOf,
  type Resource,
  type WatchEvent,
} from "./kube.ts";
import type { Status } from "./kube-types.ts";
import { keyString, type Logger, silentLogger } from "./logger.ts";
import type { RuntimeMetrics } from "./metrics.ts";

// List + watch with a local cache, the way client-go's reflector does it, plus what client-node's makeInformer
// lacks: bookmarks, a watchdog for half-open connections, relist with a cache diff after 410 Gone, back-off,
// indexes and a health signal.

export interface InformerHandlers<T> {
  add?(obj: T): void;
  update?(oldObj: T, newObj: T): void;
  delete?(obj: T): void;
}

export interface InformerOptions<T> {
  /** Namespace to watch; all namespaces when empty or absent. */
  namespace?: string | undefined;
  labelSelector?: string | undefined;
  fieldSelector?: string | undefined;
  /** Every period, each cached object is delivered again as an update (old === new). 0 turns it off. */
  resyncPeriodMs?: number;
  /** A watch that delivers nothing, not even a bookmark, for this long is presumed dead and reopened. */
  watchdogMs?: number;
  /** Server-side watch timeout; defaults to a random 5–10 minutes so many informers do not reconnect at once. */
  watchTimeoutSeconds?: number;
  /** Page size of the initial list and relists. */
  pageSize?: number;
  /** Applied to every object before it is cached; by default stripBookkeeping, to save memory. */
  transform?: (obj: T) => T;
  /** Back-off after list/watch errors: doubles from initial to max. */
  backoff?: { initialMs?: number; maxMs?: number };
  clock?: Clock;
  logger?: Logger;
  metrics?: RuntimeMetrics;
}

export type WatchEndReason = "closed" | "expired" | "watchdog" | "error";

const lastApplied = "kubectl.kubernetes.io/last-applied-configuration";

/**
 * The default transform: drops managedFields and kubectl's last-applied-configuration annotation, bookkeeping of
 * other clients that can be larger than the object itself (and, on a Secret applied with kubectl, a copy of its
 * data). Nothing in Baton reads either from a cache.
 */
export function stripBookkeeping<T extends KubeObject>(obj: T): T {
  const meta = obj.metadata;
  if (!meta?.managedFields && meta?.annotations?.[lastApplied] === undefined) return obj;
  const { managedFields: _dropped, ...metadata } = meta;
  if (metadata.annotations?.[lastApplied] !== undefined) {
    const { [lastApplied]: _applied, ...annotations } = metadata.annotations;
    metadata.annotations = annotations;
  }
  return { ...obj, metadata };
}

/** A name for a resource in logs and metrics: "configmaps", "repositories.baton.dev". */
export function resourceName(rt: Resource): string {
  const slash = rt.apiVersion.indexOf("/");
  return slash < 0 ? rt.plural : `${rt.plural}.${rt.apiVersion.slice(0, slash)}`;
}

export interface CacheDelta<T> {
  added: T[];
  updated: Array<[T, T]>;
  deleted: T[];
}

/**
 * What changed between the cache and a fresh list: objects new to the cache, objects whose resourceVersion
 * moved, and objects that vanished (deleted while the watch was not looking).
 */
export function diffCache<T extends KubeObject>(
  cache: ReadonlyMap<string, T>,
  listed: ReadonlyMap<string, T>,
): CacheDelta<T> {
  const delta: CacheDelta<T> = { added: [], updated: [], deleted: [] };
  for (const [key, obj] of listed) {
    const old = cache.get(key);
    if (!old) delta.added.push(obj);
    else if (old.metadata?.resourceVersion !== obj.metadata?.resourceVersion) delta.updated.push([old, obj]);
  }
  for (const [key, old] of cache) {
    if (!listed.has(key)) delta.deleted.push(old);
  }
  return delta;
}

type IndexFn<T> = (obj: T) => string[];

interface Index<T> {
  fn: IndexFn<T>;
  values: Map<string, Set<string>>;
}

const NAMESPACE_INDEX = "namespace";
/** Paged list attempts cut short by an expired continue token before one unpaginated list. */
const maxPagedListAttempts = 3;

export class Informer<T extends KubeObject> {
  readonly resource: Resource<T>;
  readonly name: string;
  readonly #kube: KubeClient;
  readonly #options: InformerOptions<T>;
  readonly #clock: Clock;
  readonly #log: Logger;
  readonly #metrics: RuntimeMetrics | undefined;
  readonly #transform: (obj: T) => T;
  readonly #watchdogMs: number;

  #cache = new Map<string, T>();
  #indexes = new Map<string, Index<T>>();
  #handlers = new Set<InformerHandlers<T>>();
  #resourceVersion = "";
  #synced = false;
  #syncWaiters: Array<(synced: boolean) => void> = [];
  #abort: AbortController | undefined;
  #loop: Promise<void> | undefined;
  #resyncTimer: Timer | undefined;
  #lastProgress = 0;

  constructor(kube: KubeClient, resource: Resource<T>, options: InformerOptions<T> = {}) {
    this.#kube = kube;
    this.resource = resource;
    this.#options = options;
    this.#clock = options.clock ?? realClock;
    this.name = resourceName(resource);
    this.#log = (options.logger ?? silentLogger()).child({
      informer: this.name,
      namespace: options.namespace || undefined,
    });
    this.#metrics = options.metrics;
    this.#transform = options.transform ?? stripBookkeeping;
    this.#watchdogMs = options.watchdogMs ?? 180_000;
    this.addIndex(NAMESPACE_INDEX, (obj) => [obj.metadata?.namespace ?? ""]);
  }

  /** Registers handlers; objects already cached are delivered to them as adds. Returns an unsubscribe function. */
  addHandlers(handlers: InformerHandlers<T>): () => void {
    this.#handlers.add(handlers);
    if (this.#synced && handlers.add) {
      for (const obj of this.#cache.values()) this.#call(handlers, "add", obj);
    }
    return () => this.#handlers.delete(handlers);
  }

  /** Adds an index: `fn` returns the values an object is filed under; `byIndex` finds objects by value. */
  addIndex(name: string, fn: IndexFn<T>): void {
    const index: Index<T> = { fn, values: new Map() };
    this.#indexes.set(name, index);
    for (const [key, obj] of this.#cache) this.#indexAdd(index, key, obj);
  }

  byIndex(name: string, value: string): T[] {
    const index = this.#indexes.get(name);
    if (!index) throw new Error(`informer ${this.name} has no index "${name}"`);
    return [...(index.values.get(value) ?? [])].map((k) => this.#cache.get(k)).filter((o): o is T => o !== undefined);
  }

  get(namespace: string | undefined, name: string): T | undefined {
    return this.#cache.get(keyString({ namespace, name }));
  }

  getByKey(key: string): T | undefined {
    return this.#cache.get(key);
  }

  /** Cached objects, in one namespace or all. Treat them as read-only: they are shared. */
  list(namespace?: string): T[] {
    if (namespace === undefined) return [...this.#cache.values()];
    return this.byIndex(NAMESPACE_INDEX, namespace);
  }

  keys(): string[] {
    return [...this.#cache.keys()];
  }

  get size(): number {
    return this.#cache.size;
  }

  /** The resourceVersion the cache reflects. */
  get resourceVersion(): string {
    return this.#resourceVersion;
  }

  hasSynced(): boolean {
    return this.#synced;
  }

  /** Resolves true once the first list has been delivered, or false if the informer stops (or `signal` aborts) first. */
  waitForSync(signal?: AbortSignal): Promise<boolean> {
    if (this.#synced) return Promise.resolve(true);
    if (signal?.aborted) return Promise.resolve(false);
    return new Promise((resolve) => {
      const onAbort = () => resolve(false);
      signal?.addEventListener("abort", onAbort, { once: true });
      this.#syncWaiters.push((synced) => {
        signal?.removeEventListener("abort", onAbort);
        resolve(synced);
      });
    });
  }

  /**
   * Healthy while the list/watch loop makes progress: a silent watch is reopened by the watchdog, errors are
   * retried with capped back-off, so a loop that has not moved for longer than both is wedged.
   */
  healthy(): { ok: boolean; reason?: string } {
    if (!this.#loop) return { ok: true };
    const maxBackoff = this.#options.backoff?.maxMs ?? 30_000;
    const silentFor = this.#clock.now() - this.#lastProgress;
    if (silentFor > this.#watchdogMs + maxBackoff + 60_000) {
      return { ok: false, reason: `informer ${this.name} made no progress for ${Math.round(silentFor / 1000)}s` };
    }
    return { ok: true };
  }

  start(): void {
    if (this.#loop) return;
    this.#abort = new AbortController();
    this.#lastProgress = this.#clock.now();
    this.#loop = this.#run(this.#abort.signal);
    this.#scheduleResync();
  }

  async stop(): Promise<void> {
    this.#abort?.abort();
    this.#resyncTimer?.cancel();
    this.#resyncTimer = undefined;
    await this.#loop;
    this.#loop = undefined;
    for (const w of this.#syncWaiters.splice(0)) w(false);
  }

  // -------------------------------------------------------------------------------------------------------------

  async #run(signal: AbortSignal): Promise<void> {
    let needList = true;
    let failures = 0;
    let lists = 0;
    while (!signal.aborted) {
      this.#lastProgress = this.#clock.now();
      try {
        if (needList) {
          if (lists > 0) this.#metrics?.informerRelists.inc({ resource: this.name });
          await this.#relist(signal);
          lists++;
          needList = false;
        }
        const started = this.#clock.now();
        const { reason, events } = await this.#watch(signal);
        if (signal.aborted) break;
        this.#metrics?.informerWatchRestarts.inc({ resource: this.name, reason });
        if (reason === "expired") {
          this.#log.info({ resourceVersion: this.#resourceVersion }, "watch history expired (410 Gone); relisting");
          needList = true;
          failures = 0;
          continue;
        }
        if (reason === "watchdog") {
          this.#log.warn({ silentMs: this.#watchdogMs }, "watch went silent; reopening it");
        }
        // A watch the server closes at once, again and again, must not turn into a busy loop.
        if (events === 0 && this.#clock.now() - started < 1000) {
          failures++;
          await this.#clock.sleep(this.#backoff(failures), signal);
        } else {
          failures = 0;
        }
      } catch (err) {
        if (signal.aborted) break;
        if (isGone(err)) {
          this.#log.info("resourceVersion expired (410 Gone); relisting");
          this.#metrics?.informerWatchRestarts.inc({ resource: this.name, reason: "expired" });
          needList = true;
          continue;
        }
        failures++;
        const delay = this.#backoff(failures);
        this.#metrics?.informerWatchRestarts.inc({ resource: this.name, reason: "error" });
        this.#log.warn(
          { err, retryInMs: delay, failures },
          needList ? "list failed; retrying" : "watch failed; retrying",
        );
        await this.#clock.sleep(delay, signal);
      }
    }
  }

  #backoff(failures: number): number {
    const initial = this.#options.backoff?.initialMs ?? 800;
    const max = this.#options.backoff?.maxMs ?? 30_000;
    const base = Math.min(initial * 2 ** (failures - 1), max);
    // Jitter spreads reconnects of many informers after an API server restart.
    return Math.round(base * (0.5 + Math.random() / 2));
  }

  async #relist(signal: AbortSignal): Promise<void> {
    const listed = await this.#listPages(signal);
    const fresh = listed.objects;
    const delta = diffCache(this.#cache, fresh);
    for (const [key, obj] of fresh) this.#store(key, obj);
    for (const obj of delta.deleted) this.#remove(keyOf(obj));
    this.#resourceVersion = listed.resourceVersion;
    this.#updateGauge();
    this.#log.debug(
      {
        added: delta.added.length,
        updated: delta.updated.length,
        deleted: delta.deleted.length,
        resourceVersion: listed.resourceVersion,
      },
      "listed",
    );
    for (const obj of delta.added) this.#emit("add", obj);
    for (const [old, obj] of delta.updated) this.#emit("update", old, obj);
    for (const obj of delta.deleted) this.#emit("delete", obj);
    if (!this.#synced) {
      this.#synced = true;
      for (const w of this.#syncWaiters.splice(0)) w(true);
    }
  }

  /**
   * The whole collection, one page at a time, each page transformed as it arrives: a large collection is never one
   * response body, one parse and one array of untransformed objects at once (what the cache saves would otherwise
   * be needed at every relist). A continue token the server no longer honours (410: its revision was compacted
   * between pages) restarts the list; after a few of those in a row, one unpaginated list, as client-go's pager
   * falls back to, because paging evidently cannot outpace compaction here.
   */
  async #listPages(signal: AbortSignal): Promise<{ objects: Map<string, T>; resourceVersion: string }> {
    const { namespace, labelSelector, fieldSelector } = this.#options;
    const base = { namespace: namespace || undefined, labelSelector, fieldSelector, signal };
    const pageSize = this.#options.pageSize ?? 500;
    for (let attempt = 1; ; attempt++) {
      const objects = new Map<string, T>();
      const limit = attempt <= maxPagedListAttempts ? pageSize : undefined;
      let next: string | undefined;
      let resourceVersion = "";
      try {
        do {
          const page = await this.#kube.list(this.resource, { ...base, limit, continue: next });
          for (const item of page.items) {
            const obj = this.#transform(item);
            objects.set(keyOf(obj), obj);
          }
          resourceVersion = page.resourceVersion;
          next = page.continue;
          this.#lastProgress = this.#clock.now();
        } while (next);
        return { objects, resourceVersion };
      } catch (err) {
        if (!(isGone(err) && next !== undefined)) throw err;
        this.#metrics?.informerRelists.inc({ resource: this.name });
        this.#log.info({ attempt, listedSoFar: objects.size }, "list continue token expired (410 Gone); listing again");
      }
    }
  }

  async #watch(signal: AbortSignal): Promise<{ reason: WatchEndReason; events: number }> {
    const { namespace, labelSelector, fieldSelector } = this.#options;
    const abort = new AbortController();
    const onStop = () => abort.abort();
    signal.addEventListener("abort", onStop, { once: true });
    let lastActivity = this.#clock.now();
    let watchdogFired = false;
    let timer: Timer | undefined;
    const arm = (ms: number) => {
      timer = this.#clock.setTimeout(() => {
        const silent = this.#clock.now() - lastActivity;
        if (silent >= this.#watchdogMs) {
          watchdogFired = true;
          abort.abort();
        } else {
          arm(this.#watchdogMs - silent);
        }
      }, ms);
    };
    arm(this.#watchdogMs);
    let events = 0;
    try {
      const stream = this.#kube.watch(this.resource, {
        namespace: namespace || undefined,
        labelSelector,
        fieldSelector,
        resourceVersion: this.#resourceVersion,
        allowWatchBookmarks: true,
        timeoutSeconds: this.#options.watchTimeoutSeconds ?? Math.floor(300 + Math.random() * 300),
        signal: abort.signal,
        onActivity: () => {
          lastActivity = this.#clock.now();
          this.#lastProgress = lastActivity;
        },
      });
      for await (const event of stream) {
        events++;
        if (event.type === "ERROR") {
          const status = event.object;
          if (status.code === 410 || status.reason === "Expired" || status.reason === "Gone") {
            return { reason: "expired", events };
          }
          throw watchError(this.name, status);
        }
        this.#apply(event);
      }
      return { reason: watchdogFired ? "watchdog" : "closed", events };
    } catch (err) {
      if (watchdogFired) return { reason: "watchdog", events };
      if (signal.aborted) return { reason: "closed", events };
      throw err;
    } finally {
      timer?.cancel();
      signal.removeEventListener("abort", onStop);
    }
  }

  #apply(event: Exclude<WatchEvent<T>, { type: "ERROR" }>): void {
    const rv = event.object.metadata?.resourceVersion;
    if (event.type === "BOOKMARK") {
      if (rv) this.#resourceVersion = rv;
      return;
    }
    const obj = this.#transform(event.object);
    const key = keyOf(obj);
    const old = this.#cache.get(key);
    if (event.type === "DELETED") {
      this.#remove(key);
      if (rv) this.#resourceVersion = rv;
      this.#updateGauge();
      this.#emit("delete", obj);
      return;
    }
    this.#store(key, obj);
    if (rv) this.#resourceVersion = rv;
    this.#updateGauge();
    if (old) this.#emit("update", old, obj);
    else this.#emit("add", obj);
  }

  #store(key: string, obj: T): void {
    const old = this.#cache.get(key);
    if (old) for (const index of this.#indexes.values()) this.#indexRemove(index, key, old);
    this.#cache.set(key, obj);
    for (const index of this.#indexes.values()) this.#indexAdd(index, key, obj);
  }

  #remove(key: string): void {
    const old = this.#cache.get(key);
    if (!old) return;
    for (const index of this.#indexes.values()) this.#indexRemove(index, key, old);
    this.#cache.delete(key);
  }

  #indexAdd(index: Index<T>, key: string, obj: T): void {
    for (const value of index.fn(obj)) {
      let keys = index.values.get(value);
      if (!keys) {
        keys = new Set();
        index.values.set(value, keys);
      }
      keys.add(key);
    }
  }

  #indexRemove(index: Index<T>, key: string, obj: T): void {
    for (const value of index.fn(obj)) {
      const keys = index.values.get(value);
      keys?.delete(key);
      if (keys?.size === 0) index.values.delete(value);
    }
  }

  #emit(kind: "add" | "delete", obj: T): void;
  #emit(kind: "update", old: T, obj: T): void;
  #emit(kind: "add" | "update" | "delete", a: T, b?: T): void {
    for (const handlers of this.#handlers) {
      if (kind === "update") this.#call(handlers, kind, a, b as T);
      else this.#call(handlers, kind, a);
    }
  }

  #call(handlers: InformerHandlers<T>, kind: "add" | "update" | "delete", a: T, b?: T): void {
    try {
      if (kind === "add") handlers.add?.(a);
      else if (kind === "update") handlers.update?.(a, b as T);
      else handlers.delete?.(a);
    } catch (err) {
      // A failing handler must not stop the informer or starve the other handlers.
      this.#log.error({ err, key: keyOf(a) }, `${kind} handler failed`);
    }
  }

  #scheduleResync(): void {
    const period = this.#options.resyncPeriodMs ?? 0;
    if (period <= 0) return;
    this.#resyncTimer = this.#clock.setTimeout(() => {
      if (this.#abort?.signal.aborted) return;
      if (this.#synced) {
        for (const obj of this.#cache.values()) this.#emit("update", obj, obj);
      }
      this.#scheduleResync();
    }, period);
  }

  #updateGauge(): void {
    this.#metrics?.informerObjects.set({ resource: this.name }, this.#cache.size);
  }
}

function watchError(name: string, status: Status): KubeApiError {
  return new KubeApiError("WATCH", name, status.code ?? 500, status);
}
