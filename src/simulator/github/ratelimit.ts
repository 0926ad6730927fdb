/**
 * GitHub's primary rate limit: a fixed budget per caller per hour, the window starting with the caller's first
 * request. Every answer reports it in `x-ratelimit-*`; time is the simulator clock's.
 */
export interface PrimaryDecision {
  allowed: boolean;
  limit: number;
  remaining: number;
  used: number;
  /** Epoch seconds when the window resets. */
  reset: number;
}

const WINDOW_MS = 60 * 60 * 1000;

export class PrimaryRateLimit {
  private readonly windows = new Map<string, { start: number; used: number }>();
  private readonly defaultLimit: number;
  private readonly now: () => number;

  constructor(defaultLimit: number, now: () => number) {
    this.defaultLimit = defaultLimit;
    this.now = now;
  }

  /** Counts one request of `key` (refused ones are not counted, as on GitHub). */
  take(key: string, limit: number = this.defaultLimit): PrimaryDecision {
    const now = this.now();
    let window = this.windows.get(key);
    if (!window || now >= window.start + WINDOW_MS) {
      window = { start: now, used: 0 };
      this.windows.set(key, window);
    }
    const allowed = window.used < limit;
    if (allowed) window.used++;
    return {
      allowed,
      limit,
      remaining: Math.max(0, limit - window.used),
      used: window.used,
      reset: Math.ceil((window.start + WINDOW_MS) / 1000),
    };
  }

  /** What `key` has left, without counting a request (GET /rate_limit does not count). */
  peek(key: string, limit: number = this.defaultLimit): PrimaryDecision {
    const now = this.now();
    const window = this.windows.get(key);
    const live = window && now < window.start + WINDOW_MS ? window : { start: now, used: 0 };
    return {
      allowed: live.used < limit,
      limit,
      remaining: Math.max(0, limit - live.used),
      used: live.used,
      reset: Math.ceil((live.start + WINDOW_MS) / 1000),
    };
  }

  reset(): void {
    this.windows.clear();
  }
}
