// "Renew now" and "revoke now", asked for by annotation as cert-manager's `cmctl renew` does for a Certificate.
// Each annotation value is acted on once: the value handled is recorded in status.requests, so re-applying the
// same manifest (GitOps) does nothing and a new value (a new timestamp) asks again.
import { type BitbucketProjectToken, requestAnnotations, type TokenStatus } from "../api/token.ts";
import type { Credential } from "../providers/http/auth.ts";
import type { GitProvider } from "../providers/provider.ts";
import { revokeToken } from "./issuer.ts";
import type { EventSink } from "./reconciler.ts";

export interface PendingRequests {
  /** A renew-requested-at value not acted on yet. */
  renew?: string;
  /** A revoke-previous-requested-at value not acted on yet. */
  revokePrevious?: string;
}

/** The annotation values that differ from the ones recorded as handled. Empty values ask for nothing. */
export function pendingRequests(
  annotations: Readonly<Record<string, string>> | undefined,
  handled: TokenStatus["requests"],
): PendingRequests {
  const renew = annotations?.[requestAnnotations.renew]?.trim();
  const revokePrevious = annotations?.[requestAnnotations.revokePrevious]?.trim();
  return {
    ...(renew && renew !== handled?.renew ? { renew } : {}),
    ...(revokePrevious && revokePrevious !== handled?.revokePrevious ? { revokePrevious } : {}),
  };
}

/** Records a renew request as handled once a token was issued in the same pass, and says so. */
export function renewHandled(
  events: EventSink,
  token: BitbucketProjectToken,
  status: TokenStatus,
  value: string,
): void {
  status.requests = { ...status.requests, renew: value };
  const grace = status.previousToken
    ? `; the previous token ${status.previousToken.id} stays valid until ${status.previousToken.revokeAt}`
    : "";
  events.normal(
    token,
    "RenewRequested",
    `issued token ${status.tokenId} as asked by ${requestAnnotations.renew}=${value}${grace}`,
  );
}

/**
 * Revokes the previous token at once, without its grace period (a suspected leak). Only once the current token
 * is in the Secret, so consumers that re-read it never hold a revoked token for long; a renew asked for in the
 * same change goes first (the caller waits until it is handled).
 */
export async function revokePreviousNow(
  deps: { events: EventSink },
  token: BitbucketProjectToken,
  status: TokenStatus,
  admin: Credential,
  client: GitProvider,
  value: string,
  signal?: AbortSignal,
): Promise<void> {
  const previous = status.previousToken;
  if (previous) {
    const existed = await revokeToken(client, admin, token.spec, previous.id, signal);
    delete status.previousToken;
    deps.events.normal(
      token,
      "PreviousRevoked",
      `${existed ? "revoked" : "found already revoked"} the previous token ${previous.id} at once, as asked by ${requestAnnotations.revokePrevious}=${value}`,
    );
  } else {
    deps.events.normal(
      token,
      "PreviousRevoked",
      `${requestAnnotations.revokePrevious}=${value}: there is no previous token to revoke (token ${status.tokenId} is the only one)`,
    );
  }
  status.requests = { ...status.requests, revokePrevious: value };
}
