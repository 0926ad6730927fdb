// Externally managed tokens (no adminCredentialsRef): the user writes the token to the Secret; Baton validates it,
// tracks its expiry, warns before it, and picks up a new value when the Secret changes.
//
// Where the expiry comes from: a host that states it with every answer (GitHub's
// `github-authentication-token-expiration`, in the validation) is believed over the Secret's `baton.dev/expires-at`
// annotation, since it is the host that will refuse the token; an annotation saying otherwise gets a Warning Event
// (someone wrote the wrong date, or regenerated the token with another expiry). A host stating no expiry means the
// token has none: no expiry warning, and a condition saying so. Hosts that state nothing (Bitbucket Cloud) use the
// annotation, as before.
import { parseDuration } from "../api/common.ts";
import { type BitbucketProjectToken, secretAnnotations, type TokenStatus } from "../api/token.ts";
import type { Clock } from "../runtime/clock.ts";
import { getCondition } from "../runtime/conditions.ts";
import type { ReconcileContext } from "../runtime/controller.ts";
import { type KubeClient, Secrets } from "../runtime/kube.ts";
import type { Validation } from "./issuer.ts";
import type { EventSink } from "./reconciler.ts";
import { labelWatched, tokenIn, watchedLabel } from "./secret.ts";
import { type ConditionUpdate, describeError, iso, type Step } from "./step.ts";

/** Warn this long before an externally managed token expires when the spec names no renewBefore. */
const defaultExternalWarning = 7 * 86_400_000;

export interface ExternalDeps {
  kube: KubeClient;
  clock: Clock;
  events: EventSink;
  validationInterval: number;
  /** Checks the value against the host (cached for the validation interval); throws when it is unreachable. */
  validate(value: string): Promise<Validation>;
  /** The expiry the host last stated for this very value, when it did (a refused token's answer states none). */
  lastStated(value: string): number | undefined;
  /** The host's name in messages ("Bitbucket", "GitHub"). */
  host: string;
}

/** Apart by less than this, the annotation and the host agree (GitHub states seconds; people write minutes). */
const expiryTolerance = 60_000;

/**
 * The expiry to track: the host's stated one when there is one, else the annotation's. `mismatch` says why the
 * annotation was overruled. Pure.
 */
export function trackedExpiry(
  annotation: string | undefined,
  validation: Validation | undefined,
  lastStated: number | undefined,
  host: string,
): { notAfter: number; source: "host" | "annotation" | "none"; mismatch?: string } {
  const annotated = annotation === undefined ? Number.NaN : Date.parse(annotation);
  const valid = validation?.valid ? validation : undefined;
  if (valid?.neverExpires) {
    return {
      notAfter: Number.NaN,
      source: "none",
      ...(annotation === undefined
        ? {}
        : {
            mismatch: `the Secret's ${secretAnnotations.expiresAt} says ${annotation}, but ${host} states the token never expires`,
          }),
    };
  }
  // Refused (no header on a 401) or not asked (an outage): what the host last said of this value still holds.
  const stated = valid?.expiresAt ?? (valid === undefined ? lastStated : undefined);
  if (stated === undefined) return { notAfter: annotated, source: "annotation" };
  const differs = annotation !== undefined && !(Math.abs(annotated - stated) < expiryTolerance);
  return {
    notAfter: stated,
    source: "host",
    ...(differs
      ? {
          mismatch: `the Secret's ${secretAnnotations.expiresAt} says ${annotation}, but ${host} states the token expires at ${iso(stated)}; Baton follows ${host}`,
        }
      : {}),
  };
}

