// Bitbucket client errors sorted into what they mean for a Repository's conditions. The client's messages are
// already free of credentials; they are scrubbed once more because they end up in conditions and Events.
import {
  BitbucketError,
  NetworkError,
  NotFoundError,
  RateLimitedError,
  ServerError,
  TimeoutError,
  UnauthorizedError,
} from "../bitbucket/index.ts";
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
  if (error instanceof BitbucketError) return scrub(error.message);
  return scrub(error instanceof Error ? error.message : String(error));
}

export function failureOf(error: unknown): { kind: FailureKind; detail: string } {
  return { kind: failureKind(error), detail: describeError(error) };
}
