// Repository reconciler: fetch → duplicate check → finalizer → token → reachability → webhook → one status patch.
//
// Bitbucket calls are the scarce resource (one budget for the whole operator), so nothing here calls Bitbucket
// per Repository when one call can answer for many:
// - reachability: one repository listing per (server, project, token), shared by the project's Repositories and
//   kept as long as webhook calls with the same token keep succeeding (cache.ts RepositoryListings);
// - project-scope webhooks: one "sync slot" per (server, project). Every Repository of the project asks the slot;
//   the first one lists the project's hooks and acts, the others queue behind it and reuse its result until the
//   drift interval has passed or what is desired changed (cache.ts SyncSlots). The hook subscribes to the union of
//   the members' events, and members are derived from the informer cache, never counted: the last one to go
//   deletes it;
// - repository-scope webhooks: one slot per repository, so a reconcile woken for any other reason (a Secret event,
//   a resync) costs nothing until the drift interval is up.
import { createHash } from "node:crypto";
import { formatDuration } from "../api/common.ts";
import { Repository, type RepositoryStatus } from "../api/repository.ts";
import type { BitbucketClient } from "../providers/bitbucket-datacenter/index.ts";
import { oldestClaim } from "../runtime/claims.ts";
import type { Clock } from "../runtime/clock.ts";
import { type Condition, getCondition, type setCondition, statusPatch } from "../runtime/conditions.ts";
import type { ReconcileContext, ReconcileResult } from "../runtime/controller.ts";
import type { Informer } from "../runtime/informer.ts";
import { hasFinalizer, isConflict, isDeleting, type KubeClient, type KubeObject, keyOf } from "../runtime/kube.ts";
import type { Secret } from "../runtime/kube-types.ts";
import { keyString, type ObjectKey } from "../runtime/logger.ts";
import { fingerprint } from "../tokens/secret.ts";
import { type ListingResult, RepositoryListings, ServerFeatures, type SyncRecord, SyncSlots } from "./cache.ts";
import { cloneTokenConditions } from "./clonetoken.ts";
import {
  desiredWebhook,
  type FailureKind,
  jittered,
  parseRepositoryUrl,
  projectIdentity,
  projectWebhookEvents,
  type RepositoryLocation,
  repositoryIdentity,
  retryDelay,
  syncTimeDue,
  urlCarriesCredential,
  webhookFailure,
  webhookName,
} from "./decisions.ts";
import { describeError, failureOf } from "./failures.ts";
import type { RepositoryMetrics } from "./metrics.ts";
import {
  cloneToken,
  operatorToken,
  Repositories,
  type WebhookSecretLocation,
  webhookSecretIn,
  webhookSecretLocation,
} from "./resource.ts";
import { deleteWebhookSecret, ensureWebhookSecret, type WebhookSecret, watchSecret } from "./secrets.ts";
import { type HookOutcome, removeHooks, syncHook } from "./webhooks.ts";

export const finalizer = "baton.dev/webhook";
/** Touching this annotation (any new value) asks for a check against Bitbucket now, drift interval or not. */
export const reconcileRequestedAt = "baton.dev/reconcile-requested-at";

/** Informer indexes the reconciler and the controller's event mapping rely on. */
export const indexes = {
  /** repositoryIdentity: who else claims the same Bitbucket repository. */
  identity: "repositories.identity",
  /** projectIdentity: the Repositories sharing a project's listing and project webhook. */
  project: "repositories.project",
  /** `namespace/name` of the Secrets a Repository reads directly (secretRef, webhook.secretRef). */
  secret: "repositories.secret",
  /** `namespace/name` of the BitbucketProjectToken in tokenRef. */
  tokenRef: "repositories.tokenRef",
  /** `namespace/name` of the shared webhook Secret of a project-scope Repository's project. */
  projectSecret: "repositories.projectSecret",
} as const;

type RawRepository = Repository;

/** Where a cached object points, tolerating objects the reconciler has not validated. */
export function locate(repository: Pick<RawRepository, "spec"> | undefined): RepositoryLocation | undefined {
  const url = repository?.spec?.url;
  return typeof url === "string" ? parseRepositoryUrl(url, repository?.spec?.provider) : undefined;
}

/** Events on the Repository, so `kubectl describe` tells its story. Must never throw. */
export interface EventSink {
  normal(obj: KubeObject, reason: string, message: string): void;
  warning(obj: KubeObject, reason: string, message: string): void;
}

export interface RepositoryReconcilerDeps {
  kube: KubeClient;
  /** Drives drift intervals and status times. */
  clock: Clock;
  events: EventSink;
  metrics: RepositoryMetrics;
  bitbucket(server: string): BitbucketClient;
  /** Why the operator may not call this server (BATON_ALLOWED_SERVERS), or undefined when it may. */
  serverRefusal(server: string): string | undefined;
  /** Longest a reconcile may take (BATON_RECONCILE_TIMEOUT); its calls are aborted then and it is retried. */
  reconcileTimeoutMs?: number;
  /** Records a webhook a deletion could not remove, for later (deferred-webhooks.ts); says what was done. */
  deferWebhook?: (repo: Repository, location: RepositoryLocation, error: string) => Promise<string | undefined>;
  /** How long a deleted Repository keeps trying to remove its webhook before it lets go. Default 10 minutes. */
  deletionPatienceMs?: number;
  /** The shared Repository informer, with `indexes` registered. */
  repositories: Informer<RawRepository>;
  /** Names Baton's webhooks (webhookName) and keeps two clusters sharing a project apart. */
  instance: string;
  /** Where Bitbucket delivers; without it no webhook can be synchronised. */
  intakeUrl: string | undefined;
  /** Home of the shared project webhook Secrets. */
  operatorNamespace: string;
  driftInterval: number;
  /**
   * The label-selected Secret informer's copy of a Secret, if it has one: webhook secrets carry the label, so the
   * many reconciles of a project read its shared secret from memory, not from the API server.
   */
  cachedSecret?: (namespace: string, name: string) => Secret | undefined;
  random?: () => number;
}

type HookResult =
  | {
      ok: true;
      outcome: HookOutcome;
      scope: "repository" | "project";
      /** A replace made because the spec (or secret) changed, not because someone edited the hook. */
      updated: boolean;
      /** contentPrint of what was synchronised. */
      content?: string;
    }
  | { ok: false; kind: FailureKind; detail: string; scope: "repository" | "project"; tried: string[] };

