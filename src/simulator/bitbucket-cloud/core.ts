import { randomUUID } from "node:crypto";
import type { SimClock } from "../clock.ts";
import { Deliveries } from "../deliveries.ts";
import { type CommitInfo, Git, type Person, ZERO_SHA } from "../git.ts";
import { KeyedMutex } from "../mutex.ts";
import { WindowLimiter } from "../ratelimit.ts";
import { RequestLog } from "../request-log.ts";
import { badRequest, CloudError, notFound } from "./errors.ts";
import { CloudEvents, cloudDeliveryStyle, type RefChange } from "./events.ts";
import type { CloudResolvedOptions, CloudSwitches } from "./options.ts";
import { CloudPresenter } from "./payloads.ts";
import type { Scope, TokenKind } from "./scopes.ts";
import {
  type Account,
  braced,
  CloudState,
  type Comment,
  type CommitStatus,
  type Hook,
  type Project,
  type PullRequest,
  type Repository,
  type StatusState,
  type Workspace,
} from "./state.ts";

export interface CreatedCloudToken {
  id: string;
  kind: TokenKind;
  name: string;
  /** The secret, shown once. */
  token: string;
  scopes: Scope[];
  expiresAt: number | null;
}

export interface HookInput {
  url: string;
  description?: string;
  active?: boolean;
  events: string[];
  secret?: string | null;
}

/**
 * State plus the operations both the REST routes and the control API use, so a PR opened through either produces
 * the same events. Every repository change goes through git, then `events` turns ref changes into deliveries.
 */
export class CloudCore {
  readonly options: CloudResolvedOptions;
  readonly clock: SimClock;
  readonly state = new CloudState();
  readonly git: Git;
  readonly dataDir: string;
  readonly reposRoot: string;
  readonly deliveries: Deliveries;
  readonly requests = new RequestLog();
  readonly limiter: WindowLimiter;
  readonly present: CloudPresenter;
  readonly events: CloudEvents;
  readonly passwords = new Map<string, string>();
  readonly locks = new KeyedMutex();
  baseUrl: string;
  private switchValues: CloudSwitches;

  constructor(options: CloudResolvedOptions, clock: SimClock, dataDir: string, baseUrl: string) {
    this.options = options;
    this.clock = clock;
    this.dataDir = dataDir;
    this.reposRoot = `${dataDir}/repositories`;
    this.git = new Git(this.reposRoot, dataDir);
    this.baseUrl = baseUrl;
    this.switchValues = { ...options.switches };
    this.limiter = new WindowLimiter(() => clock.now(), 3_600_000);
    this.deliveries = new Deliveries({
      now: () => clock.now(),
      timeoutMs: options.deliveryTimeoutMs,
      style: cloudDeliveryStyle(() => this.switchValues),
    });
    this.present = new CloudPresenter(
      this.state,
      () => this.baseUrl,
      () => this.switchValues,
    );
    this.events = new CloudEvents(this);
  }

  get switches(): CloudSwitches {
    return this.switchValues;
  }

  configure(switches: Partial<CloudSwitches>): void {
    this.switchValues = { ...this.switchValues, ...switches };
  }

  lockRepo<T>(repo: Repository, work: () => Promise<T>): Promise<T> {
    return this.locks.run(repo.uuid, work);
  }

  // ---- accounts, workspaces, projects, repositories

  createUser(input: { nickname: string; displayName?: string; email?: string; password?: string }): Account {
    if (this.state.accountByNickname(input.nickname)) throw badRequest(`User ${input.nickname} already exists`);
    const account: Account = {
      uuid: braced(),
      accountId: `557058:${randomUUID()}`,
      displayName: input.displayName ?? input.nickname,
      nickname: input.nickname,
      email: input.email ?? `${input.nickname.replace(/[^A-Za-z0-9._-]/g, "")}@example.com`,
      type: "user",
    };
    this.state.accounts.set(account.uuid, account);
    if (input.password !== undefined) this.passwords.set(account.uuid, input.password);
    return account;
  }

  user(name: string): Account {
    const account = this.state.accountByNickname(name);
    if (!account) throw notFound(`No such user: ${name}`);
    return account;
  }

