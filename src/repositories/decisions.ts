// The Repository reconciler's decisions as pure functions: where a repository is, what its webhook should look
// like, whether the one Bitbucket has drifted, and which open pull requests a lost delivery left without a build.

import { type RepositorySpec, WebhookEvent } from "../api/repository.ts";
import type { Webhook, WebhookInput } from "../providers/bitbucket-datacenter/index.ts";
import type { ProviderKind } from "../providers/provider.ts";
import { providerKindOf } from "../providers/registry.ts";
import { scrub } from "../runtime/redact.ts";

export interface RepositoryLocation {
  /** Origin plus context path, no trailing slash: what the Bitbucket client is built from. */
  server: string;
  /** Data Center project key, upper case as Bitbucket shows it; Cloud workspace slug, lower case. */
  project: string;
  slug: string;
}

const browse =
  /^(https?:\/\/[^/]+(?:\/[^?#]*?)?)\/projects\/([A-Za-z0-9_]+)\/repos\/([A-Za-z0-9._-]+)(?:\/browse)?\/?$/;
const clone = /^(https?:\/\/[^/]+(?:\/[^?#]*?)?)\/scm\/([A-Za-z0-9_]+)\/([A-Za-z0-9._-]+?)(?:\.git)?\/?$/;
/** Bitbucket Cloud: `<origin>/<workspace>/<slug>`, with no context path. */
const cloud = /^(https?:\/\/[^/]+)\/([A-Za-z0-9._-]+)\/([A-Za-z0-9._-]+?)(?:\.git)?\/?$/;

/**
 * Reads server, project and slug from a browse URL (what Pipelines-as-Code uses) or an HTTP clone URL. Clone URLs
 * spell the project key in lower case; Bitbucket keys are upper case, so it is normalised.
 */
export function parseRepositoryUrl(url: string, provider?: ProviderKind): RepositoryLocation | undefined {
  // A URL with a password or a token in it would spread that credential into status, logs and every call.
  if (urlCarriesCredential(url)) return undefined;
  if (providerKindOf({ url, provider }) === "bitbucket-cloud") {
    // Cloud workspace slugs are lower case in its API paths, unlike Data Center project keys.
    const workspace = cloud.exec(url);
    if (!workspace?.[1] || !workspace[2] || !workspace[3]) return undefined;
    return { server: workspace[1], project: workspace[2].toLowerCase(), slug: workspace[3].toLowerCase() };
  }
  const match = browse.exec(url) ?? clone.exec(url);
  if (!match?.[1] || !match[2] || !match[3]) return undefined;
  return { server: match[1], project: match[2].toUpperCase(), slug: match[3].toLowerCase() };
}

/** Userinfo with a password, or a path segment that is an access token (someone pasted the wrong thing). */
export function urlCarriesCredential(url: string): boolean {
  return scrub(url) !== url;
}

/** Identity of a repository across the cluster, for the one-Repository-per-repository rule and intake routing. */
export function repositoryIdentity(location: RepositoryLocation): string {
  return `${location.server.toLowerCase()}|${location.project}|${location.slug}`;
}

export function projectIdentity(location: Pick<RepositoryLocation, "server" | "project">): string {
  return `${location.server.toLowerCase()}|${location.project}`;
}

export const defaultEvents: readonly WebhookEvent[] = WebhookEvent.options;

export interface DesiredWebhookInput {
  /** The name that marks a webhook as Baton's (and this instance's) own. */
  name: string;
  intakeUrl: string;
  secret: string;
  events?: RepositorySpec["webhook"]["events"];
}

/** What the webhook must be. PUT replaces the whole object, so this is complete. */
export function desiredWebhook(input: DesiredWebhookInput): WebhookInput {
  return {
    name: input.name,
    url: input.intakeUrl,
    events: [...new Set(input.events ?? defaultEvents)].sort(),
    active: true,
    configuration: { secret: input.secret },
  };
}

export type WebhookAction =
  | { action: "none"; webhook: Webhook }
  | { action: "create" }
  | { action: "replace"; webhook: Webhook; drift: string[] }
  /** Extra copies with Baton's name (a crash between create and status write, or a human's copy). */
  | { action: "deduplicate"; keep: Webhook; remove: Webhook[] };

/**
 * Compares Bitbucket's webhooks with the desired one. Only webhooks carrying Baton's name are considered, so other
 * tools' and people's hooks are never touched.
 */
export function planWebhook(existing: readonly Webhook[], desired: WebhookInput, recorded?: number): WebhookAction {
  const ours = existing.filter((w) => isOurs(w, desired.name, recorded)).sort((a, b) => a.id - b.id);
  const [first, ...extra] = ours;
  if (!first) return { action: "create" };
  if (extra.length > 0) return { action: "deduplicate", keep: first, remove: extra };
  const drift = webhookDrift(first, desired);
  return drift.length === 0 ? { action: "none", webhook: first } : { action: "replace", webhook: first, drift };
}

/** The fields that differ, named for an Event message. Never the secret's value, only that it differs. */
export function webhookDrift(actual: Webhook, desired: WebhookInput): string[] {
  const drift: string[] = [];
  if (actual.name !== desired.name) drift.push("name");
  if (actual.url !== desired.url) drift.push("url");
  if (!actual.active) drift.push("active");
  const actualEvents = [...new Set(actual.events)].sort().join(",");
  if (actualEvents !== [...desired.events].sort().join(",")) drift.push("events");
  if ((actual.configuration?.secret ?? "") !== (desired.configuration?.secret ?? "")) drift.push("secret");
  return drift;
}

export interface OpenPullRequest {
  id: number;
  headSha: string;
}

/**
 * Catch-up: Bitbucket never retries a failed delivery, so an open pull request whose head commit has neither a
 * Baton PipelineRun nor a Baton build status has lost its event. Those get a synthetic pull_request event, and so do
 * heads where an event started only some of its pipelines (`unhandled`: see `siblingsUnhandled`).
 */
export function pullRequestsToCatchUp(
  open: readonly OpenPullRequest[],
  shasWithRuns: ReadonlySet<string>,
  shasWithStatuses: ReadonlySet<string>,
  unhandled: ReadonlyMap<string, ReadonlySet<string>> = new Map(),
): OpenPullRequest[] {
  return open.filter(
    (pr) =>
      (unhandled.get(pr.headSha)?.size ?? 0) > 0 ||
      (!shasWithRuns.has(pr.headSha) && !shasWithStatuses.has(pr.headSha)),
  );
}

/** What catch-up reads from one PipelineRun. */
export interface RunRecord {
  sha?: string | undefined;
  pipeline?: string | undefined;
  /** Every pipeline the run's event started (`baton.dev/pipelines`). */
  siblings?: readonly string[] | undefined;
}

/** Per head commit: the pipelines its runs say the event started that have no run (now). */
export function siblingsWithoutRun(runs: readonly RunRecord[]): Map<string, Set<string>> {
  const expected = new Map<string, Set<string>>();
  const present = new Set<string>();
  for (const run of runs) {
    if (!run.sha) continue;
    if (run.pipeline) present.add(`${run.sha}|${run.pipeline}`);
    const set = expected.get(run.sha) ?? new Set<string>();
    for (const name of run.siblings ?? []) set.add(name);
    expected.set(run.sha, set);
  }
  const missing = new Map<string, Set<string>>();
  for (const [sha, names] of expected) {
    const without = new Set([...names].filter((name) => !present.has(`${sha}|${name}`)));
    if (without.size > 0) missing.set(sha, without);
  }
  return missing;
}

/**
 * Of the siblings without a run, those never handled: a run pruned by max-keep-runs is gone too, but its build
 * status (`withStatus`: `sha|pipeline` pairs found on the commit) stays, and it must not be run again.
 */
export function siblingsUnhandled(
  withoutRun: ReadonlyMap<string, ReadonlySet<string>>,
  withStatus: ReadonlySet<string>,
): Map<string, Set<string>> {
  const unhandled = new Map<string, Set<string>>();
  for (const [sha, names] of withoutRun) {
    const left = new Set([...names].filter((name) => !withStatus.has(`${sha}|${name}`)));
    if (left.size > 0) unhandled.set(sha, left);
  }
  return unhandled;
}

/** Spreads periodic checks so a thousand Repositories do not all call Bitbucket in the same second. */
export function jittered(interval: number, random: () => number = Math.random): number {
  return Math.round(interval * (0.9 + 0.2 * random()));
}

/**
 * The name that marks a webhook as this Baton instance's own. The default instance keeps the plain `baton`; other
 * instances (two clusters sharing a Bitbucket project) get `baton-<instance>` so neither touches the other's hook.
 */
export function webhookName(instance: string): string {
  return instance === "baton" ? "baton" : `baton-${instance}`;
}

/**
 * Whether a hook is this installation's: it carries this installation's name, or — an upgrade from a release whose
 * instance was always `baton` — it carries that legacy name and is the very hook this Repository's status records
 * (by id), so another cluster's `baton` hook is never taken. An adopted legacy hook is renamed on its next sync.
 */
export function isOurs(hook: Pick<Webhook, "id" | "name">, name: string, recorded?: number): boolean {
  return hook.name === name || (hook.name === legacyWebhookName && recorded !== undefined && hook.id === recorded);
}

const legacyWebhookName = "baton";

/** A project webhook serves several Repositories: it subscribes to every event any of them asks for. */
export function projectWebhookEvents(
  members: readonly (RepositorySpec["webhook"]["events"] | undefined)[],
): WebhookEvent[] {
  const union = new Set<WebhookEvent>();
  for (const events of members) for (const event of events ?? defaultEvents) union.add(event);
  return [...union].sort();
}

/**
 * Whether status.webhook.lastSyncTime moves: when something changed, or when the recorded time is older than
 * `maxAge`. Rewriting it on every no-op check would wake every watcher of the object every drift interval.
 */
export function syncTimeDue(previous: string | undefined, now: number, changed: boolean, maxAge = 3_600_000): boolean {
  if (changed) return true;
  const at = Date.parse(previous ?? "");
  return !Number.isFinite(at) || now - at >= maxAge;
}

/** What a failed Bitbucket call means for the user, by the kind of failure the client reported. */
export type FailureKind = "unauthorized" | "notFound" | "rateLimited" | "unavailable" | "other";

export interface WebhookFailure {
  reason: string;
  message: string;
}

/**
 * The WebhookSynced condition for a failed webhook call. Bitbucket answers 401 both for bad credentials and for a
 * missing permission; the caller has already ruled out bad credentials (the repository listing succeeded with the
 * same token), so a 401 here names the permission.
 */
export function webhookFailure(
  kind: FailureKind,
  scope: "repository" | "project",
  where: string,
  detail: string,
): WebhookFailure {
  switch (kind) {
    case "unauthorized":
      return {
        reason: "InsufficientPermissions",
        message:
          scope === "project"
            ? `the token may not manage project webhooks of ${where}: it needs PROJECT_ADMIN (or set spec.webhook.scope: repository, or spec.webhook.managed: false and create the hook by hand)`
            : `the token may not manage the webhooks of ${where}: it needs REPO_ADMIN (or set spec.webhook.managed: false and create the hook by hand)`,
      };
    case "notFound":
      return { reason: scope === "project" ? "ProjectNotFound" : "RepositoryNotFound", message: `${where} not found` };
    case "rateLimited":
      return { reason: "RateLimited", message: `Bitbucket is rate limiting Baton; will retry: ${detail}` };
    case "unavailable":
      return { reason: "BitbucketUnavailable", message: `could not reach Bitbucket; will retry: ${detail}` };
    default:
      return { reason: "SyncFailed", message: detail };
  }
}

/** Delay before retrying a failed sync: doubles from 30 s, never beyond the drift interval. */
export function retryDelay(failures: number, driftInterval: number): number {
  return Math.min(driftInterval, 30_000 * 2 ** Math.max(0, Math.min(failures - 1, 10)));
}

export interface CatchUpCandidate {
  id: number;
  headSha: string;
  /** Epoch ms of the pull request's last update (a push to its source updates it). */
  updatedDate: number;
}

/**
 * Pull requests last updated before the Repository existed were never Baton's to build: catching them up would
 * start a build for every open pull request of every repository on installation. `slack` absorbs clock skew
 * between Bitbucket and the API server.
 */
export function updatedSince<T extends CatchUpCandidate>(open: readonly T[], since: number, slack = 300_000): T[] {
  if (!Number.isFinite(since)) return [...open];
  return open.filter((pr) => pr.updatedDate >= since - slack);
}