type HookRecord = SyncRecord<HookResult> & { reused: boolean };

type ConditionUpdate = Omit<Parameters<typeof setCondition>[1], "observedGeneration">;

interface Step {
  status: RepositoryStatus;
  conditions: ConditionUpdate[];
  requeueAfter?: number;
}

/** How long a deleted Repository keeps trying to remove its webhook before it lets go (and says so). */
const deletionPatience = 10 * 60_000;

export class RepositoryReconciler {
  readonly #deps: RepositoryReconcilerDeps;
  readonly #name: string;
  readonly #listings: RepositoryListings;
  readonly #features: ServerFeatures;
  readonly #slots: SyncSlots<HookResult>;
  /** Consecutive failures per slot key, for the retry delay. */
  readonly #failures = new Map<string, number>();
  /** Consecutive failures per Repository before any webhook call (token, reachability). */
  readonly #memberFailures = new Map<string, number>();
  /** Per project: each member's current token, so the shared hook can be synchronised with another's token. */
  readonly #groupTokens = new Map<string, Map<string, string>>();
  /** Last token each Repository resolved: a namespace being deleted may take the token Secret first. */
  readonly #lastTokens = new Map<string, string>();
  /** The last shared-hook result each member has told its story about (Events once per change). */
  readonly #observed = new Map<string, number>();
  #inFlight = 0;
  /** Repositories reconciled at least once by this process (catch-up's start-up pass waits for all of them). */
  readonly #reconciled = new Set<string>();

  constructor(deps: RepositoryReconcilerDeps) {
    this.#deps = deps;
    this.#name = webhookName(deps.instance);
    const now = () => deps.clock.now();
    this.#listings = new RepositoryListings({ now, maxAge: 2 * deps.driftInterval });
    this.#features = new ServerFeatures({ now });
    this.#slots = new SyncSlots(now);
  }

  /** Reconciles running right now; catch-up waits for the start-up pass to finish before it calls Bitbucket. */
  get inFlight(): number {
    return this.#inFlight;
  }

  /** Catch-up learnt that Bitbucket no longer accepts what the listing said: check again on the next reconcile. */
  forgetReachability(location: RepositoryLocation, token: string): void {
    this.#listings.invalidate(location.server, location.project, token);
  }

  /** Whether this process has reconciled the Repository at least once. */
  reconciled(key: string): boolean {
    return this.#reconciled.has(key);
  }