  createWorkspace(input: {
    slug: string;
    name?: string;
    owner?: string;
    personal?: boolean;
    members?: string[];
  }): Workspace {
    const slug = input.slug.toLowerCase();
    if (!/^[a-z0-9_-]+$/.test(slug)) throw badRequest(`Invalid workspace slug: ${input.slug}`);
    if (this.state.workspace(slug)) throw badRequest(`Workspace ${slug} already exists`);
    const owner = input.owner ? this.user(input.owner) : null;
    const ws: Workspace = {
      uuid: braced(),
      slug,
      name: input.name ?? slug,
      personalOwner: input.personal && owner ? owner.uuid : null,
      owners: new Set(owner ? [owner.uuid] : []),
      members: new Set(owner ? [owner.uuid] : []),
    };
    for (const m of input.members ?? []) ws.members.add(this.user(m).uuid);
    this.state.workspaces.set(ws.uuid, ws);
    return ws;
  }

  workspace(segment: string): Workspace {
    const ws = this.state.workspace(segment);
    if (!ws) throw notFound(`No workspace with identifier '${segment}'.`);
    return ws;
  }

  createProject(input: { workspace: string; key: string; name?: string }): Project {
    const ws = this.workspace(input.workspace);
    const key = input.key.toUpperCase();
    if (this.state.project(ws, key)) throw badRequest(`Project ${key} already exists in ${ws.slug}`);
    const project: Project = { uuid: braced(), key, name: input.name ?? key, workspace: ws.uuid };
    this.state.projects.set(project.uuid, project);
    return project;
  }

  async createRepository(input: {
    workspace: string;
    slug: string;
    name?: string;
    project?: string;
    isPrivate?: boolean;
    mainBranch?: string;
    forkOf?: Repository;
  }): Promise<Repository> {
    const ws = this.workspace(input.workspace);
    const slug = input.slug.toLowerCase();
    if (!/^[a-z0-9_.-]+$/.test(slug)) throw badRequest(`Invalid repository slug: ${input.slug}`);
    if (this.state.repository(ws.slug, slug)) throw badRequest(`Repository ${ws.slug}/${slug} already exists`);
    const projectKey = input.project ?? "PROJ";
    const project = this.state.project(ws, projectKey) ?? this.createProject({ workspace: ws.slug, key: projectKey });
    const repo: Repository = {
      uuid: braced(),
      workspace: ws.uuid,
      slug,
      name: input.name ?? input.slug,
      project: project.uuid,
      isPrivate: input.isPrivate ?? true,
      mainBranch: input.mainBranch ?? input.forkOf?.mainBranch ?? "main",
      gitPath: this.state.gitPathFor(),
      parent: input.forkOf?.uuid ?? null,
      createdOn: this.clock.now(),
    };
    if (input.forkOf) await this.git.cloneBare(input.forkOf.gitPath, repo.gitPath);
    else await this.git.init(repo.gitPath, repo.mainBranch);
    this.state.repositories.set(repo.uuid, repo);
    return repo;
  }

  repository(workspace: string, slug: string): Repository {
    const repo = this.state.repository(workspace, slug);
    if (!repo) throw notFound(`Repository ${workspace}/${slug} not found`);
    return repo;
  }

  // ---- content

  async commitInfo(repo: Repository, rev: string): Promise<CommitInfo | null> {
    const sha = await this.git.resolveCommit(repo.gitPath, rev);
    return sha ? this.git.commit(repo.gitPath, sha) : null;
  }

  /** Commits files on a branch (created from `from`, or the main branch, when missing), then the push events. */
  async push(input: {
    repo: Repository;
    branch: string;
    files: Record<string, string | null>;
    message?: string;
    as?: Account;
    author?: Person;
    from?: string;
  }): Promise<{ commit: string; changes: RefChange[] }> {
    const actor = input.as ?? null;
    const author =
      input.author ??
      (actor ? { name: actor.displayName, email: actor.email } : { name: "Simulator", email: "sim@example.com" });
    let changes: RefChange[] = [];
    let commit = "";
    await this.lockRepo(input.repo, async () => {
      const before = await this.git.refs(input.repo.gitPath);
      const ref = `refs/heads/${input.branch}`;
      const parent =
        before.get(ref) ??
        (input.from ? await this.git.resolveCommit(input.repo.gitPath, input.from) : null) ??
        before.get(`refs/heads/${input.repo.mainBranch}`) ??
        null;
      commit = await this.git.commitFiles(input.repo.gitPath, {
        ref,
        parent,
        files: input.files,
        message: input.message ?? `Change ${Object.keys(input.files).join(", ")}`,
        author,
        timestamp: this.clock.now(),
      });
      changes = diffRefs(before, await this.git.refs(input.repo.gitPath));
    });
    await this.events.refsChanged(input.repo, changes, actor);
    return { commit, changes };
  }

