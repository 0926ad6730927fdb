// Letting go of webhooks: a Repository being deleted (its finalizer), one that stops managing a hook (a duplicate,
// an unparseable URL), and one whose hook moved (another repository, another scope). A repository hook is deleted;
// a project hook is deleted when no other Repository uses it, else synchronised for the remaining members.
import { formatDuration } from "../api/common.ts";
import type { Repository } from "../api/repository.ts";
import type { GitProvider, ProviderLookup } from "../providers/provider.ts";
import { providerKindOf } from "../providers/registry.ts";
import type { Clock } from "../runtime/clock.ts";
import type { ReconcileContext, ReconcileResult } from "../runtime/controller.ts";
import { hasFinalizer, type KubeClient, keyOf } from "../runtime/kube.ts";
import type { ServerFeatures } from "./cache.ts";
import {
  hostTerms,
  projectIdentity,
  type RepositoryLocation,
  repositoryIdentity,
  webhookFailure,
} from "./decisions.ts";
import type { EventSink } from "./events.ts";
import { describeError } from "./failures.ts";
import type { Members } from "./membership.ts";
import { operatorToken, Repositories, webhookSecretLocation } from "./resource.ts";
import { deleteWebhookSecret } from "./secrets.ts";
import { type HookScopeName, type HookSync, hookMemory } from "./webhook-sync.ts";
import type { HookOutcome } from "./webhooks.ts";

export const finalizer = "baton.dev/webhook";

/** How long a deleted Repository keeps trying to remove its webhook before it lets go (and says so). */
const deletionPatience = 10 * 60_000;

export interface ReleaseDeps {
  kube: KubeClient;
  clock: Clock;
  events: EventSink;
  provider: ProviderLookup;
  intakeUrl: string | undefined;
  operatorNamespace: string;
  deferWebhook?: (repo: Repository, location: RepositoryLocation, error: string) => Promise<string | undefined>;
  deletionPatienceMs?: number;
  features: ServerFeatures;
  sync: HookSync;
  members: Members;
  /** The last token the Repository resolved: a namespace being deleted may take the token Secret first. */
  lastToken(key: string): string | undefined;
  /** Drops what the reconciler remembers of a Repository that is gone. */
  forget(key: string): void;
}

export class Release {
  readonly #deps: ReleaseDeps;

  constructor(deps: ReleaseDeps) {
    this.#deps = deps;
  }

  /**
   * The Repository now has its webhook where the spec says; a hook it had before somewhere else (its URL moved to
   * another repository, or its scope changed) goes. Best effort: a hook that cannot be removed is named in an Event.
   */
  async previous(
    repo: Repository,
    location: RepositoryLocation,
    scope: HookScopeName,
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

  /** A Repository being deleted: its webhook goes (or is recorded for later), then its finalizer. */
  async finalize(
    repo: Repository,
    location: RepositoryLocation | undefined,
    ctx: ReconcileContext,
  ): Promise<ReconcileResult> {
    const key = keyOf(repo);
    if (!hasFinalizer(repo, finalizer)) {
      this.#deps.forget(key);
      return {};
    }
    if (location && repo.spec.webhook.managed) {
      const resolved = await operatorToken(this.#deps.kube, repo);
      const token = "token" in resolved ? resolved.token : this.#deps.lastToken(key);
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
    this.#deps.forget(key);
    return {};
  }

  /** A Repository that stops managing a webhook (a duplicate, an unparseable URL): release and drop the finalizer. */
  async letGo(repo: Repository, location: RepositoryLocation | undefined, ctx: ReconcileContext): Promise<Repository> {
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

  /**
   * Lets go of the webhook at `location` in `scope`: a repository hook is deleted; a project hook is deleted when no
   * other Repository (from the informer cache) still uses it, else synchronised for the remaining members.
   */
  async #release(
    repo: Repository,
    location: RepositoryLocation,
    scope: HookScopeName,
    token: string,
    ctx: ReconcileContext,
    exclude: string,
  ): Promise<HookOutcome> {
    const provider = this.#provider(repo, location);
    if (scope === "repository")
      return this.#deps.sync.removeRepositoryHooks(provider, location, token, hookMemory(repo).id, ctx);
    // Without owner webhooks (an old server) or an intake URL there is no shared hook to shrink; the last
    // member still takes the shared secret with it.
    const support = await this.#deps.features.ownerHooks(provider, ctx.signal);
    if (!support.supported || !this.#deps.intakeUrl) {
      const remaining = this.#deps.members.project(projectIdentity(location), undefined, exclude);
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
    const record = await this.#deps.sync.project(provider, repo, location, token, ctx, exclude);
    if (!record.result.ok)
      throw new Error(
        webhookFailure(
          record.result.kind,
          "project",
          `${hostTerms(provider.kind).owner} ${location.project}`,
          record.result.detail,
          hostTerms(provider.kind),
        ).message,
      );
    return record.result.outcome;
  }

  #provider(repo: Repository, location: RepositoryLocation): GitProvider {
    return this.#deps.provider(location.server, providerKindOf(repo.spec));
  }
}
