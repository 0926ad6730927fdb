// The HTTP transport as GitHub wants it: its JSON media type and API version on every request, its rate-limit
// refusals (403 or 429, see ratelimit.ts) waited out like Bitbucket's 429s, and every answer's rate-limit headers
// fed to the credential's gate.
import type { Dispatcher } from "undici";
import type { Clock } from "../../runtime/clock.ts";
import type { AuthSource, Credential } from "../http/auth.ts";
import { HttpTransport, type RequestBudgetLike, type ResponseEvent } from "../http/http.ts";
import { githubRateLimitWaitMs, RateLimitGate } from "./ratelimit.ts";

/** The REST API version Baton is written against (GitHub's `X-GitHub-Api-Version`). */
export const apiVersion = "2022-11-28";

export interface GitHubTransportOptions {
  /** `https://api.github.com`, or `<server>/api/v3` for Enterprise Server (server.ts). */
  apiBase: string;
  auth?: AuthSource;
  clock: Clock;
  /** The host's shared token bucket. */
  budget?: RequestBudgetLike;
  dispatcher?: Dispatcher;
  ca?: string | readonly string[];
  timeoutMs?: number;
  onResponse?: (event: ResponseEvent) => void;
  onUnauthorized?: (auth: Credential) => void;
  /** Longest one call may wait on rate limits before failing with RateLimitedError. Default 30 s. */
  maxRateLimitWaitMs?: number;
}

export interface GitHubTransport {
  http: HttpTransport;
  /** This credential's view of GitHub's rate limit. */
  gate: RateLimitGate;
}

export function githubTransport(options: GitHubTransportOptions): GitHubTransport {
  const gate = new RateLimitGate({ clock: options.clock, ...(options.budget ? { budget: options.budget } : {}) });
  const http = new HttpTransport({
    baseUrl: options.apiBase,
    hostName: "GitHub",
    ...(options.auth === undefined ? {} : { auth: options.auth }),
    headers: { accept: "application/vnd.github+json", "x-github-api-version": apiVersion },
    rateLimitWaitMs: (res) => githubRateLimitWaitMs(res, options.clock.now()),
    rateLimit: { maxTotalWaitMs: options.maxRateLimitWaitMs ?? 30_000 },
    onResponseHeaders: (headers) => gate.observe(headers),
    budget: gate,
    sleep: (ms, signal) => options.clock.sleep(ms, signal),
    ...(options.dispatcher ? { dispatcher: options.dispatcher } : {}),
    ...(options.ca ? { ca: options.ca } : {}),
    ...(options.timeoutMs ? { timeoutMs: options.timeoutMs } : {}),
    ...(options.onResponse ? { onResponse: options.onResponse } : {}),
    ...(options.onUnauthorized ? { onUnauthorized: options.onUnauthorized } : {}),
    userAgent: "baton",
  });
  return { http, gate };
}
