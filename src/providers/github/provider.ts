// GitHub (github.com, or a GitHub Enterprise Server marked as one) behind the GitProvider interface. Each method is
// one call (or one paged listing) of the REST modules beside it. What GitHub alone has is stated in `capabilities`
// or here: git takes Basic `x-access-token:<token>`, a fork's head is `refs/pull/N/head` in the base repository,
// webhooks live on the repository or (App mode) once on the App, and tokens are either the App's installation
// tokens (minted by app-tokens.ts, outside TokenApi, which is about named tokens issued and revoked) or a
// fine-grained personal token the user made (validate-only, expiry from a response header).
import type { Dispatcher } from "undici";
import { z } from "zod";
import type { BatonEvent, PullRequestEvent } from "../../events/model.ts";
import type { Clock } from "../../runtime/clock.ts";
import { type Credential, resolveAuth } from "../http/auth.ts";
import { isNotFound } from "../http/errors.ts";
import type { RequestBudgetLike, ResponseEvent } from "../http/http.ts";
import { segment } from "../http/url.ts";
import type {
  BuildState,
  BuildStatusInput,
  BuildStatusRecord,
  CallOptions,
  ChangedFilesResult,
  ChangeRange,
  DirectoryEntry,
  ForkHead,
  GitProvider,
  Hook,
  HookInput,
  HookScope,
  IntakeClassification,
  ListCallOptions,
  ProviderCapabilities,
  PullRequestEventOptions,
  PullRequestSnapshot,
  RepoRef,
  TokenScope,
  TokenValidation,
  WebhookIntake,
  WriteAccessAnswer,
} from "../provider.ts";
import {
  classifyGitHubDelivery,
  commentEvent,
  draftCommentEvent,
  pendingComment,
  toPullRequest,
  toRepository,
  toUser,
} from "./classify.ts";
import { listFolder, pullRequestFiles, pushFiles, readFile } from "./content.ts";
import {
  createRepoHook,
  deleteRepoHook,
  getAppHookConfig,
  type HookConfig,
  listRepoHooks,
  repairAppHookConfig,
  updateRepoHook,
} from "./hooks.ts";
import {
  deliveryHeader,
  eventHeader,
  githubEvents,
  githubIntakePath,
  signatureHeader,
  verifyGitHubSignature,
} from "./intake.ts";
import { listAll } from "./paging.ts";
import { expirationHeader, validatePersonalToken } from "./pat.ts";
import { PullRequest, User } from "./payloads.ts";
import { commentOnPullRequest, getPullRequest, hasWriteAccess, listOpenPullRequests } from "./repos.ts";
import type { GitHubServer } from "./server.ts";
import { canUseCheckRuns, getCommitStatus, setCheckRun, setCommitStatus } from "./status.ts";
import { type GitHubTransport, githubTransport } from "./transport.ts";

/** Where a fork pull request's head is kept in the base repository (readable with the base repository's token). */
export function pullRequestHeadRef(number: number): string {
  if (!Number.isInteger(number) || number <= 0) throw new Error(`invalid pull request number ${number}`);
  return `refs/pull/${number}/head`;
}

/** The intake, in the provider layer's shape. */
export const githubWebhookIntake: WebhookIntake = {
  kind: "github",
  path: githubIntakePath,
  eventHeader,
  signatureHeader,
  deliveryHeaders: [deliveryHeader],
  knownEvents: [...githubEvents],
  // GitHub signs its ping like any delivery, so it needs no exemption.
  verify: (body, signature, secrets) => verifyGitHubSignature(body, { [signatureHeader]: signature }, secrets),
  target: (body) => {
    const parsed = z
      .object({ repository: z.object({ name: z.string(), owner: User, html_url: z.string(), full_name: z.string() }) })
      .safeParse(body);
    if (!parsed.success) return undefined;
    const repo = parsed.data.repository;
    const suffix = `/${repo.full_name}`;
    const server = repo.html_url.endsWith(suffix) ? repo.html_url.slice(0, -suffix.length) : undefined;
    return { ...(server ? { server } : {}), project: repo.owner.login, slug: repo.name };
  },
  classify: (eventKey, body, headers, options): IntakeClassification => {
    const result = classifyGitHubDelivery(eventKey, body, headers as Record<string, string>, options);
    if (!result.ok) return result;
    // A command comment needs its pull request read (classify.ts, `pending`): it goes on as a draft, which
    // `completeEvent` completes with the Repository's credentials.
    return { ok: true, events: [...result.events, ...result.pending.map(draftCommentEvent)], ignored: result.ignored };
  },
};