export async function reconcileExternal(
  deps: ExternalDeps,
  token: BitbucketProjectToken,
  ctx: ReconcileContext,
): Promise<Step> {
  const { kube, clock, events } = deps;
  const now = clock.now();
  const namespace = token.metadata.namespace ?? "";
  const status: TokenStatus = { ...token.status };
  const secret = await kube.get(Secrets, { namespace, name: token.spec.secretName }, ctx.signal);
  const value = tokenIn(secret);
  if (!secret || value === undefined) {
    return {
      status,
      conditions: [
        {
          type: "Ready",
          status: "False",
          reason: secret ? "TokenMissing" : "SecretNotFound",
          message: secret
            ? `the Secret ${token.spec.secretName} has no key "token"`
            : `the Secret ${token.spec.secretName} does not exist; create it with the token under the key "token" (or set adminCredentialsRef to let Baton issue one)`,
        },
      ],
      result: {},
    };
  }
  // So a token written to the Secret later wakes this object at once (the Secret informer selects this label).
  if (secret.metadata?.labels?.[watchedLabel] !== "true") await labelWatched(kube, secret, ctx.signal);

  const conditions: ConditionUpdate[] = [];
  const annotation = secret.metadata?.annotations?.[secretAnnotations.expiresAt];
  let validation: Validation | undefined;
  try {
    validation = await deps.validate(value);
  } catch (error) {
    conditions.push({
      type: "Ready",
      status: "Unknown",
      reason: "BitbucketUnavailable",
      message: `could not validate the token: ${describeError(error)}`,
    });
  }
  const tracked = trackedExpiry(annotation, validation, deps.lastStated(value), deps.host);
  const notAfter = tracked.notAfter;
  const by = tracked.source === "host" ? ` (as ${deps.host} states)` : "";
  status.tokenUser = validation?.valid ? (validation.user ?? status.tokenUser) : status.tokenUser;
  if (Number.isFinite(notAfter)) {
    const warnBefore = token.spec.renewBefore ? parseDuration(token.spec.renewBefore) : defaultExternalWarning;
    status.notAfter = iso(notAfter);
    status.renewalTime = iso(notAfter - warnBefore);
    const expiring = now >= notAfter - warnBefore;
    conditions.push(
      expiring
        ? {
            type: "ExpiringSoon",
            status: "True",
            reason: notAfter <= now ? "Expired" : "ExpiringSoon",
            message: `the token in ${token.spec.secretName} expires at ${iso(notAfter)}${by}; write a new one to the Secret`,
          }
        : {
            type: "ExpiringSoon",
            status: "False",
            reason: "NotExpiring",
            message: `the token expires at ${iso(notAfter)}${by}`,
          },
    );
    if (expiring)
      events.warning(
        token,
        "ExpiringSoon",
        `the token in Secret ${token.spec.secretName} expires at ${iso(notAfter)}${by}`,
      );
  } else if (tracked.source === "none") {
    delete status.notAfter;
    delete status.renewalTime;
    conditions.push({
      type: "ExpiringSoon",
      status: "False",
      reason: "NoExpiry",
      message: `${deps.host} states the token has no expiry; nothing to warn about (a token without expiry is one to rotate by hand)`,
    });
  } else {
    delete status.notAfter;
    delete status.renewalTime;
    conditions.push({
      type: "ExpiringSoon",
      status: "Unknown",
      reason: annotation === undefined ? "ExpiryUnknown" : "ExpiryInvalid",
      message: `annotate the Secret with ${secretAnnotations.expiresAt}: <RFC 3339 time> so Baton can warn before the token expires`,
    });
  }
  // Once per expiry tracked (a new token, a new expiry), not on every pass: the ExpiringSoon condition says which.
  const expiringSoon = conditions.find((c) => c.type === "ExpiringSoon");
  const recorded = getCondition(token.status?.conditions, "ExpiringSoon");
  if (tracked.mismatch !== undefined && recorded?.message !== expiringSoon?.message)
    events.warning(token, "ExpiryMismatch", tracked.mismatch);
  if (validation) {
    conditions.push(
      validation.valid
        ? notAfter <= now
          ? { type: "Ready", status: "False", reason: "Expired", message: `the token expired at ${iso(notAfter)}` }
          : {
              type: "Ready",
              status: "True",
              reason: "Valid",
              message: `${deps.host} accepts the token (acting as ${validation.user ?? "unknown"})`,
            }
        : notAfter <= now
          ? {
              type: "Ready",
              status: "False",
              reason: "Expired",
              message: `the token in ${token.spec.secretName} expired at ${iso(notAfter)}${by} and ${deps.host} refuses it; write a new one to the Secret`,
            }
          : { type: "Ready", status: "False", reason: "Unauthorized", message: validation.reason },
    );
  }
  const wakeAt = Math.min(
    now + deps.validationInterval,
    ...[Date.parse(status.renewalTime ?? ""), notAfter].filter((t) => t > now),
  );
  return { status, conditions, result: { requeueAfter: Math.max(1000, wakeAt - now) } };
}