  readonly reconcile = async (key: ObjectKey, ctx: ReconcileContext): Promise<ReconcileResult> => {
    this.#inFlight++;
    try {
      // Every Bitbucket call takes the signal, so a server that accepts connections and never answers holds one
      // worker for this long at most, not for each call's own timeouts and retries in turn.
      const deadline = AbortSignal.timeout(this.#deps.reconcileTimeoutMs ?? 60_000);
      const result = await this.#reconcile(key, { ...ctx, signal: AbortSignal.any([ctx.signal, deadline]) });
      this.#reconciled.add(keyString(key));
      return result;
    } finally {
      this.#inFlight--;
    }
  };

  async #reconcile(key: ObjectKey, ctx: ReconcileContext): Promise<ReconcileResult> {
    const { kube } = this.#deps;
    // A fresh read: right after our own write the cache may still show the object without its finalizer.
    const raw = await kube.get(Repositories, key, ctx.signal);
    if (!raw) {
      this.#forget(keyString(key));
      return {};
    }
    const parsed = Repository.safeParse(raw);
    if (!parsed.success) {
      const message = parsed.error.issues.map((i) => `${i.path.join(".")}: ${i.message}`).join("; ");
      if (isDeleting(raw) && hasFinalizer(raw, finalizer)) {
        this.#deps.events.warning(raw, "Failed", `could not remove the webhook of an invalid Repository: ${message}`);
        await kube.removeFinalizer(Repositories, raw, finalizer);
        return {};
      }
      await this.#writeStatus(raw, { ...raw.status }, [
        { type: "Ready", status: "False", reason: "InvalidSpec", message },
      ]);
      return {};
    }
    let repo = parsed.data;
    const location = parseRepositoryUrl(repo.spec.url, repo.spec.provider);
    const refusal = location ? this.#deps.serverRefusal(location.server) : undefined;
    if (refusal !== undefined && location) {
      // Before anything else that might call the server, deletion included: not one request (nor the token) goes
      // there. A webhook an earlier, wider allow-list let Baton make there keeps its finalizer until the Repository
      // is deleted (the list may widen again); then it is left for a person to remove, and an Event says so.
      if (isDeleting(repo)) {
        if (hasFinalizer(repo, finalizer)) {
          this.#deps.events.warning(repo, "ServerNotAllowed", `${refusal}; any webhook Baton made there is left as is`);
          await kube.removeFinalizer(Repositories, repo, finalizer, { signal: ctx.signal });
        }
        this.#forget(keyOf(repo));
        return {};
      }
      await this.#writeStatus(repo, { ...repo.status }, [
        { type: "Ready", status: "False", reason: "ServerNotAllowed", message: refusal },
      ]);
      return {};
    }
    if (isDeleting(repo)) return this.#finalize(repo, location, ctx);

    if (!location) {
      // The CRD's pattern is looser than the parser (it accepts a browse URL without the project form).
      if (hasFinalizer(repo, finalizer)) repo = await this.#letGo(repo, undefined, ctx);
      await this.#writeStatus(repo, { ...repo.status }, [
        {
          type: "Ready",
          status: "False",
          reason: "InvalidURL",
          message: urlCarriesCredential(repo.spec.url)
            ? "spec.url carries a credential (a password or an access token); keep the URL plain and put the token in the Secret named by spec.secretRef or spec.tokenRef"
            : `spec.url ${repo.spec.url} is neither a browse URL (https://host/projects/KEY/repos/slug) nor an HTTP clone URL (https://host/scm/key/slug.git)`,
        },
      ]);
      return {};
    }

    // One Repository per Bitbucket repository: the oldest keeps it, the others are left alone.
    const winner = this.#winner(repo, location);
    if (winner && keyOf(winner) !== keyOf(repo)) {
      if (hasFinalizer(repo, finalizer)) repo = await this.#letGo(repo, location, ctx);
      const duplicate: ConditionUpdate[] = [
        {
          type: "Ready",
          status: "False",
          reason: "Duplicate",
          message: `${location.project}/${location.slug} on ${location.server} is already connected by Repository ${keyOf(winner)} (the oldest claim); this one receives no events and is left alone until that one is deleted`,
        },
      ];
      const stale = getCondition(repo.status?.conditions as Condition[] | undefined, "WebhookSynced");
      if (stale)
        duplicate.push({
          type: "WebhookSynced",
          status: "Unknown",
          reason: "Duplicate",
          message: `the webhook belongs to Repository ${keyOf(winner)}`,
        });
      await this.#writeStatus(repo, { ...repo.status }, duplicate);
      return {};
    }

    const managed = repo.spec.webhook.managed;
    if (managed && !hasFinalizer(repo, finalizer)) {
      // Before any webhook exists, so none can outlive its Repository.
      const patched = await kube.addFinalizer(Repositories, repo, finalizer, { signal: ctx.signal });
      repo = { ...repo, metadata: { ...repo.metadata, ...patched.metadata } };
    } else if (!managed && hasFinalizer(repo, finalizer)) {
      // spec.webhook.managed: false means hands off, including on deletion.
      const patched = await kube.removeFinalizer(Repositories, repo, finalizer, { signal: ctx.signal });
      repo = { ...repo, metadata: { ...repo.metadata, ...patched.metadata } };
    }

    const step = await this.#reconcileLive(repo, location, ctx);
    step.conditions.push(...(await this.#cloneToken(repo)));
    await this.#writeStatus(repo, step.status, step.conditions);
    return step.requeueAfter === undefined ? {} : { requeueAfter: Math.max(1000, Math.round(step.requeueAfter)) };
  }

  /** CloneTokenReady and CloneTokenWarning (clonetoken.ts), with a Warning Event whenever either turns bad. */
  async #cloneToken(repo: Repository): Promise<ConditionUpdate[]> {
    const resolved = await cloneToken(this.#deps.kube, repo);
    const conditions = cloneTokenConditions(resolved.plan, resolved, resolved.permissions);
    const [ready, warning] = conditions;
    const was = (type: string) => getCondition(repo.status?.conditions as Condition[] | undefined, type);
    if (ready.status === "False" && was(ready.type)?.reason !== ready.reason)
      this.#deps.events.warning(repo, ready.reason, ready.message);
    const before = was(warning.type);
    if (warning.status === "True" && (before?.status !== "True" || before.reason !== warning.reason))
      this.#deps.events.warning(repo, warning.reason, warning.message);
    return conditions;
  }

  async #reconcileLive(repo: Repository, location: RepositoryLocation, ctx: ReconcileContext): Promise<Step> {
    const { kube } = this.#deps;
    const key = keyOf(repo);
    const where = `${location.project}/${location.slug}`;
    const status: RepositoryStatus = {
      ...repo.status,
      server: location.server,
      project: location.project,
      slug: location.slug,
    };
    const conditions: ConditionUpdate[] = [];
    const managed = repo.spec.webhook.managed;
    const namespace = repo.metadata.namespace ?? "";

    // Token: so a token written to a user's Secret later wakes this Repository, the Secret is labelled as watched.
    if (repo.spec.secretRef) await this.#watch(namespace, repo.spec.secretRef.name, ctx);
    const resolved = await operatorToken(kube, repo);
    if ("problem" in resolved) {
      const failures = this.#memberFailed(key);
      conditions.push(
        { type: "TokenReady", status: "False", reason: resolved.reason, message: resolved.problem },
        { type: "Ready", status: "False", reason: "TokenNotReady", message: resolved.problem },
      );
      if (managed)
        conditions.push({
          type: "WebhookSynced",
          status: "Unknown",
          reason: "TokenNotReady",
          message: "waiting for a token to call Bitbucket with",
        });
      return { status, conditions, requeueAfter: retryDelay(failures, this.#deps.driftInterval) };
    }
    const token = resolved.token;
    this.#lastTokens.set(key, token);
    const client = this.#deps.bitbucket(location.server);

    // Reachability, from the project's shared listing.
    const asked = this.#deps.clock.now();
    const listing = await this.#listings.lookup(client, location, token, location.slug, ctx.signal);
    const notBitbucket = await this.#notBitbucket(client, listing, location.slug, ctx);
    if (notBitbucket !== undefined) {
      const failures = this.#memberFailed(key);
      const message = `${location.server} does not answer as Bitbucket Data Center (${notBitbucket}); check that spec.url points at Bitbucket`;
      conditions.push(
        { type: "TokenReady", status: "False", reason: "NotBitbucket", message },
        { type: "Ready", status: "False", reason: "NotBitbucket", message },
      );
      if (managed)
        conditions.push({
          type: "WebhookSynced",
          status: "Unknown",
          reason: "NotBitbucket",
          message: "waiting until spec.url points at a Bitbucket server",
        });
      return { status, conditions, requeueAfter: retryDelay(failures, this.#deps.driftInterval) };
    }
    if (!listing.ok) {
      const failures = this.#memberFailed(key);
      const { tokenReady, ready } = listingFailure(listing.kind, listing.detail, resolved.source, location);
      conditions.push(tokenReady, ready);
      if (managed)
        conditions.push({
          type: "WebhookSynced",
          status: "Unknown",
          reason: ready.reason,
          message: "waiting until Baton can reach the repository",
        });
      return { status, conditions, requeueAfter: retryDelay(failures, this.#deps.driftInterval) };
    }
    conditions.push({
      type: "TokenReady",
      status: "True",
      reason: "Valid",
      message: `Bitbucket accepts the token from ${resolved.source}`,
    });
    if (!listing.slugs.has(location.slug)) {
      const message = `repository ${where} does not exist on ${location.server}, or the token from ${resolved.source} cannot read it (it needs REPO_READ)`;
      conditions.push({ type: "Ready", status: "False", reason: "RepositoryNotFound", message });
      if (managed) conditions.push({ type: "WebhookSynced", status: "False", reason: "RepositoryNotFound", message });
      // A listing from before this reconcile may predate the repository (just created in Bitbucket): look again
      // as soon as the project may be listed again; only a miss in a listing made for this look earns back-off.
      const requeueAfter =
        listing.fetchedAt < asked
          ? Math.max(1_000, this.#listings.relistAt(listing) - this.#deps.clock.now())
          : retryDelay(this.#memberFailed(key), this.#deps.driftInterval);
      return { status, conditions, requeueAfter };
    }

    if (!managed) {
      this.#memberFailures.delete(key);
      delete status.webhook;
      conditions.push(
        {
          type: "WebhookSynced",
          status: "Unknown",
          reason: "Unmanaged",
          message: "spec.webhook.managed is false: Baton neither creates nor checks the webhook",
        },
        {
          type: "Ready",
          status: "True",
          reason: "Connected",
          message: `Baton can read ${where}; its webhook is managed outside Baton`,
        },
      );
      return { status, conditions, requeueAfter: jittered(this.#deps.driftInterval, this.#deps.random) };
    }
    const intakeUrl = this.#deps.intakeUrl;
    if (!intakeUrl) {
      const message =
        "the operator has no intake URL, so Bitbucket would not know where to deliver: set --intake-url (BATON_INTAKE_URL) to the address Bitbucket reaches Baton's intake at";
      conditions.push(
        { type: "WebhookSynced", status: "False", reason: "IntakeUrlNotConfigured", message },
        { type: "Ready", status: "False", reason: "WebhookNotSynced", message },
      );
      return { status, conditions, requeueAfter: jittered(this.#deps.driftInterval, this.#deps.random) };
    }
    this.#memberFailures.delete(key);

    // The webhook.
    let record: HookRecord | undefined;
    let fallback: string | undefined;
    const secretLocation = webhookSecretLocation(repo, this.#deps.operatorNamespace, location);
    try {
      if (repo.spec.webhook.scope === "project") {
        const support = await this.#features.projectWebhooks(client, ctx.signal);
        if (support.supported) {
          record = await this.#syncProject(repo, location, token, ctx);
          if (!record.result.ok && record.result.kind === "notFound") {
            // The listing just found the project, so it is the endpoint that is missing: an older server.
            this.#features.markUnsupported(
              client,
              "the project webhook endpoint answered 404 (project webhooks need Bitbucket 8.9 or later)",
            );
            this.#slots.expire(projectSlot(location));
            fallback = "the project webhook endpoint answered 404 (project webhooks need Bitbucket 8.9 or later)";
          }
        } else {
          fallback = support.reason ?? "the server has no project webhooks";
        }
        if (fallback !== undefined) {
          const secret = await this.#webhookSecret(secretLocation, undefined, ctx);
          if ("problem" in secret) return this.#secretProblem(status, conditions, secret);
          record = await this.#syncRepository(repo, location, token, secret.secret, ctx);
        }
      } else {
        const owner = secretLocation.generated ? repo : undefined;
        if (!secretLocation.generated) await this.#watch(secretLocation.namespace, secretLocation.name, ctx);
        const secret = await this.#webhookSecret(secretLocation, owner, ctx);
        if ("problem" in secret) return this.#secretProblem(status, conditions, secret);
        record = await this.#syncRepository(repo, location, token, secret.secret, ctx);
      }
    } catch (error) {
      // The server's version could not be read, or Kubernetes failed: nothing was changed in Bitbucket.
      const { kind, detail } = failureOf(error);
      if (kind === "other") throw error;
      const failure = webhookFailure(kind, repo.spec.webhook.scope, where, detail);
      const failures = this.#memberFailed(key);
      conditions.push(
        { type: "WebhookSynced", status: "False", ...failure },
        { type: "Ready", status: "False", reason: "WebhookNotSynced", message: failure.message },
      );
      return { status, conditions, requeueAfter: retryDelay(failures, this.#deps.driftInterval) };
    }
    if (!record) throw new Error("no webhook result; this is a bug");
    const hook = record;
    if (!hook.result.ok && hook.result.kind === "unauthorized" && !hook.reused) {
      // A 401 is either a missing permission or a token Bitbucket no longer accepts; a fresh listing with the same
      // token (one call, only on this failure) tells which.
      this.#listings.invalidate(location.server, location.project, token);
      const again = await this.#listings.lookup(client, location, token, location.slug, ctx.signal);
      if (!again.ok && again.kind === "unauthorized") {
        const failures = this.#memberFailed(key);
        const { tokenReady, ready } = listingFailure(again.kind, again.detail, resolved.source, location);
        conditions.push(tokenReady, ready, {
          type: "WebhookSynced",
          status: "Unknown",
          reason: "TokenNotReady",
          message: "waiting for a token Bitbucket accepts",
        });
        return { status, conditions, requeueAfter: retryDelay(failures, this.#deps.driftInterval) };
      }
    }
    const requeueAfter = this.#applyRecord(repo, status, conditions, hook, location, intakeUrl, fallback);
    if (hook.result.ok) await this.#releasePrevious(repo, location, hook.result.scope, token, ctx);
    return { status, conditions, requeueAfter };
  }

  #secretProblem(
    status: RepositoryStatus,
    conditions: ConditionUpdate[],
    problem: { reason: string; problem: string },
  ): Step {
    conditions.push(
      { type: "WebhookSynced", status: "False", reason: problem.reason, message: problem.problem },
      { type: "Ready", status: "False", reason: "WebhookNotSynced", message: problem.problem },
    );
    return { status, conditions, requeueAfter: this.#deps.driftInterval };
  }

  /** This repository's own webhook: one listing per drift interval, writes only when something differs. */
  async #syncRepository(
    repo: Repository,
    location: RepositoryLocation,
    token: string,
    secret: string,
    ctx: ReconcileContext,
  ): Promise<HookRecord> {
    const intakeUrl = this.#deps.intakeUrl ?? "";
    const client = this.#deps.bitbucket(location.server);
    const slot = repositorySlot(location);
    const desired = desiredWebhook({ name: this.#name, intakeUrl, secret, events: repo.spec.webhook.events });
    const content = contentPrint(desired.url, desired.events, secret);
    const print = hash([content, fingerprint(token), poke(repo)]);
    const previous = this.#slots.last(slot);
    const statusEvents = (repo.status?.webhook?.events ?? []).join(",");
    return this.#slots.run(slot, async () => ({
      fingerprint: print,
      execute: async () => {
        try {
          const outcome = await syncHook(
            client,
            { project: location.project, repository: location.slug },
            desired,
            { auth: { kind: "bearer", token }, signal: ctx.signal },
            repo.status?.webhook?.id,
          );
          this.#listings.confirm(location.server, location.project, token);
          this.#failures.delete(slot);
          this.#count(outcome);
          const updated = wasUpdate(previous?.result, content, statusEvents, desired.events);
          return {
            result: { ok: true, outcome, scope: "repository", updated, content } as HookResult,
            ttl: jittered(this.#deps.driftInterval, this.#deps.random),
          };
        } catch (error) {
          return this.#failed(slot, error, "repository", [fingerprint(token)], () =>
            this.#listings.invalidate(location.server, location.project, token),
          );
        }
      },
    }));
  }

  /** The project's shared webhook, through the project's slot. `exclude` leaves a departing member out. */
  async #syncProject(
    repo: Repository,
    location: RepositoryLocation,
    token: string,
    ctx: ReconcileContext,
    exclude?: string,
  ): Promise<HookRecord> {
    const group = projectIdentity(location);
    const slot = projectSlot(location);
    const self = keyOf(repo);
    const tokens = this.#groupTokens.get(group) ?? new Map<string, string>();
    this.#groupTokens.set(group, tokens);
    if (exclude !== self) tokens.set(self, token);
    // A failure with other tokens says nothing about this one: let it try now rather than after the back-off.
    const last = this.#slots.last(slot)?.result;
    if (last && !last.ok && last.kind === "unauthorized" && !last.tried.includes(fingerprint(token)))
      this.#slots.expire(slot);

    const client = this.#deps.bitbucket(location.server);
    const scope = { project: location.project };
    const secretLocation = webhookSecretLocation(
      { metadata: repo.metadata, spec: { ...repo.spec, webhook: { ...repo.spec.webhook, scope: "project" } } },
      this.#deps.operatorNamespace,
      location,
    );
    return this.#slots.run(slot, async () => {
      const members = this.#projectMembers(group, exclude === self ? undefined : repo, exclude);
      for (const key of tokens.keys()) if (key !== self && !members.some((m) => keyOf(m) === key)) tokens.delete(key);
      const candidates = [token, ...tokens.values()].filter((t, i, all) => all.indexOf(t) === i).slice(0, 3);
      if (members.length === 0)
        return this.#removeProjectHook(client, scope, secretLocation, candidates, slot, ctx, repo.status?.webhook?.id);

      const ensured = await this.#webhookSecret(secretLocation, undefined, ctx);
      if ("problem" in ensured) throw new Error(ensured.problem);
      const events = projectWebhookEvents(members.map((m) => m.spec.webhook?.events));
      const desired = desiredWebhook({
        name: this.#name,
        intakeUrl: this.#deps.intakeUrl ?? "",
        secret: ensured.secret,
        events,
      });
      const content = contentPrint(desired.url, desired.events, ensured.secret);
      const pokes = members.map(poke).sort().at(-1) ?? "";
      const previous = this.#slots.last(slot);
      const statusEvents = (repo.status?.webhook?.events ?? []).join(",");
      return {
        fingerprint: hash([content, pokes]),
        execute: async () => {
          let failure: unknown;
          for (const candidate of candidates) {
            try {
              const outcome = await syncHook(
                client,
                scope,
                desired,
                { auth: { kind: "bearer", token: candidate }, signal: ctx.signal },
                repo.status?.webhook?.id,
              );
              this.#listings.confirm(location.server, location.project, candidate);
              this.#failures.delete(slot);
              this.#count(outcome);
              const updated = wasUpdate(previous?.result, content, statusEvents, desired.events);
              return {
                result: { ok: true, outcome, scope: "project", updated, content } as HookResult,
                ttl: jittered(this.#deps.driftInterval, this.#deps.random),
              };
            } catch (error) {
              failure = error;
              // Another member's token may hold PROJECT_ADMIN where this one does not.
              if (failureOf(error).kind !== "unauthorized") break;
            }
          }
          return this.#failed(slot, failure, "project", candidates.map(fingerprint));
        },
      };
    });
  }

  async #removeProjectHook(
    client: BitbucketClient,
    scope: { project: string },
    secretLocation: WebhookSecretLocation,
    candidates: string[],
    slot: string,
    ctx: ReconcileContext,
    recorded: number | undefined,
  ) {
    return {
      fingerprint: "no-members",
      execute: async () => {
        let failure: unknown;
        for (const candidate of candidates) {
          try {
            const outcome = await removeHooks(
              client,
              scope,
              this.#name,
              { auth: { kind: "bearer", token: candidate }, signal: ctx.signal },
              recorded,
            );
            await deleteWebhookSecret(this.#deps.kube, secretLocation);
            this.#failures.delete(slot);
            this.#count(outcome);
            return {
              result: { ok: true, outcome, scope: "project", updated: false } as HookResult,
              ttl: Number.POSITIVE_INFINITY,
            };
          } catch (error) {
            failure = error;
            if (failureOf(error).kind === "notFound") {
              // No such project (or no project webhooks on this server): there is no hook to remove.
              await deleteWebhookSecret(this.#deps.kube, secretLocation);
              return {
                result: { ok: true, outcome: { action: "absent" }, scope: "project", updated: false } as HookResult,
                ttl: Number.POSITIVE_INFINITY,
              };
            }
            if (failureOf(error).kind !== "unauthorized") break;
          }
        }
        return this.#failed(slot, failure, "project", candidates.map(fingerprint));
      },
    };
  }

  #failed(
    slot: string,
    error: unknown,
    scope: "repository" | "project",
    tried: string[],
    onContradiction?: () => void,
  ): { result: HookResult; ttl: number } {
    const { kind, detail } = failureOf(error);
    if (kind === "notFound") onContradiction?.();
    const failures = (this.#failures.get(slot) ?? 0) + 1;
    this.#failures.set(slot, failures);
    this.#deps.metrics.sync("failed");
    return { result: { ok: false, kind, detail, scope, tried }, ttl: retryDelay(failures, this.#deps.driftInterval) };
  }

  #count(outcome: HookOutcome): void {
    const result = {
      created: "created",
      replaced: "updated",
      deduplicated: "deduplicated",
      unchanged: "unchanged",
      deleted: "deleted",
      absent: "unchanged",
    } as const;
    this.#deps.metrics.sync(result[outcome.action]);
  }

  /** Status, conditions and Events from a sync result; returns when to look again. */
  #applyRecord(
    repo: Repository,
    status: RepositoryStatus,
    conditions: ConditionUpdate[],
    record: HookRecord,
    location: RepositoryLocation,
    intakeUrl: string,
    fallback: string | undefined,
  ): number {
    const now = this.#deps.clock.now();
    const where = `${location.project}/${location.slug}`;
    const result = record.result;
    const requeueAfter = Math.max(1000, record.expiresAt - now + 250);
    const previous = getCondition(repo.status?.conditions as Condition[] | undefined, "WebhookSynced");
    if (!result.ok) {
      const failure = webhookFailure(
        result.kind,
        result.scope,
        result.scope === "project" ? `project ${location.project}` : where,
        result.detail,
      );
      conditions.push(
        { type: "WebhookSynced", status: "False", ...failure },
        { type: "Ready", status: "False", reason: "WebhookNotSynced", message: failure.message },
      );
      if (previous?.status !== "False" || previous.reason !== failure.reason)
        this.#deps.events.warning(repo, "Failed", failure.message);
      return requeueAfter;
    }
    const hook = result.outcome.webhook;
    const scope = result.scope;
    const events = hook ? [...hook.events].sort() : [];
    const before = repo.status?.webhook;
    const changed =
      before?.id !== hook?.id ||
      before?.scope !== scope ||
      (before?.events ?? []).join(",") !== events.join(",") ||
      (!record.reused && result.outcome.action !== "unchanged");
    const lastSyncTime = syncTimeDue(before?.lastSyncTime, now, changed) ? iso(now) : before?.lastSyncTime;
    status.webhook = { ...(hook ? { id: hook.id } : {}), scope, events, ...(lastSyncTime ? { lastSyncTime } : {}) };

    const described =
      scope === "project"
        ? `project webhook ${hook?.id} of ${location.project} (shared by the project's Repositories)`
        : `repository webhook ${hook?.id} of ${where}`;
    conditions.push(
      fallback === undefined
        ? {
            type: "WebhookSynced",
            status: "True",
            reason: "Synced",
            message: `${described} delivers ${events.join(", ")} to ${intakeUrl}`,
          }
        : {
            type: "WebhookSynced",
            status: "True",
            reason: "RepositoryScopeFallback",
            message: `spec.webhook.scope is project, but ${fallback}; using ${described} instead`,
          },
      {
        type: "Ready",
        status: "True",
        reason: "Connected",
        message: `events from ${where} reach Baton through the ${described}`,
      },
    );
    this.#tell(repo, record, described);
    return requeueAfter;
  }

  /**
   * Events once per change: the Repository whose reconcile made the change tells it, and so does every member of a
   * shared hook that sees the change for the first time (a member joining later does not hear about old changes).
   */
  #tell(repo: Repository, record: HookRecord, described: string): void {
    const result = record.result;
    if (!result.ok) return;
    const key = keyOf(repo);
    const seen = this.#observed.get(key);
    this.#observed.set(key, record.seq);
    const first = seen === undefined ? (record.reused ? record.seq : -1) : seen;
    if (record.seq === first || (result.scope === "repository" && record.reused)) return;
    const { outcome } = result;
    const events = this.#deps.events;
    switch (outcome.action) {
      case "created":
        events.normal(repo, "Created", `created the ${described}, delivering to ${outcome.webhook?.url}`);
        break;
      case "replaced":
        if (result.updated) events.normal(repo, "Updated", `updated the ${described} to match the spec`);
        else
          events.normal(
            repo,
            "DriftRepaired",
            `repaired the ${described}: ${outcome.drift?.join(", ")} had been changed in Bitbucket${outcome.removed ? `; removed duplicate webhooks ${outcome.removed.join(", ")}` : ""}`,
          );
        break;
      case "deduplicated":
        events.normal(
          repo,
          "DriftRepaired",
          `removed duplicate webhooks ${outcome.removed?.join(", ")} with Baton's name; kept the ${described}`,
        );
        break;
      default:
        break;
    }
  }

  /**
   * The Repository now has its webhook where the spec says; a hook it had before somewhere else (its URL moved to
   * another repository, or its scope changed) goes. Best effort: a hook that cannot be removed is named in an Event.
   */
  async #releasePrevious(
    repo: Repository,
    location: RepositoryLocation,
    scope: "repository" | "project",
    token: string,
    ctx: ReconcileContext,
  ): Promise<void> {
    const before = repo.status;
    if (!before?.webhook?.scope || !before.server || !before.project || !before.slug) return;
    const previous: RepositoryLocation = { server: before.server, project: before.project, slug: before.slug };
    const moved = repositoryIdentity(previous) !== repositoryIdentity(location);
    const previousScope = before.webhook.scope;
    if (!moved && previousScope === scope) return;
    try {
      const outcome = await this.#release(repo, previous, previousScope, token, ctx, keyOf(repo));
      if (outcome.action === "deleted")
        this.#deps.events.normal(
          repo,
          "Deleted",
          `removed the previous ${previousScope} webhook of ${previous.project}${previousScope === "repository" ? `/${previous.slug}` : ""}, which this Repository no longer uses`,
        );
    } catch (error) {
      this.#deps.events.warning(
        repo,
        "Failed",
        `could not remove the previous ${previousScope} webhook of ${previous.project}/${previous.slug}: ${describeError(error)}; remove it in Bitbucket by hand`,
      );
    }
  }

  /**
   * Lets go of the webhook at `location` in `scope`: a repository hook is deleted; a project hook is deleted when no
   * other Repository (from the informer cache) still uses it, else synchronised for the remaining members.
   */
  async #release(
    repo: Repository,
    location: RepositoryLocation,
    scope: "repository" | "project",
    token: string,
    ctx: ReconcileContext,
    exclude: string,
  ): Promise<HookOutcome> {
    const client = this.#deps.bitbucket(location.server);
    if (scope === "repository") {
      try {
        const outcome = await removeHooks(
          client,
          { project: location.project, repository: location.slug },
          this.#name,
          { auth: { kind: "bearer", token }, signal: ctx.signal },
          repo.status?.webhook?.id,
        );
        this.#count(outcome);
        return outcome;
      } catch (error) {
        // The repository (or project) is gone, and its hooks with it.
        if (failureOf(error).kind === "notFound") return { action: "absent" };
        throw error;
      } finally {
        this.#slots.forget(repositorySlot(location));
      }
    }
    // Without project webhooks (an old server) or an intake URL there is no shared hook to shrink; the last
    // member still takes the shared secret with it.
    const support = await this.#features.projectWebhooks(client, ctx.signal);
    if (!support.supported || !this.#deps.intakeUrl) {
      const remaining = this.#projectMembers(projectIdentity(location), undefined, exclude);
      if (remaining.length === 0 && !support.supported)
        await deleteWebhookSecret(
          this.#deps.kube,
          webhookSecretLocation(
            { metadata: repo.metadata, spec: { ...repo.spec, webhook: { ...repo.spec.webhook, scope: "project" } } },
            this.#deps.operatorNamespace,
            location,
          ),
        );
      if (!support.supported || remaining.length > 0) return { action: "absent" };
    }
    const record = await this.#syncProject(repo, location, token, ctx, exclude);
    if (!record.result.ok)
      throw new Error(
        webhookFailure(record.result.kind, "project", `project ${location.project}`, record.result.detail).message,
      );
    return record.result.outcome;
  }

  async #finalize(
    repo: Repository,
    location: RepositoryLocation | undefined,
    ctx: ReconcileContext,
  ): Promise<ReconcileResult> {
    const key = keyOf(repo);
    if (!hasFinalizer(repo, finalizer)) {
      this.#forget(key);
      return {};
    }
    if (location && repo.spec.webhook.managed) {
      const resolved = await operatorToken(this.#deps.kube, repo);
      const token = "token" in resolved ? resolved.token : this.#lastTokens.get(key);
      const waited = this.#deps.clock.now() - Date.parse(repo.metadata.deletionTimestamp ?? "");
      if (token === undefined) {
        this.#deps.events.warning(
          repo,
          "Failed",
          `could not remove the webhook: ${"problem" in resolved ? resolved.problem : "no token"}; remove it in Bitbucket by hand`,
        );
      } else {
        try {
          await this.#letGoOf(repo, location, token, ctx);
        } catch (error) {
          const patience = this.#deps.deletionPatienceMs ?? deletionPatience;
          if (!(waited >= patience)) throw error;
          // The Repository goes (its namespace may be terminating); the webhook is recorded to be removed later.
          const deferred = await this.#deps.deferWebhook?.(repo, location, describeError(error));
          this.#deps.events.warning(
            repo,
            "Failed",
            `gave up removing the webhook after ${formatDuration(patience)}: ${describeError(error)}; ${deferred ?? "remove it in Bitbucket by hand"}`,
          );
        }
      }
    }
    await this.#deps.kube.removeFinalizer(Repositories, repo, finalizer);
    this.#forget(key);
    return {};
  }

  /** Everything this Repository's webhook needs undone: its own hook, and its share of a project hook. */
  async #letGoOf(repo: Repository, location: RepositoryLocation, token: string, ctx: ReconcileContext): Promise<void> {
    const key = keyOf(repo);
    const recorded = repo.status?.webhook?.scope;
    const where = `${location.project}/${location.slug}`;
    // A repository hook: the spec's own, or a project-scope Repository's fallback on an old server.
    if (repo.spec.webhook.scope === "repository" || recorded === "repository") {
      const outcome = await this.#release(repo, location, "repository", token, ctx, key);
      if (outcome.action === "deleted")
        this.#deps.events.normal(
          repo,
          "Deleted",
          `deleted the repository webhook ${outcome.removed?.join(", ")} of ${where}`,
        );
    }
    if (repo.spec.webhook.scope === "project") {
      const outcome = await this.#release(repo, location, "project", token, ctx, key);
      if (outcome.action === "deleted")
        this.#deps.events.normal(
          repo,
          "Deleted",
          `deleted the project webhook ${outcome.removed?.join(", ")} of ${location.project}: no other Repository uses it`,
        );
    }
  }

  /** A Repository that stops managing a webhook (a duplicate, an unparseable URL): release and drop the finalizer. */
  async #letGo(repo: Repository, location: RepositoryLocation | undefined, ctx: ReconcileContext): Promise<Repository> {
    const before = repo.status;
    const recorded =
      before?.server && before.project && before.slug
        ? { server: before.server, project: before.project, slug: before.slug }
        : undefined;
    // Only a hook recorded somewhere else: the same repository's hook belongs to the Repository that keeps it.
    if (recorded && before?.webhook && (!location || repositoryIdentity(recorded) !== repositoryIdentity(location))) {
      const resolved = await operatorToken(this.#deps.kube, repo);
      if ("token" in resolved) {
        try {
          await this.#letGoOf(repo, recorded, resolved.token, ctx);
        } catch (error) {
          this.#deps.events.warning(
            repo,
            "Failed",
            `could not remove the webhook of ${recorded.project}/${recorded.slug}: ${describeError(error)}; remove it in Bitbucket by hand`,
          );
        }
      }
    }
    const patched = await this.#deps.kube.removeFinalizer(Repositories, repo, finalizer, { signal: ctx.signal });
    const status = { ...repo.status };
    delete status.webhook;
    return { ...repo, metadata: { ...repo.metadata, ...patched.metadata }, status };
  }

  /**
   * Why the server is not Bitbucket, when the listing does not already prove it is. A listing naming the repository
   * was parsed as Bitbucket's repository objects; anything less (a 404, an empty or unreadable page) is what any
   * HTTP server could answer, and must not read as "Bitbucket accepts the token". An outage proves nothing.
   */
  async #notBitbucket(
    client: BitbucketClient,
    listing: ListingResult,
    slug: string,
    ctx: ReconcileContext,
  ): Promise<string | undefined> {
    if (listing.ok ? listing.slugs.has(slug) : listing.kind === "unavailable" || listing.kind === "rateLimited")
      return undefined;
    const identity = await this.#features.identify(client, ctx.signal).catch(() => undefined);
    return identity && !identity.bitbucket ? identity.reason : undefined;
  }

  #winner(repo: Repository, location: RepositoryLocation): RawRepository | undefined {
    const identity = repositoryIdentity(location);
    const self = keyOf(repo);
    const claimants = this.#deps.repositories
      .byIndex(indexes.identity, identity)
      .filter((other) => keyOf(other) !== self && sameIdentity(other, identity));
    return oldestClaim([repo, ...claimants]);
  }

  /** Live, managed, project-scope Repositories of the project that keep their repository (no duplicates). */
  #projectMembers(group: string, self: Repository | undefined, exclude: string | undefined): Repository[] {
    const selfKey = self ? keyOf(self) : undefined;
    const members: Repository[] = self ? [self] : [];
    for (const other of this.#deps.repositories.byIndex(indexes.project, group)) {
      const key = keyOf(other);
      if (key === selfKey || key === exclude || isDeleting(other)) continue;
      if (other.spec?.webhook?.managed === false || other.spec?.webhook?.scope !== "project") continue;
      const location = locate(other);
      if (!location || projectIdentity(location) !== group) continue;
      const winner = this.#winner(other, location);
      if (winner && keyOf(winner) !== key) continue;
      members.push(other);
    }
    return members;
  }

  async #watch(namespace: string, name: string, ctx: ReconcileContext): Promise<void> {
    if (this.#deps.cachedSecret?.(namespace, name)) return;
    await watchSecret(this.#deps.kube, namespace, name, ctx.signal);
  }

  /**
   * The webhook secret from the informer's cache when it has it, else read (and generated when missing). A cached
   * value a moment stale heals itself: the Secret's change wakes the Repositories that use it.
   */
  async #webhookSecret(
    location: WebhookSecretLocation,
    owner: Repository | undefined,
    ctx: ReconcileContext,
  ): Promise<WebhookSecret> {
    const cached = webhookSecretIn(this.#deps.cachedSecret?.(location.namespace, location.name), location);
    if (cached) return { secret: cached, created: false };
    return ensureWebhookSecret(this.#deps.kube, location, owner, ctx.signal);
  }

  #memberFailed(key: string): number {
    const failures = (this.#memberFailures.get(key) ?? 0) + 1;
    this.#memberFailures.set(key, failures);
    return failures;
  }

  #forget(key: string): void {
    this.#reconciled.delete(key);
    this.#memberFailures.delete(key);
    this.#lastTokens.delete(key);
    this.#observed.delete(key);
    for (const tokens of this.#groupTokens.values()) tokens.delete(key);
  }

  /** One status patch per reconcile, and none when nothing changed (no churn for watchers). */
  async #writeStatus(
    repo: {
      metadata?: { name?: string; namespace?: string; generation?: number; resourceVersion?: string };
      status?: unknown;
    },
    status: RepositoryStatus,
    updates: ConditionUpdate[],
  ): Promise<void> {
    const patch = statusPatch(repo.status, status, updates, repo.metadata?.generation, this.#deps.clock.now());
    if (patch === undefined) return;
    try {
      await this.#deps.kube.patchStatus(
        Repositories,
        { namespace: repo.metadata?.namespace ?? "", name: repo.metadata?.name ?? "" },
        patch,
        { resourceVersion: repo.metadata?.resourceVersion },
      );
    } catch (error) {
      if (isConflict(error))
        throw new Error("the Repository changed while it was reconciled; retrying with fresh data");
      throw error;
    }
  }
}

