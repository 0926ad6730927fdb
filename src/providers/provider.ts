// What Baton needs from a git host, in terms no host owns. Repositories, tokens, status, events and pipelines
// call this interface only; each host (src/providers/<kind>/) implements it once, and src/providers/registry.ts
// picks the implementation from a Repository's spec.url (or spec.provider).
//
// Why one interface rather than `if (cloud)` in the domain: the domain decides (when to renew a token, which
// pipelines match, what a status says); the host only differs in how it is asked. Every difference that changes a
// decision is stated here as a fact the domain reads (`capabilities`, `trust`, `tokens`, `git`), never as the
// host's name. Hosts differ in naming too: `owner` is a Data Center project key, a Cloud workspace or a GitHub
// organisation/user; `name` is the repository slug (or GitHub's repository name).
//
// Errors: a method throws the host's error classes, which all extend `ProviderError` (src/providers/http/errors.ts)
// and carry `status` (HTTP status, 0 for none); `isNotFound(error)` is the only branch the domain takes on them.
// No message, JSON form or stack of a thrown error contains a credential.
import type { BatonEvent, ChangedFiles, Provider as ProviderKind, PullRequestEvent } from "../events/model.ts";

import type { AuthSource, Credential } from "./http/auth.ts";

export type { Credential, ProviderKind };

/** A repository on one host. */
export interface RepoRef {
  /** DC project key (`PRJ`, `~USER`), Cloud workspace slug, GitHub owner login. */
  owner: string;
  /** Repository slug (DC, Cloud) or name (GitHub). */
  name: string;
}

/** Options every call takes. Credentials are per call so a token rotated in a Secret applies at once. */
export interface CallOptions {
  /** A credential, or a function giving it before each HTTP attempt (a token renewed in memory). */
  auth?: AuthSource;
  signal?: AbortSignal;
  /** Per-call timeout in milliseconds (the transport's default otherwise). */
  timeoutMs?: number;
}

/** Listing calls stop with `TooManyResultsError` past `maxItems`, so one huge answer cannot exhaust memory. */
export interface ListCallOptions extends CallOptions {
  maxItems?: number;
  pageSize?: number;
}

// ─── Content ───────────────────────────────────────────────────────────────────────────────────────────────

export interface DirectoryEntry {
  /** Path relative to the listed folder. */
  path: string;
  type: "FILE" | "DIRECTORY" | "SUBMODULE";
  /** The git object id: what a cache of file contents keys on across commits (absent where the host omits it). */
  contentId?: string;
  size?: number;
}

/** Changed files of a pull request or push range, plus whether the host cut the list short. */
export interface ChangedFilesResult {
  files: ChangedFiles;
  /** The host returned fewer changes than there are (Cloud truncates push change lists; DC caps pages). */
  truncated: boolean;
}

export type ChangeRange = { pullRequest: number } | { from?: string | undefined; to: string };

// ─── Pull requests ─────────────────────────────────────────────────────────────────────────────────────────

/** An open pull request as the catch-up and the runner need it: enough to build the event a webhook would. */
export interface PullRequestSnapshot {
  number: number;
  /** Full commit hash of the source head (a host giving short hashes resolves them before returning). */
  latestCommit: string;
  /** Epoch milliseconds of the last update, to visit the most recently touched first. */
  updatedAt: number;
  /** The host's own representation, handed back to `pullRequestEvent`; the domain never reads it. */
  raw: unknown;
}

export interface PullRequestEventOptions {
  /** The Repository's server base URL (spec.url's), so clone and browse URLs match the git Secret's scope. */
  serverUrl: string;
  receivedAt: Date;
  /** The head to build, when the host may not show it yet. */
  head?: string;
  /** Who moved the head, in the host's payload shape (a push's actor); default the author. */
  actor?: unknown;
  /** Header telling pipelines how Baton came by the event (CEL `headers`). */
  header?: string;
}

// ─── Build status ──────────────────────────────────────────────────────────────────────────────────────────

/**
 * Neutral build states, in Data Center's words (status keys, metrics and dashboards already say CANCELLED).
 * Cloud maps CANCELLED→STOPPED; GitHub INPROGRESS→pending, SUCCESSFUL→success, FAILED→failure, CANCELLED→error
 * (or a cancelled check run). A host that cannot show CANCELLED (an older DC) leaves it out of `buildStates`, and
 * the domain reports FAILED with "cancelled" in the description instead.
 */
