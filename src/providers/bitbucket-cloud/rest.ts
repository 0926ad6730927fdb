// The Cloud 2.0 REST plumbing every endpoint group shares: JSON calls on the shared HTTP transport, paging by the
// opaque `next` link, and Cloud's rate-limit behaviour.
//
// 429: Cloud counts per rolling hour and sends no `Retry-After` (reference §6.6), so the transport's "wait what the
// server asks" would wait a fixed default over and over. The transport is told not to retry 429s itself
// (`rateLimit.maxAttempts: 1`); calls here back off exponentially with jitter instead, within a total wait, and
// then give up with the transport's RateLimitedError so the caller's requeue takes over.
import { setTimeout as sleepFor } from "node:timers/promises";
import type { z } from "zod";
import { RateLimitedError, type RequestContext, SchemaError, TooManyResultsError } from "../http/errors.ts";
import {
  type CallOptions,
  HttpTransport,
  type RawResponse,
  type RequestSpec,
  type TransportOptions,
} from "../http/http.ts";
import { parseBody } from "../http/parse.ts";
import type { Query } from "../http/url.ts";
import { pageOf } from "./schemas.ts";

export interface CloudBackoffOptions {
  /** First wait after a 429. Default 1 s. */
  initialDelayMs?: number;
  /** Cap on one wait. Default 16 s. */
  maxDelayMs?: number;
  /** Total a call may spend waiting on 429s before it fails. Default 60 s. */
  maxTotalWaitMs?: number;
}

export type CloudTransportOptions = Omit<TransportOptions, "rateLimit"> & { backoff?: CloudBackoffOptions };

export interface ListOptions extends CallOptions {
  /** `pagelen` asked for; Cloud allows 10–100 on most endpoints. Default 100. */
  pageSize?: number;
  /** Going past this many items throws TooManyResultsError rather than acting on a cut list. Default 10,000. */
  maxItems?: number;
}

const defaultMaxItems = 10_000;

export class CloudRest {
  readonly http: HttpTransport;
  readonly #backoff: Required<CloudBackoffOptions>;
  readonly #sleep: (ms: number, signal?: AbortSignal) => Promise<void>;
  readonly #random: () => number;

  constructor(options: CloudTransportOptions) {
    const { backoff, ...transport } = options;
    this.http = new HttpTransport({
      hostName: "Bitbucket Cloud",
      ...transport,
      rateLimit: { maxAttempts: 1 },
    });
    this.#backoff = { initialDelayMs: 1_000, maxDelayMs: 16_000, maxTotalWaitMs: 60_000, ...backoff };
    this.#sleep = options.sleep ?? ((ms, signal) => sleepFor(ms, undefined, { signal }));
    this.#random = options.random ?? Math.random;
  }

  /** API base URL (`https://api.bitbucket.org/2.0`) without a trailing slash. */
  get baseUrl(): string {
    return this.http.origin + this.http.basePath;
  }

  async send(spec: RequestSpec, call: CallOptions = {}): Promise<RawResponse> {
    let waited = 0;
    for (let limited = 0; ; limited++) {
      try {
        return await this.http.send(spec, call);
      } catch (err) {
        if (!(err instanceof RateLimitedError)) throw err;
        const cap = Math.min(this.#backoff.maxDelayMs, this.#backoff.initialDelayMs * 2 ** limited);
        // Half fixed, half random: replicas hitting the limit together do not come back together.
        const wait = Math.floor(cap / 2 + (this.#random() * cap) / 2);
        if (waited + wait > this.#backoff.maxTotalWaitMs) throw err;
        waited += wait;
        await this.#sleep(wait, call.signal);
      }
    }
  }

  async json<S extends z.ZodType>(
    spec: RequestSpec,
    schema: S,
    call?: CallOptions,
  ): Promise<{ data: z.output<S>; headers: RawResponse["headers"] }> {
    const res = await this.send(spec, call);
    return { data: parseBody(schema, res.body, this.context(spec)), headers: res.headers };
  }

  /** Every item of a paged listing, following `next` exactly as given (it is opaque, reference §6.4). */
  async *paged<T extends z.ZodType>(
    spec: RequestSpec,
    item: T,
    options: ListOptions = {},
  ): AsyncGenerator<z.output<T>, void, undefined> {
    const schema = pageOf(item);
    let request: RequestSpec = {
      ...spec,
      query: { ...spec.query, pagelen: spec.query?.pagelen ?? options.pageSize ?? 100 },
    };
    const seen = new Set<string>();
    for (;;) {
      const page = (await this.json(request, schema, options)).data;
      yield* page.values as z.output<T>[];
      if (page.next === undefined) return;
      if (seen.has(page.next)) {
        throw new SchemaError(
          `${spec.method} ${this.context(spec).path} (${spec.group}) returned the same next link twice, so paging would never end.`,
          this.context(spec),
          { fieldPath: "next" },
        );
      }
      seen.add(page.next);
      request = { ...spec, ...this.below(page.next, spec) };
    }
  }

  async list<T extends z.ZodType>(spec: RequestSpec, item: T, options: ListOptions = {}): Promise<z.output<T>[]> {
    const max = options.maxItems ?? defaultMaxItems;
    const out: z.output<T>[] = [];
    for await (const value of this.paged(spec, item, options)) {
      if (out.length >= max) {
        throw new TooManyResultsError(
          `${spec.method} ${this.context(spec).path} (${spec.group}) lists more than ${max} items, the cap for this call.`,
          this.context(spec),
          { limit: max },
        );
      }
      out.push(value);
    }
    return out;
  }

  /**
   * A link Cloud handed out (`next`, `links.diffstat`) as a path and query below the API base. A link to any other
   * origin or path is refused: following it would send the token wherever a response body pointed.
   */
  below(link: string, spec: Pick<RequestSpec, "group" | "method" | "path">): { path: string; query: Query } {
    let url: URL;
    try {
      url = new URL(link, `${this.baseUrl}/`);
    } catch {
      url = new URL("invalid:");
    }
    const base = this.http.basePath;
    if (url.origin !== this.http.origin || !url.pathname.startsWith(`${base}/`)) {
      throw new SchemaError(
        `${spec.method} ${base}${spec.path} (${spec.group}) returned a link outside ${this.baseUrl}; Baton does not follow it with the token.`,
        this.context(spec),
        { fieldPath: "next" },
      );
    }
    const query: Record<string, string[]> = {};
    for (const key of new Set(url.searchParams.keys())) query[key] = url.searchParams.getAll(key);
    return { path: url.pathname.slice(base.length), query };
  }

  context(spec: Pick<RequestSpec, "group" | "method" | "path">): RequestContext {
    return { group: spec.group, method: spec.method, path: this.http.basePath + spec.path };
  }

  close(): Promise<void> {
    return this.http.close();
  }
}