  async deleteRef(repo: Repository, ref: string, actor: Account | null): Promise<RefChange[]> {
    let changes: RefChange[] = [];
    await this.lockRepo(repo, async () => {
      const before = await this.git.refs(repo.gitPath);
      if (!before.has(ref)) throw notFound(`No ref ${ref}`);
      await this.git.deleteRef(repo.gitPath, ref);
      changes = diffRefs(before, await this.git.refs(repo.gitPath));
    });
    await this.events.refsChanged(repo, changes, actor);
    return changes;
  }

  async createTag(
    repo: Repository,
    input: { name: string; at: string; message?: string; as?: Account },
  ): Promise<RefChange[]> {
    let changes: RefChange[] = [];
    await this.lockRepo(repo, async () => {
      const sha = await this.git.resolveCommit(repo.gitPath, input.at);
      if (!sha) throw notFound(`No commit ${input.at}`);
      const before = await this.git.refs(repo.gitPath);
      const tagger = input.as
        ? { name: input.as.displayName, email: input.as.email }
        : { name: "Simulator", email: "sim@example.com" };
      const object = input.message
        ? await this.git.createAnnotatedTag(repo.gitPath, input.name, sha, input.message, tagger, this.clock.now())
        : sha;
      await this.git.updateRef(repo.gitPath, `refs/tags/${input.name}`, object);
      changes = diffRefs(before, await this.git.refs(repo.gitPath));
    });
    await this.events.refsChanged(repo, changes, input.as ?? null);
    return changes;
  }

  // ---- pull requests

  pullRequest(repo: Repository, id: number): PullRequest {
    const pr = this.state.pullRequestsOf(repo).find((p) => p.id === id);
    if (!pr) throw notFound(`Pull request ${id} not found`);
    return pr;
  }

  async openPullRequest(input: {
    repo: Repository;
    title: string;
    description?: string;
    sourceBranch: string;
    sourceRepo?: Repository;
    destinationBranch?: string;
    author: Account;
    reviewers?: Account[];
    closeSourceBranch?: boolean;
  }): Promise<PullRequest> {
    const source = input.sourceRepo ?? input.repo;
    const destinationBranch = input.destinationBranch ?? input.repo.mainBranch;
    const sourceSha = await this.git.resolveRef(source.gitPath, `refs/heads/${input.sourceBranch}`);
    if (!sourceSha) throw badRequest(`Source branch ${input.sourceBranch} not found`, { source: ["not found"] });
    const destSha = await this.git.resolveRef(input.repo.gitPath, `refs/heads/${destinationBranch}`);
    if (!destSha) throw badRequest(`Destination branch ${destinationBranch} not found`, { destination: ["not found"] });
    if (source.uuid === input.repo.uuid && input.sourceBranch === destinationBranch)
      throw badRequest("You can't merge a branch into itself");
    const list = this.state.pullRequestsOf(input.repo);
    if (
      list.some(
        (p) =>
          p.state === "OPEN" &&
          p.source.repo === source.uuid &&
          p.source.branch === input.sourceBranch &&
          p.destination.branch === destinationBranch,
      )
    )
      throw badRequest("There is already an open pull request from this branch");
    const now = this.clock.now();
    const pr: PullRequest = {
      id: list.length + 1,
      repo: input.repo.uuid,
      title: input.title,
      description: input.description ?? "",
      state: "OPEN",
      source: { repo: source.uuid, branch: input.sourceBranch, commit: sourceSha },
      destination: { branch: destinationBranch, commit: destSha },
      author: input.author.uuid,
      closedBy: null,
      mergeCommit: null,
      closeSourceBranch: input.closeSourceBranch ?? false,
      reason: "",
      reviewers: (input.reviewers ?? []).map((r) => r.uuid),
      participants: (input.reviewers ?? []).map((r) => ({
        user: r.uuid,
        role: "REVIEWER" as const,
        approved: false,
        state: null,
        participatedOn: null,
      })),
      createdOn: now,
      updatedOn: now,
    };
    list.push(pr);
    await this.events.pullRequest("pullrequest:created", input.repo, pr, input.author);
    return pr;
  }