export type BuildState = "INPROGRESS" | "SUCCESSFUL" | "FAILED" | "CANCELLED";

export interface BuildStatusInput {
  /** One key per pipeline (GitHub: the status context), so a re-run replaces its status instead of adding one. */
  key: string;
  state: BuildState;
  url: string;
  name?: string;
  description?: string;
  buildNumber?: string;
  /** Full ref the commit was built for (`refs/heads/main`), where the host keeps it. */
  ref?: string;
  /** Milliseconds. */
  duration?: number;
}

export interface BuildStatusRecord {
  key: string;
  /** UNKNOWN: a state Baton never posts (DC's own UNKNOWN); it still counts as "a status is there". */
  state: BuildState | "UNKNOWN";
  url?: string;
  description?: string;
  /** Epoch milliseconds of the host's last update, when it says. */
  updatedAt?: number;
}

// ─── Trust ─────────────────────────────────────────────────────────────────────────────────────────────────

/**
 * "May this user run CI here?" as the host can answer it. `cannot-ask` is an answer, not an error: a Cloud access
 * token cannot read another user's permission, so trust falls back to spec.policy and `/ok-to-test` there
 * (events/trust.ts treats it as "no" and says why). `refused` carries the host's message when it would not run
 * the lookup at all (a "no" too, but one to report).
 */
export type WriteAccessAnswer =
  | { kind: "answered"; granted: boolean; refused?: string }
  | { kind: "cannot-ask"; why: string };

// ─── Webhooks ──────────────────────────────────────────────────────────────────────────────────────────────

/**
 * Where a webhook lives. Hosts have different scopes: DC repository and project (8.9+); Cloud repository, and
 * workspace as an opt-in (owners only); GitHub repository hook, or the GitHub App's single hook (`app`).
 * `capabilities.hookScopes` says which a host has; the domain refuses the others with a clear condition.
 */
export type HookScope =
  | { kind: "repository"; repo: RepoRef }
  /** DC project, Cloud workspace, GitHub organisation. */
  | { kind: "owner"; owner: string }
  | { kind: "app" };

export type HookScopeKind = HookScope["kind"];

/** The whole desired webhook: an update replaces every field. */
export interface HookInput {
  name: string;
  url: string;
  /** The host's own event names (DC `pr:opened`, Cloud `pullrequest:created`, GitHub `pull_request`). */
  events: readonly string[];
  active: boolean;
  /** Signs deliveries. Hosts never return it, so `Hook.secretSet` and Baton's own record judge drift. */
  secret?: string;
}

export interface Hook {
  /** Host id as text (DC numbers, Cloud `{uuid}`, GitHub numbers). */
  id: string;
  name: string;
  url: string;
  events: readonly string[];
  active: boolean;
  /**
   * Whether a secret is set, as far as the host tells: DC returns the secret itself (compared by fingerprint),
   * Cloud returns only `secret_set`, GitHub a masked value. `undefined`: the host says nothing. The domain
   * repairs a hook whose secret is unset, and one whose secret Baton's record says changed since it wrote it.
   */
  secretSet?: boolean;
  /** DC only: the secret as returned, so drift can be judged exactly. Never logged. */
  secret?: string;
  /** How deliveries are encoded, where the host lets it be chosen (GitHub: `json` or `form`). */
  contentType?: string;
  /** Whether deliveries skip TLS verification, where the host lets it be turned off (GitHub's `insecure_ssl`). */
  insecureSsl?: boolean;
}

// ─── Tokens ────────────────────────────────────────────────────────────────────────────────────────────────

/**
 * What the host lets Baton do with access tokens. `issue`: create, list and revoke through the API (DC, with an
 * admin's password; GitHub App installation tokens, with the App key). `validate-only`: the token is made by a
 * person (Cloud access tokens, GitHub personal tokens); Baton checks it works, tracks its expiry and warns.
 */
export type TokenIssuing = "issue" | "validate-only";

/** Where a token's expiry is read from: the issuing API's answer, a response header, or the Secret's annotation. */
export type ExpirySource =
  | { kind: "issued" }
  /** GitHub: `github-authentication-token-expiration` on any authenticated response. */
  | { kind: "header"; header: string }
  /** Cloud: no API says; the user records it on the Secret (`baton.dev/expires-at`). */
  | { kind: "annotation" };

