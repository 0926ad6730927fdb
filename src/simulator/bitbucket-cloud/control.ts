import { MachineryControl } from "../control-kit.ts";
import { FaultInjector } from "../faults.ts";
import type { CloudCore, CreatedCloudToken, HookInput } from "./core.ts";
import { notFound } from "./errors.ts";
import type { RefChange } from "./events.ts";
import type { CloudResolvedOptions, CloudSwitches } from "./options.ts";
import type { Json } from "./payloads.ts";
import type { Scope, TokenKind } from "./scopes.ts";
import type { Account, Repository } from "./state.ts";
import { createToken, revokeToken, rotateToken } from "./tokens.ts";

export interface CloudRepoRef {
  workspace: string;
  repo: string;
}

export interface CloudPullRequestRef extends CloudRepoRef {
  id: number;
}

export interface CloudAccountView {
  uuid: string;
  accountId: string;
  nickname: string;
  displayName: string;
  email: string;
}

export interface CloudTokenView {
  id: string;
  kind: TokenKind;
  name: string;
  scopes: Scope[];
  createdAt: number;
  expiresAt: number | null;
  revoked: boolean;
  /** The token's own identity (comments, statuses and pushes are attributed to it). */
  account: CloudAccountView;
}

export interface CloudStatusView {
  workspace: string;
  repo: string;
  commit: string;
  key: string;
  state: string;
  name: string;
  description: string;
  url: string;
  refname: string | null;
  creator: string;
}

const accountView = (a: Account): CloudAccountView => ({
  uuid: a.uuid,
  accountId: a.accountId,
  nickname: a.nickname,
  displayName: a.displayName,
  email: a.email,
});

/**
 * Drives the Cloud simulator from tests, demos and the `/_sim/` HTTP API: what a person does in the Bitbucket UI
 * (make a token, open or merge a PR) and what a test needs to see (deliveries, statuses, requests, the clock).
 * Actors (`as`, `author`) are user nicknames.
 */
export class CloudSimulatorControl extends MachineryControl {
  protected readonly core: CloudCore;

  constructor(core: CloudCore, faults: FaultInjector = new FaultInjector()) {
    super(core, faults);
    this.core = core;
  }

  get switches(): Readonly<CloudSwitches> {
    return this.core.switches;
  }

  configure(switches: Partial<CloudSwitches>): void {
    this.core.configure(switches);
  }

  configureRateLimit(settings: Partial<CloudResolvedOptions["rateLimit"]>): void {
    Object.assign(this.core.options.rateLimit, settings);
    this.core.limiter.clear();
  }

  private repo(ref: CloudRepoRef): Repository {
    return this.core.repository(ref.workspace, ref.repo);
  }

  private actor(name: string | undefined): Account | undefined {
    return name === undefined ? undefined : this.core.user(name);
  }

  // ---- people and places

  createUser(input: { nickname: string; displayName?: string; email?: string; password?: string }): CloudAccountView {
    return accountView(this.core.createUser(input));
  }

  createWorkspace(input: {
    slug: string;
    name?: string;
    owner?: string;
    personal?: boolean;
    members?: string[];
  }): Json {
    return this.core.present.workspaceRef(this.core.createWorkspace(input));
  }

  addMember(input: { workspace: string; user: string; owner?: boolean }): void {
    const ws = this.core.workspace(input.workspace);
    const user = this.core.user(input.user);
    ws.members.add(user.uuid);
    if (input.owner) ws.owners.add(user.uuid);
  }

  createProject(input: { workspace: string; key: string; name?: string }): Json {
    return this.core.present.project(this.core.createProject(input));
  }

  async createRepository(input: {
    workspace: string;
    slug: string;
    name?: string;
    project?: string;
    isPrivate?: boolean;
    mainBranch?: string;
  }): Promise<Json> {
    return this.core.present.repositoryRest(await this.core.createRepository(input));
  }

  /** A fork in (possibly) another workspace: an independent copy of every ref (§7). */
  async fork(input: {
    from: CloudRepoRef;
    workspace: string;
    slug: string;
    project?: string;
    isPrivate?: boolean;
  }): Promise<Json> {
    const origin = this.repo(input.from);
    const repo = await this.core.createRepository({ ...input, forkOf: origin });
    return this.core.present.repositoryRest(repo);
  }

  repository(ref: CloudRepoRef): Json {
    return this.core.present.repositoryRest(this.repo(ref));
  }

  // ---- git

  push(
    input: CloudRepoRef & {
      branch: string;
      files: Record<string, string | null>;
      message?: string;
      as?: string;
      from?: string;
    },
  ): Promise<{ commit: string; changes: RefChange[] }> {
    return this.core.push({ ...input, repo: this.repo(input), as: this.actor(input.as) });
  }

  createTag(input: CloudRepoRef & { name: string; at: string; message?: string; as?: string }): Promise<RefChange[]> {
    return this.core.createTag(this.repo(input), { ...input, as: this.actor(input.as) });
  }

  deleteBranch(input: CloudRepoRef & { branch: string; as?: string }): Promise<RefChange[]> {
    return this.core.deleteRef(this.repo(input), `refs/heads/${input.branch}`, this.actor(input.as) ?? null);
  }

  /** Full 40-hex id of a revision (a branch, a tag or a short hash), or null. */
  resolve(input: CloudRepoRef & { rev: string }): Promise<string | null> {
    return this.core.git.resolveCommit(this.repo(input).gitPath, input.rev);
  }

  // ---- pull requests

