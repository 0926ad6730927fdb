// Revoking the previous token once its grace period is over — unless PipelineRuns that started with it still run.
// Their git Secret holds it (a run clones and fetches with it until it ends), so revoking it would fail them
// mid-way; revocation waits for them, at most revocationHoldLimit past the grace period, and status says so.
// A run still queued does not hold it: it is given the current token when it starts (pipelines/held-tokens.ts).
import type { BitbucketProjectToken, TokenStatus } from "../api/token.ts";
import type { Credential } from "../providers/http/auth.ts";
import type { GitProvider } from "../providers/provider.ts";
import { getCondition } from "../runtime/conditions.ts";
import type { ReconcileContext } from "../runtime/controller.ts";
import { revokeToken } from "./issuer.ts";
import type { TokenPolicy } from "./lifecycle.ts";
import type { EventSink } from "./reconciler.ts";
import { type ConditionUpdate, iso } from "./step.ts";

export const heldCondition = "RevocationHeld";

/** The PipelineRuns in a namespace still using the token with this id (names). */
export type TokenHolders = (namespace: string, tokenId: string, signal: AbortSignal) => Promise<string[]>;

/** While held, whether runs finished is checked this often (run completions also wake the token at once). */
export const holdRecheckMs = 60_000;

export interface RevocationDeps {
  events: EventSink;
  holders?: TokenHolders | undefined;
}

export interface RevocationOutcome {
  conditions: ConditionUpdate[];
  /** When to look again; infinity when nothing waits. */
  requeueAt: number;
}

/** What the PipelineRuns holding a token are called in a message: a count, and the first few names. */
export function describeHolders(names: readonly string[]): string {
  const shown = names.slice(0, 3).join(", ");
  const more = names.length > 3 ? ` and ${names.length - 3} more` : "";
  return `${names.length} PipelineRun${names.length === 1 ? "" : "s"} (${shown}${more})`;
}

/**
 * Revokes status.previousToken when it is due and no run holds it (or the hold limit is reached). Throws when
 * Bitbucket could not be asked; the caller retries. Mutates status.
 */
export async function revokePreviousWhenFree(
  deps: RevocationDeps,
  token: BitbucketProjectToken,
  status: TokenStatus,
  policy: TokenPolicy,
  admin: Credential,
  client: GitProvider,
  now: number,
  ctx: ReconcileContext,
): Promise<RevocationOutcome> {
  const previous = status.previousToken;
  const wasHeld = getCondition(token.status?.conditions, heldCondition)?.status === "True";
  if (!previous) {
    // Revoked some other way (revoke now, a second rotation): the hold, if any, is over.
    return {
      conditions: wasHeld
        ? [{ type: heldCondition, status: "False", reason: "NoPreviousToken", message: "there is no previous token" }]
        : [],
      requeueAt: Number.POSITIVE_INFINITY,
    };
  }
  const due = Date.parse(previous.revokeAt);
  if (now < due) return { conditions: [], requeueAt: due };
  const limit = due + policy.revocationHoldLimit;
  const namespace = token.metadata.namespace ?? "";
  const ask = () => deps.holders?.(namespace, previous.id, ctx.signal) ?? Promise.resolve([]);
  // Past the limit the answer only goes into the Event: a failure to ask must not keep the token alive.
  const holders = now < limit ? await ask() : await ask().catch(() => undefined);

  if (holders && holders.length > 0 && now < limit) {
    const message = `${describeHolders(holders)} still use${holders.length === 1 ? "s" : ""} the previous token ${previous.id}; it is revoked when they finish, at the latest at ${iso(limit)} (revocationHoldLimit)`;
    if (previous.heldBy !== holders.length) deps.events.normal(token, "RevocationHeld", message);
    status.previousToken = { ...previous, heldBy: holders.length };
    return {
      conditions: [{ type: heldCondition, status: "True", reason: "RunsInProgress", message }],
      requeueAt: Math.min(limit, now + holdRecheckMs),
    };
  }

  const existed = await revokeToken(client, admin, token.spec, previous.id, ctx.signal);
  delete status.previousToken;
  if (holders && holders.length > 0) {
    deps.events.warning(
      token,
      "RevocationHoldExpired",
      `revoked the previous token ${previous.id} at the end of revocationHoldLimit, while ${describeHolders(holders)} still used it`,
    );
  } else if (existed) {
    const after = previous.heldBy ? " and the PipelineRuns that used it finished" : "";
    deps.events.normal(token, "Revoked", `revoked the previous token ${previous.id} after its grace period${after}`);
  }
  return {
    conditions:
      wasHeld || previous.heldBy
        ? [
            {
              type: heldCondition,
              status: "False",
              reason: holders && holders.length > 0 ? "HoldLimitReached" : "Revoked",
              message: `the previous token ${previous.id} was revoked`,
            },
          ]
        : [],
    requeueAt: Number.POSITIVE_INFINITY,
  };
}