export interface TokenScope {
  owner: string;
  /** Absent: an owner-wide (DC project) token. */
  repository?: string;
}

export interface IssueTokenRequest {
  name: string;
  /** Neutral permission names from api/permissions.ts (`REPO_READ`, …). */
  permissions: readonly string[];
  /** Omit for no expiry where the host allows it. */
  expiryDays?: number;
}

export interface IssuedToken {
  id: string;
  name: string;
  token: string;
  /** Epoch milliseconds, as the host recorded them (absent: the caller's clock). */
  createdAt?: number;
  expiresAt?: number;
  /** The lifetime the host granted, when it says (DC `expiryDays`). */
  expiryDays?: number;
  /** The user the token acts as, when the host says. */
  user?: string;
}

export interface ListedToken {
  id: string;
  name: string;
  createdAt?: number;
  expiresAt?: number;
}

/**
 * Token operations; present only when `capabilities.tokens.issuing` is `issue`. Errors are the host's: a
 * BadRequestError's `messages` explain a refused expiry (tokens/issuer.ts learns the server's maximum from it).
 */
export interface TokenApi {
  issue(scope: TokenScope, request: IssueTokenRequest, call: CallOptions): Promise<IssuedToken>;
  list(scope: TokenScope, call: ListCallOptions): Promise<ListedToken[]>;
  /** False when the token was already gone. */
  revoke(scope: TokenScope, id: string, call: CallOptions): Promise<boolean>;
}

/**
 * "Does this token work, as whom, and until when?" — every host can answer the first (`user` absent for
 * project/repo tokens). `expiresAt` (epoch milliseconds) is the expiry the host itself states with the answer
 * (`capabilities.tokens.expiry` kind `header`: GitHub); absent where the host says nothing. `neverExpires`: the
 * host states expiry on such answers and said none, so the token has no expiry.
 */
export type TokenValidation =
  | { valid: true; user?: string | undefined; expiresAt?: number | undefined; neverExpires?: boolean | undefined }
  | { valid: false; reason: string };

// ─── Git ───────────────────────────────────────────────────────────────────────────────────────────────────

/**
 * How a run's git authenticates. DC takes the token as `Authorization: Bearer` (an http.extraHeader in the git
 * Secret's .gitconfig); Cloud and GitHub take Basic auth with a fixed user name (`x-token-auth`,
 * `x-access-token`) and the token as password (.git-credentials, what the catalog git-clone task consumes).
 */
export type GitAuth = { kind: "header" } | { kind: "basic"; username: string };

/**
 * Where a fork pull request's head is fetched from. `base-ref`: a ref in the target repository the host keeps at
 * the head (DC `refs/pull-requests/N/from`, GitHub `refs/pull/N/head`), readable with the target's token, checked
 * against the event's SHA before building. `fork`: the fork itself (Cloud), whose readability needs checking.
 */
export type ForkHead = { kind: "base-ref"; ref: string; refspec: string } | { kind: "fork"; cloneUrl: string };

// ─── Intake ────────────────────────────────────────────────────────────────────────────────────────────────

/** Request headers as Node gives them (lower-case names; a repeated header is an array). */
export type HeaderMap = Readonly<Record<string, string | readonly string[] | undefined>>;

/**
 * The repository a delivery names, read before its signature can be checked (the Repository holds the secret).
 * `project` is the DC project key, Cloud workspace or GitHub owner; `slug` the repository slug or name; `server`
 * the base URL when the payload says it (old DC payloads carry no links).
 */
export interface DeliveryTarget {
  server?: string;
  project: string;
  slug: string;
}

export type SignatureCheck = { ok: true } | { ok: false; reason: "missing" | "malformed" | "mismatch" };

export type IntakeClassification =
  | { ok: true; events: BatonEvent[]; ignored: { reason: string; detail: string }[] }
  | { ok: false; error: string };

/**
 * A host's webhook intake: everything between the HTTP request and the neutral event. Served by events/intake.ts
 * at `path`; the repository lookup, dedupe and dispatch stay neutral.
 */
