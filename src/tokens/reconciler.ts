// BitbucketProjectToken reconciler: fetch → finalizer → issue / renew / revoke or validate → conditions → one
// status patch. Managed tokens follow cert-manager's renewal model; externally managed ones are validated and
// their expiry tracked. Decisions come from lifecycle.ts; this file only fetches and writes.
import { parseDuration } from "../api/common.ts";
import { permissionProblems } from "../api/permissions.ts";
import { BitbucketProjectToken, kind, secretAnnotations, type TokenStatus } from "../api/token.ts";
import type { BitbucketAuth, BitbucketClient } from "../bitbucket/index.ts";
import type { Clock } from "../runtime/clock.ts";
import { type setCondition, statusPatch } from "../runtime/conditions.ts";
import type { ReconcileContext, ReconcileResult } from "../runtime/controller.ts";
import { defineResource, hasFinalizer, isConflict, isDeleting, type KubeClient, Secrets } from "../runtime/kube.ts";
import type { Secret } from "../runtime/kube-types.ts";
import type { ObjectKey } from "../runtime/logger.ts";
import { scrub } from "../runtime/redact.ts";
import { findOrphans, issueToken, revokeToken, validateToken } from "./issuer.ts";
import { issueBackoff, policyOf, renewalTime, tokenName, tokenNamePrefix } from "./lifecycle.ts";
import type { TokenMetrics } from "./metrics.ts";
import {
  fingerprint,
  issuedFor,
  issuedForAnnotation,
  managedSecret,
  tokenIn,
  tokenLabel,
  watchedLabel,
} from "./secret.ts";

export const Tokens = defineResource<BitbucketProjectToken>({
  apiVersion: "baton.dev/v1alpha1",
  kind,
  plural: "bitbucketprojecttokens",
});

export const finalizer = "baton.dev/revoke-tokens";

/** Events on the token object, so `kubectl describe` tells its story. Must never throw. */
export interface EventSink {
  normal(obj: BitbucketProjectToken, reason: string, message: string): void;
  warning(obj: BitbucketProjectToken, reason: string, message: string): void;
}

export interface TokenReconcilerDeps {
  kube: KubeClient;
  clock: Clock;
  events: EventSink;
  metrics: TokenMetrics;
  /** One client per Bitbucket server, sharing the operator's request budget. */
  bitbucket(server: string): BitbucketClient;
  /** Prefix of issued token names; distinguishes clusters that manage the same project. */
  instance: string;
  /** How often a token in use is checked against Bitbucket (revoked by hand?). */
  validationInterval: number;
}

/** Warn this long before an externally managed token expires when the spec names no renewBefore. */
const defaultExternalWarning = 7 * 86_400_000;
/** How long a deleted object keeps trying to revoke its tokens before it lets go (and says so). */
const revocationPatience = 10 * 60_000;

export class TokenReconciler {
  readonly #deps: TokenReconcilerDeps;
  /** key → when the current token last passed validation, and which value: cheap re-checks, no status churn. */
  readonly #validated = new Map<string, { at: number; fingerprint: string; user?: string | undefined }>();

  constructor(deps: TokenReconcilerDeps) {
    this.#deps = deps;
  }

