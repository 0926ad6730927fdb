/** Time source for the budget; tests inject a fake one. */
export interface BudgetClock {
  now(): number;
  setTimeout(fn: () => void, ms: number): unknown;
  clearTimeout(handle: unknown): void;
}

export interface RequestBudgetOptions {
  /** Sustained requests per second. Default 5. */
  ratePerSecond?: number;
  /** Requests allowed at once after a quiet period. Default: one second's worth, at least 1. */
  burst?: number;
  clock?: BudgetClock;
}

interface Waiter {
  resolve: () => void;
  reject: (reason: unknown) => void;
  signal: AbortSignal | undefined;
  onAbort: (() => void) | undefined;
}

const realClock: BudgetClock = {
  now: () => performance.now(),
  setTimeout: (fn, ms) => setTimeout(fn, ms),
  clearTimeout: (handle) => clearTimeout(handle as ReturnType<typeof setTimeout>),
};

/**
 * A token bucket shared by every reconciler talking to one Bitbucket, so the operator as a whole stays under
 * the rate Bitbucket's own limiter allows. Waiters are served strictly first come, first served, so a burst of
 * work from one reconciler cannot starve another.
 */
export class RequestBudget {
  readonly ratePerSecond: number;
  readonly burst: number;
  readonly #clock: BudgetClock;
  readonly #queue: Waiter[] = [];
  #tokens: number;
  #last: number;
  #timer: unknown;

  constructor(options: RequestBudgetOptions = {}) {
    const rate = options.ratePerSecond ?? 5;
    const burst = options.burst ?? Math.max(1, rate);
    if (!(rate > 0) || !Number.isFinite(rate)) throw new RangeError("ratePerSecond must be a positive number");
    if (!(burst >= 1) || !Number.isFinite(burst)) throw new RangeError("burst must be at least 1");
    this.ratePerSecond = rate;
    this.burst = burst;
    this.#clock = options.clock ?? realClock;
    this.#tokens = burst;
    this.#last = this.#clock.now();
  }

  /** Requests waiting for a token. */
  get waiting(): number {
    return this.#queue.length;
  }

  /** Resolves when the caller may send one request; rejects with the signal's reason if aborted first. */
  acquire(signal?: AbortSignal): Promise<void> {
    if (signal?.aborted) return Promise.reject(signal.reason);
    this.#refill();
    if (this.#queue.length === 0 && this.#tokens >= 1) {
      this.#tokens -= 1;
      return Promise.resolve();
    }
    return new Promise<void>((resolve, reject) => {
      const waiter: Waiter = { resolve, reject, signal, onAbort: undefined };
      if (signal) {
        waiter.onAbort = () => this.#abandon(waiter);
        signal.addEventListener("abort", waiter.onAbort, { once: true });
      }
      this.#queue.push(waiter);
      this.#schedule();
    });
  }

  #abandon(waiter: Waiter): void {
    const index = this.#queue.indexOf(waiter);
    if (index < 0) return;
    this.#queue.splice(index, 1);
    waiter.reject(waiter.signal?.reason);
    if (this.#queue.length === 0 && this.#timer !== undefined) {
      this.#clock.clearTimeout(this.#timer);
      this.#timer = undefined;
    }
  }

  #refill(): void {
    const now = this.#clock.now();
    const elapsed = Math.max(0, now - this.#last);
    this.#tokens = Math.min(this.burst, this.#tokens + (elapsed * this.ratePerSecond) / 1000);
    this.#last = now;
  }

  #drain(): void {
    this.#refill();
    while (this.#queue.length > 0 && this.#tokens >= 1) {
      this.#tokens -= 1;
      const waiter = this.#queue.shift() as Waiter;
      if (waiter.onAbort) waiter.signal?.removeEventListener("abort", waiter.onAbort);
      waiter.resolve();
    }
    this.#schedule();
  }

  #schedule(): void {
    if (this.#timer !== undefined || this.#queue.length === 0) return;
    const waitMs = Math.max(1, Math.ceil(((1 - this.#tokens) * 1000) / this.ratePerSecond));
    this.#timer = this.#clock.setTimeout(() => {
      this.#timer = undefined;
      this.#drain();
    }, waitMs);
  }
}