  async updatePullRequest(
    repo: Repository,
    pr: PullRequest,
    input: { title?: string; description?: string; destinationBranch?: string },
    actor: Account,
  ): Promise<PullRequest> {
    if (pr.state !== "OPEN") throw badRequest(`Pull request ${pr.id} is ${pr.state.toLowerCase()}`);
    if (input.title !== undefined) pr.title = input.title;
    if (input.description !== undefined) pr.description = input.description;
    if (input.destinationBranch !== undefined && input.destinationBranch !== pr.destination.branch) {
      const sha = await this.git.resolveRef(repo.gitPath, `refs/heads/${input.destinationBranch}`);
      if (!sha) throw badRequest(`Destination branch ${input.destinationBranch} not found`);
      pr.destination = { branch: input.destinationBranch, commit: sha };
    }
    pr.updatedOn = this.clock.now();
    await this.events.pullRequest("pullrequest:updated", repo, pr, actor);
    return pr;
  }

  async declinePullRequest(repo: Repository, pr: PullRequest, actor: Account): Promise<PullRequest> {
    if (pr.state !== "OPEN") throw badRequest(`Pull request ${pr.id} is ${pr.state.toLowerCase()}`);
    pr.state = "DECLINED";
    pr.closedBy = actor.uuid;
    pr.updatedOn = this.clock.now();
    await this.events.pullRequest("pullrequest:rejected", repo, pr, actor);
    return pr;
  }

  /**
   * Merges with a merge commit on the destination: `repo:push` of the merge, then (close source branch) the
   * source-branch delete, then `pullrequest:fulfilled` (the order of the 2023 captures).
   */
  async mergePullRequest(
    repo: Repository,
    pr: PullRequest,
    actor: Account,
    options: { closeSourceBranch?: boolean; message?: string } = {},
  ): Promise<PullRequest> {
    if (pr.state !== "OPEN") throw badRequest(`Pull request ${pr.id} is ${pr.state.toLowerCase()}`);
    const source = this.state.repositories.get(pr.source.repo) as Repository;
    let changes: RefChange[] = [];
    await this.lockRepo(repo, async () => {
      if (source.uuid !== repo.uuid)
        await this.git.fetchCommit(repo.gitPath, source.gitPath, pr.source.commit, `refs/sim/pr/${pr.id}`);
      const ref = `refs/heads/${pr.destination.branch}`;
      const dest = await this.git.resolveRef(repo.gitPath, ref);
      if (!dest) throw badRequest(`Destination branch ${pr.destination.branch} is gone`);
      const tree = await this.git.mergeTree(repo.gitPath, dest, pr.source.commit);
      if (!tree) throw new CloudError(409, "Merge conflict: resolve it before merging");
      const before = await this.git.refs(repo.gitPath);
      const message = options.message ?? `Merged in ${pr.source.branch} (pull request #${pr.id})\n\n${pr.title}`;
      const merge = await this.git.commitTree(
        repo.gitPath,
        tree,
        [dest, pr.source.commit],
        message,
        { name: actor.displayName, email: actor.email },
        this.clock.now(),
      );
      await this.git.updateRef(repo.gitPath, ref, merge, dest);
      changes = diffRefs(before, await this.git.refs(repo.gitPath));
      pr.mergeCommit = merge;
    });
    pr.state = "MERGED";
    pr.closedBy = actor.uuid;
    pr.updatedOn = this.clock.now();
    if (options.closeSourceBranch !== undefined) pr.closeSourceBranch = options.closeSourceBranch;
    await this.events.refsChanged(repo, changes, actor);
    if (pr.closeSourceBranch) await this.deleteRef(source, `refs/heads/${pr.source.branch}`, actor).catch(() => []);
    await this.events.pullRequest("pullrequest:fulfilled", repo, pr, actor);
    return pr;
  }