  readonly reconcile = async (key: ObjectKey, ctx: ReconcileContext): Promise<ReconcileResult> => {
    const { kube, metrics } = this.#deps;
    // A fresh read, not the informer cache: right after our own status write the cache may still show the token
    // as not issued, and acting on that would issue a second one.
    const raw = await kube.get(Tokens, key, ctx.signal);
    if (!raw) {
      metrics.forget(key);
      this.#validated.delete(keyOf(key));
      return {};
    }
    const parsed = BitbucketProjectToken.safeParse(raw);
    if (!parsed.success) {
      await this.#writeStatus(raw, { ...raw.status }, [
        {
          type: "Ready",
          status: "False",
          reason: "InvalidSpec",
          message: parsed.error.issues.map((i) => `${i.path.join(".")}: ${i.message}`).join("; "),
        },
      ]);
      return {};
    }
    const token = parsed.data;
    const managed = token.spec.adminCredentialsRef !== undefined;

    if (isDeleting(raw)) return this.#finalize(token, ctx);
    if (managed && !hasFinalizer(raw, finalizer)) {
      await kube.addFinalizer(Tokens, raw, finalizer);
      return { requeue: true };
    }

    const problems = permissionProblems(token.spec.permissions, token.spec.repository !== undefined);
    if (problems.length > 0) {
      await this.#writeStatus(token, { ...token.status }, [
        { type: "Ready", status: "False", reason: "InvalidSpec", message: problems.join("; ") },
      ]);
      return {};
    }

    const step = managed ? await this.#reconcileManaged(token, ctx) : await this.#reconcileExternal(token, ctx);
    // A token issued or adopted in this pass is a fact that must be recorded, whatever else changed meanwhile.
    const recordsNewToken = step.status.tokenId !== token.status?.tokenId;
    await this.#writeStatus(token, step.status, step.conditions, { unconditional: recordsNewToken });
    metrics.observe(key, step.status, step.conditions);
    return step.result;
  };

  async #reconcileManaged(token: BitbucketProjectToken, ctx: ReconcileContext): Promise<Step> {
    const { kube, clock, events, metrics } = this.#deps;
    const key = keyOf(token.metadata);
    const now = clock.now();
    const spec = token.spec;
    const status: TokenStatus = { ...token.status };
    const client = this.#deps.bitbucket(spec.server);
    const namespace = token.metadata.namespace ?? "";

    const secret = await kube.get(Secrets, { namespace, name: spec.secretName }, ctx.signal);
    const stored = tokenIn(secret);
    const storedId = secret?.metadata?.annotations?.[secretAnnotations.tokenId];
    this.#adoptUnrecorded(token, status, secret, stored);
    const notAfter = Date.parse(status.notAfter ?? "");
    const holdsCurrent = !!status.tokenId && storedId === status.tokenId && stored !== undefined;

    // Why a new token is needed, if it is; checked in the order a user would want to hear about it.
    let issueReason: string | undefined;
    let currentValid = false;
    if (!status.tokenId) issueReason = "no token has been issued yet";
    else if (!holdsCurrent) issueReason = `the Secret ${spec.secretName} no longer holds token ${status.tokenId}`;
    else if (!(notAfter > now)) issueReason = `token ${status.tokenId} expired at ${status.notAfter}`;
    else if (secret?.metadata?.annotations?.[issuedForAnnotation] !== issuedFor(token))
      issueReason = "the server, project, repository or permissions changed";
    else {
      // An outage says nothing about the token: keep using it rather than churn tokens while Bitbucket is down.
      const validation = await this.#validate(key, client, stored, ctx).catch((error: unknown) => {
        ctx.log.warn({ err: describeError(error) }, "could not validate the token; keeping it");
        return undefined;
      });
      if (validation && !validation.valid) issueReason = `token ${status.tokenId} was refused: ${validation.reason}`;
      else {
        currentValid = true;
        if (now >= Date.parse(status.renewalTime ?? "")) issueReason = "renewal time reached";
      }
    }

    const conditions: ConditionUpdate[] = [];
    let requeueAt = Number.POSITIVE_INFINITY;
    const admin = await this.#adminCredentials(token, ctx);

    if (issueReason !== undefined) {
      const retryAt = Date.parse(status.lastFailureTime ?? "") + issueBackoff(status.failedIssueAttempts ?? 0);
      if ((status.failedIssueAttempts ?? 0) > 0 && now < retryAt) {
        requeueAt = retryAt;
        // The Issuing condition written by the failed attempt stays as it is: it names the error and the next
        // attempt, which is what someone looking at a stuck token needs to read.
      } else if ("problem" in admin) {
        this.#recordFailure(status, now);
        requeueAt = now + issueBackoff(status.failedIssueAttempts ?? 1);
        conditions.push({
          type: "Issuing",
          status: "True",
          reason: admin.reason,
          message: `${issueReason}, but ${admin.problem}`,
        });
        events.warning(token, "IssueFailed", admin.problem);
        metrics.rotation("failure");
      } else {
        try {
          await this.#issue(token, status, admin.auth, client, issueReason, ctx);
          conditions.push({
            type: "Issuing",
            status: "False",
            reason: "Issued",
            message: `token revision ${status.revision} issued`,
          });
          metrics.rotation("success");
        } catch (error) {
          this.#recordFailure(status, now);
          const message = `could not issue a token (${issueReason}): ${describeError(error)}`;
          requeueAt = now + issueBackoff(status.failedIssueAttempts ?? 1);
          conditions.push({
            type: "Issuing",
            status: "True",
            reason: "IssueFailed",
            message: `${message}; next attempt at ${iso(requeueAt)}`,
          });
          events.warning(token, "IssueFailed", message);
          metrics.rotation("failure");
        }
      }
    } else {
      conditions.push({
        type: "Issuing",
        status: "False",
        reason: "UpToDate",
        message: "the current token is valid and not due for renewal",
      });
    }

    // The previous token stays valid for the grace period so running PipelineRuns finish; then it is revoked.
    if (status.previousToken && now >= Date.parse(status.previousToken.revokeAt) && !("problem" in admin)) {
      try {
        const existed = await revokeToken(client, admin.auth, token.spec, status.previousToken.id);
        if (existed)
          events.normal(
            token,
            "Revoked",
            `revoked the previous token ${status.previousToken.id} after its grace period`,
          );
        delete status.previousToken;
      } catch (error) {
        ctx.log.warn({ err: describeError(error) }, "could not revoke the previous token; will retry");
        requeueAt = Math.min(requeueAt, now + 30_000);
      }
    }

    const issuedNow = status.tokenId !== token.status?.tokenId;
    const valid = issuedNow || currentValid;
    const expires = Date.parse(status.notAfter ?? "");
    conditions.push(
      valid && expires > now
        ? {
            type: "Ready",
            status: "True",
            reason: issuedNow ? "Issued" : "Valid",
            message: `token ${status.tokenName ?? status.tokenId} is valid until ${status.notAfter}`,
          }
        : { type: "Ready", status: "False", reason: "NoValidToken", message: issueReason ?? "no valid token" },
    );

    for (const at of [
      Date.parse(status.renewalTime ?? ""),
      Date.parse(status.previousToken?.revokeAt ?? ""),
      expires,
    ]) {
      if (at > now) requeueAt = Math.min(requeueAt, at);
    }
    requeueAt = Math.min(requeueAt, now + this.#deps.validationInterval);
    return { status, conditions, result: { requeueAfter: Math.max(1000, requeueAt - now) } };
  }

  async #issue(
    token: BitbucketProjectToken,
    status: TokenStatus,
    admin: BitbucketAuth,
    client: BitbucketClient,
    reason: string,
    ctx: ReconcileContext,
  ): Promise<void> {
    const { kube, clock, events, instance } = this.#deps;
    const spec = token.spec;
    const namespace = token.metadata.namespace ?? "";
    const prefix = tokenNamePrefix(instance, namespace, token.metadata.name);

    // Never two live untracked tokens: whatever an interrupted attempt left behind goes before a new one is made.
    // The token the Secret holds is never an orphan: consumers may be using it.
    const inSecret = (await kube.get(Secrets, { namespace, name: spec.secretName }, ctx.signal))?.metadata
      ?.annotations?.[secretAnnotations.tokenId];
    const tracked = new Set([status.tokenId, status.previousToken?.id, inSecret].filter((id): id is string => !!id));
    for (const orphan of await findOrphans(client, admin, spec, prefix, tracked)) {
      await revokeToken(client, admin, spec, orphan.id);
      events.normal(
        token,
        "Revoked",
        `revoked ${orphan.name} (id ${orphan.id}), left untracked by an interrupted issue`,
      );
    }

    const revision = (status.revision ?? 0) + 1;
    const issued = await issueToken(
      client,
      admin,
      spec,
      tokenName(instance, namespace, token.metadata.name, revision),
      policyOf(spec).lifetime,
      () => clock.now(),
    );
    try {
      await kube.apply(
        Secrets,
        managedSecret(token, { id: issued.id, secret: issued.secret, notAfter: issued.notAfter, revision }),
      );
    } catch (error) {
      // The secret value is lost with this process; revoke rather than leave a live token nobody holds.
      await revokeToken(client, admin, spec, issued.id).catch(() => undefined);
      throw error;
    }
    ctx.log.info({ tokenId: issued.id, revision }, "issued a token");

    const replacing = status.tokenId !== undefined;
    if (replacing && status.tokenId) {
      if (status.previousToken) {
        // Two rotations within one grace period: the oldest token goes now, so at most two are ever live.
        await revokeToken(client, admin, spec, status.previousToken.id);
      }
      const revokeAt = clock.now() + policyOf(spec).revocationGracePeriod;
      status.previousToken = { id: status.tokenId, revokeAt: iso(revokeAt) };
    }
    const renewBefore = policyOf(spec).renewBefore;
    Object.assign(status, {
      tokenId: issued.id,
      tokenName: issued.name,
      tokenUser: issued.user,
      notBefore: iso(issued.notBefore),
      notAfter: iso(issued.notAfter),
      renewalTime: iso(renewalTime(issued.notBefore, issued.notAfter, renewBefore)),
      revision,
      failedIssueAttempts: 0,
    });
    delete status.lastFailureTime;
    this.#validated.set(keyOf(token.metadata), {
      at: clock.now(),
      fingerprint: fingerprint(issued.secret),
      user: issued.user,
    });
    const clamp = issued.clampedFrom
      ? ` (asked for ${issued.clampedFrom} days; the server allows at most ${issued.expiryDays})`
      : "";
    events.normal(
      token,
      replacing ? "Renewed" : "Issued",
      `issued ${issued.name} (id ${issued.id}), valid until ${iso(issued.notAfter)}${clamp}; reason: ${reason}`,
    );
  }

  /**
   * The Secret may hold a newer token than status records: Baton issued it and wrote the Secret, but the status
   * write after it was lost (a crash, a conflict). Consumers may already use it, so it is adopted — recorded as
   * current, the recorded one becoming the previous token — never revoked as an orphan.
   */
  #adoptUnrecorded(
    token: BitbucketProjectToken,
    status: TokenStatus,
    secret: Secret | undefined,
    value: string | undefined,
  ): void {
    const annotations = secret?.metadata?.annotations ?? {};
    const id = annotations[secretAnnotations.tokenId];
    const revision = Number(annotations[secretAnnotations.revision]);
    const expires = Date.parse(annotations[secretAnnotations.expiresAt] ?? "");
    const ours =
      secret?.metadata?.labels?.[tokenLabel] === token.metadata.name &&
      annotations[issuedForAnnotation] === issuedFor(token);
    if (
      !ours ||
      !id ||
      !value ||
      id === status.tokenId ||
      !(revision > (status.revision ?? 0)) ||
      !Number.isFinite(expires)
    )
      return;
    const policy = policyOf(token.spec);
    const now = this.#deps.clock.now();
    if (status.tokenId)
      status.previousToken = { id: status.tokenId, revokeAt: iso(now + policy.revocationGracePeriod) };
    // Bitbucket fixed the expiry; the issue time is the lifetime before it (near enough to place the renewal).
    const notBefore = expires - policy.lifetime;
    Object.assign(status, {
      tokenId: id,
      tokenName: tokenName(this.#deps.instance, token.metadata.namespace ?? "", token.metadata.name, revision),
      notBefore: iso(notBefore),
      notAfter: iso(expires),
      renewalTime: iso(renewalTime(notBefore, expires, policy.renewBefore)),
      revision,
    });
    this.#deps.events.normal(
      token,
      "Adopted",
      `recorded token ${id} (revision ${revision}) found in Secret ${token.spec.secretName}: its issue was interrupted before status was written`,
    );
  }

  async #reconcileExternal(token: BitbucketProjectToken, ctx: ReconcileContext): Promise<Step> {
    const { kube, clock, events } = this.#deps;
    const now = clock.now();
    const key = keyOf(token.metadata);
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
    if (secret.metadata?.labels?.[watchedLabel] !== "true") await this.#labelSecret(secret);

    const conditions: ConditionUpdate[] = [];
    const expiry = secret.metadata?.annotations?.[secretAnnotations.expiresAt];
    const notAfter = expiry === undefined ? Number.NaN : Date.parse(expiry);
    let validation: Validation | undefined;
    try {
      validation = await this.#validate(key, this.#deps.bitbucket(token.spec.server), value, ctx);
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
        events.warning(
          token,
          "ExpiringSoon",
          `the token in Secret ${token.spec.secretName} expires at ${iso(notAfter)}`,
        );
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
      now + this.#deps.validationInterval,
      ...[Date.parse(status.renewalTime ?? ""), notAfter].filter((t) => t > now),
    );
    return { status, conditions, result: { requeueAfter: Math.max(1000, wakeAt - now) } };
  }

  async #validate(key: string, client: BitbucketClient, value: string, ctx: ReconcileContext): Promise<Validation> {
    const now = this.#deps.clock.now();
    const seen = this.#validated.get(key);
    const print = fingerprint(value);
    if (seen && seen.fingerprint === print && now - seen.at < this.#deps.validationInterval) {
      return { valid: true, user: seen.user };
    }
    const result = await validateToken(client, value);
    if (result.valid) this.#validated.set(key, { at: now, fingerprint: print, user: result.user });
    else this.#validated.delete(key);
    ctx.log.debug({ valid: result.valid }, "validated the token against Bitbucket");
    return result;
  }

  async #adminCredentials(
    token: BitbucketProjectToken,
    ctx: ReconcileContext,
  ): Promise<{ auth: BitbucketAuth } | { problem: string; reason: string }> {
    const ref = token.spec.adminCredentialsRef?.name ?? "";
    const secret = await this.#deps.kube.get(
      Secrets,
      { namespace: token.metadata.namespace ?? "", name: ref },
      ctx.signal,
    );
    if (!secret)
      return { reason: "AdminCredentialsMissing", problem: `the admin credentials Secret ${ref} does not exist` };
    const username = tokenIn(secret, "username");
    const password = secret.data?.password
      ? Buffer.from(secret.data.password, "base64").toString("utf8")
      : secret.stringData?.password;
    if (!username || !password) {
      return {
        reason: "AdminCredentialsMissing",
        problem: `the admin credentials Secret ${ref} needs the keys "username" and "password"`,
      };
    }
    return { auth: { kind: "basic", username, password } };
  }

  async #finalize(token: BitbucketProjectToken, ctx: ReconcileContext): Promise<ReconcileResult> {
    const { kube, clock, events } = this.#deps;
    if (!hasFinalizer(token, finalizer)) return {};
    const ids = [token.status?.tokenId, token.status?.previousToken?.id].filter((id): id is string => !!id);
    if (token.spec.deletionPolicy === "Revoke" && ids.length > 0) {
      const admin = await this.#adminCredentials(token, ctx);
      const waited = clock.now() - Date.parse(token.metadata.deletionTimestamp ?? "");
      if ("problem" in admin) {
        // Namespace deletion removes the credentials Secret too; waiting would keep the namespace Terminating forever.
        events.warning(
          token,
          "RevokeSkipped",
          `could not revoke ${ids.join(", ")}: ${admin.problem}; revoke them in Bitbucket by hand`,
        );
      } else {
        try {
          const client = this.#deps.bitbucket(token.spec.server);
          for (const id of ids) await revokeToken(client, admin.auth, token.spec, id);
          events.normal(token, "Revoked", `revoked token${ids.length > 1 ? "s" : ""} ${ids.join(", ")} on deletion`);
        } catch (error) {
          if (waited < revocationPatience) throw error;
          events.warning(
            token,
            "RevokeSkipped",
            `gave up revoking ${ids.join(", ")} after ${revocationPatience / 60_000} minutes: ${describeError(error)}`,
          );
        }
      }
    } else if (ids.length > 0) {
      events.normal(
        token,
        "Retained",
        `deletionPolicy Retain: left token${ids.length > 1 ? "s" : ""} ${ids.join(", ")} in Bitbucket`,
      );
    }
    await kube.removeFinalizer(Tokens, token, finalizer);
    this.#deps.metrics.forget(token.metadata);
    return {};
  }

  #recordFailure(status: TokenStatus, now: number): void {
    status.failedIssueAttempts = (status.failedIssueAttempts ?? 0) + 1;
    status.lastFailureTime = iso(now);
  }

  async #labelSecret(secret: Secret): Promise<void> {
    // Only the label, applied as Baton's own field: the user's (or GitOps tool's) fields stay theirs.
    await this.#deps.kube.apply(Secrets, {
      apiVersion: "v1",
      kind: "Secret",
      metadata: {
        name: secret.metadata?.name ?? "",
        namespace: secret.metadata?.namespace,
        labels: { [watchedLabel]: "true" },
      },
    });
  }

  /** One status patch per reconcile, and none when nothing changed (no churn for watchers). */
  async #writeStatus(
    token: {
      metadata?: { name?: string; namespace?: string; generation?: number; resourceVersion?: string };
      status?: unknown;
    },
    status: TokenStatus,
    updates: ConditionUpdate[],
    options: { unconditional?: boolean } = {},
  ): Promise<void> {
    const patch = statusPatch(token.status, status, updates, token.metadata?.generation, this.#deps.clock.now());
    if (patch === undefined) return;
    try {
      await this.#deps.kube.patchStatus(
        Tokens,
        { namespace: token.metadata?.namespace ?? "", name: token.metadata?.name ?? "" },
        patch,
        options.unconditional ? {} : { resourceVersion: token.metadata?.resourceVersion },
      );
    } catch (error) {
      // Someone changed the object since it was read: the next pass decides again from fresh data.
      if (isConflict(error)) throw new Error("the object changed while it was reconciled; retrying with fresh data");
      throw error;
    }
  }
}

type ConditionUpdate = Omit<Parameters<typeof setCondition>[1], "observedGeneration">;
type Validation = Awaited<ReturnType<typeof validateToken>>;

interface Step {
  status: TokenStatus;
  conditions: ConditionUpdate[];
  result: ReconcileResult;
}

function keyOf(meta: { namespace?: string | undefined; name?: string | undefined }): string {
  return `${meta.namespace ?? ""}/${meta.name ?? ""}`;
}

function iso(ms: number): string {
  return new Date(Math.floor(ms / 1000) * 1000).toISOString().replace(".000Z", "Z");
}

/** An error as one line for a condition, Event or log: what failed, never a credential. */
export function describeError(error: unknown): string {
  return scrub(error instanceof Error ? error.message : String(error));
}
