// BitbucketProjectToken reconciler: fetch → finalizer → issue / renew / revoke or validate → conditions → one
// status patch. Managed tokens follow cert-manager's renewal model; externally managed ones are validated and
// their expiry tracked. Decisions come from lifecycle.ts; this file only fetches and writes.
import { permissionProblems } from "../api/permissions.ts";
import { BitbucketProjectToken, kind, secretAnnotations, type TokenSpec, type TokenStatus } from "../api/token.ts";
import type { GitProvider, ProviderLookup } from "../providers/provider.ts";
import { providerKindOf } from "../providers/registry.ts";
import { hostTerms } from "../repositories/decisions.ts";
import { oldestClaim } from "../runtime/claims.ts";
import { type CleanupLedger, cleanupLedgerName } from "../runtime/cleanup-ledger.ts";
import type { Clock } from "../runtime/clock.ts";
import { getCondition, statusPatch } from "../runtime/conditions.ts";
import type { ReconcileContext, ReconcileResult } from "../runtime/controller.ts";
import { defineResource, hasFinalizer, isConflict, isDeleting, type KubeClient, Secrets } from "../runtime/kube.ts";
import type { ObjectKey } from "../runtime/logger.ts";
import { adminCredentials } from "./credentials.ts";
import { deferRevocation } from "./deferred.ts";
import { reconcileExternal } from "./external.ts";
import { revokeToken, type Validation, validateToken } from "./issuer.ts";
import { adoptUnrecorded, issue } from "./issuing.ts";
import { issueBackoff, lifetimeChanged, policyOf, renewalTime } from "./lifecycle.ts";
import type { TokenMetrics } from "./metrics.ts";
import { pendingRequests, renewHandled, revokePreviousNow } from "./requests.ts";
import { revokePreviousWhenFree, type TokenHolders } from "./revocation.ts";
import { fingerprint, issuedFor, issuedForAnnotation, recordedLifetime, tokenIn } from "./secret.ts";
import { type ConditionUpdate, describeError, iso, keyOf, type Step } from "./step.ts";

export const Tokens = defineResource<BitbucketProjectToken>({
  apiVersion: "baton.dev/v1alpha1",
  kind,
  plural: "bitbucketprojecttokens",
});

export const finalizer = "baton.dev/revoke-tokens";

/** Informer indexes on BitbucketProjectTokens the controller maps Secret and token events through. */
export const tokenIndexes = {
  /** namespace/secretName: the objects claiming a Secret. */
  secret: "tokens.secret",
  /** namespace/name of the admin credentials Secret. */
  adminCredentials: "tokens.adminCredentials",
};

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
  /** The git host of a token's spec.server. */
  provider: ProviderLookup;
  /** Why the operator may not call this server (BATON_ALLOWED_SERVERS), or undefined when it may. */
  serverRefusal(server: string): string | undefined;
  /** Prefix of issued token names; distinguishes clusters that manage the same project. */
  instance: string;
  /** How often a token in use is checked against Bitbucket (revoked by hand?). */
  validationInterval: number;
  /** The BitbucketProjectTokens naming this Secret in this namespace (an informer index; may include the caller). */
  claimants(namespace: string, secretName: string): readonly BitbucketProjectToken[];
  /** Longest a reconcile may take (BATON_RECONCILE_TIMEOUT); its calls are aborted then and it is retried. */
  reconcileTimeoutMs?: number;
  /** The PipelineRuns still using a token (pipelines/held-tokens.ts); without it, nothing holds a revocation. */
  holders?: TokenHolders;
  /** Where tokens a deletion could not revoke are recorded for later; without it they are given up, with an Event. */
  ledger?: CleanupLedger;
  /** Called after something was recorded in the ledger, so its retries start without waiting for their interval. */
  deferred?: () => void;
}

/** How long a deleted object keeps trying to revoke its tokens before it lets go (and says so). */
const revocationPatience = 10 * 60_000;

export class TokenReconciler {
  readonly #deps: TokenReconcilerDeps;
  /** key → when the current token last passed validation, and which value: cheap re-checks, no status churn. */
  readonly #validated = new Map<
    string,
    { at: number; fingerprint: string; user?: string | undefined; expiresAt?: number; neverExpires?: boolean }
  >();
  /**
   * key → the expiry the host last stated for a value, kept when that value is later refused: the refusal states
   * none, and "it expired at …" is what the user needs to read then.
   */
  readonly #stated = new Map<string, { fingerprint: string; expiresAt: number }>();
  /** key → fingerprint of the admin credentials the last failed issue attempt used ("" when there were none). */
  readonly #failedWith = new Map<string, string>();