export interface WebhookIntake {
  readonly kind: ProviderKind;
  /** HTTP path the intake serves for this host (`/hooks/bitbucket` for DC, kept as before the provider layer). */
  readonly path: string;
  /** Lower-case header naming the event (`x-event-key`, `x-github-event`). */
  readonly eventHeader: string;
  /** Lower-case header carrying the signature (DC/Cloud `x-hub-signature`, GitHub `x-hub-signature-256`). */
  readonly signatureHeader: string;
  /**
   * Lower-case headers identifying one delivery, most specific first (DC `x-request-id`; Cloud `x-request-uuid`
   * with `x-hook-uuid`, retried twice on 5xx with `x-attempt-number`; GitHub `x-github-delivery`). Dedupe keys on
   * the first present; a retried delivery repeats it.
   */
  readonly deliveryHeaders: readonly string[];
  /** The host's event names Baton subscribes to by default and understands. */
  readonly knownEvents: readonly string[];
  /** The host's "test connection" event, answered without a signature (DC `diagnostics:ping`). */
  readonly pingEvent?: string;
  /**
   * Checks `signature` (the signature header's value; an array when repeated, which is malformed) over the exact
   * bytes received, under each secret (several during rotation). Never throws. With no secrets it still tells a
   * malformed header from a well-formed one, which the intake answers before looking anything up.
   */
  verify(
    body: Uint8Array | string,
    signature: string | readonly string[] | undefined,
    secrets: readonly string[],
  ): SignatureCheck;
  /** The repository the body names; undefined when it names none. */
  target(body: unknown): DeliveryTarget | undefined;
  /** Parses and maps one delivery onto the neutral event model. Pure. */
  classify(
    eventKey: string,
    body: unknown,
    headers: HeaderMap,
    options: { receivedAt: Date; serverUrl?: string; maxAgeMs?: number },
  ): IntakeClassification;
}

// ─── Server description ────────────────────────────────────────────────────────────────────────────────────

/**
 * What a self-hosted server says it is, asked without credentials: the host itself (with the hook scopes of
 * `capabilities.hookScopes` its version lacks, and why), or something else answering at that URL (a proxy's page,
 * another product). Hosts whose API address is fixed (Cloud, github.com) have nothing to describe.
 */
export type ServerDescription =
  | { host: true; version?: string; lacking?: Partial<Record<HookScopeKind, string>> }
  | { host: false; reason: string };

// ─── The provider ──────────────────────────────────────────────────────────────────────────────────────────

/** Facts that change what the domain does, rather than how it asks. */
export interface ProviderCapabilities {
  hookScopes: readonly HookScopeKind[];
  tokens: { issuing: TokenIssuing; expiry: ExpirySource };
  /** Whether a token may ask another user's permission at all (false: `hasWriteAccess` answers `cannot-ask`). */
  permissionLookup: boolean;
  /**
   * How Baton tells its own hook among a scope's hooks. `name`: the host keeps the name Baton gives it (DC's name,
   * Cloud's description). `url`: it keeps none (every GitHub repository hook is named `web`), so Baton's hook is
   * the one its status records by id, or one delivering to Baton's intake URL.
   */
  hookIdentity: "name" | "url";
  /** Payload commit hashes may be abbreviated (Cloud: 12 hex) and must go through `resolveCommit`. */
  shortCommitHashes: boolean;
  git: GitAuth;
}

/**
 * One host (one server for DC and GitHub Enterprise, the SaaS API for Cloud and github.com). One instance per
 * base URL, shared by every reconciler, drawing on the host's request budget.
 */
export interface GitProvider {
  readonly kind: ProviderKind;
  /** API base URL without a trailing slash. */
  readonly baseUrl: string;
  readonly capabilities: ProviderCapabilities;
  /** Present only when `capabilities.tokens.issuing` is `issue`. */
  readonly tokens?: TokenApi;

