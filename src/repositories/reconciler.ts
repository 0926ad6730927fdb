// Repository reconciler: fetch → duplicate check → finalizer → token → reachability → webhook → one status patch.
//
// Bitbucket calls are the scarce resource (one budget for the whole operator), so nothing here calls Bitbucket
// per Repository when one call can answer for many: reachability comes from one repository listing per (server,
// project, token) (reachability.ts, cache.ts RepositoryListings), and each webhook is synchronised through a slot
// shared by everyone who needs it (webhook-sync.ts). What a sync result means for the status is webhook-report.ts;
// deletion, the finalizer and letting go of a hook are release.ts.
import { Repository, type RepositoryStatus } from "../api/repository.ts";
import type { GitProvider, ProviderLookup } from "../providers/provider.ts";
import { providerKindOf, UnsupportedProviderError } from "../providers/registry.ts";
import type { Clock } from "../runtime/clock.ts";
import { type Condition, getCondition } from "../runtime/conditions.ts";
import type { ReconcileContext, ReconcileResult } from "../runtime/controller.ts";
import type { Informer } from "../runtime/informer.ts";
import { hasFinalizer, isDeleting, type KubeClient, keyOf } from "../runtime/kube.ts";
import type { Secret } from "../runtime/kube-types.ts";
import { keyString, type ObjectKey } from "../runtime/logger.ts";
import type { GitHubAppCredentials } from "../tokens/github-app.ts";
import { AppHooks } from "./app-hook.ts";
import { AppMode } from "./app-mode.ts";
import { RepositoryListings, ServerFeatures } from "./cache.ts";
import { cloneTokenConditions } from "./clonetoken.ts";
import {
  hostTerms,
  intakeUrlOf,
  jittered,
  parseRepositoryUrl,
  type RepositoryLocation,
  retryDelay,
  urlCarriesCredential,
  webhookFailure,
  webhookName,
} from "./decisions.ts";
import type { EventSink } from "./events.ts";
import { failureOf } from "./failures.ts";
import { Members } from "./membership.ts";
import type { RepositoryMetrics } from "./metrics.ts";
import { checkReachability, type ReachabilityDeps, recheckToken } from "./reachability.ts";
import { finalizer, Release } from "./release.ts";
import { cloneToken, operatorToken, Repositories, webhookSecretLocation } from "./resource.ts";
import { watchSecret } from "./secrets.ts";
import { type ConditionUpdate, type Step, writeStatus } from "./status-write.ts";
import { HookReport } from "./webhook-report.ts";
import { type HookRecord, HookSync, hostEvents } from "./webhook-sync.ts";

export type { EventSink } from "./events.ts";
export { indexes, locate } from "./membership.ts";
export { finalizer } from "./release.ts";
export { reconcileRequestedAt } from "./webhook-sync.ts";

export interface RepositoryReconcilerDeps {
  kube: KubeClient;
  /** Credentials of Repositories that name a GitHub App; without it such a Repository is unsupported. */
  githubApps?: GitHubAppCredentials | undefined;
  /** Drives drift intervals and status times. */
  clock: Clock;
  events: EventSink;
  metrics: RepositoryMetrics;
  /** The git host serving a server (registry.ts): every call of the reconciler goes through it. */
  provider: ProviderLookup;
  /** Why the operator may not call this server (BATON_ALLOWED_SERVERS), or undefined when it may. */
  serverRefusal(server: string): string | undefined;
  /** Longest a reconcile may take (BATON_RECONCILE_TIMEOUT); its calls are aborted then and it is retried. */
  reconcileTimeoutMs?: number;
  /** Records a webhook a deletion could not remove, for later (deferred-webhooks.ts); says what was done. */
  deferWebhook?: (repo: Repository, location: RepositoryLocation, error: string) => Promise<string | undefined>;
  /** How long a deleted Repository keeps trying to remove its webhook before it lets go. Default 10 minutes. */
  deletionPatienceMs?: number;
  /** The shared Repository informer, with `indexes` registered. */
  repositories: Informer<Repository>;
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
  /** Asks for another reconcile of a Repository (a GitHub App's webhook claim it waits for changed hands). */
  wake?: (key: string) => void;
}