  constructor(deps: TokenReconcilerDeps) {
    this.#deps = deps;
  }

  /**
   * Bitbucket answered 401 to a call made with this token value, by any part of Baton. Returns the objects whose
   * current token it is, for an immediate reconcile, and forgets their last validation so that reconcile asks
   * Bitbucket again instead of trusting the previous answer for the rest of the validation interval.
   */
  refused(value: string): string[] {
    const print = fingerprint(value);
    const keys: string[] = [];
    for (const [key, seen] of this.#validated) {
      if (seen.fingerprint !== print) continue;
      this.#validated.delete(key);
      keys.push(key);
    }
    return keys;
  }

  readonly reconcile = async (key: ObjectKey, ctx: ReconcileContext): Promise<ReconcileResult> => {
    // Every Bitbucket call takes the signal, as in the Repository reconciler: a server that accepts connections and
    // never answers holds a worker this long at most, not for each call's own timeout and retries in turn.
    const deadline = AbortSignal.timeout(this.#deps.reconcileTimeoutMs ?? 60_000);
    return this.#reconcile(key, { ...ctx, signal: AbortSignal.any([ctx.signal, deadline]) });
  };

  readonly #reconcile = async (key: ObjectKey, ctx: ReconcileContext): Promise<ReconcileResult> => {
    const { kube, metrics } = this.#deps;
    // A fresh read, not the informer cache: right after our own status write the cache may still show the token
    // as not issued, and acting on that would issue a second one.
    const raw = await kube.get(Tokens, key, ctx.signal);
    if (!raw) {
      metrics.forget(key);
      this.#validated.delete(keyOf(key));
      this.#stated.delete(keyOf(key));
      this.#failedWith.delete(keyOf(key));
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

    const refusal = this.#deps.serverRefusal(token.spec.server);
    if (refusal !== undefined) {
      // Nothing is sent there, revocation included. Tokens an earlier, wider allow-list issued keep the finalizer
      // until deletion (the list may widen again); then they are left unrevoked, and an Event says so.
      if (isDeleting(raw)) {
        if (hasFinalizer(raw, finalizer)) {
          this.#deps.events.warning(token, "ServerNotAllowed", `${refusal}; tokens issued there are not revoked`);
          await kube.removeFinalizer(Tokens, raw, finalizer);
        }
      } else {
        await this.#writeStatus(token, { ...token.status }, [
          { type: "Ready", status: "False", reason: "ServerNotAllowed", message: refusal },
        ]);
      }
      return {};
    }
    if (isDeleting(raw)) return this.#finalize(token, ctx);

    // One Secret, one writer: two objects issuing into the same Secret would each see the other's token as a lost
    // one of their own and re-issue, forever. The oldest claim keeps the Secret; the others wait, issuing nothing.
    const holder = this.#secretHolder(token);
    if (holder) {
      const step = this.#refuse(token, holder, managed);
      await this.#writeStatus(token, step.status, step.conditions);
      metrics.observe(key, step.status, step.conditions);
      return step.result;
    }

