// Git host errors sorted into what they mean for a Repository's conditions. The providers' messages are already
// free of credentials; they are scrubbed once more because they end up in conditions and Events.
import {
  ForbiddenError,
  NetworkError,
  NotFoundError,
  ProviderError,
  RateLimitedError,
  ServerError,
  TimeoutError,
  UnauthorizedError,
} from "../providers/http/errors.ts";
import { scrub } from "../runtime/redact.ts";
import type { FailureKind } from "./decisions.ts";

export function failureKind(error: unknown): FailureKind {
  // Data Center answers a missing permission with 401, Cloud with 403: both are "this token may not".
  if (error instanceof UnauthorizedError || error instanceof ForbiddenError) return "unauthorized";
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
