import type { IncomingHttpHeaders } from "node:http";
import { setTimeout as sleepFor } from "node:timers/promises";
import { type Dispatcher, Pool } from "undici";
import type { z } from "zod";
import { type AuthSource, authorizationHeader, type Credential, resolveAuth, secretsOf } from "./auth.ts";
import {
  type EndpointGroup,
  type HttpMethod,
  InvalidCredentialsError,
  ProviderError,
  type RequestContext,
} from "./errors.ts";
import {
  type AttemptFailure,
  describe,
  finalError,
  isLibraryTimeout,
  networkFailure,
  rateLimitedError,
  retryAfterMs,
  statusError,
  tooLarge,
} from "./failures.ts";
import { parseBody } from "./parse.ts";
import { type Query, queryString } from "./url.ts";

/** One per HTTP attempt, for metrics. */
export interface ResponseEvent {
  group: EndpointGroup;
  method: HttpMethod;
  /** HTTP status, or 0 when no response arrived (network error or timeout). */
  status: number;
  durationMs: number;
  /** 1-based attempt number within the call. */
  attempt: number;
  rateLimited: boolean;
}

/** Awaited before every HTTP attempt; see RequestBudget in budget.ts. */
export interface RequestBudgetLike {
  acquire(signal?: AbortSignal): Promise<void>;
}

export interface RetryOptions {
  /** Attempts in total for 5xx, network errors and timeouts on idempotent calls. Default 3. */
  maxAttempts?: number;
  baseDelayMs?: number;
  maxDelayMs?: number;
}

export interface RateLimitOptions {
  /** Attempts in total when Bitbucket answers 429. Default 4. */
  maxAttempts?: number;
  /** Total time one call may spend waiting for `Retry-After`. Default 30 s. */
  maxTotalWaitMs?: number;
  /** Wait when a 429 has no usable `Retry-After`, as Atlassian's own clients do. Default 5 s. */
  defaultRetryAfterMs?: number;
}

export interface TransportOptions {
  /** The API's base URL, including any context path (`https://host/bitbucket`). */
  baseUrl: string | URL;
  /** The host as error messages name it (`Bitbucket Cloud`, `GitHub`). Default `Bitbucket`. */
  hostName?: string;
  /** Default credentials; a call can override them. Omit for anonymous calls. */
  auth?: AuthSource;
  /** Per HTTP attempt, covering headers and body. Default 30 s. */
  timeoutMs?: number;
  retry?: RetryOptions;
  rateLimit?: RateLimitOptions;
  budget?: RequestBudgetLike;
  onResponse?: (event: ResponseEvent) => void;
  /**
   * Bitbucket answered 401 to these credentials: revoked, expired, or not permitted. Lets whoever manages a token
   * re-check it at once instead of at its next scheduled validation. Errors it throws are ignored.
   */
  onUnauthorized?: (auth: Credential) => void;
  /** Injected by tests so retries do not wait for real. */
  sleep?: (ms: number, signal?: AbortSignal) => Promise<void>;
  /** Monotonic milliseconds for `durationMs`. */
  now?: () => number;
  /** [0,1) source for back-off jitter. */
  random?: () => number;
  /** Share a dispatcher between clients; otherwise the client owns a keep-alive pool for the origin. */
  dispatcher?: Dispatcher;
  /** Extra CA certificates (PEM) for a Bitbucket behind an internal CA; ignored with `dispatcher`. */
  ca?: string | readonly string[];
  userAgent?: string;
  /** Headers sent with every request (a host's media type or API version); they override the defaults. */
  headers?: Readonly<Record<string, string>>;
  /**
   * How long to wait before repeating a refused request, or undefined when `res` is not a rate-limit refusal.
   * Default: a 429, with its `Retry-After` (GitHub also refuses with 403 and says so in headers).
   */
  rateLimitWaitMs?: (res: RawResponse, defaultMs: number) => number | undefined;
  /** Sees the headers of every response, refusals included (GitHub's `x-ratelimit-*` feed its budget). */
  onResponseHeaders?: (headers: IncomingHttpHeaders) => void;
  /** Cap on any JSON body. Default 16 MiB. */
  maxResponseBytes?: number;
}

