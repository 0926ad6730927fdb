// Bitbucket Data Center behind the GitProvider interface: every method is one call (or one paged listing) of the
// typed client, with DC's words translated to the neutral ones. Data Center is the host Baton was written for, so
// the translation is thin; what DC alone has (project webhooks since 8.9, CANCELLED only with the capability,
// access tokens issued with an admin's password, `refs/pull-requests/N/from`) is stated in `capabilities` or here.
import type { PullRequestEvent } from "../../events/model.ts";
import { verifySignature } from "../../events/signature.ts";
import { InvalidCredentialsError, isNotFound, TooManyResultsError, UnauthorizedError } from "../http/errors.ts";
import type {
  BuildState,
  BuildStatusInput,
  BuildStatusRecord,
  CallOptions,
  ChangedFilesResult,
  ChangeRange,
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
  ServerDescription,
  TokenApi,
  TokenScope,
  TokenValidation,
  WebhookIntake,
  WriteAccessAnswer,
} from "../provider.ts";
import { changedFilesOf } from "./changes.ts";
import { classifyDelivery, repositoryUrls } from "./classify.ts";
import { BitbucketClient, type BitbucketClientOptions } from "./client.ts";
import { payloadSchemas } from "./payloads.ts";
import { pullRequestEventFromRest } from "./rest-event.ts";
import { deliveryTarget } from "./route.ts";
import type { PullRequest, Webhook } from "./schemas.ts";
import { notBitbucket } from "./server.ts";
import { atLeast, FEATURE_SINCE, type Version } from "./version.ts";
import type { WebhookInput } from "./webhooks.ts";

/** Where DC's `refs/pull-requests/N/from` lives: the target repository, also for a fork's pull request. */
export function pullRequestFromRef(number: number): string {
  if (!Number.isInteger(number) || number <= 0) throw new Error(`invalid pull request number ${number}`);
  return `refs/pull-requests/${number}/from`;
}

/** A refspec fetching that ref into a local name, e.g. for git-clone's `refspec` parameter. */
export function pullRequestFetchRefspec(number: number): string {
  return `+${pullRequestFromRef(number)}:refs/remotes/origin/pull-requests/${number}/from`;
}

/** DC's intake, served at the path every DC webhook Baton ever created points at. */
export const dataCenterIntake: WebhookIntake = {
  kind: "bitbucket-datacenter",
  path: "/hooks/bitbucket",
  eventHeader: "x-event-key",
  signatureHeader: "x-hub-signature",
  // DC never retries a delivery; a redelivery from the settings page keeps its request id.
  deliveryHeaders: ["x-request-id"],
  knownEvents: Object.keys(payloadSchemas),
  pingEvent: "diagnostics:ping",
  verify: (body, signature, secrets) => verifySignature(body, signature, secrets),
  target: deliveryTarget,
  classify: (eventKey, body, headers, options): IntakeClassification => {
    const result = classifyDelivery(eventKey, body, headers, options);
    if (!result.ok) return result;
    return { ok: true, events: result.events, ignored: result.ignored };
  },
};

const capabilities: ProviderCapabilities = {
  hookScopes: ["repository", "owner"],
  tokens: { issuing: "issue", expiry: { kind: "issued" } },
  hookIdentity: "name",
  permissionLookup: true,
  shortCommitHashes: false,
  git: { kind: "header" },
};

function repositoryRef(repo: RepoRef): { project: string; repository: string } {
  return { project: repo.owner, repository: repo.name };
}

function scopeRef(scope: HookScope | TokenScope): { project: string; repository?: string } {
  if ("kind" in scope) {
    if (scope.kind === "repository") return repositoryRef(scope.repo);
    if (scope.kind === "owner") return { project: scope.owner };
    throw new TypeError("Bitbucket Data Center has no app-level webhook");
  }
  return scope.repository === undefined
    ? { project: scope.owner }
    : { project: scope.owner, repository: scope.repository };
}

function snapshot(pr: PullRequest): PullRequestSnapshot {
  return { number: pr.id, latestCommit: pr.fromRef.latestCommit, updatedAt: pr.updatedDate, raw: pr };
}

/** A DC webhook in neutral terms: DC returns the secret itself, so drift is judged exactly. */
export function hookOf(webhook: Webhook): Hook {
  const secret = webhook.configuration?.secret;
  return {
    id: String(webhook.id),
    name: webhook.name,
    url: webhook.url,
    events: webhook.events,
    active: webhook.active,
    secretSet: typeof secret === "string" && secret !== "",
    ...(typeof secret === "string" ? { secret } : {}),
  };
}

