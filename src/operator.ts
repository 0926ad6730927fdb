// The composition root: one runtime Manager with Baton's controllers registered on it. `npm start` runs it; the
// integration tests and the demo run it in-process, scoped to a namespace.

import type { KubeConfig } from "@kubernetes/client-node";
import type { BitbucketProjectToken } from "./api/token.ts";
import { type Intake, registerIntake } from "./events/intake.ts";
import { runsHoldingToken } from "./pipelines/held-tokens.ts";
import { type PipelineRunner, registerPipelineRunner } from "./pipelines/runner.ts";
import { RunSigningKey } from "./pipelines/signing-key.ts";
import { runPhase, runsInformerOptions } from "./pipelines/tekton.ts";
import { CloudProviders } from "./providers/bitbucket-cloud/factory.ts";
import { type BitbucketClient, endpointGroups } from "./providers/bitbucket-datacenter/index.ts";
import { DataCenterProvider, dataCenterIntake } from "./providers/bitbucket-datacenter/provider.ts";
import { GitHubProviders } from "./providers/github/factory.ts";
import { type AllowedServers, serverRefusal } from "./providers/http/allowed-servers.ts";
import type { Credential } from "./providers/http/auth.ts";
import { RequestBudget } from "./providers/http/budget.ts";
import type { ResponseEvent } from "./providers/http/http.ts";
import type { ProviderLookup } from "./providers/provider.ts";
import { type ProviderFactory, ProviderRegistry } from "./providers/registry.ts";
import type { CatchUpDispatch } from "./repositories/catchup.ts";
import { registerRepositoryController } from "./repositories/controller.ts";
import { projectIdentity } from "./repositories/decisions.ts";
import { webhookCleanup } from "./repositories/deferred-webhooks.ts";
import { indexes as repositoryIndexes } from "./repositories/reconciler.ts";
import { Repositories } from "./repositories/resource.ts";
import { CleanupRetrier, once } from "./runtime/cleanup.ts";
import { CleanupLedger, cleanupLedgerName } from "./runtime/cleanup-ledger.ts";
import { type Clock, realClock } from "./runtime/clock.ts";
import { getCondition } from "./runtime/conditions.ts";
import type { Config } from "./runtime/config.ts";
import { mapped, objects, specChanged } from "./runtime/controller.ts";
import { installationSecretName, legacyInstance } from "./runtime/installation.ts";
import { type KubeClientOptions, Secrets } from "./runtime/kube.ts";
import type { Logger } from "./runtime/logger.ts";
import { Manager } from "./runtime/manager.ts";
import type { Metrics } from "./runtime/metrics.ts";
import { LastRunRecorder } from "./status/last-run.ts";
import { PipelineRuns, StatusReporter } from "./status/reporter.ts";
import { tokenCleanup } from "./tokens/deferred.ts";
import { GitHubAppCredentials } from "./tokens/github-app.ts";
import { TokenMetrics } from "./tokens/metrics.ts";
import { TokenReconciler, Tokens, tokenIndexes } from "./tokens/reconciler.ts";
import { heldCondition } from "./tokens/revocation.ts";
import { watchedLabel } from "./tokens/secret.ts";

/** The Repository controller's catch-up: an open pull request whose head lost its event runs as if delivered. */
export type CatchUp = CatchUpDispatch;

export interface OperatorOptions {
  config: Config;
  kubeConfig?: KubeConfig;
  /** Tests inject a transport here to cut the operator off mid-way, as a crash would. */
  kubeClientOptions?: KubeClientOptions;
  logger?: Logger;
  metrics?: Metrics;
  /**
   * The clock the domain decides by (renewal, expiry, grace periods). Tests pass the Bitbucket simulator's so
   * that advancing it ages tokens on both sides; the runtime's own timers stay on real time.
   */
  domainClock?: Clock;
  healthServer?: boolean;
  /** Instance name: prefix of issued token names and status keys; keeps clusters sharing a project apart. */
  instance?: string;
  /** How often a token in use is re-checked against Bitbucket. */
  tokenValidationInterval?: number;
  /** Each Repository's status.lastRun is written at most this often (default 10 s). */
  lastRunInterval?: number;
  /** Replaces the Repository controller's catch-up dispatch (default: the pipeline runner's). */
  catchUp?: CatchUp;
  /** How often catch-up lists every Repository's open pull requests (default 3 × the drift interval). */
  catchUpInterval?: number;
  /** Overrides config.driftInterval for Repository webhook checks (tests and benchmarks go below its 30 s floor). */
  repositoryDriftInterval?: number;
  /** How long a deleted Repository keeps trying to remove its webhook (tests shorten it). Default 10 minutes. */
  repositoryDeletionPatience?: number;
}