export interface CallOptions {
  auth?: AuthSource;
  signal?: AbortSignal;
  timeoutMs?: number;
}

export interface RequestSpec {
  group: EndpointGroup;
  method: HttpMethod;
  /** Encoded, below the base URL, e.g. `/rest/api/latest/projects/PRJ`. */
  path: string;
  query?: Query;
  body?: unknown;
  /** Defaults to `method !== "POST"`; set false for a PUT that creates (access tokens). */
  idempotent?: boolean;
  /** What the caller needs for this call, named in the 401 message. */
  needs?: string;
  maxBytes?: number;
  /** Values in the body that must not leak into errors (webhook secrets, passwords). */
  secrets?: readonly (string | undefined)[];
}

export interface RawResponse {
  status: number;
  headers: IncomingHttpHeaders;
  body: Buffer;
}

const ERROR_BODY_LIMIT = 64 * 1024;

/** Bitbucket's rate limiter: 429 with `Retry-After` (seconds or a date), the default when it has none. */
export function tooManyRequestsWaitMs(res: RawResponse, defaultMs: number): number | undefined {
  return res.status === 429 ? retryAfterMs(res.headers["retry-after"], defaultMs) : undefined;
}

export class HttpTransport {
  readonly origin: string;
  readonly basePath: string;
  readonly #auth: AuthSource | undefined;
  readonly #dispatcher: Dispatcher;
  readonly #ownsDispatcher: boolean;
  readonly #timeoutMs: number;
  readonly #retry: Required<RetryOptions>;
  readonly #rateLimit: Required<RateLimitOptions>;
  readonly #budget: RequestBudgetLike | undefined;
  readonly #onResponse: ((event: ResponseEvent) => void) | undefined;
  readonly #onUnauthorized: ((auth: Credential) => void) | undefined;
  readonly #sleep: (ms: number, signal?: AbortSignal) => Promise<void>;
  readonly #now: () => number;
  readonly #random: () => number;
  readonly #userAgent: string;
  readonly #headers: Readonly<Record<string, string>>;
  readonly #rateLimitWaitMs: (res: RawResponse, defaultMs: number) => number | undefined;
  readonly #onResponseHeaders: ((headers: IncomingHttpHeaders) => void) | undefined;
  readonly #maxResponseBytes: number;
  readonly #host: string | undefined;

  constructor(options: TransportOptions) {
    const base = new URL(options.baseUrl);
    if (base.protocol !== "http:" && base.protocol !== "https:") {
      throw new TypeError(`${options.hostName ?? "Bitbucket"} base URL must be http(s), got ${base.protocol}`);
    }
    if (base.username || base.password) {
      throw new TypeError(`${options.hostName ?? "Bitbucket"} base URL must not carry credentials; pass them as auth`);
    }
    this.#host = options.hostName;
    this.origin = base.origin;
    this.basePath = base.pathname.replace(/\/+$/, "");
    this.#auth = options.auth;
    this.#ownsDispatcher = options.dispatcher === undefined;
    this.#dispatcher =
      options.dispatcher ??
      new Pool(base.origin, {
        connections: 16,
        keepAliveTimeout: 10_000,
        keepAliveMaxTimeout: 60_000,
        ...(options.ca ? { connect: { ca: [options.ca].flat() } } : {}),
      });
    this.#timeoutMs = options.timeoutMs ?? 30_000;
    this.#retry = { maxAttempts: 3, baseDelayMs: 250, maxDelayMs: 4_000, ...options.retry };
    this.#rateLimit = { maxAttempts: 4, maxTotalWaitMs: 30_000, defaultRetryAfterMs: 5_000, ...options.rateLimit };
    this.#budget = options.budget;
    this.#onResponse = options.onResponse;
    this.#onUnauthorized = options.onUnauthorized;
    this.#sleep = options.sleep ?? ((ms, signal) => sleepFor(ms, undefined, { signal }));
    this.#now = options.now ?? (() => performance.now());
    this.#random = options.random ?? Math.random;
    this.#userAgent = options.userAgent ?? "baton";
    this.#headers = options.headers ?? {};
    this.#rateLimitWaitMs = options.rateLimitWaitMs ?? tooManyRequestsWaitMs;
    this.#onResponseHeaders = options.onResponseHeaders;
    this.#maxResponseBytes = options.maxResponseBytes ?? 16 * 1024 * 1024;
  }