const capabilities: ProviderCapabilities = {
  hookScopes: ["repository", "app"],
  tokens: { issuing: "validate-only", expiry: { kind: "header", header: expirationHeader } },
  hookIdentity: "url",
  permissionLookup: true,
  shortCommitHashes: false,
  git: { kind: "basic", username: "x-access-token" },
};

const buildStates: readonly BuildState[] = ["INPROGRESS", "SUCCESSFUL", "FAILED", "CANCELLED"];

function snapshot(pr: PullRequest): PullRequestSnapshot {
  const updatedAt = Date.parse(pr.updated_at);
  return { number: pr.number, latestCommit: pr.head.sha, updatedAt: Number.isNaN(updatedAt) ? 0 : updatedAt, raw: pr };
}

/** Header telling pipelines (CEL `headers`) that catch-up synthesised the event. */
export const catchUpHeader = "x-baton-catch-up";

export interface GitHubProviderOptions {
  server: GitHubServer;
  clock: Clock;
  budget?: RequestBudgetLike;
  dispatcher?: Dispatcher;
  ca?: string | readonly string[];
  onResponse?: (event: ResponseEvent) => void;
  onUnauthorized?: (auth: Credential) => void;
  /**
   * What GitHub granted a token Baton minted (undefined for any other token): a build status also becomes a check
   * run where the installation has `checks: write`.
   */
  grantsOf?: (token: string) => Readonly<Record<string, string>> | undefined;
}

const appHookId = "app";

export class GitHubProvider implements GitProvider {
  readonly kind = "github" as const;
  readonly capabilities = capabilities;
  readonly intake = githubWebhookIntake;
  readonly server: GitHubServer;
  readonly transport: GitHubTransport;
  readonly #grantsOf: ((token: string) => Readonly<Record<string, string>> | undefined) | undefined;

  constructor(options: GitHubProviderOptions) {
    this.server = options.server;
    this.#grantsOf = options.grantsOf;
    this.transport = githubTransport({
      apiBase: options.server.apiBase,
      clock: options.clock,
      ...(options.budget ? { budget: options.budget } : {}),
      ...(options.dispatcher ? { dispatcher: options.dispatcher } : {}),
      ...(options.ca ? { ca: options.ca } : {}),
      ...(options.onResponse ? { onResponse: options.onResponse } : {}),
      ...(options.onUnauthorized ? { onUnauthorized: options.onUnauthorized } : {}),
    });
  }

  get baseUrl(): string {
    return this.server.apiBase;
  }

