// The Repository reconciler's decisions as pure functions: where a repository is, what its webhook should look
// like, whether the one Bitbucket has drifted, and which open pull requests a lost delivery left without a build.

import { type RepositorySpec, WebhookEvent } from "../api/repository.ts";
import type { Hook, HookInput, ProviderKind } from "../providers/provider.ts";
import { providerKindOf } from "../providers/registry.ts";
import { repositoryUrlParser } from "../providers/repository-url.ts";
import { scrub } from "../runtime/redact.ts";
import { fingerprint } from "../tokens/secret.ts";

export interface RepositoryLocation {
  /** Origin plus context path, no trailing slash: what the provider is built from. */
  server: string;
  /** Data Center project key, upper case as Bitbucket shows it; Cloud workspace slug, lower case. */
  project: string;
  slug: string;
}

/** Reads server, owner and repository from spec.url with the parser of the Repository's provider kind. */
export function parseRepositoryUrl(url: string, provider?: ProviderKind): RepositoryLocation | undefined {
  // A URL with a password or a token in it would spread that credential into status, logs and every call.
  if (urlCarriesCredential(url)) return undefined;
  const parsed = repositoryUrlParser(providerKindOf({ url, provider }))?.(url);
  return parsed ? { server: parsed.server, project: parsed.owner, slug: parsed.name } : undefined;
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

/** The intake path BATON_INTAKE_URL has always named: Data Center's, from before other hosts. */
const configuredIntakePath = "/hooks/bitbucket";

/**
 * Where a host delivers, from the one configured intake URL: each host's intake has its own path on the same
 * server (Cloud `/hooks/bitbucket-cloud`), so the configured URL's Data Center path is swapped for the host's; a
 * URL naming another path (a proxy's prefix) gets the host's path appended. Data Center's is the URL as set.
 */
export function intakeUrlOf(configured: string, path: string): string {
  if (path === configuredIntakePath) return configured;
  const url = new URL(configured);
  const base = url.pathname.replace(/\/+$/, "");
  url.pathname = base.endsWith(configuredIntakePath)
    ? `${base.slice(0, -configuredIntakePath.length)}${path}`
    : `${base}${path}`;
  return url.toString();
}

export const defaultEvents: readonly WebhookEvent[] = WebhookEvent.options;

export interface DesiredWebhookInput {
  /** The name that marks a webhook as Baton's (and this instance's) own. */
  name: string;
  intakeUrl: string;
  secret: string;
  /** The host's event names; default `defaultEvents` (Data Center's). */
  events?: readonly string[] | undefined;
}

/** What the webhook must be. An update replaces the whole object, so this is complete. */
export function desiredWebhook(input: DesiredWebhookInput): HookInput {
  return {
    name: input.name,
    url: input.intakeUrl,
    events: [...new Set(input.events ?? defaultEvents)].sort(),
    active: true,
    secret: input.secret,
  };
}

/** What Baton recorded of the hook it last synchronised (status.webhook): its id, and the print of the secret it set. */
export interface HookMemory {
  id?: string | undefined;
  secretPrint?: string | undefined;
}

export type WebhookAction =
  | { action: "none"; webhook: Hook }
  | { action: "create" }
  | { action: "replace"; webhook: Hook; drift: string[] }
  /** Extra copies with Baton's name (a crash between create and status write, or a human's copy). */
  | { action: "deduplicate"; keep: Hook; remove: Hook[] };

/**
 * Compares the host's webhooks with the desired one. Only webhooks carrying Baton's name are considered, so other
 * tools' and people's hooks are never touched.
 */
export function planWebhook(existing: readonly Hook[], desired: HookInput, recorded?: HookMemory): WebhookAction {
  const ours = existing.filter((w) => isOurs(w, desired.name, recorded?.id)).sort((a, b) => compareIds(a.id, b.id));
  const [first, ...extra] = ours;
  if (!first) return { action: "create" };
  if (extra.length > 0) return { action: "deduplicate", keep: first, remove: extra };
  const drift = webhookDrift(first, desired, first.id === recorded?.id ? recorded.secretPrint : undefined);
  return drift.length === 0 ? { action: "none", webhook: first } : { action: "replace", webhook: first, drift };
}

/**
 * The fields that differ, named for an Event message. Never the secret's value, only that it differs. A host that
 * returns the secret (Data Center) is compared with it; one that only says whether a secret is set (Cloud) is
 * judged by that and by `secretPrint`, the print of the secret Baton last set on this hook: without a record, or
 * with another secret's, the hook is replaced once so the record holds.
 */
export function webhookDrift(actual: Hook, desired: HookInput, secretPrint?: string): string[] {
  const drift: string[] = [];
  if (actual.name !== desired.name) drift.push("name");
  if (actual.url !== desired.url) drift.push("url");
  if (!actual.active) drift.push("active");
  const actualEvents = [...new Set(actual.events)].sort().join(",");
  if (actualEvents !== [...desired.events].sort().join(",")) drift.push("events");
  // Only hosts that let the encoding and TLS check be chosen say them (GitHub); Baton signs JSON, over checked TLS.
  if (actual.contentType !== undefined && actual.contentType !== "json") drift.push("content_type");
  if (actual.insecureSsl === true) drift.push("insecure_ssl");
  const wanted = desired.secret ?? "";
  if (actual.secret !== undefined || actual.secretSet === false) {
    if ((actual.secret ?? "") !== wanted) drift.push("secret");
  } else if (wanted !== "" && secretPrint !== secretPrintOf(wanted)) {
    drift.push("secret");
  }
  return drift;
}

/** What status records of a webhook secret the host never shows: a one-way print, never the secret. */
export function secretPrintOf(secret: string): string {
  return fingerprint(`webhook-secret:${secret}`);
}

/** Host ids: numbers compare as numbers (the oldest hook is kept), others as text. */
function compareIds(a: string, b: string): number {
  const numeric = /^\d+$/;
  if (numeric.test(a) && numeric.test(b)) return Number(a) - Number(b);
  return a < b ? -1 : a > b ? 1 : 0;
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
export function isOurs(hook: Pick<Hook, "id" | "name">, name: string, recorded?: string): boolean {
  return hook.name === name || (hook.name === legacyWebhookName && recorded !== undefined && hook.id === recorded);
}

const legacyWebhookName = "baton";

/**
 * On a host that keeps no hook names (`capabilities.hookIdentity: "url"`, GitHub), Baton's hook is the one its
 * status records (`recorded`, by id) or one delivering to Baton's intake URL; those carry `name` from here on, so
 * planWebhook and removal judge them like any named hook. Another tool's hook keeps the host's name. Pure.
 */
export function identifyHooks(
  hooks: readonly Hook[],
  identity: "name" | "url",
  name: string,
  intakeUrl: string | undefined,
  recorded?: string,
): Hook[] {
  if (identity === "name") return [...hooks];
  return hooks.map((hook) =>
    hook.id === recorded || (intakeUrl !== undefined && hook.url === intakeUrl) ? { ...hook, name } : hook,
  );
}

/** A project webhook serves several Repositories: it subscribes to every event any of them asks for. */
export function projectWebhookEvents(
  members: readonly (RepositorySpec["webhook"]["events"] | undefined)[],
  defaults: readonly string[] = defaultEvents,
): string[] {
  const union = new Set<string>();
  for (const events of members) for (const event of events ?? defaults) union.add(event);
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
  terms: HostTerms = hostTerms("bitbucket-datacenter"),
): WebhookFailure {
  switch (kind) {
    case "unauthorized":
      return {
        reason: "InsufficientPermissions",
        message: scope === "project" ? terms.ownerHookRefused(where) : terms.repositoryHookRefused(where),
      };
    case "notFound":
      return { reason: scope === "project" ? "ProjectNotFound" : "RepositoryNotFound", message: `${where} not found` };
    case "rateLimited":
      return { reason: "RateLimited", message: `${terms.host} is rate limiting Baton; will retry: ${detail}` };
    case "unavailable":
      return { reason: "BitbucketUnavailable", message: `could not reach ${terms.host}; will retry: ${detail}` };
    default:
      return { reason: "SyncFailed", message: detail };
  }
}

/** How conditions name a host's things and the permissions its webhooks need. */
export interface HostTerms {
  host: string;
  /** What an owner is called: "project", "workspace". */
  owner: string;
  /** What reading a repository takes. */
  readPermission: string;
  repositoryHookRefused(where: string): string;
  ownerHookRefused(where: string): string;
  /** Why an owner hook endpoint answering 404 (for an owner the listing just found) means there are none. */
  ownerHooksMissing: string;
}

const dataCenterTerms: HostTerms = {
  host: "Bitbucket",
  owner: "project",
  readPermission: "REPO_READ",
  repositoryHookRefused: (where) =>
    `the token may not manage the webhooks of ${where}: it needs REPO_ADMIN (or set spec.webhook.managed: false and create the hook by hand)`,
  ownerHookRefused: (where) =>
    `the token may not manage project webhooks of ${where}: it needs PROJECT_ADMIN (or set spec.webhook.scope: repository, or spec.webhook.managed: false and create the hook by hand)`,
  ownerHooksMissing: "the project webhook endpoint answered 404 (project webhooks need Bitbucket 8.9 or later)",
};

const terms: Partial<Record<ProviderKind, HostTerms>> = {
  github: {
    host: "GitHub",
    owner: "owner",
    readPermission:
      "access to the repository with the repository permissions Contents: Read-only and Metadata: Read-only (fine-grained token)",
    repositoryHookRefused: (where) =>
      `the token may not manage the webhooks of ${where}: GitHub answered "Resource not accessible by personal access token"; give the fine-grained token the repository permission Webhooks: Read and write (or set spec.webhook.managed: false and create the hook by hand)`,
    ownerHookRefused: (where) =>
      `Baton does not keep organisation webhooks on GitHub (${where}): set spec.webhook.scope: repository, or use a GitHub App, whose own webhook serves every repository it is installed on`,
    ownerHooksMissing: "Baton does not keep organisation webhooks on GitHub",
  },
  "bitbucket-datacenter": dataCenterTerms,
  "bitbucket-cloud": {
    host: "Bitbucket Cloud",
    owner: "workspace",
    readPermission: "the repository scope, in a token of this repository, its project or its workspace",
    repositoryHookRefused: (where) =>
      `the token may not manage the webhooks of ${where}: it needs the webhook scope, plus repository and pullrequest to subscribe to their events (or set spec.webhook.managed: false and create the hook by hand)`,
    ownerHookRefused: (where) =>
      `the token may not manage the webhooks of ${where}: workspace webhooks are for workspace owners only (a workspace access token with the webhook scope); set spec.webhook.scope: repository, or spec.webhook.managed: false and create the hook by hand`,
    ownerHooksMissing: "the workspace webhook endpoint answered 404",
  },
};

export function hostTerms(kind: ProviderKind): HostTerms {
  return terms[kind] ?? dataCenterTerms;
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
