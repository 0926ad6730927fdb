import { z } from "zod";
import {
  BadRequestError,
  ConflictError,
  ForbiddenError,
  hostName,
  NetworkError,
  NotFoundError,
  ProviderError,
  type ProviderErrorDetails,
  RateLimitedError,
  type RequestContext,
  ResponseTooLargeError,
  redact,
  ServerError,
  TimeoutError,
  UnauthorizedError,
} from "./errors.ts";
import type { RawResponse } from "./http.ts";

// Turning failed attempts into the typed errors the client throws. Messages say what failed and what to do, and
// pass everything the host sends back through redact() first.

export type AttemptFailure =
  | { kind: "timeout"; fatal: false }
  | { kind: "network"; fatal: boolean; code: string | undefined; detail: string };

function plural(n: number, word: string): string {
  return `${n} ${word}${n === 1 ? "" : "s"}`;
}

export function describe(ctx: RequestContext): string {
  return `${ctx.method} ${ctx.path} (${ctx.group})`;
}

// Codes raised before a connection exists, so the request certainly did not reach the host.
const NOT_SENT_CODES = new Set([
  "ECONNREFUSED",
  "ENOTFOUND",
  "EAI_AGAIN",
  "EHOSTUNREACH",
  "ENETUNREACH",
  "UND_ERR_CONNECT_TIMEOUT",
]);

// Codes that say the request can never succeed as configured; retrying them only delays the report.
const FATAL_CODES = new Set(["ENOTFOUND", "ERR_INVALID_URL", "UND_ERR_INVALID_ARG", "CERT_HAS_EXPIRED"]);

// undici's own header/body timers are set to the same value and may win the race against ours.
export function isLibraryTimeout(err: unknown): boolean {
  const code = (err as { code?: unknown })?.code;
  return code === "UND_ERR_HEADERS_TIMEOUT" || code === "UND_ERR_BODY_TIMEOUT";
}

export function networkFailure(err: unknown, secrets: readonly string[]): AttemptFailure {
  const e = err as { code?: unknown; message?: unknown; cause?: { code?: unknown; message?: unknown } };
  const code = typeof e?.code === "string" ? e.code : typeof e?.cause?.code === "string" ? e.cause.code : undefined;
  const raw = typeof e?.cause?.message === "string" ? e.cause.message : String(e?.message ?? err);
  return { kind: "network", fatal: code !== undefined && FATAL_CODES.has(code), code, detail: redact(raw, secrets) };
}

export function finalError(
  failure: AttemptFailure,
  ctx: RequestContext,
  origin: string,
  attempts: number,
  timeoutMs: number,
  idempotent: boolean,
): ProviderError {
  const tries = attempts > 1 ? ` after ${attempts} attempts` : "";
  const unsent = failure.kind === "network" && failure.code !== undefined && NOT_SENT_CODES.has(failure.code);
  const unsure =
    idempotent || unsent ? "" : " The request may or may not have been applied; check before repeating it.";
  if (failure.kind === "timeout") {
    return new TimeoutError(
      `${describe(ctx)} timed out after ${timeoutMs} ms${tries}. ${hostName(ctx)} at ${origin} is slow or unreachable; ` +
        `retry later or raise the client timeout.${unsure}`,
      ctx,
      { attempts, timeoutMs },
    );
  }
  return new NetworkError(
    `${describe(ctx)} could not reach ${hostName(ctx)} at ${origin}${tries}: ${failure.code ?? failure.detail}. ` +
      `Check the server URL, DNS, proxies, TLS certificates and network policies.${unsure}`,
    ctx,
    { attempts, ...(failure.code ? { code: failure.code } : {}) },
  );
}

export function tooLarge(ctx: RequestContext, limit: number): ResponseTooLargeError {
  return new ResponseTooLargeError(
    `${describe(ctx)} returned more than ${limit} bytes, the limit for this call. ` +
      "The file or listing is too large for Baton to handle; make it smaller or raise the limit.",
    ctx,
    { limitBytes: limit },
  );
}

/** `Retry-After` is seconds or an HTTP date; absent or unreadable means the default. */
export function retryAfterMs(header: string | string[] | undefined, fallbackMs: number): number {
  const value = Array.isArray(header) ? header[0] : header;
  if (value === undefined || value.trim() === "") return fallbackMs;
  if (/^\d+(\.\d+)?$/.test(value.trim())) return Math.ceil(Number(value) * 1000);
  const date = Date.parse(value);
  return Number.isNaN(date) ? fallbackMs : Math.max(0, date - Date.now());
}

