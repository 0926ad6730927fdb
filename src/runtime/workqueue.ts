import { type Clock, realClock, type Timer } from "./clock.ts";
import type { RuntimeMetrics } from "./metrics.ts";

// A work queue with client-go/controller-runtime semantics:
// - a key is queued at most once however often it is added (dirty set);
// - a key added while a worker holds it is not handed to a second worker; it gets exactly one more pass after
//   `done` (processing set);
// - per-key exponential back-off for failures (`addRateLimited`, `forget`), and `addAfter` for requeue-after
//   where the earliest requested time wins (an immediate add supersedes a pending delay, as in
//   controller-runtime's priority queue, so a key never runs twice for one request);
// - `shutdown` stops accepting keys; `shutdownWithDrain` also waits until every handed-out key is done.

export interface RateLimiter<K> {
  /** Delay before the item may be retried; counts one more failure. */
  when(item: K): number;
  /** Clears the item's failure history (call after success). */
  forget(item: K): void;
  /** Failures counted since the last forget. */
  numRequeues(item: K): number;
}

/** base·2^failures, capped: 5 ms, 10 ms, 20 ms … 1000 s with the controller defaults. */
export class ExponentialBackoff<K> implements RateLimiter<K> {
  readonly baseMs: number;
  readonly maxMs: number;
  #failures = new Map<K, number>();

  constructor(baseMs = 5, maxMs = 1_000_000) {
    this.baseMs = baseMs;
    this.maxMs = maxMs;
  }

  when(item: K): number {
    const exp = this.#failures.get(item) ?? 0;
    this.#failures.set(item, exp + 1);
    // 2^exp overflows to Infinity long after the cap, so the min keeps it finite.
    return Math.min(this.baseMs * 2 ** exp, this.maxMs);
  }

  forget(item: K): void {
    this.#failures.delete(item);
  }

  numRequeues(item: K): number {
    return this.#failures.get(item) ?? 0;
  }
}

/** Overall token bucket (qps, burst), so a storm of failures across many keys cannot hammer a dependency. */
export class TokenBucket<K> implements RateLimiter<K> {
  readonly qps: number;
  readonly burst: number;
  #tokens: number;
  #last: number;
  #clock: Clock;

  constructor(qps = 10, burst = 100, clock: Clock = realClock) {
    this.qps = qps;
    this.burst = burst;
    this.#tokens = burst;
    this.#clock = clock;
    this.#last = clock.now();
  }

  when(_item: K): number {
    const now = this.#clock.now();
    this.#tokens = Math.min(this.burst, this.#tokens + ((now - this.#last) * this.qps) / 1000);
    this.#last = now;
    this.#tokens -= 1;
    return this.#tokens >= 0 ? 0 : Math.ceil((-this.#tokens * 1000) / this.qps);
  }

  forget(_item: K): void {}

  numRequeues(_item: K): number {
    return 0;
  }
}

/** The longest delay any of the limiters asks for. */
export class MaxOf<K> implements RateLimiter<K> {
  #limiters: RateLimiter<K>[];

  constructor(...limiters: RateLimiter<K>[]) {
    this.#limiters = limiters;
  }

