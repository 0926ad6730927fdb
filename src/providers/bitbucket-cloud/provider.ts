// Bitbucket Cloud behind the GitProvider interface. What Cloud lacks or does differently is stated in
// `capabilities` (no token API, no permission lookup for access tokens, 12-hex payload hashes, Basic git auth)
// or here: a fork's head is fetched from the fork itself, CANCELLED is shown as STOPPED, a folder listing has no
// git object ids, and workspace hooks stand in for Data Center's project hooks.

import { type BatonEvent, isPullRequestScoped, type PullRequestEvent } from "../../events/model.ts";
import { verifySignature } from "../../events/signature.ts";
import type { HeaderInput } from "../delivery.ts";
import {
  InvalidCredentialsError,
  ProviderError,
  SchemaError,
  TooManyResultsError,
  UnauthorizedError,
} from "../http/errors.ts";
import type {
  BuildState,
  BuildStatusInput,
  BuildStatusRecord,
  CallOptions,
  ChangedFilesResult,
  ChangeRange,
  DeliveryTarget,
  DirectoryEntry,
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
import { classifyDelivery, cloudRepository, isFullHash, type LastSeen } from "./classify.ts";
import { BitbucketCloudClient } from "./client.ts";
import { gitUsername } from "./git.ts";
import type { CloudRepository } from "./paths.ts";
import { OtherPayload, subscribedEvents } from "./payloads.ts";
import { CommitCache, type ResolvedEvent, resolveEvent } from "./resolve.ts";
import type { CloudTransportOptions } from "./rest.ts";
import { pullRequestEventFromRest } from "./rest-event.ts";
import type { BuildState as CloudState, PullRequest, Webhook } from "./schemas.ts";
import type { HookScope as CloudHookScope } from "./webhooks.ts";

/** The repository a Cloud delivery names: every event Baton acts on has a top-level `repository`. */
export function deliveryTarget(body: unknown): DeliveryTarget | undefined {
  const parsed = OtherPayload.safeParse(body);
  const repo = parsed.success ? parsed.data.repository : undefined;
  if (repo === undefined) return undefined;
  const { workspace, slug } = cloudRepository(repo);
  let server: string | undefined;
  try {
    // `links.html` is `<server>/<workspace>/<slug>`: the web origin the Repository's spec.url names.
    if (repo.links?.html?.href) server = new URL(repo.links.html.href).origin;
  } catch {
    server = undefined;
  }
  return { ...(server === undefined ? {} : { server }), project: workspace.toLowerCase(), slug: slug.toLowerCase() };
}

/**
 * Cloud's intake. `pullrequest:updated` says nothing of what changed, so the intake remembers the head and target it
 * last classified per pull request (bounded, per replica): a retarget is told from a new head, and an edit that
 * moves neither is ignored. A replica that has not seen the pull request treats the update as a new head, which
 * run keys then deduplicate against the runs already there.
 */
export function createCloudIntake(memory = 5_000): WebhookIntake {
  const seen = new Map<string, LastSeen>();
  const key = (repo: CloudRepository, number: number) => `${repo.workspace}/${repo.slug}#${number}`.toLowerCase();
  return {
    kind: "bitbucket-cloud",
    path: "/hooks/bitbucket-cloud",
    eventHeader: "x-event-key",
    signatureHeader: "x-hub-signature",
    // Cloud retries a 5xx twice at once, with the same request uuid and body (delivery.ts).
    deliveryHeaders: ["x-request-uuid"],
    knownEvents: subscribedEvents,
    verify: (body, signature, secrets) => verifySignature(body, signature, secrets),
    target: deliveryTarget,
    classify: (eventKey, body, headers, options): IntakeClassification => {
      const result = classifyDelivery(eventKey, body, headers as HeaderInput, {
        ...options,
        lastSeen: (repo, number) => seen.get(key(repo, number)),
      });
      if (!result.ok) return result;
      for (const { event } of result.events) {
        if (!isPullRequestScoped(event)) continue;
        const id = key({ workspace: event.repository.project, slug: event.repository.slug }, event.pullRequest.number);
        seen.delete(id);
        if (event.type !== "pull_request_closed") {
          seen.set(id, { head: event.pullRequest.latestCommit, targetBranch: event.pullRequest.targetBranch });
        }
        while (seen.size > memory) seen.delete(seen.keys().next().value as string);
      }
      return { ok: true, events: result.events.map((d) => d.event), ignored: result.ignored };
    },
  };
}

const capabilities: ProviderCapabilities = {
  // `owner` is a workspace hook: owners only, so used only when a Repository opts in.
  hookScopes: ["repository", "owner"],
  tokens: { issuing: "validate-only", expiry: { kind: "annotation" } },
  hookIdentity: "name",
  permissionLookup: false,
  shortCommitHashes: true,
  git: { kind: "basic", username: gitUsername },
};

const toCloudState: Record<BuildState, CloudState> = {
  INPROGRESS: "INPROGRESS",
  SUCCESSFUL: "SUCCESSFUL",
  FAILED: "FAILED",
  CANCELLED: "STOPPED",
};
const fromCloudState: Record<CloudState, BuildState> = {
  INPROGRESS: "INPROGRESS",
  SUCCESSFUL: "SUCCESSFUL",
  FAILED: "FAILED",
  STOPPED: "CANCELLED",
};

function cloudRepo(repo: RepoRef): CloudRepository {
  return { workspace: repo.owner, slug: repo.name };
}

function cloudScope(scope: HookScope): CloudHookScope {
  if (scope.kind === "repository") return { repository: cloudRepo(scope.repo) };
  if (scope.kind === "owner") return { workspace: scope.owner };
  throw new TypeError("Bitbucket Cloud has no app-level webhook; use a repository or workspace hook");
}

function hookOf(webhook: Webhook): Hook {
  return {
    id: webhook.uuid,
    name: webhook.description ?? "",
    url: webhook.url,
    events: webhook.events,
    active: webhook.active,
    ...(webhook.secret_set === undefined ? {} : { secretSet: webhook.secret_set }),
  };
}

/** A build status's ref as Cloud's `refname` wants it: the branch (or tag) name. */
function refname(ref: string | undefined): string | undefined {
  return ref?.replace(/^refs\/(heads|tags)\//, "");
}

export class CloudProvider implements GitProvider {
  readonly kind = "bitbucket-cloud" as const;
  readonly capabilities = capabilities;
  readonly intake: WebhookIntake;
  readonly client: BitbucketCloudClient;
  readonly #commits = new CommitCache();

  constructor(options: CloudTransportOptions | BitbucketCloudClient, intake: WebhookIntake = createCloudIntake()) {
    this.client = options instanceof BitbucketCloudClient ? options : new BitbucketCloudClient(options);
    this.intake = intake;
  }

  get baseUrl(): string {
    return this.client.baseUrl;
  }

  /** One call for a folder. A file answers with its bytes instead of a page, which `?format=meta` then confirms. */
  async listFolder(
    repo: RepoRef,
    path: string,
    at: string,
    call: ListCallOptions = {},
  ): Promise<DirectoryEntry[] | undefined> {
    const prefix = path.replace(/^\/+|\/+$/g, "");
    let entries: Awaited<ReturnType<typeof this.client.content.listFolder>>;
    try {
      entries = await this.client.content.listFolder(cloudRepo(repo), prefix, at, call);
    } catch (err) {
      if (!(err instanceof SchemaError) || prefix === "") throw err;
      const meta = await this.client.content.meta(cloudRepo(repo), prefix, at, call);
      if (meta.type === "commit_file") return undefined;
      throw err;
    }
    return entries.map((e) => ({
      path: prefix === "" ? e.path : e.path.slice(prefix.length + 1),
      type:
        e.type === "commit_directory" ? "DIRECTORY" : e.attributes?.includes("subrepository") ? "SUBMODULE" : "FILE",
      ...(e.size === undefined ? {} : { size: e.size }),
    }));
  }

  async readFile(
    repo: RepoRef,
    path: string,
    at: string,
    call: CallOptions & { maxBytes?: number } = {},
  ): Promise<string> {
    return (await this.client.content.readFile(cloudRepo(repo), path, at, call)).toString("utf8");
  }

  async changedFiles(repo: RepoRef, range: ChangeRange, call: ListCallOptions = {}): Promise<ChangedFilesResult> {
    try {
      const files =
        "pullRequest" in range
          ? await this.client.pullRequests.changedFiles(cloudRepo(repo), range.pullRequest, call)
          : await this.client.content.pushChanges(cloudRepo(repo), range.to, range.from, call);
      return { files, truncated: false };
    } catch (err) {
      if (err instanceof TooManyResultsError) {
        return { files: { all: [], added: [], deleted: [], modified: [], renamed: [] }, truncated: true };
      }
      throw err;
    }
  }

  async resolveCommit(repo: RepoRef, sha: string, call?: CallOptions): Promise<string> {
    if (isFullHash(sha)) return sha;
    const key = `${repo.owner}/${repo.name}@${sha}`;
    const known = this.#commits.get(key);
    if (known !== undefined) return known;
    const { hash } = await this.client.content.commit(cloudRepo(repo), sha, call);
    if (!isFullHash(hash) || !hash.startsWith(sha))
      throw new Error(`Bitbucket Cloud answered ${hash} for commit ${sha}`);
    this.#commits.set(key, hash);
    return hash;
  }

  /**
   * An event from the intake with its abbreviated hashes resolved, the head of a fork pull request in the fork,
   * and whether the fork can be read at all (`forkReadable`), for the domain to say so on the pull request.
   */
  completeEvent(event: BatonEvent, call?: CallOptions): Promise<ResolvedEvent> {
    return resolveEvent(event, this.client, this.#commits, call);
  }

  async listRepositories(owner: string, call: ListCallOptions = {}): Promise<string[]> {
    return this.client.access.listRepositories(owner, call);
  }

  async listOpenPullRequests(
    repo: RepoRef,
    call: ListCallOptions & { fromRef?: string } = {},
  ): Promise<PullRequestSnapshot[]> {
    const { fromRef, ...rest } = call;
    const branch = fromRef?.replace(/^refs\/heads\//, "");
    const open = await this.client.pullRequests.listOpen(cloudRepo(repo), {
      ...rest,
      ...(branch === undefined ? {} : { sourceBranch: branch }),
    });
    const matching = branch === undefined ? open : open.filter((pr) => pr.source.branch.name === branch);
    const snapshots = await Promise.all(matching.map((pr) => this.#snapshot(pr, rest)));
    return snapshots.sort((a, b) => b.updatedAt - a.updatedAt);
  }

  async getPullRequest(repo: RepoRef, number: number, call?: CallOptions): Promise<PullRequestSnapshot> {
    return this.#snapshot(await this.client.pullRequests.get(cloudRepo(repo), number, call), call);
  }

  /** REST pull requests name their head by 12 hex too: resolved here, in the source (fork) repository. */
  async #snapshot(pr: PullRequest, call?: CallOptions): Promise<PullRequestSnapshot> {
    const [owner, name] = pr.source.repository.full_name.split("/") as [string, string];
    let head: string;
    try {
      head = await this.resolveCommit({ owner, name }, pr.source.commit.hash, call);
    } catch (err) {
      if (!(err instanceof ProviderError) || ![401, 403, 404].includes(err.status ?? 0)) throw err;
      const [dOwner, dName] = pr.destination.repository.full_name.split("/") as [string, string];
      const latest = await this.client.pullRequests.latestCommit({ workspace: dOwner, slug: dName }, pr.id, call);
      if (!latest?.hash.startsWith(pr.source.commit.hash)) throw err;
      head = latest.hash;
    }
    return { number: pr.id, latestCommit: head, updatedAt: Date.parse(pr.updated_on ?? "") || 0, raw: pr };
  }

  pullRequestEvent(
    pr: PullRequestSnapshot,
    options: PullRequestEventOptions,
  ): { ok: true; event: PullRequestEvent } | { ok: false; error: string } {
    return pullRequestEventFromRest(pr.raw as PullRequest, { ...options, head: options.head ?? pr.latestCommit });
  }

  async commentOnPullRequest(repo: RepoRef, number: number, text: string, call?: CallOptions): Promise<void> {
    await this.client.pullRequests.comment(cloudRepo(repo), number, text, call);
  }

  async buildStates(): Promise<readonly BuildState[]> {
    return ["INPROGRESS", "SUCCESSFUL", "FAILED", "CANCELLED"];
  }

  async setBuildStatus(repo: RepoRef, commit: string, status: BuildStatusInput, call?: CallOptions): Promise<void> {
    const ref = refname(status.ref);
    await this.client.buildStatus.set(
      cloudRepo(repo),
      commit,
      {
        key: status.key,
        state: toCloudState[status.state],
        url: status.url,
        ...(status.name === undefined ? {} : { name: status.name }),
        ...(status.description === undefined ? {} : { description: status.description }),
        ...(ref === undefined ? {} : { refname: ref }),
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
    const status = await this.client.buildStatus.get(cloudRepo(repo), commit, key, call);
    if (status === undefined) return undefined;
    const updatedAt = Date.parse(status.updated_on ?? "");
    return {
      key: status.key,
      state: fromCloudState[status.state],
      ...(status.url ? { url: status.url } : {}),
      ...(status.description ? { description: status.description } : {}),
      ...(Number.isFinite(updatedAt) ? { updatedAt } : {}),
    };
  }

  /**
   * An access token cannot read anyone's repository permission (reference §6.5). What it may ask, with the
   * `account` scope of a workspace token, is workspace membership, which stands in for "may run CI here".
   */
  async hasWriteAccess(repo: RepoRef, user: string, call?: CallOptions): Promise<WriteAccessAnswer> {
    const answer = await this.client.access.isWorkspaceMember(repo.owner, user, call);
    if (answer.kind === "cannot-ask") return answer;
    return { kind: "answered", granted: answer.member };
  }

  async listHooks(scope: HookScope, call: ListCallOptions = {}): Promise<Hook[]> {
    return (await this.client.webhooks.list(cloudScope(scope), call)).map(hookOf);
  }

  async createHook(scope: HookScope, input: HookInput, call?: CallOptions): Promise<Hook> {
    const hook = await this.client.webhooks.create(cloudScope(scope), { ...input, description: input.name }, call);
    return hookOf(hook);
  }

  /** `input.secret` undefined keeps the stored secret (Cloud never shows it); a value replaces it. */
  async updateHook(scope: HookScope, id: string, input: HookInput, call?: CallOptions): Promise<Hook> {
    const hook = await this.client.webhooks.update(cloudScope(scope), id, { ...input, description: input.name }, call);
    return hookOf(hook);
  }

  deleteHook(scope: HookScope, id: string, call?: CallOptions): Promise<boolean> {
    return this.client.webhooks.delete(cloudScope(scope), id, call);
  }

  /**
   * One authenticated call with the token (see AccessApi.tokenInfo). `user` reports the credential type Cloud
   * names (`repo_access_token`, …), since an access token is its own user. A 401 means expired, revoked or wrong;
   * any other failure says nothing about the token and is thrown for the caller to retry.
   */
  async validateToken(token: string, call: CallOptions & { scope?: TokenScope } = {}): Promise<TokenValidation> {
    const { scope, ...rest } = call;
    const owner = scope?.owner;
    if (owner === undefined) throw new TypeError("validating a Bitbucket Cloud token needs the workspace it is for");
    try {
      const info = await this.client.access.tokenInfo(owner, { ...rest, auth: { kind: "bearer", token } });
      return { valid: true, user: info.credentialType };
    } catch (error) {
      if (error instanceof UnauthorizedError || error instanceof InvalidCredentialsError) {
        return { valid: false, reason: "Bitbucket Cloud answered 401: the token is expired, revoked or wrong" };
      }
      throw error;
    }
  }

  cloneUrl(serverUrl: string, repo: RepoRef): string {
    return `${serverUrl.replace(/\/+$/, "")}/${encodeURIComponent(repo.owner)}/${encodeURIComponent(repo.name)}.git`;
  }

  /** Cloud keeps no pull-request refs in the destination: a fork's head is fetched from the fork. */
  forkHead(_repo: RepoRef, _number: number, forkCloneUrl: string): { kind: "fork"; cloneUrl: string } {
    return { kind: "fork", cloneUrl: forkCloneUrl };
  }

  close(): Promise<void> {
    return this.client.close();
  }
}
