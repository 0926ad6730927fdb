// Wires the Repository reconciler and catch-up onto the runtime: informers with the indexes the reconciler reads,
// the event sources that wake a Repository (its own spec, the Secrets and BitbucketProjectTokens it reads, the
// webhook Secret it owns, another Repository claiming the same repository), and the catch-up runnable.

import type { Repository } from "../api/repository.ts";
import { serverRefusal } from "../providers/http/allowed-servers.ts";
import type { ProviderLookup } from "../providers/provider.ts";
import type { CleanupLedger } from "../runtime/cleanup-ledger.ts";
import { type Controller, mapped, objects, ownedBy, specChanged } from "../runtime/controller.ts";
import { keyOf, Secrets } from "../runtime/kube.ts";
import type { Manager } from "../runtime/manager.ts";
import type { GitHubAppCredentials } from "../tokens/github-app.ts";
import { Tokens } from "../tokens/reconciler.ts";
import { watchedLabel } from "../tokens/secret.ts";
import { CatchUp, type CatchUpDispatch } from "./catchup.ts";
import { projectIdentity, type RepositoryLocation, repositoryIdentity } from "./decisions.ts";
import { deferWebhookRemoval } from "./deferred-webhooks.ts";
import { appOf } from "./membership.ts";
import { RepositoryMetrics } from "./metrics.ts";
import { indexes, locate, RepositoryReconciler } from "./reconciler.ts";
import { projectWebhookSecretName, Repositories } from "./resource.ts";

export interface RepositoryControllerDeps {
  /** The git host serving a Repository: the reconciler and catch-up go through the provider interface only. */
  provider: ProviderLookup;
  /** Names Baton's webhooks. */
  instance: string;
  /** Prefixes build status keys (catch-up reads them). */
  statusKeyPrefix: string;
  /** Default: config.driftInterval. */
  driftInterval?: number;
  /**
   * Hands a pull request whose event was lost to the event pipeline. Without it catch-up does not run (and costs
   * no Bitbucket calls).
   */
  catchUp?: CatchUpDispatch;
  /** How often catch-up lists every Repository's open pull requests. Default: 3 × the drift interval. */
  catchUpInterval?: number;
  workers?: number;
  /** How long a deleted Repository keeps trying to remove its webhook. Default 10 minutes. */
  deletionPatienceMs?: number;
  /** Where webhooks a deletion could not remove are recorded, and how to wake the retries. */
  ledger?: { ledger: CleanupLedger; deferred(): void };
  /** Credentials of Repositories that name a GitHub App. */
  githubApps?: GitHubAppCredentials;
}

export interface RepositoryController {
  controller: Controller;
  reconciler: RepositoryReconciler;
  catchUp: CatchUp | undefined;
}

/** The secret index on BitbucketProjectTokens (the token controller keeps its own). */
const tokenSecretIndex = "repositories.tokenSecret";

