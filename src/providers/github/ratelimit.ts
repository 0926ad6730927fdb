// GitHub's rate limits, read from its headers (docs: "Rate limits for the REST API"):
// - primary: `x-ratelimit-limit`, `-remaining`, `-used`, `-reset` (epoch seconds) and `-resource` (`core`,
//   `search`, …) on every answer; an installation has 5,000 requests an hour on github.com (more on large orgs);
// - exceeded primary limit: 403 or 429 with `x-ratelimit-remaining: 0`: wait until `x-ratelimit-reset`;
// - secondary limits (too many concurrent requests, too many writes a minute): 403 or 429, with `retry-after`
//   seconds when GitHub says, otherwise at least a minute (GitHub's advice).
// A 403 that is none of these is a real refusal (missing permission) and is not retried.
//
// Baton's budget design is a token bucket per host (bitbucket/budget.ts) in front of every attempt. For GitHub the
// bucket keeps its role (smoothing bursts), and `RateLimitGate` adds what GitHub tells: once the core resource is
// spent (down to an optional reserve), new calls wait for the reset instead of drawing 403s, which GitHub counts
// against an integration that keeps calling. Limits are per principal (the App's JWT, each installation, a
// personal token), so each credential's transport has its own gate.
import type { IncomingHttpHeaders } from "node:http";
import { z } from "zod";
import type { Clock } from "../../runtime/clock.ts";
import type { CallOptions, HttpTransport, RawResponse, RequestBudgetLike } from "../http/http.ts";

export interface RateLimitState {
  resource: string;
  limit: number;
  remaining: number;
  /** Epoch milliseconds when `remaining` goes back to `limit`. */
  resetAt: number;
}

function header(headers: IncomingHttpHeaders, name: string): string | undefined {
  const value = headers[name];
  return Array.isArray(value) ? value[0] : value;
}

function integer(text: string | undefined): number | undefined {
  if (text === undefined || !/^\d+$/.test(text.trim())) return undefined;
  return Number(text.trim());
}

/** The primary limit's state from an answer's headers; undefined when GitHub sent none (GHES with limits off). */
export function readRateLimit(headers: IncomingHttpHeaders): RateLimitState | undefined {
  const limit = integer(header(headers, "x-ratelimit-limit"));
  const remaining = integer(header(headers, "x-ratelimit-remaining"));
  const reset = integer(header(headers, "x-ratelimit-reset"));
  if (limit === undefined || remaining === undefined || reset === undefined) return undefined;
  return { resource: header(headers, "x-ratelimit-resource") ?? "core", limit, remaining, resetAt: reset * 1000 };
}

/** GitHub's advice for a secondary limit without `retry-after`: wait at least a minute. */
export const secondaryLimitWaitMs = 60_000;

/**
 * For the transport's `rateLimitWaitMs`: how long to wait before repeating `res`, or undefined when it is not a
 * rate-limit refusal. `now` is epoch milliseconds.
 */
export function githubRateLimitWaitMs(res: RawResponse, now: number): number | undefined {
  if (res.status !== 403 && res.status !== 429) return undefined;
  const retryAfter = integer(header(res.headers, "retry-after"));
  if (retryAfter !== undefined) return retryAfter * 1000;
  const state = readRateLimit(res.headers);
  if (state !== undefined && state.remaining === 0) return Math.max(1000, state.resetAt - now + 1000);
  if (res.status === 429 || /secondary rate limit|abuse/i.test(res.body.toString("utf8", 0, 4096))) {
    return secondaryLimitWaitMs;
  }
  return undefined;
}

export interface RateLimitGateOptions {
  /** The host's token bucket, awaited first. */
  budget?: RequestBudgetLike;
  clock: Clock;
  /** Calls left unspent in each window (for another process sharing the installation). Default 0. */
  reserve?: number;
}

/**
 * A RequestBudgetLike that also obeys what GitHub's headers say. `observe` is fed every answer's headers (the
 * transport's `onResponseHeaders`); `acquire` waits for the reset while the core resource is at its reserve.
 */
export class RateLimitGate implements RequestBudgetLike {
  readonly #budget: RequestBudgetLike | undefined;
  readonly #clock: Clock;
  readonly #reserve: number;
  #core: RateLimitState | undefined;

  constructor(options: RateLimitGateOptions) {
    this.#budget = options.budget;
    this.#clock = options.clock;
    this.#reserve = options.reserve ?? 0;
  }

  /** The last core state GitHub reported. */
  get core(): RateLimitState | undefined {
    return this.#core;
  }

  observe(headers: IncomingHttpHeaders): void {
    const state = readRateLimit(headers);
    if (state === undefined || state.resource !== "core") return;
    const known = this.#core;
    // Answers arrive out of order; within one window the smaller remaining is the later one.
    if (known !== undefined && known.resetAt === state.resetAt && known.remaining < state.remaining) return;
    this.#core = state;
  }

  /** Milliseconds until a call may be made (0: now). */
  waitMs(): number {
    const core = this.#core;
    if (core === undefined) return 0;
    const now = this.#clock.now();
    if (now >= core.resetAt) return 0;
    return core.remaining > this.#reserve ? 0 : core.resetAt - now;
  }

  async acquire(signal?: AbortSignal): Promise<void> {
    for (;;) {
      signal?.throwIfAborted();
      const wait = this.waitMs();
      if (wait === 0) break;
      await this.#clock.sleep(wait, signal);
    }
    await this.#budget?.acquire(signal);
    // Counted down locally so that concurrent callers do not all spend the reserve before an answer arrives.
    if (this.#core !== undefined && this.#core.remaining > 0) {
      this.#core = { ...this.#core, remaining: this.#core.remaining - 1 };
    }
  }
}

const Resource = z.object({ limit: z.number(), remaining: z.number(), reset: z.number() });
const RateLimitAnswer = z.object({ resources: z.object({ core: Resource }) });

/**
 * The core limit as `GET /rate_limit` reports it (a call that does not count against the limit): read once when
 * a credential is first used, so the gate knows the window before the first answer's headers arrive.
 */
export async function fetchRateLimit(http: HttpTransport, call: CallOptions = {}): Promise<RateLimitState> {
  const { data } = await http.json({ group: "server", method: "GET", path: "/rate_limit" }, RateLimitAnswer, call);
  const core = data.resources.core;
  return { resource: "core", limit: core.limit, remaining: core.remaining, resetAt: core.reset * 1000 };
}