/**
 * Atlassian's error envelopes, parsed leniently since they only feed error messages: Data Center's `errors[]` here,
 * Bitbucket Cloud's below. A host whose errors have another shape gets no quoted messages, only the status.
 */
export const ErrorBodySchema = z.object({
  errors: z.array(
    z.object({
      message: z.string().nullish(),
      exceptionName: z.string().nullish(),
      context: z.string().nullish(),
    }),
  ),
});

/** Bitbucket Cloud's `{"type": "error", "error": {"message", "detail"?, …}}` (reference §6.4). */
export const CloudErrorBodySchema = z.object({
  type: z.literal("error"),
  error: z.object({ message: z.string().nullish() }),
});

function errorBody(
  res: RawResponse,
  secrets: readonly string[],
): Pick<ProviderErrorDetails, "messages" | "exceptionName"> {
  let parsed: unknown;
  try {
    parsed = JSON.parse(res.body.toString("utf8"));
  } catch {
    return {};
  }
  const cloud = CloudErrorBodySchema.safeParse(parsed);
  const said = (message: string | null | undefined) => (message ? [bounded(redact(message, secrets))] : []);
  if (cloud.success) return { messages: said(cloud.data.error.message) };
  const body = ErrorBodySchema.safeParse(parsed);
  if (!body.success) return {};
  const messages = body.data.errors.flatMap((e) => said(e.message));
  const exceptionName = body.data.errors.find((e) => e.exceptionName)?.exceptionName ?? undefined;
  return { messages, ...(exceptionName ? { exceptionName } : {}) };
}

const quoteLimit = 300;

/** At most `quoteLimit` code points: cut there, an emoji is not split into a lone surrogate. */
function bounded(text: string): string {
  const points = [...text.slice(0, quoteLimit * 2)];
  return points.length > quoteLimit ? `${points.slice(0, quoteLimit).join("")}…` : points.join("");
}

function quoted(messages: readonly string[] | undefined): string {
  if (!messages?.length) return "";
  return `: "${bounded(messages.join("; "))}"`;
}

export function rateLimitedError(
  ctx: RequestContext,
  res: RawResponse,
  secrets: readonly string[],
  attempts: number,
  waitMs: number,
  waitedMs: number,
): RateLimitedError {
  const host = hostName(ctx);
  return new RateLimitedError(
    `${describe(ctx)} is still rate limited by ${host} after ${plural(attempts, "attempt")} and ${Math.round(waitedMs / 1000)} s ` +
      `of waiting; ${host} asks to retry in ${Math.ceil(waitMs / 1000)} s. Lower the request budget, or ask a ` +
      `${host} admin to raise or exempt this user's rate limit.`,
    ctx,
    { ...errorBody(res, secrets), attempts, retryAfterMs: waitMs },
  );
}

export function statusError(
  ctx: RequestContext,
  res: RawResponse,
  secrets: readonly string[],
  attempts: number,
  needs: string | undefined,
): ProviderError {
  const body = errorBody(res, secrets);
  const details = { ...body, status: res.status, attempts };
  const head = `${describe(ctx)} failed with ${res.status}${quoted(body.messages)}.`;
  const host = hostName(ctx);
  switch (res.status) {
    case 400:
      return new BadRequestError(`${head} ${host} rejected the request as invalid; fix the named field.`, ctx, details);
    case 401:
      return new UnauthorizedError(
        `${head} The credentials are wrong, expired or revoked, or lack ${needs ?? "the permission this call needs"}. ` +
          `Check the Secret holding them and their permissions in ${host}.`,
        ctx,
        details,
      );
    case 403:
      return new ForbiddenError(
        `${head} ${host} refuses this call for these credentials or this licence.`,
        ctx,
        details,
      );
    case 404:
      return new NotFoundError(
        `${head} The project, repository or object does not exist, or these credentials cannot see it.`,
        ctx,
        details,
      );
    case 409:
      return new ConflictError(
        `${head} The object changed, already exists, or the repository is archived; re-read it and retry.`,
        ctx,
        details,
      );
  }
  if (res.status >= 500) {
    const tries = attempts > 1 ? ` (${attempts} attempts)` : "";
    return new ServerError(`${head}${tries} ${host} failed internally; retry later or check its logs.`, ctx, details);
  }
  if (res.status >= 300 && res.status < 400) {
    const location = String(res.headers.location ?? "").split("?")[0];
    return new ProviderError(
      `${head} ${host} redirected to ${location || "another location"}; set the server URL to the address ` +
        `${host} serves its API on (scheme, host and context path).`,
      ctx,
      details,
    );
  }
  return new ProviderError(`${head} ${host} gave an unexpected status.`, ctx, details);
}
