/**
 * One token bucket per user (reference §7.4): `capacity` requests in a burst, refilled at `refillPerSecond`.
 * Time comes from the simulator clock, so a test refills a bucket with clock.advance() instead of sleeping.
 */
export interface RateLimitSettings {
  enabled: boolean;
  capacity: number;
  refillPerSecond: number;
}

export type RateDecision = { allowed: true; remaining: number } | { allowed: false; retryAfterSeconds: number };

interface Bucket {
  tokens: number;
  updatedAt: number;
}

export class RateLimiter {
  private readonly buckets = new Map<string, Bucket>();
  private settings: RateLimitSettings;
  private readonly now: () => number;

  constructor(settings: RateLimitSettings, now: () => number) {
    this.settings = { ...settings };
    this.now = now;
  }

  get current(): RateLimitSettings {
    return { ...this.settings };
  }

  configure(settings: Partial<RateLimitSettings>): void {
    this.settings = { ...this.settings, ...settings };
    this.buckets.clear();
  }

  /** Takes one token from the user's bucket. */
  take(userKey: string): RateDecision {
    const { capacity, refillPerSecond, enabled } = this.settings;
    if (!enabled) return { allowed: true, remaining: capacity };
    const now = this.now();
    const bucket = this.buckets.get(userKey) ?? { tokens: capacity, updatedAt: now };
    const elapsed = Math.max(0, now - bucket.updatedAt) / 1000;
    bucket.tokens = Math.min(capacity, bucket.tokens + elapsed * refillPerSecond);
    bucket.updatedAt = now;
    this.buckets.set(userKey, bucket);
    if (bucket.tokens >= 1) {
      bucket.tokens -= 1;
      return { allowed: true, remaining: Math.floor(bucket.tokens) };
    }
    return { allowed: false, retryAfterSeconds: Math.max(1, Math.ceil((1 - bucket.tokens) / refillPerSecond)) };
  }
}

/**
 * A rolling window (Bitbucket Cloud, reference §6.6: "rolling one hour"): at most `limit` requests per key in any
 * `windowMs`. Times come from the simulator clock.
 */
export class WindowLimiter {
  private readonly hits = new Map<string, number[]>();
  private readonly now: () => number;
  private readonly windowMs: number;

  constructor(now: () => number, windowMs: number) {
    this.now = now;
    this.windowMs = windowMs;
  }

  /** Counts one request; `allowed: false` when `limit` were already made inside the window. */
  take(key: string, limit: number): { allowed: boolean; remaining: number } {
    const now = this.now();
    const kept = (this.hits.get(key) ?? []).filter((t) => t > now - this.windowMs);
    this.hits.set(key, kept);
    if (kept.length >= limit) return { allowed: false, remaining: 0 };
    kept.push(now);
    return { allowed: true, remaining: limit - kept.length };
  }

  clear(): void {
    this.hits.clear();
  }
}
