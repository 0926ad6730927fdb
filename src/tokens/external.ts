// Externally managed tokens (no adminCredentialsRef): the user writes the token to the Secret; Baton validates it,
// tracks its expiry from the Secret's annotation, warns before it, and picks up a new value when the Secret changes.
import { parseDuration } from "../api/common.ts";
import { type BitbucketProjectToken, secretAnnotations, type TokenStatus } from "../api/token.ts";
import type { Clock } from "../runtime/clock.ts";
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
  /** Checks the value against Bitbucket (cached for the validation interval); throws when Bitbucket is unreachable. */
  validate(value: string): Promise<Validation>;
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
  const expiry = secret.metadata?.annotations?.[secretAnnotations.expiresAt];
  const notAfter = expiry === undefined ? Number.NaN : Date.parse(expiry);
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
            message: `the token in ${token.spec.secretName} expires at ${iso(notAfter)}; write a new one to the Secret`,
          }
        : {
            type: "ExpiringSoon",
            status: "False",
            reason: "NotExpiring",
            message: `the token expires at ${iso(notAfter)}`,
          },
    );
    if (expiring)
      events.warning(token, "ExpiringSoon", `the token in Secret ${token.spec.secretName} expires at ${iso(notAfter)}`);
  } else {
    delete status.notAfter;
    delete status.renewalTime;
    conditions.push({
      type: "ExpiringSoon",
      status: "Unknown",
      reason: expiry === undefined ? "ExpiryUnknown" : "ExpiryInvalid",
      message: `annotate the Secret with ${secretAnnotations.expiresAt}: <RFC 3339 time> so Baton can warn before the token expires`,
    });
  }
  if (validation) {
    conditions.push(
      validation.valid
        ? notAfter <= now
          ? { type: "Ready", status: "False", reason: "Expired", message: `the token expired at ${iso(notAfter)}` }
          : {
              type: "Ready",
              status: "True",
              reason: "Valid",
              message: `Bitbucket accepts the token (acting as ${validation.user ?? "unknown"})`,
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