function listingFailure(kind: FailureKind, detail: string, source: string, location: RepositoryLocation) {
  const project = `project ${location.project} on ${location.server}`;
  switch (kind) {
    case "unauthorized": {
      const message = `Bitbucket refused the token from ${source} (401): it is invalid, expired or revoked, or may not see ${project}`;
      return {
        tokenReady: { type: "TokenReady", status: "False", reason: "Unauthorized", message } as ConditionUpdate,
        ready: { type: "Ready", status: "False", reason: "TokenNotReady", message } as ConditionUpdate,
      };
    }
    case "notFound": {
      const message = `${project} does not exist, or the token from ${source} cannot see it`;
      return {
        tokenReady: {
          type: "TokenReady",
          status: "True",
          reason: "Valid",
          message: `Bitbucket accepts the token from ${source}`,
        } as ConditionUpdate,
        ready: { type: "Ready", status: "False", reason: "ProjectNotFound", message } as ConditionUpdate,
      };
    }
    default: {
      const message = `could not reach Bitbucket to check ${location.project}/${location.slug}; will retry: ${detail}`;
      const reason = kind === "rateLimited" ? "RateLimited" : "BitbucketUnavailable";
      return {
        tokenReady: { type: "TokenReady", status: "Unknown", reason, message } as ConditionUpdate,
        ready: { type: "Ready", status: "False", reason, message } as ConditionUpdate,
      };
    }
  }
}