    // A host whose tokens are made by people only (Bitbucket Cloud, GitHub) has nothing admin credentials could do.
    const host = this.#provider(token.spec);
    if (managed && host.capabilities.tokens.issuing !== "issue") {
      // Where the host states the expiry itself (GitHub), nobody needs to write it down.
      const expiry =
        host.capabilities.tokens.expiry.kind === "header"
          ? ""
          : " with its expiry in the annotation baton.dev/expires-at";
      await this.#writeStatus(token, { ...token.status }, [
        {
          type: "Ready",
          status: "False",
          reason: "IssuingUnsupported",
          message:
            `${token.spec.server} cannot issue access tokens through its API, so adminCredentialsRef is refused: ` +
            `create the token in ${hostTerms(host.kind).host}, write it to the Secret ${token.spec.secretName} under ` +
            `the key "token"${expiry}, and remove adminCredentialsRef`,
        },
      ]);
      return {};
    }
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

    const recordedId = token.status?.tokenId;
    const step = managed
      ? await this.#reconcileManaged(token, ctx)
      : await reconcileExternal(
          {
            ...this.#deps,
            validate: (value) => this.#validate(keyOf(token.metadata), token.spec, value, ctx),
            lastStated: (value) => {
              const stated = this.#stated.get(keyOf(token.metadata));
              return stated?.fingerprint === fingerprint(value) ? stated.expiresAt : undefined;
            },
            host: hostTerms(this.#provider(token.spec).kind).host,
          },
          token,
          ctx,
        );
    // A token issued or adopted in this pass is a fact that must be recorded, whatever else changed meanwhile.
    const recordsNewToken = step.status.tokenId !== recordedId;
    await this.#writeStatus(token, step.status, step.conditions, { unconditional: recordsNewToken });
    metrics.observe(key, step.status, step.conditions);
    return step.result;
  };

  /** The older object that keeps this one's Secret, if there is one. Deleting claimants still hold it. */
  #secretHolder(token: BitbucketProjectToken): BitbucketProjectToken | undefined {
    const self = keyOf(token.metadata);
    const others = this.#deps
      .claimants(token.metadata.namespace ?? "", token.spec.secretName)
      .filter((other) => keyOf(other.metadata) !== self && other.spec?.secretName === token.spec.secretName);
    const winner = oldestClaim([token, ...others]);
    return winner && keyOf(winner.metadata) !== self ? winner : undefined;
  }

  #refuse(token: BitbucketProjectToken, holder: BitbucketProjectToken, managed: boolean): Step {
    const message = `the Secret ${token.spec.secretName} belongs to BitbucketProjectToken ${holder.metadata.name} (the oldest claim); this one issues and validates nothing until that one is deleted or this one names another secretName`;
    const ready = getCondition(token.status?.conditions, "Ready");
    if (ready?.reason !== "SecretConflict" || ready.message !== message)
      this.#deps.events.warning(token, "SecretConflict", message);
    const conditions: ConditionUpdate[] = [{ type: "Ready", status: "False", reason: "SecretConflict", message }];
    if (managed)
      conditions.push({
        type: "Issuing",
        status: "False",
        reason: "SecretConflict",
        message: `nothing is issued while BitbucketProjectToken ${holder.metadata.name} holds the Secret`,
      });
    // No requeue: the holder's deletion (or a spec change of either) wakes this object through the informer.
    return { status: { ...token.status }, conditions, result: {} };
  }

  async #reconcileManaged(token: BitbucketProjectToken, ctx: ReconcileContext): Promise<Step> {
    const { kube, clock, events, metrics } = this.#deps;
    const key = keyOf(token.metadata);
    const now = clock.now();
    const spec = token.spec;
    const policy = policyOf(spec);
    const status: TokenStatus = { ...token.status };
    const client = this.#provider(spec);
    const namespace = token.metadata.namespace ?? "";

    const secret = await kube.get(Secrets, { namespace, name: spec.secretName }, ctx.signal);
    const stored = tokenIn(secret);
    const storedId = secret?.metadata?.annotations?.[secretAnnotations.tokenId];
    adoptUnrecorded(this.#deps, token, status, secret, stored);
    const notBefore = Date.parse(status.notBefore ?? "");
    const notAfter = Date.parse(status.notAfter ?? "");
    // Recomputed on every pass, as cert-manager does, so a changed renewBefore moves the renewal time at once
    // instead of when the old one passes (and an earlier one already in the past renews now).
    if (Number.isFinite(notBefore) && Number.isFinite(notAfter))
      status.renewalTime = iso(renewalTime(notBefore, notAfter, policy.renewBefore));
    const holdsCurrent = !!status.tokenId && storedId === status.tokenId && stored !== undefined;
    const current = status.tokenName ?? status.tokenId;

    // Why a new token is needed, if it is; checked in the order a user would want to hear about it. `unusable`
    // is set when the current token no longer works at all, which consumers must hear about before anything else.
    let issueReason: string | undefined;
    let unusable: ConditionUpdate | undefined;
    let currentValid = false;
    if (!status.tokenId) issueReason = "no token has been issued yet";
    else if (!holdsCurrent) issueReason = `the Secret ${spec.secretName} no longer holds token ${status.tokenId}`;
    else if (!(notAfter > now)) {
      issueReason = `token ${status.tokenId} expired at ${status.notAfter}`;
      unusable = {
        type: "Ready",
        status: "False",
        reason: "Expired",
        message: `token ${current} expired at ${status.notAfter}`,
      };
    } else if (secret?.metadata?.annotations?.[issuedForAnnotation] !== issuedFor(token))
      issueReason = "the server, project, repository or permissions changed";
    else if (lifetimeChanged(recordedLifetime(secret), policy.lifetime))
      issueReason = `spec.lifetime changed to ${spec.lifetime}, and a token's expiry is fixed when it is issued`;
    else {
      // An outage says nothing about the token: keep using it rather than churn tokens while Bitbucket is down.
      const validation = await this.#validate(key, spec, stored, ctx).catch((error: unknown) => {
        ctx.log.warn({ err: describeError(error) }, "could not validate the token; keeping it");
        return undefined;
      });
      if (validation && !validation.valid) {
        issueReason = `token ${status.tokenId} was refused: ${validation.reason}`;
        unusable = {
          type: "Ready",
          status: "False",
          reason: "Unauthorized",
          message: `Bitbucket refused token ${current}: ${validation.reason}`,
        };
      } else {
        currentValid = true;
        if (now >= Date.parse(status.renewalTime ?? "")) issueReason = "renewal time reached";
      }
    }
    const requests = pendingRequests(token.metadata.annotations, status.requests);
    if (requests.renew !== undefined) issueReason ??= `renewal requested (baton.dev/renew-requested-at)`;

    // Said the moment Baton knows, before it acts: whoever watches Ready sees the token stopped working even when
    // a new one follows a second later (an operator that was down across the expiry, a token revoked by hand).
    if (unusable) await this.#recordUnusable(token, status, unusable);

    const conditions: ConditionUpdate[] = [];
    let requeueAt = Number.POSITIVE_INFINITY;
    const admin = await adminCredentials(kube, token, { signal: ctx.signal, watch: true });

    if (issueReason !== undefined) {
      const failed = status.failedIssueAttempts ?? 0;
      const retryAt = Date.parse(status.lastFailureTime ?? "") + issueBackoff(failed);
      // The back-off waits out a problem; credentials changed since the failure (a fixed password) are a new try.
      const credentialsChanged =
        this.#failedWith.has(key) && this.#failedWith.get(key) !== ("fingerprint" in admin ? admin.fingerprint : "");
      if (failed > 0 && now < retryAt && !credentialsChanged) {
        requeueAt = retryAt;
        // The Issuing condition written by the failed attempt stays as it is: it names the error and the next
        // attempt, which is what someone looking at a stuck token needs to read.
      } else if ("problem" in admin) {
        this.#recordFailure(key, status, now, "");
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
          const issued = await issue(this.#deps, token, status, admin.auth, client, issueReason, ctx);
          if (requests.renew !== undefined) renewHandled(events, token, status, requests.renew);
          this.#validated.set(key, { at: clock.now(), ...issued });
          this.#failedWith.delete(key);
          conditions.push({
            type: "Issuing",
            status: "False",
            reason: "Issued",
            message: `token revision ${status.revision} issued`,
          });
          metrics.rotation("success");
        } catch (error) {
          this.#recordFailure(key, status, now, admin.fingerprint);
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

    // Revoke now: after a renew asked for in the same change, and only with the current token in the Secret.
    const renewPending = requests.renew !== undefined && status.requests?.renew !== requests.renew;
    const inSecret = holdsCurrent || status.tokenId !== token.status?.tokenId;
    if (requests.revokePrevious !== undefined && !renewPending && inSecret && !("problem" in admin)) {
      try {
        await revokePreviousNow(this.#deps, token, status, admin.auth, client, requests.revokePrevious, ctx.signal);
      } catch (error) {
        ctx.log.warn({ err: describeError(error) }, "could not revoke the previous token as asked; will retry");
        requeueAt = Math.min(requeueAt, now + 30_000);
      }
    }

    // The previous token stays valid for the grace period so running PipelineRuns finish; then it is revoked, once
    // no run that started with it still runs (bounded: revocation.ts).
    if (!("problem" in admin)) {
      try {
        const revocation = await revokePreviousWhenFree(
          this.#deps,
          token,
          status,
          policy,
          admin.auth,
          client,
          now,
          ctx,
        );
        conditions.push(...revocation.conditions);
        requeueAt = Math.min(requeueAt, revocation.requeueAt);
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
        : (unusable ?? {
            type: "Ready",
            status: "False",
            reason: expires <= now ? "Expired" : "NoValidToken",
            message: issueReason ?? "no valid token",
          }),
    );

    for (const at of [Date.parse(status.renewalTime ?? ""), expires]) {
      if (at > now) requeueAt = Math.min(requeueAt, at);
    }
    requeueAt = Math.min(requeueAt, now + this.#deps.validationInterval);
    return { status, conditions, result: { requeueAfter: Math.max(1000, requeueAt - now) } };
  }

  /** Writes Ready=False for a token that stopped working, with an Event, unless status already says so. */
  async #recordUnusable(token: BitbucketProjectToken, status: TokenStatus, ready: ConditionUpdate): Promise<void> {
    const recorded = getCondition(token.status?.conditions, "Ready");
    if (recorded?.status === "False" && recorded.reason === ready.reason) return;
    this.#deps.events.warning(token, ready.reason, `${ready.message}; issuing a new token`);
    const written = await this.#writeStatus(token, status, [ready]);
    if (!written) return;
    // The rest of this pass builds on what is now stored: the next write is checked against it, and Ready's
    // transition time is the one just recorded.
    token.metadata.resourceVersion = written.metadata?.resourceVersion;
    token.status = { ...token.status, ...(written.status as TokenStatus) };
    status.conditions = (written.status as TokenStatus | undefined)?.conditions;
  }

  /** A BitbucketProjectToken names its server; the host kind follows from it (or spec.provider) like a Repository's. */
  #provider(spec: Pick<TokenSpec, "server" | "provider">): GitProvider {
    return this.#deps.provider(spec.server, providerKindOf({ url: spec.server, provider: spec.provider }));
  }

  async #validate(key: string, spec: TokenSpec, value: string, ctx: ReconcileContext): Promise<Validation> {
    const client = this.#provider(spec);
    const now = this.#deps.clock.now();
    const seen = this.#validated.get(key);
    const print = fingerprint(value);
    if (seen && seen.fingerprint === print && now - seen.at < this.#deps.validationInterval) {
      const { at: _at, fingerprint: _print, ...cached } = seen;
      return { valid: true, ...cached };
    }
    // Forgotten before asking: a 401 to this very call must not come back through refused() as news.
    this.#validated.delete(key);
    const result = await validateToken(client, value, spec, ctx.signal);
    if (result.valid) {
      this.#validated.set(key, {
        at: now,
        fingerprint: print,
        user: result.user,
        ...(result.expiresAt === undefined ? {} : { expiresAt: result.expiresAt }),
        ...(result.neverExpires ? { neverExpires: true } : {}),
      });
      if (result.expiresAt === undefined) this.#stated.delete(key);
      else this.#stated.set(key, { fingerprint: print, expiresAt: result.expiresAt });
    }
    ctx.log.debug({ valid: result.valid }, "validated the token against Bitbucket");
    return result;
  }

  async #finalize(token: BitbucketProjectToken, ctx: ReconcileContext): Promise<ReconcileResult> {
    const { kube, clock, events } = this.#deps;
    if (!hasFinalizer(token, finalizer)) return {};
    const ids = [token.status?.tokenId, token.status?.previousToken?.id].filter((id): id is string => !!id);
    if (token.spec.deletionPolicy === "Revoke" && ids.length > 0) {
      const admin = await adminCredentials(kube, token, { signal: ctx.signal });
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
          const client = this.#provider(token.spec);
          for (const id of ids) await revokeToken(client, admin.auth, token.spec, id, ctx.signal);
          events.normal(token, "Revoked", `revoked token${ids.length > 1 ? "s" : ""} ${ids.join(", ")} on deletion`);
        } catch (error) {
          if (waited < revocationPatience) throw error;
          const { ledger } = this.#deps;
          if (!ledger) {
            events.warning(
              token,
              "RevokeSkipped",
              `gave up revoking ${ids.join(", ")} after ${revocationPatience / 60_000} minutes: ${describeError(error)}`,
            );
          } else {
            // The object goes (its namespace may be terminating); the tokens are not forgotten.
            await deferRevocation(ledger, token, ids, describeError(error));
            this.#deps.deferred?.();
            events.warning(
              token,
              "RevocationDeferred",
              `could not revoke ${ids.join(", ")} for ${revocationPatience / 60_000} minutes: ${describeError(error)}; recorded in Secret ${ledger.namespace}/${cleanupLedgerName} and retried until Bitbucket answers (Events on that Secret say when)`,
            );
          }
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

  #recordFailure(key: string, status: TokenStatus, now: number, credentials: string): void {
    status.failedIssueAttempts = (status.failedIssueAttempts ?? 0) + 1;
    status.lastFailureTime = iso(now);
    this.#failedWith.set(key, credentials);
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
  ): Promise<BitbucketProjectToken | undefined> {
    const patch = statusPatch(token.status, status, updates, token.metadata?.generation, this.#deps.clock.now());
    if (patch === undefined) return undefined;
    try {
      return await this.#deps.kube.patchStatus(
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