  #context(spec: RequestSpec): RequestContext {
    const ctx: RequestContext = { group: spec.group, method: spec.method, path: this.basePath + spec.path };
    if (this.#host !== undefined) ctx.host = this.#host;
    return ctx;
  }

  async close(): Promise<void> {
    if (this.#ownsDispatcher) await this.#dispatcher.close();
  }

  /** Sends the request with retries; resolves only for 2xx, otherwise throws a ProviderError. */
  async send(spec: RequestSpec, call: CallOptions = {}): Promise<RawResponse> {
    const ctx = this.#context(spec);
    const idempotent = spec.idempotent ?? spec.method !== "POST";
    const timeoutMs = call.timeoutMs ?? this.#timeoutMs;
    let attempt = 0;
    let failures = 0;
    let limited = 0;
    let waitedMs = 0;
    for (;;) {
      attempt++;
      call.signal?.throwIfAborted();
      await this.#budget?.acquire(call.signal);
      const auth = await resolveAuth(call.auth ?? this.#auth);
      const secrets = [...secretsOf(auth), ...(spec.secrets ?? []).filter((s): s is string => !!s)];
      const started = this.#now();
      const result = await this.#attempt(spec, ctx, auth, secrets, timeoutMs, call.signal);
      const status = "response" in result ? result.response.status : 0;
      const durationMs = this.#now() - started;
      const limitWaitMs =
        "response" in result && status >= 400
          ? this.#rateLimitWaitMs(result.response, this.#rateLimit.defaultRetryAfterMs)
          : undefined;
      this.#emit({
        group: ctx.group,
        method: ctx.method,
        status,
        durationMs,
        attempt,
        rateLimited: limitWaitMs !== undefined,
      });
      if ("response" in result) this.#seeHeaders(result.response.headers);

      if ("response" in result) {
        const res = result.response;
        if (res.status >= 200 && res.status < 300) return res;
        if (res.status === 401 && auth) this.#refused(auth);
        if (limitWaitMs !== undefined) {
          // The rate limiter rejects before the request is processed, so even a POST is safe to repeat.
          limited++;
          const waitMs = limitWaitMs;
          if (limited < this.#rateLimit.maxAttempts && waitedMs + waitMs <= this.#rateLimit.maxTotalWaitMs) {
            waitedMs += waitMs;
            await this.#sleep(waitMs, call.signal);
            continue;
          }
          throw rateLimitedError(ctx, res, secrets, attempt, waitMs, waitedMs);
        }
        if (res.status >= 500 && idempotent && failures + 1 < this.#retry.maxAttempts) {
          failures++;
          await this.#sleep(this.#backoff(failures), call.signal);
          continue;
        }
        throw statusError(ctx, res, secrets, attempt, spec.needs);
      }
      if (call.signal?.aborted) throw call.signal.reason;
      if (result.fatal || !idempotent || failures + 1 >= this.#retry.maxAttempts) {
        throw finalError(result, ctx, this.origin, attempt, timeoutMs, idempotent);
      }
      failures++;
      await this.#sleep(this.#backoff(failures), call.signal);
    }
  }