/** Was a replace the user's change (spec, secret) rather than someone editing the hook in Bitbucket? */
function wasUpdate(
  previous: HookResult | undefined,
  content: string,
  statusEvents: string,
  desiredEvents: readonly string[],
): boolean {
  const before = previous?.ok ? previous.content : undefined;
  if (before !== undefined) return before !== content;
  return statusEvents !== "" && statusEvents !== [...desiredEvents].sort().join(",");
}

function repositorySlot(location: RepositoryLocation): string {
  return `repository|${repositoryIdentity(location)}`;
}

function projectSlot(location: Pick<RepositoryLocation, "server" | "project">): string {
  return `project|${projectIdentity(location)}`;
}

function sameIdentity(repo: RawRepository, identity: string): boolean {
  const location = locate(repo);
  return location !== undefined && repositoryIdentity(location) === identity;
}

function poke(repo: Pick<RawRepository, "metadata">): string {
  return repo.metadata?.annotations?.[reconcileRequestedAt] ?? "";
}

/** What the hook must look like, with the secret reduced to a fingerprint. */
function contentPrint(url: string, events: readonly string[], secret: string): string {
  return hash([url, [...events].sort().join(","), fingerprint(secret)]);
}

function hash(parts: string[]): string {
  return createHash("sha256").update(JSON.stringify(parts)).digest("hex").slice(0, 24);
}

function iso(ms: number): string {
  return new Date(Math.floor(ms / 1000) * 1000).toISOString().replace(".000Z", "Z");
}