export class RepositoryReconciler {
  readonly #deps: RepositoryReconcilerDeps;
  readonly #listings: RepositoryListings;
  readonly #features: ServerFeatures;
  readonly #members: Members;
  readonly #sync: HookSync;
  readonly #report: HookReport;
  readonly #release: Release;
  readonly #reach: ReachabilityDeps;
  readonly #appMode: AppMode;
  /** Consecutive failures per Repository before any webhook call (token, reachability). */
  readonly #memberFailures = new Map<string, number>();
  /** Last token each Repository resolved: a namespace being deleted may take the token Secret first. */
  readonly #lastTokens = new Map<string, string>();
  #inFlight = 0;
  /** Repositories reconciled at least once by this process (catch-up's start-up pass waits for all of them). */
  readonly #reconciled = new Set<string>();

  constructor(deps: RepositoryReconcilerDeps) {
    this.#deps = deps;
    const now = () => deps.clock.now();
    this.#listings = new RepositoryListings({ now, maxAge: 2 * deps.driftInterval });
    this.#features = new ServerFeatures({ now });
    this.#members = new Members(deps.repositories);
    this.#sync = new HookSync({
      ...deps,
      now,
      name: webhookName(deps.instance),
      listings: this.#listings,
      members: this.#members,
    });
    this.#report = new HookReport(deps.events, now);
    this.#appMode = new AppMode({
      ...deps,
      hooks: new AppHooks({
        now,
        driftInterval: deps.driftInterval,
        ...(deps.random ? { random: deps.random } : {}),
        members: (app) => this.#members.app(app),
        ...(deps.wake ? { wake: deps.wake } : {}),
        count: (result) => deps.metrics.sync(result),
      }),
      webhookSecret: (location, ctx) => this.#sync.webhookSecret(location, undefined, ctx),
      watch: (namespace, name, ctx) => this.#watch(namespace, name, ctx),
      memberFailed: (key) => this.#memberFailed(key),
      memberSucceeded: (key) => this.#memberFailures.delete(key),
      writeStatus: (repo, status, updates) => this.#writeStatus(repo, status, updates),
    });
    this.#release = new Release({
      ...deps,
      features: this.#features,
      sync: this.#sync,
      members: this.#members,
      lastToken: (key) => this.#lastTokens.get(key),
      forget: (key) => this.#forget(key),
    });
    this.#reach = {
      clock: deps.clock,
      driftInterval: deps.driftInterval,
      listings: this.#listings,
      features: this.#features,
      memberFailed: (key) => this.#memberFailed(key),
    };
  }

  /** Reconciles running right now; catch-up waits for the start-up pass to finish before it calls Bitbucket. */
  get inFlight(): number {
    return this.#inFlight;
  }

  /** Catch-up learnt that Bitbucket no longer accepts what the listing said: check again on the next reconcile. */
  forgetReachability(location: RepositoryLocation, token: string): void {
    this.#listings.invalidate(location.server, location.project, token);
  }

  /**
   * The host refused this token on some call (an expired GitHub token its BitbucketProjectToken found refused): the
   * listings made with it no longer vouch for anyone, so the next reconcile asks again and says so.
   */
  forgetToken(token: string): void {
    this.#listings.invalidateToken(token);
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
    if (isDeleting(repo)) return this.#release.finalize(repo, location, ctx);

    if (!location) {
      // The CRD's pattern is looser than the parser (it accepts a browse URL without the project form).
      if (hasFinalizer(repo, finalizer)) repo = await this.#release.letGo(repo, undefined, ctx);
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
    const winner = this.#members.winner(repo, location);
    if (winner && keyOf(winner) !== keyOf(repo)) {
      if (hasFinalizer(repo, finalizer)) repo = await this.#release.letGo(repo, location, ctx);
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

    if (repo.spec.githubApp !== undefined) return this.#appMode.reconcile(repo, location, ctx);

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
    let provider: GitProvider;
    try {
      provider = this.#deps.provider(location.server, providerKindOf(repo.spec));
    } catch (error) {
      if (!(error instanceof UnsupportedProviderError)) throw error;
      conditions.push({ type: "Ready", status: "False", reason: "UnsupportedProvider", message: error.message });
      return { status, conditions };
    }
    const terms = hostTerms(provider.kind);

    // Reachability, from the owner's shared listing.
    const reach = { provider, repo, location, resolved, status, conditions, ctx };
    const unreachable = await checkReachability(this.#reach, reach);
    if (unreachable) return unreachable;

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
    const unknownEvents = (repo.spec.webhook.events ?? []).filter((e) => !hostEvents(provider).includes(e));
    if (unknownEvents.length > 0) {
      const message = `spec.webhook.events names events ${provider.kind} does not send (${unknownEvents.join(", ")}): leave it unset to subscribe to every event Baton handles there (${hostEvents(provider).join(", ")})`;
      conditions.push(
        { type: "WebhookSynced", status: "False", reason: "UnsupportedEvents", message },
        { type: "Ready", status: "False", reason: "WebhookNotSynced", message },
      );
      return { status, conditions };
    }

    // The webhook.
    let record: HookRecord | undefined;
    let fallback: string | undefined;
    const secretLocation = webhookSecretLocation(repo, this.#deps.operatorNamespace, location);
    try {
      if (repo.spec.webhook.scope === "project") {
        const support = await this.#features.ownerHooks(provider, ctx.signal);
        if (support.supported) {
          record = await this.#sync.project(provider, repo, location, token, ctx);
          if (!record.result.ok && record.result.kind === "notFound") {
            // The listing just found the owner, so it is the endpoint that is missing: an older server.
            this.#features.markUnsupported(provider, terms.ownerHooksMissing);
            this.#sync.expireProject(location);
            fallback = terms.ownerHooksMissing;
          }
        } else {
          fallback = support.reason ?? "the server has no project webhooks";
        }
        if (fallback !== undefined) {
          const secret = await this.#sync.webhookSecret(secretLocation, undefined, ctx);
          if ("problem" in secret) return this.#secretProblem(status, conditions, secret);
          record = await this.#sync.repository(provider, repo, location, token, secret.secret, ctx);
        }
      } else {
        const owner = secretLocation.generated ? repo : undefined;
        if (!secretLocation.generated) await this.#watch(secretLocation.namespace, secretLocation.name, ctx);
        const secret = await this.#sync.webhookSecret(secretLocation, owner, ctx);
        if ("problem" in secret) return this.#secretProblem(status, conditions, secret);
        record = await this.#sync.repository(provider, repo, location, token, secret.secret, ctx);
      }
    } catch (error) {
      // The server's version could not be read, or Kubernetes failed: nothing was changed in Bitbucket.
      const { kind, detail } = failureOf(error);
      if (kind === "other") throw error;
      const failure = webhookFailure(kind, repo.spec.webhook.scope, where, detail, terms);
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
      const refused = await recheckToken(this.#reach, reach);
      if (refused) return refused;
    }
    const requeueAfter = this.#report.apply(
      repo,
      status,
      conditions,
      hook,
      location,
      intakeUrlOf(intakeUrl, provider.intake.path),
      fallback,
      terms,
    );
    if (hook.result.ok) await this.#release.previous(repo, location, hook.result.scope, token, ctx);
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

  async #watch(namespace: string, name: string, ctx: ReconcileContext): Promise<void> {
    if (this.#deps.cachedSecret?.(namespace, name)) return;
    await watchSecret(this.#deps.kube, namespace, name, ctx.signal);
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
    this.#report.forget(key);
    this.#sync.forgetMember(key);
  }

  #writeStatus(
    repo: Parameters<typeof writeStatus>[2],
    status: RepositoryStatus,
    updates: ConditionUpdate[],
  ): Promise<void> {
    return writeStatus(this.#deps.kube, this.#deps.clock.now(), repo, status, updates);
  }
}
