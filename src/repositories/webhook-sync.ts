// Webhook synchronisation through sync slots (cache.ts SyncSlots), so one call answers for many reconciles:
// - a repository's own webhook: one slot per repository, so a reconcile woken for any other reason (a Secret event,
//   a resync) costs nothing until the drift interval is up;
// - a project's shared webhook: one slot per (server, project). Every Repository of the project asks the slot; the
//   first one lists the project's hooks and acts, the others queue behind it and reuse its result until the drift
//   interval has passed or what is desired changed. The hook subscribes to the union of the members' events, and
//   members are derived from the informer cache (membership.ts): the last one to go deletes it.
import { createHash } from "node:crypto";
import type { Repository } from "../api/repository.ts";
import type { GitProvider, HookScope } from "../providers/provider.ts";
import type { ReconcileContext } from "../runtime/controller.ts";
import type { KubeClient } from "../runtime/kube.ts";
import { keyOf } from "../runtime/kube.ts";
import type { Secret } from "../runtime/kube-types.ts";
import { fingerprint } from "../tokens/secret.ts";
import { type RepositoryListings, type SyncRecord, SyncSlots } from "./cache.ts";
import {
  desiredWebhook,
  type FailureKind,
  type HookMemory,
  intakeUrlOf,
  jittered,
  projectIdentity,
  projectWebhookEvents,
  type RepositoryLocation,
  repositoryIdentity,
  retryDelay,
} from "./decisions.ts";
import { failureOf } from "./failures.ts";
import type { Members } from "./membership.ts";
import type { RepositoryMetrics } from "./metrics.ts";
import { type WebhookSecretLocation, webhookSecretIn, webhookSecretLocation } from "./resource.ts";
import { deleteWebhookSecret, ensureWebhookSecret, type WebhookSecret } from "./secrets.ts";
import { type HookOutcome, removeHooks, syncHook } from "./webhooks.ts";

/** Touching this annotation (any new value) asks for a check against Bitbucket now, drift interval or not. */
export const reconcileRequestedAt = "baton.dev/reconcile-requested-at";

export type HookScopeName = "repository" | "project";

export type HookResult =
  | {
      ok: true;
      outcome: HookOutcome;
      scope: HookScopeName;
      /** A replace made because the spec (or secret) changed, not because someone edited the hook. */
      updated: boolean;
      /** contentPrint of what was synchronised. */
      content?: string;
    }
  | { ok: false; kind: FailureKind; detail: string; scope: HookScopeName; tried: string[] };

export type HookRecord = SyncRecord<HookResult> & { reused: boolean };

export interface HookSyncDeps {
  kube: KubeClient;
  metrics: RepositoryMetrics;
  intakeUrl: string | undefined;
  operatorNamespace: string;
  driftInterval: number;
  cachedSecret?: (namespace: string, name: string) => Secret | undefined;
  random?: () => number;
  now(): number;
  /** Names Baton's webhooks (webhookName). */
  name: string;
  listings: RepositoryListings;
  members: Members;
}

export class HookSync {
  readonly #deps: HookSyncDeps;
  readonly #slots: SyncSlots<HookResult>;
  /** Consecutive failures per slot key, for the retry delay. */
  readonly #failures = new Map<string, number>();
  /** Per project: each member's current token, so the shared hook can be synchronised with another's token. */
  readonly #groupTokens = new Map<string, Map<string, string>>();

  constructor(deps: HookSyncDeps) {
    this.#deps = deps;
    this.#slots = new SyncSlots(deps.now);
  }

  /** This repository's own webhook: one listing per drift interval, writes only when something differs. */
  async repository(
    provider: GitProvider,
    repo: Repository,
    location: RepositoryLocation,
    token: string,
    secret: string,
    ctx: ReconcileContext,
  ): Promise<HookRecord> {
    const { listings } = this.#deps;
    const intakeUrl = intakeUrlOf(this.#deps.intakeUrl ?? "", provider.intake.path);
    const slot = repositorySlot(location);
    const events = repo.spec.webhook.events ?? hostEvents(provider);
    const desired = desiredWebhook({ name: this.#deps.name, intakeUrl, secret, events });
    const content = contentPrint(desired.url, desired.events, secret);
    const print = hash([content, fingerprint(token), poke(repo)]);
    const previous = this.#slots.last(slot);
    const statusEvents = (repo.status?.webhook?.events ?? []).join(",");
    return this.#slots.run(slot, async () => ({
      fingerprint: print,
      execute: async () => {
        try {
          const outcome = await syncHook(
            provider,
            repositoryScope(location),
            desired,
            { auth: { kind: "bearer", token }, signal: ctx.signal },
            hookMemory(repo),
          );
          listings.confirm(location.server, location.project, token);
          this.#failures.delete(slot);
          this.count(outcome);
          const updated = wasUpdate(previous?.result, content, statusEvents, desired.events);
          return {
            result: { ok: true, outcome, scope: "repository", updated, content } as HookResult,
            ttl: jittered(this.#deps.driftInterval, this.#deps.random),
          };
        } catch (error) {
          return this.#failed(slot, error, "repository", [fingerprint(token)], () =>
            listings.invalidate(location.server, location.project, token),
          );
        }
      },
    }));
  }