function webhookInput(input: HookInput): WebhookInput {
  return {
    name: input.name,
    url: input.url,
    events: input.events,
    active: input.active,
    configuration: input.secret === undefined ? {} : { secret: input.secret },
  };
}

export class DataCenterProvider implements GitProvider {
  readonly kind = "bitbucket-datacenter" as const;
  readonly capabilities = capabilities;
  readonly intake = dataCenterIntake;
  /** The typed client, for the DC-only calls the operator wiring makes (server version, capabilities). */
  readonly client: BitbucketClient;
  readonly tokens: TokenApi;

  constructor(options: BitbucketClientOptions | BitbucketClient) {
    this.client = options instanceof BitbucketClient ? options : new BitbucketClient(options);
    const client = this.client;
    this.tokens = {
      async issue(scope, request, call) {
        const created = await client.accessTokens.create(
          scopeRef(scope),
          {
            name: request.name,
            permissions: request.permissions as never,
            ...(request.expiryDays === undefined ? {} : { expiryDays: request.expiryDays }),
          },
          call,
        );
        const user = created.user?.slug ?? created.user?.name;
        return {
          id: created.id,
          name: created.name,
          token: created.token,
          createdAt: created.createdDate,
          ...(created.expiryDate === undefined ? {} : { expiresAt: created.expiryDate }),
          ...(created.expiryDays === undefined ? {} : { expiryDays: created.expiryDays }),
          ...(user === undefined ? {} : { user }),
        };
      },
      async list(scope, call) {
        const tokens = await client.accessTokens.list(scopeRef(scope), call);
        return tokens.map((t) => ({
          id: t.id,
          name: t.name,
          createdAt: t.createdDate,
          ...(t.expiryDate === undefined ? {} : { expiresAt: t.expiryDate }),
        }));
      },
      revoke: (scope, id, call) => client.accessTokens.delete(scopeRef(scope), id, call),
    };
  }

  get baseUrl(): string {
    return this.client.baseUrl;
  }

  async listFolder(
    repo: RepoRef,
    path: string,
    at: string,
    call: ListCallOptions = {},
  ): Promise<DirectoryEntry[] | undefined> {
    // "" asks for the default branch: Bitbucket's answer without `at`.
    const entries = await this.client.content.listDirectory(repositoryRef(repo), path, {
      ...call,
      ...(at === "" ? {} : { at }),
    });
    return entries?.map((e) => ({ ...e, type: e.type as DirectoryEntry["type"] }));
  }

  readFile(repo: RepoRef, path: string, at: string, call: CallOptions & { maxBytes?: number } = {}): Promise<string> {
    return this.client.content.rawText(repositoryRef(repo), path, { ...call, ...(at === "" ? {} : { at }) });
  }

  async changedFiles(repo: RepoRef, range: ChangeRange, call: ListCallOptions = {}): Promise<ChangedFilesResult> {
    const ref = repositoryRef(repo);
    if ("pullRequest" in range) {
      const page = await this.client.pullRequests.changes(ref, range.pullRequest, call);
      return { files: changedFilesOf(page.changes), truncated: page.truncated };
    }
    try {
      const changes = await this.client.content.listChanges(ref, { since: range.from, until: range.to }, call);
      return { files: changedFilesOf(changes), truncated: false };
    } catch (err) {
      if (err instanceof TooManyResultsError) return { files: changedFilesOf([]), truncated: true };
      throw err;
    }
  }

  /** DC payloads and REST answers carry full hashes. */
  async resolveCommit(_repo: RepoRef, sha: string): Promise<string> {
    return sha;
  }

  async listRepositories(owner: string, call: ListCallOptions = {}): Promise<string[]> {
    return (await this.client.repos.list({ project: owner }, call)).map((r) => r.slug);
  }

  async listOpenPullRequests(
    repo: RepoRef,
    call: ListCallOptions & { fromRef?: string } = {},
  ): Promise<PullRequestSnapshot[]> {
    const { fromRef, ...rest } = call;
    const open = await this.client.pullRequests.listOpen(repositoryRef(repo), {
      ...rest,
      ...(fromRef === undefined ? {} : { at: fromRef, direction: "OUTGOING" }),
    });
    return open.map(snapshot);
  }

  async getPullRequest(repo: RepoRef, number: number, call?: CallOptions): Promise<PullRequestSnapshot> {
    return snapshot(await this.client.pullRequests.get(repositoryRef(repo), number, call));
  }

  pullRequestEvent(
    pr: PullRequestSnapshot,
    options: PullRequestEventOptions,
  ): { ok: true; event: PullRequestEvent } | { ok: false; error: string } {
    return pullRequestEventFromRest(pr.raw as PullRequest, options);
  }