export function registerRepositoryController(manager: Manager, deps: RepositoryControllerDeps): RepositoryController {
  const config = manager.config;
  const driftInterval = deps.driftInterval ?? config.driftInterval;
  const metrics = new RepositoryMetrics(manager.metrics);

  const repositories = manager.informer(Repositories);
  const secrets = manager.informer(Secrets, { labelSelector: `${watchedLabel}=true` });
  const tokens = manager.informer(Tokens);
  repositories.addIndex(indexes.identity, (r) => {
    const location = locate(r);
    return location ? [repositoryIdentity(location)] : [];
  });
  repositories.addIndex(indexes.project, (r) => {
    const location = locate(r);
    return location ? [projectIdentity(location)] : [];
  });
  repositories.addIndex(indexes.secret, (r) => {
    const namespace = r.metadata?.namespace ?? "";
    return [r.spec?.secretRef?.name, r.spec?.webhook?.secretRef?.name]
      .filter((name): name is string => !!name)
      .map((name) => `${namespace}/${name}`);
  });
  repositories.addIndex(indexes.tokenRef, (r) =>
    r.spec?.tokenRef?.name ? [`${r.metadata?.namespace ?? ""}/${r.spec.tokenRef.name}`] : [],
  );
  const operatorNamespace = config.podNamespace ?? config.leaseNamespace;
  repositories.addIndex(indexes.projectSecret, (r) => {
    const location = locate(r);
    return location && r.spec?.webhook?.scope === "project"
      ? [`${operatorNamespace}/${projectWebhookSecretName(location.server, location.project)}`]
      : [];
  });
  repositories.addIndex(indexes.app, (r) => {
    const app = appOf(r);
    return app ? [app] : [];
  });
  tokens.addIndex(tokenSecretIndex, (t) => [`${t.metadata?.namespace}/${t.spec?.secretName}`]);

  const ledger = deps.ledger;
  // The controller is made after the reconciler, which may ask for a Repository to be looked at again.
  let controller: Controller | undefined;
  const reconciler = new RepositoryReconciler({
    kube: manager.kube,
    clock: manager.clock,
    events: manager.events,
    metrics,
    provider: deps.provider,
    githubApps: deps.githubApps,
    serverRefusal: (server) => serverRefusal(config.allowedServers, server),
    reconcileTimeoutMs: config.reconcileTimeout,
    repositories,
    instance: deps.instance,
    intakeUrl: config.intakeUrl,
    operatorNamespace,
    driftInterval,
    cachedSecret: (namespace, name) => secrets.get(namespace, name),
    wake: (key) => controller?.enqueue(key),
    ...(deps.deletionPatienceMs === undefined ? {} : { deletionPatienceMs: deps.deletionPatienceMs }),
    ...(ledger
      ? {
          deferWebhook: async (repo: Repository, location: RepositoryLocation, error: string) => {
            const said = await deferWebhookRemoval(manager.kube, ledger.ledger, repo, location, error);
            if (said) ledger.deferred();
            return said;
          },
        }
      : {}),
  });

  const byToken = (namespace: string | undefined, name: string | undefined) =>
    repositories.byIndex(indexes.tokenRef, `${namespace ?? ""}/${name ?? ""}`).map(keyOf);

  controller = manager.addController({
    name: "repository",
    reconcile: reconciler.reconcile,
    sources: [
      objects(repositories, specChanged),
      // Another Repository claiming the same repository (created, or deleted: the next oldest takes over).
      mapped(
        repositories,
        (r) => {
          const location = locate(r);
          return location ? repositories.byIndex(indexes.identity, repositoryIdentity(location)).map(keyOf) : [];
        },
        specChanged,
      ),
      // A token or webhook Secret changed: directly (secretRef, webhook.secretRef) or through a token object.
      mapped(secrets, (secret) => {
        const id = `${secret.metadata?.namespace}/${secret.metadata?.name}`;
        const direct = repositories.byIndex(indexes.secret, id).map(keyOf);
        const viaTokens = tokens
          .byIndex(tokenSecretIndex, id)
          .flatMap((t) => byToken(t.metadata?.namespace, t.metadata?.name));
        return [...direct, ...viaTokens];
      }),
      // The generated webhook Secret (deleted or emptied by someone: generated again, and the hook updated).
      ownedBy(secrets, Repositories),
      // A project's shared webhook Secret deleted or changed (its creation is Baton's own doing: not news).
      mapped(
        secrets,
        (secret) =>
          repositories
            .byIndex(indexes.projectSecret, `${secret.metadata?.namespace}/${secret.metadata?.name}`)
            .map(keyOf),
        {
          add: () => false,
          update: (before, after) => JSON.stringify(before.data) !== JSON.stringify(after.data),
          delete: () => true,
        },
      ),
      // A Repository leaving a GitHub App: it may have held the claim on the App's webhook another one waits for.
      mapped(
        repositories,
        (r) => {
          const app = appOf(r);
          return app ? repositories.byIndex(indexes.app, app).map(keyOf) : [];
        },
        { add: () => false, update: () => false, delete: () => true },
      ),
      // A BitbucketProjectToken appearing or becoming ready.
      mapped(tokens, (t) => byToken(t.metadata?.namespace, t.metadata?.name)),
      // The read-only clone token Baton issued for a Repository (clonetoken.ts) appearing or changing.
      ownedBy(tokens, Repositories),
    ],
    workers: deps.workers ?? 8,
  });

  let catchUp: CatchUp | undefined;
  if (deps.catchUp) {
    const dispatch = deps.catchUp;
    catchUp = new CatchUp({
      kube: manager.kube,
      clock: manager.clock,
      log: manager.logger.child({ part: "catch-up" }),
      metrics,
      provider: deps.provider,
      repositories,
      instance: deps.statusKeyPrefix,
      interval: deps.catchUpInterval ?? 3 * driftInterval,
      dispatch,
      // Synced, nothing queued or running, and every Repository reconciled once: the webhooks are in place.
      idle: () =>
        repositories.hasSynced() &&
        (controller.queue?.len() ?? 1) === 0 &&
        reconciler.inFlight === 0 &&
        repositories.keys().every((key) => reconciler.reconciled(key)),
      unreachable: (repository: Repository, location, token) => {
        reconciler.forgetReachability(location, token);
        controller.enqueue(keyOf(repository));
      },
    });
    const runner = catchUp;
    manager.addRunnable({ name: "repository-catch-up", start: (signal) => runner.run(signal) });
  }
  return { controller, reconciler, catchUp };
}