  get #http() {
    return this.transport.http;
  }

  listFolder(
    repo: RepoRef,
    path: string,
    at: string,
    call: ListCallOptions = {},
  ): Promise<DirectoryEntry[] | undefined> {
    return listFolder(this.#http, repo, path, at, call);
  }

  async readFile(
    repo: RepoRef,
    path: string,
    at: string,
    call: CallOptions & { maxBytes?: number } = {},
  ): Promise<string> {
    return Buffer.from(await readFile(this.#http, repo, path, at, call)).toString("utf8");
  }

  changedFiles(repo: RepoRef, range: ChangeRange, call: ListCallOptions = {}): Promise<ChangedFilesResult> {
    return "pullRequest" in range
      ? pullRequestFiles(this.#http, repo, range.pullRequest, call)
      : pushFiles(this.#http, repo, range, call);
  }

  /** GitHub payloads and REST answers carry full hashes. */
  async resolveCommit(_repo: RepoRef, sha: string): Promise<string> {
    return sha;
  }

  /**
   * A comment command arrives without its pull request's head (classify.ts): it is read now (`GET /pulls/N`, one
   * call), so `/retest` builds the head as it is when the comment is handled. Every other event is complete.
   */
  async completeEvent(
    event: BatonEvent,
    call?: CallOptions,
  ): Promise<{ ok: true; event: BatonEvent } | { ok: false; error: string }> {
    const pending = pendingComment(event);
    if (pending === undefined) return { ok: true, event };
    const repo = { owner: pending.repository.project, name: pending.repository.slug };
    let pr: PullRequest;
    try {
      pr = await getPullRequest(this.#http, repo, pending.pullNumber, call);
    } catch (err) {
      if (!isNotFound(err)) throw err;
      return { ok: false, error: `pull request #${pending.pullNumber} of ${pending.fullName} is gone` };
    }
    if (pr.state !== "open") {
      return {
        ok: false,
        error: `pull request #${pr.number} is closed; ${pending.comment.command.kind} starts nothing`,
      };
    }
    return { ok: true, event: commentEvent(pending, pr) };
  }

  /** The repositories of `owner` the token can read: an organisation's, else a user's. */
  async listRepositories(owner: string, call: ListCallOptions = {}): Promise<string[]> {
    const Repo = z.object({ name: z.string() });
    const spec = (kind: string) => ({
      group: "repos" as const,
      path: `/${kind}/${segment(owner)}/repos`,
      maxItems: call.maxItems ?? 1000,
    });
    try {
      return (await listAll(this.#http, spec("orgs"), Repo, call)).map((r) => r.name);
    } catch (err) {
      if (!isNotFound(err)) throw err;
      return (await listAll(this.#http, spec("users"), Repo, call)).map((r) => r.name);
    }
  }

  async listOpenPullRequests(
    repo: RepoRef,
    call: ListCallOptions & { fromRef?: string } = {},
  ): Promise<PullRequestSnapshot[]> {
    const { fromRef, ...rest } = call;
    const open = await listOpenPullRequests(this.#http, repo, rest);
    const branch = fromRef?.replace(/^refs\/heads\//, "");
    // Only pull requests from the repository itself: a fork's branch of the same name is another ref.
    return open
      .filter((pr) => branch === undefined || (pr.head.ref === branch && pr.head.repo?.id === pr.base.repo.id))
      .map(snapshot);
  }

  async getPullRequest(repo: RepoRef, number: number, call?: CallOptions): Promise<PullRequestSnapshot> {
    return snapshot(await getPullRequest(this.#http, repo, number, call));
  }

  pullRequestEvent(
    pr: PullRequestSnapshot,
    options: PullRequestEventOptions,
  ): { ok: true; event: PullRequestEvent } | { ok: false; error: string } {
    const parsed = PullRequest.safeParse(pr.raw);
    if (!parsed.success) return { ok: false, error: `pull request #${pr.number} is not one GitHub sent` };
    const raw = parsed.data;
    if (raw.state !== "open")
      return { ok: false, error: `pull request #${raw.number} is closed; only open ones are caught up` };
    const withHead = options.head === undefined ? raw : { ...raw, head: { ...raw.head, sha: options.head } };
    const actor = User.safeParse(options.actor);
    const header = options.header ?? catchUpHeader;
    const pullRequest = toPullRequest(withHead);
    return {
      ok: true,
      event: {
        provider: "github",
        type: "pull_request",
        action: "updated",
        eventKey: "pull_request.synchronize",
        deliveredAt: options.receivedAt.toISOString(),
        headers: { [eventHeader]: "pull_request", [header]: "true" },
        body: { action: "synchronize", number: raw.number, pull_request: withHead, repository: raw.base.repo },
        repository: toRepository(raw.base.repo),
        sender: toUser(actor.success ? actor.data : raw.user),
        sha: pullRequest.latestCommit,
        pullRequest,
      },
    };
  }

  commentOnPullRequest(repo: RepoRef, number: number, text: string, call?: CallOptions): Promise<void> {
    return commentOnPullRequest(this.#http, repo, number, text, call);
  }

  async buildStates(): Promise<readonly BuildState[]> {
    return buildStates;
  }

  /**
   * A commit status per pipeline (the key is its context), and, where the token's installation has `checks: write`,
   * the pipeline's check run too (the PipelineRun's page as its details, its name as external id).
   */
  async setBuildStatus(repo: RepoRef, commit: string, status: BuildStatusInput, call?: CallOptions): Promise<void> {
    await setCommitStatus(
      this.#http,
      repo,
      commit,
      {
        context: status.key,
        state: status.state,
        url: status.url,
        ...(status.description === undefined ? {} : { description: status.description }),
      },
      call,
    );
    const auth = await resolveAuth(call?.auth);
    const token = auth?.kind === "bearer" ? auth.token : undefined;
    if (token === undefined || !canUseCheckRuns(this.#grantsOf?.(token))) return;
    const name = status.name ?? status.key;
    await setCheckRun(
      this.#http,
      repo,
      commit,
      {
        name,
        state: status.state,
        detailsUrl: status.url,
        externalId: status.buildNumber ?? status.key,
        title: status.description ?? name,
        summary: checkRunSummary(name, status),
      },
      call,
    );
  }

  async getBuildStatus(
    repo: RepoRef,
    commit: string,
    key: string,
    call?: CallOptions,
  ): Promise<BuildStatusRecord | undefined> {
    const found = await getCommitStatus(this.#http, repo, commit, key, call);
    if (found === undefined) return undefined;
    return {
      key: found.context,
      state: found.state,
      ...(found.url === undefined ? {} : { url: found.url }),
      ...(found.description === undefined ? {} : { description: found.description }),
      ...(found.updatedAt === undefined ? {} : { updatedAt: found.updatedAt }),
    };
  }

  async hasWriteAccess(repo: RepoRef, user: string, call?: CallOptions): Promise<WriteAccessAnswer> {
    return { kind: "answered", granted: await hasWriteAccess(this.#http, repo, user, call) };
  }

  async listHooks(scope: HookScope, call: ListCallOptions = {}): Promise<Hook[]> {
    if (scope.kind === "app") {
      let config: HookConfig;
      try {
        config = await getAppHookConfig(this.#http, call);
      } catch (err) {
        // An App without a webhook has no config to read.
        if (isNotFound(err)) return [];
        throw err;
      }
      if (!config.url) return [];
      return [
        {
          id: appHookId,
          name: "app",
          url: config.url,
          events: [],
          active: true,
          secretSet: config.secret !== undefined && config.secret !== "",
          ...(config.content_type === undefined ? {} : { contentType: config.content_type }),
          insecureSsl: String(config.insecure_ssl ?? "0") !== "0",
        },
      ];
    }
    const repo = repoOf(scope);
    return (await listRepoHooks(this.#http, repo, call)).map((h) => ({ ...h, name: "web" }));
  }

  async createHook(scope: HookScope, input: HookInput, call?: CallOptions): Promise<Hook> {
    if (scope.kind === "app") return this.updateHook(scope, appHookId, input, call);
    const hook = await createRepoHook(this.#http, repoOf(scope), hookInput(input), call);
    return { ...hook, name: input.name };
  }

  async updateHook(scope: HookScope, id: string, input: HookInput, call?: CallOptions): Promise<Hook> {
    if (scope.kind === "app") {
      // The App's one hook: its config is rewritten; its events are the App's subscription, set in its settings.
      const config = await repairAppHookConfig(this.#http, hookInput(input), call ?? {});
      return {
        id: appHookId,
        name: "app",
        url: config.url ?? input.url,
        events: input.events,
        active: true,
        secretSet: true,
      };
    }
    const hook = await updateRepoHook(this.#http, repoOf(scope), id, hookInput(input), call);
    return { ...hook, name: input.name };
  }

  deleteHook(scope: HookScope, id: string, call?: CallOptions): Promise<boolean> {
    // The App's hook belongs to the App; uninstalling the App is how deliveries stop.
    if (scope.kind === "app") return Promise.resolve(false);
    return deleteRepoHook(this.#http, repoOf(scope), id, call);
  }

  /**
   * A personal token: fine-grained only, one call (pat.ts): the scope's repository when it names one, which proves
   * the token reaches it, else `GET /rate_limit`. GitHub states the expiry on the answer. A 401 means revoked,
   * expired or mistyped; other failures are thrown for a retry.
   */
  validateToken(token: string, call: CallOptions & { scope?: TokenScope } = {}): Promise<TokenValidation> {
    const { scope, ...rest } = call;
    const repo = scope?.repository === undefined ? undefined : { owner: scope.owner, name: scope.repository };
    return validatePersonalToken(this.#http, token, repo, rest);
  }

  cloneUrl(serverUrl: string, repo: RepoRef): string {
    return `${serverUrl.replace(/\/+$/, "")}/${encodeURIComponent(repo.owner)}/${encodeURIComponent(repo.name)}.git`;
  }

  forkHead(_repo: RepoRef, number: number, _forkCloneUrl: string): ForkHead {
    const ref = pullRequestHeadRef(number);
    return { kind: "base-ref", ref, refspec: `+${ref}:refs/remotes/origin/pull/${number}/head` };
  }

  close(): Promise<void> {
    return this.#http.close();
  }
}

/** Markdown shown on the check run's page. */
function checkRunSummary(name: string, status: BuildStatusInput): string {
  const lines = [`**${name}**: ${status.description ?? status.state.toLowerCase()}`];
  if (status.buildNumber !== undefined) lines.push(`PipelineRun [${status.buildNumber}](${status.url})`);
  if (status.duration !== undefined) lines.push(`Took ${Math.round(status.duration / 1000)} s.`);
  return lines.join("\n\n");
}

function repoOf(scope: HookScope): RepoRef {
  if (scope.kind !== "repository") {
    throw new TypeError("GitHub hooks are kept on a repository or on the App; organisation hooks are not supported");
  }
  return scope.repo;
}

function hookInput(input: HookInput): { url: string; events: readonly string[]; active: boolean; secret: string } {
  if (input.secret === undefined || input.secret === "") {
    throw new TypeError("a GitHub webhook needs a secret: Baton refuses deliveries it cannot verify");
  }
  return { url: input.url, events: input.events, active: input.active, secret: input.secret };
}