  /** The project's shared webhook, through the project's slot. `exclude` leaves a departing member out. */
  async project(
    provider: GitProvider,
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

    const scope: HookScope = { kind: "owner", owner: location.project };
    const secretLocation = webhookSecretLocation(
      { metadata: repo.metadata, spec: { ...repo.spec, webhook: { ...repo.spec.webhook, scope: "project" } } },
      this.#deps.operatorNamespace,
      location,
    );
    return this.#slots.run(slot, async () => {
      const members = this.#deps.members.project(group, exclude === self ? undefined : repo, exclude);
      for (const key of tokens.keys()) if (key !== self && !members.some((m) => keyOf(m) === key)) tokens.delete(key);
      const candidates = [token, ...tokens.values()].filter((t, i, all) => all.indexOf(t) === i).slice(0, 3);
      if (members.length === 0)
        return this.#removeProjectHook(provider, scope, secretLocation, candidates, slot, ctx, hookMemory(repo).id);

      const ensured = await this.webhookSecret(secretLocation, undefined, ctx);
      if ("problem" in ensured) throw new Error(ensured.problem);
      const events = projectWebhookEvents(
        members.map((m) => m.spec.webhook?.events),
        hostEvents(provider),
      );
      const desired = desiredWebhook({
        name: this.#deps.name,
        intakeUrl: intakeUrlOf(this.#deps.intakeUrl ?? "", provider.intake.path),
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
                provider,
                scope,
                desired,
                { auth: { kind: "bearer", token: candidate }, signal: ctx.signal },
                hookMemory(repo),
              );
              this.#deps.listings.confirm(location.server, location.project, candidate);
              this.#failures.delete(slot);
              this.count(outcome);
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

  /** Deletes this installation's hooks of the repository (its slot is forgotten whatever happens). */
  async removeRepositoryHooks(
    provider: GitProvider,
    location: RepositoryLocation,
    token: string,
    recorded: string | undefined,
    ctx: ReconcileContext,
  ): Promise<HookOutcome> {
    try {
      const outcome = await removeHooks(
        provider,
        repositoryScope(location),
        this.#deps.name,
        { auth: { kind: "bearer", token }, signal: ctx.signal },
        recorded,
        this.#deps.intakeUrl === undefined ? undefined : intakeUrlOf(this.#deps.intakeUrl, provider.intake.path),
      );
      this.count(outcome);
      return outcome;
    } catch (error) {
      // The repository (or project) is gone, and its hooks with it.
      if (failureOf(error).kind === "notFound") return { action: "absent" };
      throw error;
    } finally {
      this.#slots.forget(repositorySlot(location));
    }
  }

  /** Bitbucket contradicted the project slot's record: the next sync lists again. */
  expireProject(location: RepositoryLocation): void {
    this.#slots.expire(projectSlot(location));
  }

  forgetMember(key: string): void {
    for (const tokens of this.#groupTokens.values()) tokens.delete(key);
  }

  /**
   * The webhook secret from the informer's cache when it has it, else read (and generated when missing). A cached
   * value a moment stale heals itself: the Secret's change wakes the Repositories that use it.
   */
  async webhookSecret(
    location: WebhookSecretLocation,
    owner: Repository | undefined,
    ctx: ReconcileContext,
  ): Promise<WebhookSecret> {
    const cached = webhookSecretIn(this.#deps.cachedSecret?.(location.namespace, location.name), location);
    if (cached) return { secret: cached, created: false };
    return ensureWebhookSecret(this.#deps.kube, location, owner, ctx.signal);
  }

  count(outcome: HookOutcome): void {
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

  async #removeProjectHook(
    provider: GitProvider,
    scope: HookScope,
    secretLocation: WebhookSecretLocation,
    candidates: string[],
    slot: string,
    ctx: ReconcileContext,
    recorded: string | undefined,
  ) {
    return {
      fingerprint: "no-members",
      execute: async () => {
        let failure: unknown;
        for (const candidate of candidates) {
          try {
            const outcome = await removeHooks(
              provider,
              scope,
              this.#deps.name,
              { auth: { kind: "bearer", token: candidate }, signal: ctx.signal },
              recorded,
            );
            await deleteWebhookSecret(this.#deps.kube, secretLocation);
            this.#failures.delete(slot);
            this.count(outcome);
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
    scope: HookScopeName,
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

/** The events a host's webhook subscribes to unless the spec names them: every event its intake handles. */
export function hostEvents(provider: GitProvider): string[] {
  return provider.intake.knownEvents.filter((event) => event !== provider.intake.pingEvent);
}

export function repositoryScope(location: RepositoryLocation): HookScope {
  return { kind: "repository", repo: { owner: location.project, name: location.slug } };
}

/** What status recorded of the hook Baton last synchronised. */
export function hookMemory(repo: Pick<Repository, "status">): HookMemory {
  const recorded = repo.status?.webhook;
  return {
    id: recorded?.id === undefined ? undefined : String(recorded.id),
    secretPrint: recorded?.secretPrint,
  };
}

function repositorySlot(location: RepositoryLocation): string {
  return `repository|${repositoryIdentity(location)}`;
}

function projectSlot(location: Pick<RepositoryLocation, "server" | "project">): string {
  return `project|${projectIdentity(location)}`;
}

function poke(repo: Pick<Repository, "metadata">): string {
  return repo.metadata?.annotations?.[reconcileRequestedAt] ?? "";
}

/** What the hook must look like, with the secret reduced to a fingerprint. */
function contentPrint(url: string, events: readonly string[], secret: string): string {
  return hash([url, [...events].sort().join(","), fingerprint(secret)]);
}

function hash(parts: string[]): string {
  return createHash("sha256").update(JSON.stringify(parts)).digest("hex").slice(0, 24);
}