  async commentOnPullRequest(repo: RepoRef, number: number, text: string, call?: CallOptions): Promise<void> {
    await this.client.pullRequests.comment(repositoryRef(repo), number, text, call);
  }

  async buildStates(call?: CallOptions): Promise<readonly BuildState[]> {
    const capabilities = await this.client.buildStatus.capabilities(call);
    const cancelled = capabilities.buildStatus?.includes("cancelledStatus") ?? false;
    return cancelled ? ["INPROGRESS", "SUCCESSFUL", "FAILED", "CANCELLED"] : ["INPROGRESS", "SUCCESSFUL", "FAILED"];
  }

  setBuildStatus(repo: RepoRef, commit: string, status: BuildStatusInput, call?: CallOptions): Promise<void> {
    return this.client.buildStatus.set(repositoryRef(repo), commit, status, call);
  }

  async getBuildStatus(
    repo: RepoRef,
    commit: string,
    key: string,
    call?: CallOptions,
  ): Promise<BuildStatusRecord | undefined> {
    try {
      const status = await this.client.buildStatus.get(repositoryRef(repo), commit, key, call);
      return {
        key: status.key,
        state: status.state,
        url: status.url,
        ...(status.description ? { description: status.description } : {}),
      };
    } catch (err) {
      if (isNotFound(err)) return undefined;
      throw err;
    }
  }

  async hasWriteAccess(repo: RepoRef, user: string, call?: CallOptions): Promise<WriteAccessAnswer> {
    const answer = await this.client.users.hasPermission(
      { user, permission: "REPO_WRITE", project: repo.owner, repository: repo.name },
      call,
    );
    return { kind: "answered", ...answer };
  }

  /** `application-properties` (no credentials): Bitbucket with its version, or proof something else answers. */
  async describeServer(call?: CallOptions): Promise<ServerDescription> {
    let version: Version;
    try {
      version = await this.client.server.version(call);
    } catch (error) {
      const reason = notBitbucket(error);
      if (reason === undefined) throw error;
      return { host: false, reason };
    }
    return atLeast(version, FEATURE_SINCE.projectWebhooks)
      ? { host: true, version: version.raw }
      : {
          host: true,
          version: version.raw,
          lacking: {
            owner: `Bitbucket ${version.raw} has no project webhooks (they need ${FEATURE_SINCE.projectWebhooks} or later)`,
          },
        };
  }

  async listHooks(scope: HookScope, call: ListCallOptions = {}): Promise<Hook[]> {
    return (await this.client.webhooks.list(scopeRef(scope), call)).map(hookOf);
  }

  async createHook(scope: HookScope, input: HookInput, call?: CallOptions): Promise<Hook> {
    return hookOf(await this.client.webhooks.create(scopeRef(scope), webhookInput(input), call));
  }

  async updateHook(scope: HookScope, id: string, input: HookInput, call?: CallOptions): Promise<Hook> {
    return hookOf(await this.client.webhooks.replace(scopeRef(scope), Number(id), webhookInput(input), call));
  }

  deleteHook(scope: HookScope, id: string, call?: CallOptions): Promise<boolean> {
    return this.client.webhooks.delete(scopeRef(scope), Number(id), call);
  }

  /**
   * One authenticated call with the token itself: who Bitbucket says it is. A 401 means revoked, expired or never
   * valid; any other failure (an outage) says nothing about the token and is thrown for the caller to retry.
   */
  async validateToken(token: string, call: CallOptions = {}): Promise<TokenValidation> {
    try {
      const user = await this.client.server.whoAmI({ ...call, auth: { kind: "bearer", token } });
      if (user === undefined) return { valid: false, reason: "Bitbucket treated the token as anonymous" };
      return { valid: true, user };
    } catch (error) {
      if (error instanceof UnauthorizedError || error instanceof InvalidCredentialsError) {
        return { valid: false, reason: "Bitbucket answered 401: the token is revoked, expired or wrong" };
      }
      throw error;
    }
  }

  cloneUrl(serverUrl: string, repo: RepoRef): string {
    return repositoryUrls(serverUrl.replace(/\/+$/, ""), repo.owner, repo.name).cloneUrl;
  }

  forkHead(_repo: RepoRef, number: number, _forkCloneUrl: string): { kind: "base-ref"; ref: string; refspec: string } {
    return { kind: "base-ref", ref: pullRequestFromRef(number), refspec: pullRequestFetchRefspec(number) };
  }

  close(): Promise<void> {
    return this.client.close();
  }
}