  // Content at a commit.
  /**
   * One level of the folder `path` at commit `at` ("" for the default branch), each entry with its object id where the host gives it (so
   * unchanged files need not be read again). Undefined when `path` is a file; NotFound when it is absent.
   */
  listFolder(repo: RepoRef, path: string, at: string, call?: ListCallOptions): Promise<DirectoryEntry[] | undefined>;
  /** A file at commit `at` ("" for the default branch) as UTF-8 text; past `maxBytes` (default 1 MiB) ResponseTooLargeError, never a partial. */
  readFile(repo: RepoRef, path: string, at: string, call?: CallOptions & { maxBytes?: number }): Promise<string>;
  /** Changed files of a pull request, or of a push (`from` absent: the commit against its first parent). */
  changedFiles(repo: RepoRef, range: ChangeRange, call?: ListCallOptions): Promise<ChangedFilesResult>;
  /** The full hash of a commit named by a (possibly abbreviated) hash; identity on hosts whose payloads are full. */
  resolveCommit(repo: RepoRef, sha: string, call?: CallOptions): Promise<string>;
  /**
   * Hosts whose payloads leave facts out (`capabilities.shortCommitHashes`): the event with every abbreviated hash
   * resolved, before run keys, trust or statuses read it (a fork pull request's head is resolved in the fork, or
   * through the pull request when the token cannot read the fork). `ok: false`: it cannot be completed at all.
   */
  completeEvent?(
    event: BatonEvent,
    call?: CallOptions,
  ): Promise<{ ok: true; event: BatonEvent } | { ok: false; error: string }>;

  // Repositories and pull requests.
  /** Repository slugs of one owner the token can read (reachability check shared by a project's Repositories). */
  listRepositories(owner: string, call?: ListCallOptions): Promise<string[]>;
  /** Open pull requests, newest activity first; `fromRef` (`refs/heads/x`): only those whose source it is. */
  listOpenPullRequests(repo: RepoRef, call?: ListCallOptions & { fromRef?: string }): Promise<PullRequestSnapshot[]>;
  getPullRequest(repo: RepoRef, number: number, call?: CallOptions): Promise<PullRequestSnapshot>;
  /** The pull_request event a delivery would have produced for `pr` (catch-up); built by the intake's mapping. */
  pullRequestEvent(
    pr: PullRequestSnapshot,
    options: PullRequestEventOptions,
  ): { ok: true; event: PullRequestEvent } | { ok: false; error: string };
  commentOnPullRequest(repo: RepoRef, number: number, text: string, call?: CallOptions): Promise<void>;

  // Build status.
  /** The states this host accepts (DC lists CANCELLED only with the `cancelledStatus` capability). */
  buildStates(call?: CallOptions): Promise<readonly BuildState[]>;
  setBuildStatus(repo: RepoRef, commit: string, status: BuildStatusInput, call?: CallOptions): Promise<void>;
  /** undefined: no status with this key on the commit. */
  getBuildStatus(
    repo: RepoRef,
    commit: string,
    key: string,
    call?: CallOptions,
  ): Promise<BuildStatusRecord | undefined>;

  // Trust.
  /** May `user` (login or slug as the payload gives it) push to `repo`, i.e. run CI there on their own say-so? */
  hasWriteAccess(repo: RepoRef, user: string, call?: CallOptions): Promise<WriteAccessAnswer>;

  /**
   * Self-hosted hosts: what answers at `baseUrl` (see ServerDescription). Throws when the server cannot be asked
   * (unreachable, 5xx), which proves nothing either way. Absent: the host's address is fixed.
   */
  describeServer?(call?: CallOptions): Promise<ServerDescription>;

  // Webhooks.
  listHooks(scope: HookScope, call?: ListCallOptions): Promise<Hook[]>;
  createHook(scope: HookScope, input: HookInput, call?: CallOptions): Promise<Hook>;
  updateHook(scope: HookScope, id: string, input: HookInput, call?: CallOptions): Promise<Hook>;
  /** False when the hook was already gone. */
  deleteHook(scope: HookScope, id: string, call?: CallOptions): Promise<boolean>;

  // Tokens and identity.
  /** Checks a token works (one cheap authenticated call), and whose it is when the host says. */
  validateToken(token: string, call?: CallOptions & { scope?: TokenScope }): Promise<TokenValidation>;

  // Git.
  /** Git clone URL of `repo` on this host (the run's `repo_url` for fetching). */
  cloneUrl(serverUrl: string, repo: RepoRef): string;
  /** Where a fork pull request's head is fetched from (see ForkHead). */
  forkHead(repo: RepoRef, number: number, forkCloneUrl: string): ForkHead;

  /** The host's webhook intake (signature scheme, headers, payload mapping). */
  readonly intake: WebhookIntake;

  close(): Promise<void>;
}

/** Picks the GitProvider for one server; throws `UnsupportedProviderError` for a kind nobody registered. */
export type ProviderLookup = (server: string, kind?: ProviderKind) => GitProvider;