  /** Sends and validates a JSON body against `schema`. */
  async json<S extends z.ZodType>(
    spec: RequestSpec,
    schema: S,
    call?: CallOptions,
  ): Promise<{ data: z.output<S>; headers: IncomingHttpHeaders; status: number }> {
    const res = await this.send(spec, call);
    const ctx = this.#context(spec);
    return { data: parseBody(schema, res.body, ctx), headers: res.headers, status: res.status };
  }

  #backoff(failures: number): number {
    const cap = Math.min(this.#retry.maxDelayMs, this.#retry.baseDelayMs * 2 ** (failures - 1));
    return Math.floor(this.#random() * cap);
  }

  #refused(auth: Credential): void {
    try {
      this.#onUnauthorized?.(auth);
    } catch {
      // Like the metrics hook: never fails the call.
    }
  }

  #seeHeaders(headers: IncomingHttpHeaders): void {
    try {
      this.#onResponseHeaders?.(headers);
    } catch {
      // Like the metrics hook: never fails the call.
    }
  }

  #emit(event: ResponseEvent): void {
    try {
      this.#onResponse?.(event);
    } catch {
      // A metrics hook must never fail a Bitbucket call.
    }
  }

  async #attempt(
    spec: RequestSpec,
    ctx: RequestContext,
    auth: Credential | undefined,
    secrets: readonly string[],
    timeoutMs: number,
    signal: AbortSignal | undefined,
  ): Promise<{ response: RawResponse } | AttemptFailure> {
    const headers: Record<string, string> = {
      accept: "application/json",
      "user-agent": this.#userAgent,
      ...this.#headers,
    };
    if (auth) {
      try {
        headers.authorization = authorizationHeader(auth);
      } catch (err) {
        const message = err instanceof Error ? err.message : "invalid credentials";
        throw new InvalidCredentialsError(`${describe(ctx)} was not sent: ${message}.`, ctx);
      }
    }
    let body: string | undefined;
    if (spec.body !== undefined) {
      body = JSON.stringify(spec.body);
      headers["content-type"] = "application/json";
    }
    // Bitbucket's XSRF check rejects non-GET requests that lack this header.
    if (spec.method !== "GET") headers["x-atlassian-token"] = "no-check";

    const timer = new AbortController();
    const timeout = setTimeout(() => timer.abort(), timeoutMs);
    const signals = signal ? [timer.signal, signal] : [timer.signal];
    try {
      const res = await this.#dispatcher.request({
        origin: this.origin,
        path: ctx.path + queryString(spec.query),
        method: spec.method,
        headers,
        body: body ?? null,
        signal: AbortSignal.any(signals),
        headersTimeout: timeoutMs,
        bodyTimeout: timeoutMs,
      });
      const ok = res.statusCode >= 200 && res.statusCode < 300;
      const limit = ok ? (spec.maxBytes ?? this.#maxResponseBytes) : ERROR_BODY_LIMIT;
      const declared = Number(res.headers["content-length"]);
      if (ok && declared > limit) {
        res.body.destroy();
        throw tooLarge(ctx, limit);
      }
      const chunks: Buffer[] = [];
      let size = 0;
      for await (const chunk of res.body as AsyncIterable<Buffer>) {
        size += chunk.length;
        if (size > limit) {
          res.body.destroy();
          // An error body is only read for its message; its tail is not needed.
          if (!ok) break;
          throw tooLarge(ctx, limit);
        }
        chunks.push(chunk);
      }
      return { response: { status: res.statusCode, headers: res.headers, body: Buffer.concat(chunks) } };
    } catch (err) {
      if (err instanceof ProviderError) throw err;
      if (signal?.aborted) return networkFailure(err, secrets);
      if (timer.signal.aborted || isLibraryTimeout(err)) return { kind: "timeout", fatal: false };
      return networkFailure(err, secrets);
    } finally {
      clearTimeout(timeout);
    }
  }
}