  async comment(
    repo: Repository,
    pr: PullRequest,
    input: { raw: string; parent?: number; inline?: { path: string; to?: number } },
    actor: Account,
  ): Promise<Comment> {
    if (
      input.parent !== undefined &&
      !this.state.comments.some((c) => c.id === input.parent && c.repo === repo.uuid && c.pullRequest === pr.id)
    )
      throw badRequest(`No comment ${input.parent} on this pull request`);
    const now = this.clock.now();
    const comment: Comment = {
      id: this.state.commentId(),
      repo: repo.uuid,
      pullRequest: pr.id,
      raw: input.raw,
      user: actor.uuid,
      createdOn: now,
      updatedOn: now,
      deleted: false,
      parent: input.parent ?? null,
      inline: input.inline ? { path: input.inline.path, to: input.inline.to ?? null } : null,
    };
    this.state.comments.push(comment);
    const participant = pr.participants.find((p) => p.user === actor.uuid);
    if (participant) participant.participatedOn = now;
    else
      pr.participants.push({
        user: actor.uuid,
        role: "PARTICIPANT",
        approved: false,
        state: null,
        participatedOn: now,
      });
    await this.events.comment(repo, pr, comment, actor);
    return comment;
  }

  // ---- build statuses

  async setStatus(
    repo: Repository,
    input: {
      commit: string;
      key: string;
      state: StatusState;
      name?: string;
      description?: string;
      url?: string;
      refname?: string | null;
    },
    actor: Account,
    mayOverwrite: boolean,
  ): Promise<{ status: CommitStatus; created: boolean }> {
    const existing = this.state.statuses.find(
      (s) => s.repo === repo.uuid && s.commit === input.commit && s.key === input.key,
    );
    const now = this.clock.now();
    if (existing) {
      // Since 2021 only the creator may overwrite a status (repository admins are exempt; §5).
      if (existing.creator !== actor.uuid && !mayOverwrite)
        throw new CloudError(
          this.switches.foreignStatusOverwriteStatus,
          "Only the creator of a build status may update it.",
        );
      Object.assign(existing, {
        state: input.state,
        name: input.name ?? existing.name,
        description: input.description ?? existing.description,
        url: input.url ?? existing.url,
        refname: input.refname !== undefined ? input.refname : existing.refname,
        updatedOn: now,
      });
      await this.events.commitStatus("repo:commit_status_updated", repo, existing, actor);
      return { status: existing, created: false };
    }
    const status: CommitStatus = {
      repo: repo.uuid,
      commit: input.commit,
      key: input.key,
      state: input.state,
      name: input.name ?? input.key,
      description: input.description ?? "",
      url: input.url ?? "",
      refname: input.refname ?? null,
      creator: actor.uuid,
      createdOn: now,
      updatedOn: now,
    };
    this.state.statuses.push(status);
    await this.events.commitStatus("repo:commit_status_created", repo, status, actor);
    return { status, created: true };
  }

  // ---- hooks

  createHook(subjectType: Hook["subjectType"], subject: string, input: HookInput): Hook {
    const hook: Hook = {
      id: this.state.hookId(),
      uuid: braced(),
      subjectType,
      subject,
      url: input.url,
      description: input.description ?? "",
      active: input.active ?? true,
      events: [...new Set(input.events)],
      secret: input.secret ? input.secret : null,
      createdAt: this.clock.now(),
    };
    this.state.hooks.set(hook.uuid, hook);
    return hook;
  }
}

export function diffRefs(before: Map<string, string>, after: Map<string, string>): RefChange[] {
  const changes: RefChange[] = [];
  for (const [ref, sha] of after) {
    const old = before.get(ref);
    if (old === undefined) changes.push({ ref, from: ZERO_SHA, to: sha });
    else if (old !== sha) changes.push({ ref, from: old, to: sha });
  }
  for (const [ref, sha] of before) if (!after.has(ref)) changes.push({ ref, from: sha, to: ZERO_SHA });
  return changes;
}