/**
 * Data Center servers, one provider each, all drawing on one request budget so Baton as a whole stays within it;
 * servers not in BATON_ALLOWED_SERVERS are refused, and every 401 is heard (tokens are re-checked at once).
 */
export class DataCenterProviders implements ProviderFactory {
  readonly intake = dataCenterIntake;
  readonly #providers = new Map<string, DataCenterProvider>();
  readonly #budget: RequestBudget;
  readonly #onResponse: (event: ResponseEvent) => void;
  readonly #refusedListeners: ((auth: Credential) => void)[] = [];

  readonly #allowed: AllowedServers;

  constructor(requestsPerSecond: number, allowed: AllowedServers, onResponse: (event: ResponseEvent) => void) {
    this.#allowed = allowed;
    this.#budget = new RequestBudget({
      ratePerSecond: requestsPerSecond,
      burst: Math.max(1, Math.ceil(requestsPerSecond)),
    });
    this.#onResponse = onResponse;
  }

  /** Throws for a server not in BATON_ALLOWED_SERVERS, so no caller can send it a request or a token. */
  for(server: string): DataCenterProvider {
    const refusal = serverRefusal(this.#allowed, server);
    if (refusal !== undefined) throw Object.assign(new Error(refusal), { name: "ServerNotAllowed" });
    const base = server.replace(/\/+$/, "");
    let provider = this.#providers.get(base);
    if (!provider) {
      provider = new DataCenterProvider({
        baseUrl: base,
        budget: this.#budget,
        onResponse: this.#onResponse,
        onUnauthorized: (auth) => {
          for (const listener of this.#refusedListeners) listener(auth);
        },
        userAgent: "baton",
      });
      this.#providers.set(base, provider);
    }
    return provider;
  }

  /** The typed client, for the domain code not yet moved onto the provider interface. */
  client(server: string): BitbucketClient {
    return this.for(server).client;
  }

  /** Hears of every 401 any client gets, with the credentials it was refused (kept in memory, never logged). */
  onRefused(listener: (auth: Credential) => void): void {
    this.#refusedListeners.push(listener);
  }

  async close(): Promise<void> {
    await Promise.all([...this.#providers.values()].map((p) => p.close()));
    this.#providers.clear();
  }
}

export interface Operator {
  manager: Manager;
  /** The git hosts Baton serves, one provider per (kind, server). */
  providers: ProviderRegistry;
  /** Events → PipelineRuns; `pipelines.catchUp(repository, pullRequest)` is the Repository controller's catch-up. */
  pipelines: PipelineRunner;
  /** The webhook intake (every replica); `intake.port` once started. */
  intake: Intake;
  start(): Promise<void>;
  stop(): Promise<void>;
}

export function createOperator(options: OperatorOptions): Operator {
  const manager = new Manager({
    config: options.config,
    kubeConfig: options.kubeConfig,
    kubeClientOptions: options.kubeClientOptions,
    logger: options.logger,
    metrics: options.metrics,
    healthServer: options.healthServer,
  });
  const requests = manager.metrics.counter({
    name: "baton_bitbucket_requests_total",
    // The names predate Bitbucket Cloud and GitHub and stay, so dashboards and alerts keep working; every host counts.
    help: "REST calls to the git hosts (Bitbucket Data Center and Cloud, GitHub) by endpoint group and HTTP status (0: no response).",
    labelNames: ["group", "code"],
  });
  const durations = manager.metrics.histogram({
    name: "baton_bitbucket_request_duration_seconds",
    help: "Duration of REST calls to the git hosts by endpoint group.",
    labelNames: ["group"],
    buckets: [0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30],
  });
  const rateLimited = manager.metrics.counter({
    name: "baton_bitbucket_rate_limited_total",
    help: "Git host answers refusing a call for its rate limit (429, or GitHub's 403 with rate-limit headers).",
    labelNames: ["group"],
  });
  // A healthy operator shows 0 rather than "No data" on the 429 panel.
  for (const group of endpointGroups) rateLimited.inc({ group }, 0);
  const countResponse = (event: ResponseEvent) => {
    requests.inc({ group: event.group, code: String(event.status ?? 0) });
    durations.observe({ group: event.group }, event.durationMs / 1000);
    if (event.rateLimited) rateLimited.inc({ group: event.group });
  };
  const bitbucket = new DataCenterProviders(
    options.config.bitbucketRequestsPerSecond,
    options.config.allowedServers,
    countResponse,
  );
  const providers = new ProviderRegistry();
  providers.register("bitbucket-datacenter", bitbucket);
  const cloud = new CloudProviders({
    requestsPerHour: options.config.cloudRequestsPerHour,
    allowed: options.config.allowedServers,
    onResponse: countResponse,
  });
  providers.register("bitbucket-cloud", cloud);
  const github = new GitHubProviders({
    requestsPerSecond: options.config.githubRequestsPerSecond,
    allowed: options.config.allowedServers,
    clock: options.domainClock ?? realClock,
    onResponse: countResponse,
  });
  providers.register("github", github);
  // A GitHub App Repository's credentials: installation tokens for Baton's calls, one narrowed token per run.
  const githubApps = new GitHubAppCredentials(manager.kube, (server, appId, key) =>
    github.appTokens(server, appId, key),
  );
  const provider: ProviderLookup = (server, kind) => providers.for(server, kind);
  const clock = options.domainClock ?? realClock;
  // main.ts resolves the default (runtime/installation.ts); "baton" is what every release before BATON_INSTANCE used.
  const instance = options.instance ?? options.config.instance ?? legacyInstance;
  // Build status keys are what merge checks ("required builds") name, so they keep the legacy prefix unless the
  // installation is named on purpose: a derived name would change every key on upgrade. Two installations reporting
  // on one repository keep their statuses apart by setting BATON_INSTANCE.
  const statusKeyPrefix = options.config.instance ?? legacyInstance;

  // BitbucketProjectTokens, woken by their own changes, by changes to the Secrets they read or write (the token's
  // and the admin credentials'), by another object claiming the same Secret (created, or deleted: the next oldest
  // takes over), and by any Bitbucket call that was refused its token.
  const tokens = manager.informer(Tokens);
  const secrets = manager.informer(Secrets, { labelSelector: `${watchedLabel}=true` });
  tokens.addIndex(tokenIndexes.secret, (t) => [`${t.metadata?.namespace}/${t.spec?.secretName}`]);
  tokens.addIndex(tokenIndexes.adminCredentials, (t) =>
    t.spec?.adminCredentialsRef ? [`${t.metadata?.namespace}/${t.spec.adminCredentialsRef.name}`] : [],
  );
  const tokenKey = (t: BitbucketProjectToken) => ({ namespace: t.metadata?.namespace, name: t.metadata?.name ?? "" });
  const runs = manager.informer(PipelineRuns, runsInformerOptions);
  // What deleted objects could not clean up while Bitbucket was unreachable, retried by the leader.
  const ledger = new CleanupLedger({
    kube: manager.kube,
    namespace: options.config.leaseNamespace,
    owner: async () => {
      const secret = await manager.kube.get(Secrets, {
        namespace: options.config.leaseNamespace,
        name: installationSecretName,
      });
      return secret?.metadata?.uid ? { name: installationSecretName, uid: secret.metadata.uid } : undefined;
    },
  });
  const cleanupKey = { namespace: options.config.leaseNamespace, name: cleanupLedgerName };
  const cleanupDeps = {
    kube: manager.kube,
    bitbucket: (server: string) => bitbucket.for(server),
    serverRefusal: (server: string) => serverRefusal(options.config.allowedServers, server),
  };
  const cleanupController = manager.addController({
    name: "deferred-cleanup",
    reconcile: new CleanupRetrier({
      ledger,
      events: manager.events,
      clock,
      handlers: {
        token: tokenCleanup(cleanupDeps),
        webhook: webhookCleanup({
          ...cleanupDeps,
          provider,
          projectHookInUse: (server, project) =>
            manager
              .informer(Repositories)
              .byIndex(repositoryIndexes.project, projectIdentity({ server, project }))
              .some((r) => r.spec?.webhook?.scope === "project" && !r.metadata?.deletionTimestamp),
        }),
      },
    }).reconcile,
    sources: [once(cleanupKey)],
    workers: 1,
  });
  const tokenReconciler = new TokenReconciler({
    kube: manager.kube,
    clock,
    events: manager.events,
    metrics: new TokenMetrics(manager.metrics),
    provider,
    serverRefusal: (server) => serverRefusal(options.config.allowedServers, server),
    instance,
    validationInterval: options.tokenValidationInterval ?? 10 * 60_000,
    reconcileTimeoutMs: options.config.reconcileTimeout,
    ledger,
    deferred: () => cleanupController.enqueue(cleanupKey),
    holders: (namespace, tokenId, signal) =>
      runsHoldingToken(manager.kube, (ns, name) => runs.get(ns, name), namespace, tokenId, signal),
    claimants: (namespace, secretName) => tokens.byIndex(tokenIndexes.secret, `${namespace}/${secretName}`),
  });
  const tokenController = manager.addController({
    name: "bitbucketprojecttoken",
    reconcile: tokenReconciler.reconcile,
    sources: [
      objects(tokens, specChanged),
      mapped(
        tokens,
        (t) => tokens.byIndex(tokenIndexes.secret, `${t.metadata?.namespace}/${t.spec?.secretName}`).map(tokenKey),
        specChanged,
      ),
      mapped(secrets, (secret) => {
        const id = `${secret.metadata?.namespace}/${secret.metadata?.name}`;
        return [...tokens.byIndex(tokenIndexes.secret, id), ...tokens.byIndex(tokenIndexes.adminCredentials, id)].map(
          tokenKey,
        );
      }),
      // A run that finishes may be the last one holding a previous token's revocation.
      mapped(runs, (run) =>
        runPhase(run) === "finished"
          ? tokens
              .list(run.metadata?.namespace)
              .filter((t) => getCondition(t.status?.conditions, heldCondition)?.status === "True")
              .map(tokenKey)
          : [],
      ),
    ],
    workers: 4,
  });
  for (const factory of [bitbucket, cloud, github]) {
    factory.onRefused((auth) => {
      if (auth.kind !== "bearer") return;
      for (const key of tokenReconciler.refused(auth.token)) tokenController.enqueue(key);
    });
  }

  // Build status: every change of a Baton PipelineRun may be news for Bitbucket (and for Repository lastRun).
  const signingKey = new RunSigningKey(manager.kube, options.config.leaseNamespace);
  const lastRuns = new LastRunRecorder(manager.kube, realClock, manager.logger, options.lastRunInterval);
  const reporter = new StatusReporter({
    kube: manager.kube,
    clock,
    metrics: manager.metrics,
    provider,
    githubApps,
    instance: statusKeyPrefix,
    consoleUrlTemplate: options.config.consoleUrlTemplate,
    signingKey,
    lastRun: (repository, summary, created) => lastRuns.record(repository, summary, created),
    cached: (key) => runs.get(key.namespace, key.name),
    graceMs: options.config.statusGrace,
  });
  manager.addController({ name: "buildstatus", reconcile: reporter.reconcile, sources: [objects(runs)], workers: 4 });

  // Webhook intake (every replica) → pipeline runner; the runner's leader-only controller starts pending runs and
  // prunes completed ones. The Repository controller's catch-up goes through the same runner, dedupe included:
  const pipelines = registerPipelineRunner(manager, {
    provider,
    githubApps,
    instance: statusKeyPrefix,
    clock,
    signingKey,
  });
  const intake = registerIntake(manager, { dispatcher: pipelines, intakes: providers.intakes() });

  // Repositories: token resolution, webhooks kept in sync on the shared budget, catch-up of lost deliveries.
  const repositories = registerRepositoryController(manager, {
    provider,
    githubApps,
    ledger: { ledger, deferred: () => cleanupController.enqueue(cleanupKey) },
    instance,
    statusKeyPrefix,
    catchUp:
      options.catchUp ??
      (async (repository, pr) => {
        const result = await pipelines.catchUp(repository, pr);
        return { started: result.outcome === "created", detail: result.detail };
      }),
    ...(options.catchUpInterval === undefined ? {} : { catchUpInterval: options.catchUpInterval }),
    ...(options.repositoryDriftInterval === undefined ? {} : { driftInterval: options.repositoryDriftInterval }),
    ...(options.repositoryDeletionPatience === undefined
      ? {}
      : { deletionPatienceMs: options.repositoryDeletionPatience }),
  });
  for (const factory of [bitbucket, cloud, github]) {
    factory.onRefused((auth) => {
      if (auth.kind === "bearer") repositories.reconciler.forgetToken(auth.token);
    });
  }

  return {
    manager,
    providers,
    pipelines,
    intake,
    start: () => manager.start(),
    stop: async () => {
      await manager.stop();
      lastRuns.stop();
      await providers.close();
    },
  };
}