  async openPullRequest(
    input: CloudRepoRef & {
      title: string;
      description?: string;
      sourceBranch: string;
      sourceRepo?: CloudRepoRef;
      destinationBranch?: string;
      author: string;
      reviewers?: string[];
      closeSourceBranch?: boolean;
    },
  ): Promise<Json> {
    const pr = await this.core.openPullRequest({
      ...input,
      repo: this.repo(input),
      sourceRepo: input.sourceRepo ? this.repo(input.sourceRepo) : undefined,
      author: this.core.user(input.author),
      reviewers: (input.reviewers ?? []).map((r) => this.core.user(r)),
    });
    return this.core.present.pullRequest(pr, { shortHashes: false });
  }

  pullRequest(ref: CloudPullRequestRef): Json {
    return this.core.present.pullRequest(this.core.pullRequest(this.repo(ref), ref.id), { shortHashes: false });
  }

  async updatePullRequest(
    input: CloudPullRequestRef & { title?: string; description?: string; destinationBranch?: string; as: string },
  ): Promise<Json> {
    const repo = this.repo(input);
    const pr = await this.core.updatePullRequest(
      repo,
      this.core.pullRequest(repo, input.id),
      input,
      this.core.user(input.as),
    );
    return this.core.present.pullRequest(pr, { shortHashes: false });
  }

  async declinePullRequest(input: CloudPullRequestRef & { as: string }): Promise<Json> {
    const repo = this.repo(input);
    const pr = await this.core.declinePullRequest(
      repo,
      this.core.pullRequest(repo, input.id),
      this.core.user(input.as),
    );
    return this.core.present.pullRequest(pr, { shortHashes: false });
  }

  async mergePullRequest(
    input: CloudPullRequestRef & { as: string; closeSourceBranch?: boolean; message?: string },
  ): Promise<Json> {
    const repo = this.repo(input);
    const pr = await this.core.mergePullRequest(
      repo,
      this.core.pullRequest(repo, input.id),
      this.core.user(input.as),
      input,
    );
    return this.core.present.pullRequest(pr, { shortHashes: false });
  }

  async comment(input: CloudPullRequestRef & { text: string; as: string; parent?: number }): Promise<Json> {
    const repo = this.repo(input);
    const c = await this.core.comment(
      repo,
      this.core.pullRequest(repo, input.id),
      { raw: input.text, parent: input.parent },
      this.core.user(input.as),
    );
    return this.core.present.comment(c);
  }

  comments(ref: CloudPullRequestRef): Json[] {
    const repo = this.repo(ref);
    return this.core.state.comments
      .filter((c) => c.repo === repo.uuid && c.pullRequest === ref.id)
      .map((c) => this.core.present.comment(c));
  }

  // ---- tokens (the UI's access-token pages)

  createToken(input: {
    kind: TokenKind;
    workspace: string;
    project?: string;
    repo?: string;
    name?: string;
    scopes: Scope[];
    expiresInDays?: number | null;
  }): CreatedCloudToken {
    return createToken(this.core, input);
  }

  rotateToken(id: string, expiresInDays?: number | null): CreatedCloudToken {
    return rotateToken(this.core, id, expiresInDays);
  }

  revokeToken(id: string): boolean {
    return revokeToken(this.core, id);
  }

  tokens(): CloudTokenView[] {
    return [...this.core.state.tokens.values()].map((t) => ({
      id: t.id,
      kind: t.kind,
      name: t.name,
      scopes: [...t.scopes],
      createdAt: t.createdAt,
      expiresAt: t.expiresAt,
      revoked: t.revoked,
      account: accountView(t.account),
    }));
  }

  // ---- hooks and deliveries

  /** A hook made by an admin in the UI: on a repository when `repo` is given, else on the workspace. */
  createWebhook(input: { workspace: string; repo?: string } & HookInput): Json {
    const subject = input.repo
      ? this.repo({ workspace: input.workspace, repo: input.repo }).uuid
      : this.core.workspace(input.workspace).uuid;
    return this.core.present.hook(this.core.createHook(input.repo ? "repository" : "workspace", subject, input));
  }

  webhooks(filter: { workspace?: string; repo?: string } = {}): Json[] {
    return [...this.core.state.hooks.values()]
      .filter((h) => {
        if (filter.workspace === undefined) return true;
        const repo = h.subjectType === "repository" ? this.core.state.repositories.get(h.subject) : undefined;
        const ws = this.core.state.workspace(filter.workspace);
        if (filter.repo !== undefined)
          return repo !== undefined && repo.slug === filter.repo && repo.workspace === ws?.uuid;
        return (repo?.workspace ?? h.subject) === ws?.uuid;
      })
      .map((h) => this.core.present.hook(h));
  }

  // ---- statuses

  buildStatuses(filter: { workspace?: string; repo?: string; commit?: string; key?: string } = {}): CloudStatusView[] {
    return this.core.state.statuses
      .map((s) => {
        const repo = this.core.state.repositories.get(s.repo) as Repository;
        const ws = this.core.state.workspaces.get(repo.workspace);
        return {
          ...s,
          workspace: ws?.slug ?? "",
          repo: repo.slug,
          creator: this.core.state.accounts.get(s.creator)?.nickname ?? this.tokenName(s.creator),
        };
      })
      .filter(
        (s) =>
          (filter.workspace === undefined || s.workspace === filter.workspace) &&
          (filter.repo === undefined || s.repo === filter.repo) &&
          (filter.commit === undefined || s.commit === filter.commit) &&
          (filter.key === undefined || s.key === filter.key),
      )
      .map(({ workspace, repo, commit, key, state, name, description, url, refname, creator }) => ({
        workspace,
        repo,
        commit,
        key,
        state,
        name,
        description,
        url,
        refname,
        creator,
      }));
  }

  private tokenName(accountUuid: string): string {
    const token = [...this.core.state.tokens.values()].find((t) => t.account.uuid === accountUuid);
    if (!token) throw notFound(`No account ${accountUuid}`);
    return token.name;
  }
}
