/** Low-cardinality names for metrics and error messages; one per REST area Baton uses. */
export const endpointGroups = [
  "access-tokens",
  "webhooks",
  "build-status",
  "content",
  "pull-requests",
  "users",
  "repos",
  "server",
] as const;
export type EndpointGroup = (typeof endpointGroups)[number];

export type HttpMethod = "GET" | "POST" | "PUT" | "PATCH" | "DELETE";

/** Where a failure happened. `path` has no query string and never holds credentials. */
export interface RequestContext {
  group: EndpointGroup;
  method: HttpMethod;
  path: string;
  /** The host as messages name it (`Bitbucket`, `Bitbucket Cloud`, `GitHub`); absent: Bitbucket. */
  host?: string;
}

/** How messages name the host a call went to. */
export function hostName(ctx: Pick<RequestContext, "host">): string {
  return ctx.host ?? "Bitbucket";
}

export interface ProviderErrorDetails {
  status?: number;
  /** `errors[].message` from the host's error body (Atlassian's envelope), secrets already redacted. */
  messages?: readonly string[];
  exceptionName?: string;
  attempts?: number;
}

/**
 * Base of every error the client throws. Its fields are chosen so that logging or serialising it is safe:
 * no request headers, no body, no `cause` chained from the HTTP library.
 */
export class ProviderError extends Error {
  readonly status: number | undefined;
  readonly group: EndpointGroup;
  readonly method: HttpMethod;
  readonly path: string;
  readonly messages: readonly string[];
  readonly exceptionName: string | undefined;
  readonly attempts: number;

  constructor(message: string, ctx: RequestContext, details: ProviderErrorDetails = {}) {
    super(message);
    this.name = new.target.name;
    this.status = details.status;
    this.group = ctx.group;
    this.method = ctx.method;
    this.path = ctx.path;
    this.messages = details.messages ?? [];
    this.exceptionName = details.exceptionName;
    this.attempts = details.attempts ?? 1;
  }

  toJSON(): Record<string, unknown> {
    return {
      name: this.name,
      message: this.message,
      status: this.status,
      group: this.group,
      method: this.method,
      path: this.path,
      messages: this.messages,
      exceptionName: this.exceptionName,
      attempts: this.attempts,
    };
  }
}

/** 400: Bitbucket rejected the request body or parameters. */
export class BadRequestError extends ProviderError {}
/** 401: bad, expired or revoked credentials, *or* valid credentials lacking a permission (DC uses 401 for both). */
export class UnauthorizedError extends ProviderError {}
/** 403: rare on DC; licence limits and a few admin operations. */
export class ForbiddenError extends ProviderError {}
export class NotFoundError extends ProviderError {}
/** 409: stale `version`, archived repository, or an object that already exists. */
export class ConflictError extends ProviderError {}
export class ServerError extends ProviderError {}

export class RateLimitedError extends ProviderError {
  /** How long Bitbucket asked us to wait before the next attempt. */
  readonly retryAfterMs: number;
  constructor(message: string, ctx: RequestContext, details: ProviderErrorDetails & { retryAfterMs: number }) {
    super(message, ctx, { ...details, status: 429 });
    this.retryAfterMs = details.retryAfterMs;
  }
  override toJSON(): Record<string, unknown> {
    return { ...super.toJSON(), retryAfterMs: this.retryAfterMs };
  }
}

/** No HTTP response at all: DNS, refused or reset connection, TLS. `code` is the socket/undici error code. */
export class NetworkError extends ProviderError {
  readonly code: string | undefined;
  constructor(message: string, ctx: RequestContext, details: ProviderErrorDetails & { code?: string }) {
    super(message, ctx, details);
    this.code = details.code;
  }
  override toJSON(): Record<string, unknown> {
    return { ...super.toJSON(), code: this.code };
  }
}

export class TimeoutError extends ProviderError {
  readonly timeoutMs: number;
  constructor(message: string, ctx: RequestContext, details: ProviderErrorDetails & { timeoutMs: number }) {
    super(message, ctx, details);
    this.timeoutMs = details.timeoutMs;
  }
  override toJSON(): Record<string, unknown> {
    return { ...super.toJSON(), timeoutMs: this.timeoutMs };
  }
}

/** A 2xx body that does not have the shape Baton relies on (or is not JSON at all). */
export class SchemaError extends ProviderError {
  /** Dotted path of the first offending field, e.g. `values[3].fromRef.latestCommit`; empty for the whole body. */
  readonly fieldPath: string;
  constructor(message: string, ctx: RequestContext, details: ProviderErrorDetails & { fieldPath: string }) {
    super(message, ctx, details);
    this.fieldPath = details.fieldPath;
  }
  override toJSON(): Record<string, unknown> {
    return { ...super.toJSON(), fieldPath: this.fieldPath };
  }
}

/** The response body exceeded the size limit set for the call (raw files, runaway listings). */
export class ResponseTooLargeError extends ProviderError {
  readonly limitBytes: number;
  constructor(message: string, ctx: RequestContext, details: ProviderErrorDetails & { limitBytes: number }) {
    super(message, ctx, details);
    this.limitBytes = details.limitBytes;
  }
}

/** A paged listing went past the caller's hard cap; Baton refuses to act on a silently truncated list. */
export class TooManyResultsError extends ProviderError {
  readonly limit: number;
  constructor(message: string, ctx: RequestContext, details: ProviderErrorDetails & { limit: number }) {
    super(message, ctx, details);
    this.limit = details.limit;
  }
}

export function isNotFound(err: unknown): err is NotFoundError {
  return err instanceof NotFoundError;
}

/**
 * Replaces every occurrence of a secret (and its URL-encoded form) with `[REDACTED]`. Used on anything
 * Bitbucket sends back that ends up in an error, since a server may echo request data in a message.
 */
export function redact(text: string, secrets: readonly string[]): string {
  let out = text;
  for (const secret of secrets) {
    if (!secret) continue;
    for (const form of new Set([secret, encodeURIComponent(secret)])) {
      out = out.split(form).join("[REDACTED]");
    }
  }
  return out;
}

/** The configured credentials cannot even be sent (empty, or not valid in an HTTP header). Not retried. */
export class InvalidCredentialsError extends ProviderError {}