  when(item: K): number {
    return Math.max(...this.#limiters.map((l) => l.when(item)));
  }

  forget(item: K): void {
    for (const l of this.#limiters) l.forget(item);
  }

  numRequeues(item: K): number {
    return Math.max(...this.#limiters.map((l) => l.numRequeues(item)));
  }
}

/** controller-runtime's default: per-item 5 ms…1000 s exponential, and 10 qps / burst 100 overall. */
export function defaultControllerRateLimiter<K>(clock: Clock = realClock): RateLimiter<K> {
  return new MaxOf<K>(new ExponentialBackoff<K>(5, 1_000_000), new TokenBucket<K>(10, 100, clock));
}

// Min-heap of delayed items; stale entries (superseded by an earlier time) are skipped when popped.
interface Delayed<K> {
  item: K;
  readyAt: number;
}

class DelayHeap<K> {
  #heap: Delayed<K>[] = [];

  get size(): number {
    return this.#heap.length;
  }

  peek(): Delayed<K> | undefined {
    return this.#heap[0];
  }

  push(entry: Delayed<K>): void {
    const h = this.#heap;
    h.push(entry);
    let i = h.length - 1;
    while (i > 0) {
      const parent = (i - 1) >> 1;
      const p = h[parent] as Delayed<K>;
      if (p.readyAt <= entry.readyAt) break;
      h[i] = p;
      i = parent;
    }
    h[i] = entry;
  }

  pop(): Delayed<K> | undefined {
    const h = this.#heap;
    const top = h[0];
    const last = h.pop();
    if (top === undefined || last === undefined || h.length === 0) return top;
    // Sift the last entry down from the root.
    let i = 0;
    for (;;) {
      const l = 2 * i + 1;
      const r = l + 1;
      let smallest = last;
      let at = i;
      const left = h[l];
      const right = h[r];
      if (left !== undefined && left.readyAt < smallest.readyAt) {
        smallest = left;
        at = l;
      }
      if (right !== undefined && right.readyAt < smallest.readyAt) {
        smallest = right;
        at = r;
      }
      if (at === i) break;
      h[i] = smallest;
      i = at;
    }
    h[i] = last;
    return top;
  }

  clear(): void {
    this.#heap = [];
  }
}

export interface WorkQueueOptions<K> {
  /** Controller name; labels the metrics. */
  name: string;
  clock?: Clock;
  rateLimiter?: RateLimiter<K>;
  metrics?: RuntimeMetrics;
}

export class WorkQueue<K extends string = string> {
  readonly name: string;
  #clock: Clock;
  #limiter: RateLimiter<K>;
  #metrics: RuntimeMetrics | undefined;

  #queue: K[] = [];
  #head = 0;
  #dirty = new Set<K>();
  #processing = new Set<K>();
  #queuedAt = new Map<K, number>();
  #getters: Array<(item: K | undefined) => void> = [];

  #delayed = new Map<K, number>();
  #heap = new DelayHeap<K>();
  #timer: Timer | undefined;
  #timerAt = Number.POSITIVE_INFINITY;

  #shuttingDown = false;
  #drainWaiters: Array<() => void> = [];

  constructor(options: WorkQueueOptions<K>) {
    this.name = options.name;
    this.#clock = options.clock ?? realClock;
    this.#limiter = options.rateLimiter ?? defaultControllerRateLimiter<K>(this.#clock);
    this.#metrics = options.metrics;
    this.#updateDepth();
  }

  get shuttingDown(): boolean {
    return this.#shuttingDown;
  }

  /** Keys ready to be handed out. */
  len(): number {
    return this.#queue.length - this.#head;
  }

  /** Keys waiting for their addAfter/back-off time. */
  delayedLen(): number {
    return this.#delayed.size;
  }

  /** Keys handed to a worker and not yet done. */
  processingLen(): number {
    return this.#processing.size;
  }

  add(item: K): void {
    if (this.#shuttingDown) return;
    // Ready now supersedes any later time the key was waiting for: each key is in the queue once.
    this.#delayed.delete(item);
    if (this.#dirty.has(item)) return;
    this.#dirty.add(item);
    this.#metrics?.workqueueAdds.inc({ controller: this.name });
    // A key being worked on is queued again only when its worker calls done().
    if (this.#processing.has(item)) return;
    this.#enqueue(item);
  }

  /** Adds the key once `delayMs` has passed; when it is already waiting, the earlier time wins. */
  addAfter(item: K, delayMs: number): void {
    if (this.#shuttingDown) return;
    if (delayMs <= 0) {
      this.add(item);
      return;
    }
    if (this.#dirty.has(item)) return; // already ready, which is earlier than any delay
    const readyAt = this.#clock.now() + delayMs;
    const current = this.#delayed.get(item);
    if (current !== undefined && current <= readyAt) return;
    this.#delayed.set(item, readyAt);
    this.#heap.push({ item, readyAt });
    this.#schedule();
  }

  /** Adds the key after its back-off (which grows with each call until `forget`). */
  addRateLimited(item: K): void {
    if (this.#shuttingDown) return;
    this.#metrics?.workqueueRetries.inc({ controller: this.name });
    this.addAfter(item, this.#limiter.when(item));
  }

  /** Ends the key's back-off history; the next failure starts again at the base delay. */
  forget(item: K): void {
    this.#limiter.forget(item);
  }

  numRequeues(item: K): number {
    return this.#limiter.numRequeues(item);
  }

  /**
   * The next key to work on; waits until there is one. Resolves undefined once the queue is shut down and
   * empty. The caller must call done(key) when finished.
   */
  get(): Promise<K | undefined> {
    const item = this.#take();
    if (item !== undefined) return Promise.resolve(item);
    if (this.#shuttingDown) return Promise.resolve(undefined);
    return new Promise((resolve) => this.#getters.push(resolve));
  }

  /** Marks the key finished; if it was added meanwhile, it is queued for one more pass. */
  done(item: K): void {
    this.#processing.delete(item);
    if (this.#dirty.has(item)) this.#enqueue(item);
    this.#checkDrained();
  }

  /** Stops accepting keys, cancels delayed ones, and wakes idle getters. Queued keys can still be taken. */
  shutdown(): void {
    if (this.#shuttingDown) return;
    this.#shuttingDown = true;
    this.#timer?.cancel();
    this.#timer = undefined;
    this.#delayed.clear();
    this.#heap.clear();
    if (this.len() === 0) {
      for (const g of this.#getters.splice(0)) g(undefined);
    }
    this.#checkDrained();
  }

  /** Shuts down and resolves once every queued key was taken and every taken key is done. */
  shutdownWithDrain(): Promise<void> {
    this.shutdown();
    return new Promise((resolve) => {
      this.#drainWaiters.push(resolve);
      this.#checkDrained();
    });
  }

  #enqueue(item: K): void {
    this.#queue.push(item);
    this.#queuedAt.set(item, this.#clock.now());
    this.#updateDepth();
    const getter = this.#getters.shift();
    if (getter) getter(this.#take());
  }

  #take(): K | undefined {
    if (this.len() === 0) return undefined;
    const item = this.#queue[this.#head] as K;
    this.#head++;
    if (this.#head > 1024 && this.#head * 2 > this.#queue.length) {
      this.#queue = this.#queue.slice(this.#head);
      this.#head = 0;
    }
    this.#dirty.delete(item);
    this.#processing.add(item);
    const queuedAt = this.#queuedAt.get(item);
    this.#queuedAt.delete(item);
    if (queuedAt !== undefined) {
      this.#metrics?.workqueueWait.observe({ controller: this.name }, (this.#clock.now() - queuedAt) / 1000);
    }
    this.#updateDepth();
    if (this.#shuttingDown && this.len() === 0) {
      for (const g of this.#getters.splice(0)) g(undefined);
    }
    return item;
  }

  #schedule(): void {
    const next = this.#heap.peek();
    if (!next) return;
    if (this.#timer && this.#timerAt <= next.readyAt) return;
    this.#timer?.cancel();
    this.#timerAt = next.readyAt;
    this.#timer = this.#clock.setTimeout(() => this.#fireDue(), Math.max(0, next.readyAt - this.#clock.now()));
  }

  #fireDue(): void {
    this.#timer = undefined;
    this.#timerAt = Number.POSITIVE_INFINITY;
    const now = this.#clock.now();
    for (;;) {
      const next = this.#heap.peek();
      if (!next || next.readyAt > now) break;
      this.#heap.pop();
      // Skip entries superseded by an earlier addAfter for the same key.
      if (this.#delayed.get(next.item) !== next.readyAt) continue;
      this.#delayed.delete(next.item);
      this.add(next.item);
    }
    this.#schedule();
  }

  #checkDrained(): void {
    if (!this.#shuttingDown || this.#processing.size > 0 || this.len() > 0) return;
    for (const w of this.#drainWaiters.splice(0)) w();
  }

  #updateDepth(): void {
    this.#metrics?.workqueueDepth.set({ controller: this.name }, this.len());
  }
}
