// Bitbucket client errors sorted into what they mean for a Repository's conditions. The client's messages are
// already free of credentials; they are scrubbed once more because they end up in conditions and Events.
import {
  NetworkError,
  NotFoundError,
  ProviderError,
  RateLimitedError,
  SchemaError,
  ServerError,
  TimeoutError,
  UnauthorizedError,
} from "../providers/bitbucket-datacenter/index.ts";
import { scrub } from "../runtime/redact.ts";
import type { FailureKind } from "./decisions.ts";

export function failureKind(error: unknown): FailureKind {
  if (error instanceof UnauthorizedError) return "unauthorized";
  if (error instanceof NotFoundError) return "notFound";
  if (error instanceof RateLimitedError) return "rateLimited";
  if (error instanceof NetworkError || error instanceof TimeoutError || error instanceof ServerError)
    return "unavailable";
  return "other";
}

/** An error as one line for a condition, Event or log: what failed, never a credential. */
export function describeError(error: unknown): string {
  if (error instanceof ProviderError) return scrub(error.message);
  return scrub(error instanceof Error ? error.message : String(error));
}

export function failureOf(error: unknown): { kind: FailureKind; detail: string } {
  return { kind: failureKind(error), detail: describeError(error) };
}

/**
 * Why an answer to `application-properties` shows the server is not Bitbucket, or undefined when it shows nothing
 * either way. Every Bitbucket Data Center serves that endpoint to anyone with a JSON body naming its version, so a
 * 404, another 4xx, or a body without a version (an HTML page, `{}`) means something else is answering. A 401, a
 * 429, a 5xx or no answer at all could come from a Bitbucket having a bad moment, and prove nothing.
 */
export function notBitbucket(error: unknown): string | undefined {
  if (error instanceof SchemaError)
    return error.fieldPath
      ? `GET ${error.path} answered without a Bitbucket version in ${error.fieldPath}`
      : `GET ${error.path} answered with something other than JSON`;
  if (!(error instanceof ProviderError) || error.status === undefined) return undefined;
  const status = error.status;
  if (status < 400 || status >= 500 || status === 401 || status === 429) return undefined;
  return `GET ${error.path} answered ${status}, which Bitbucket never does for it`;
}
