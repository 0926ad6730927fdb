import { randomBytes } from "node:crypto";
import { join } from "node:path";
import type { SimClock } from "../clock.ts";
import { Deliveries } from "../deliveries.ts";
import { type CommitInfo, Git, type Person, ZERO_SHA } from "../git.ts";
import { KeyedMutex } from "../mutex.ts";
import { RateLimiter } from "../ratelimit.ts";
import { RequestLog } from "../request-log.ts";
import { dataCenterDeliveryStyle } from "./delivery-style.ts";
import {
  badRequest,
  conflict,
  noSuchProject,
  noSuchPullRequest,
  noSuchRepository,
  noSuchUser,
  SimError,
} from "./errors.ts";
import type { ResolvedOptions, SimulatorSwitches } from "./options.ts";
import { displayIdOf, type JsonObject, Presenter, type RefChange, refTypeOf } from "./payloads.ts";
import {
  type Level,
  levelOf,
  type ProjectPermission,
  type RepoPermission,
  type TokenPermission,
  tokenPermissionProblem,
} from "./permissions.ts";
import {
  type AccessToken,
  buildStatusKey,
  type Comment,
  hashSecret,
  type Project,
  type PullRequest,
  type Repository,
  repositorySlug,
  SimState,
  type TokenScope,
  type User,
  type Webhook,
} from "./state.ts";
import { buildNumber, versionAtLeast } from "./version.ts";

/** Files of a commit: path → content (UTF-8 string or bytes), or null to delete the path. */
export type FileMap = Record<string, string | Buffer | null>;

export interface RepoRef {
  /** Project key (`DEMO`, or `~ALICE` for a personal project). */
  project: string;
  /** Repository slug. */
  repo: string;
}

export interface CreateUserInput {
  name: string;
  password?: string;
  displayName?: string;
  /** Default `<name>@example.com`; null for none. */
  email?: string | null;
  /** A system administrator (global SYS_ADMIN). */
  admin?: boolean;
}

export interface CreateProjectInput {
  key: string;
  name?: string;
  description?: string;
  public?: boolean;
}

export interface GrantInput {
  permission: ProjectPermission | RepoPermission;
  /** Exactly one of user / group. */
  user?: string;
  group?: string;
  project: string;
  /** With `repo`, a REPO_* permission on that repository; without, a PROJECT_* permission on the project. */
  repo?: string;
}

export interface CreateRepositoryInput {
  project: string;
  /** Default: derived from `name`. */
  slug?: string;
  name?: string;
  /** Initial commit on the default branch. */
  files?: FileMap;
  message?: string;
  defaultBranch?: string;
  public?: boolean;
  /** Who pushes the initial commit (default: the first system administrator). */
  as?: string;
}

export interface PushInput extends RepoRef {
  branch: string;
  files: FileMap;
  message?: string;
  /** Pusher and commit author (default: the first system administrator). */
  as?: string;
  /** Where a new branch starts (a revision); default: the default branch, or an orphan commit in an empty repo. */
  startPoint?: string;
}

export interface PushResult {
  sha: string;
  parent: string | null;
  ref: string;
  changes: RefChange[];
}

export interface TagInput extends RepoRef {
  tag: string;
  /** Revision to tag (default: the default branch). */
  target?: string;
  /** Makes an annotated tag. */
  message?: string;
  as?: string;
}

export interface DeleteRefInput extends RepoRef {
  /** `refs/heads/x`, `refs/tags/x`, or a branch name. */
  ref: string;
  as?: string;
}

export interface ForkInput extends RepoRef {
  /** The user whose personal project (`~USER`) receives the fork. */
  user: string;
  slug?: string;
  name?: string;
}

export interface OpenPullRequestInput extends RepoRef {
  /** Source branch; `project`/`repo` name a fork (default: the target repository itself). */
  from: { branch: string; project?: string; repo?: string };
  /** Target branch (default: the repository's default branch). */
  to?: string;
  title: string;
  description?: string;
  /** Author. */
  as: string;
  reviewers?: string[];
}

export interface PullRequestRef extends RepoRef {
  id: number;
}

export interface UpdatePullRequestInput extends PullRequestRef {
  title?: string;
  description?: string | null;
  /** New target branch. */
  to?: string;
  as?: string;
}

export interface CommentInput extends PullRequestRef {
  text: string;
  as: string;
  parentId?: number;
}

export type TokenScopeInput =
  | { kind: "user"; user: string }
  | { kind: "project"; project: string }
  | { kind: "repository"; project: string; repo: string };

export interface CreateTokenInput {
  scope: TokenScopeInput;
  name: string;
  permissions: string[];
  expiryDays?: number | null;
}

export interface CreatedToken {
  id: string;
  /** The secret: shown once, as Bitbucket does. */
  token: string;
  name: string;
  /** User the token acts as (the generated service user for project/repository tokens). */
  user: string;
  permissions: TokenPermission[];
  createdDate: number;
  expiryDays: number | null;
}

export interface PullRequestView {
  id: number;
  project: string;
  repo: string;
  version: number;
  state: PullRequest["state"];
  title: string;
  description: string | null;
  author: string;
  fromRef: { project: string; repo: string; id: string; latestCommit: string };
  toRef: { id: string; latestCommit: string };
  /** Where refs/pull-requests/<id>/from points in the target repository now (lags under lazyPullRequestRefs). */
  refsFrom: string | null;
  mergeCommit: string | null;
}

export interface WebhookInput {
  name: string;
  url: string;
  events: string[];
  active?: boolean;
  configuration?: Record<string, unknown>;
  credentials?: { username: string; password?: string | null } | null;
  sslVerificationRequired?: boolean;
}

export interface BuildStatusInput {
  key: string;
  state: BuildStatusState;
  url: string;
  name?: string;
  description?: string;
  buildNumber?: string;
  parent?: string;
  ref?: string;
  duration?: number;
  lastUpdated?: number;
  testResults?: { successful: number; failed: number; skipped: number };
}

export type BuildStatusState = "INPROGRESS" | "SUCCESSFUL" | "FAILED" | "CANCELLED" | "UNKNOWN";

/**
 * The simulator's behaviour, shared by the REST routes, git over HTTP and the control API. Routes check
 * permissions and shapes; this class changes state, writes git objects and emits webhook events.
 */
export class SimCore {
  readonly state = new SimState();
  readonly options: ResolvedOptions;
  readonly switches: SimulatorSwitches;
  readonly clock: SimClock;
  readonly git: Git;
  readonly presenter: Presenter;
  readonly deliveries: Deliveries;
  readonly limiter: RateLimiter;
  readonly requests = new RequestLog();
  readonly dataDir: string;
  readonly reposRoot: string;
  private readonly locks = new KeyedMutex();
  baseUrl: string;

  constructor(options: ResolvedOptions, clock: SimClock, dataDir: string, baseUrl: string) {
    this.options = options;
    this.switches = { ...options.switches };
    this.clock = clock;
    this.dataDir = dataDir;
    this.reposRoot = join(dataDir, "repositories");
    this.git = new Git(this.reposRoot, dataDir);
    this.baseUrl = baseUrl;
    const self = this;
    this.presenter = new Presenter({
      state: this.state,
      get baseUrl() {
        return self.baseUrl;
      },
      version: options.version,
      switches: this.switches,
    });
    this.deliveries = new Deliveries({
      now: () => clock.now(),
      timeoutMs: options.deliveryTimeoutMs,
      style: dataCenterDeliveryStyle(
        () =>
          this.switches.deliveryUserAgent
            ?.replace("{version}", options.version)
            .replace("{build}", buildNumber(options.version)) ?? null,
      ),
    });
    this.limiter = new RateLimiter(options.rateLimit, () => clock.now());
  }

  get version(): string {
    return this.options.version;
  }

  since(version: string): boolean {
    return versionAtLeast(this.options.version, version);
  }

  projectWebhooksEnabled(): boolean {
    return this.since(this.switches.projectWebhooksSince);
  }

  lockRepo<T>(repo: Repository, work: () => Promise<T>): Promise<T> {
    return this.locks.run(`repo:${repo.id}`, work);
  }

  // ---- lookups ------------------------------------------------------------------------------------------------

  userNamed(name: string): User {
    const user = this.state.findUser(name);
    if (!user) throw noSuchUser(name);
    return user;
  }

  projectKeyed(key: string): Project {
    const project = this.state.findProject(key);
    if (!project) throw noSuchProject(key);
    return project;
  }

  repoAt(ref: RepoRef): Repository {
    this.projectKeyed(ref.project);
    const repo = this.state.findRepository(ref.project, ref.repo);
    if (!repo) throw noSuchRepository(ref.project, ref.repo);
    return repo;
  }

  pullRequestAt(ref: PullRequestRef): PullRequest {
    const repo = this.repoAt(ref);
    const pr = this.state.pullRequest(repo.id, ref.id);
    if (!pr) throw noSuchPullRequest(ref.id, this.state.project(repo.projectId).key, repo.slug);
    return pr;
  }

  /** The acting user of control calls that name none: the first system administrator. */
  actor(name: string | undefined): User {
    if (name !== undefined) return this.userNamed(name);
    const admin = [...this.state.users.values()].find((u) => u.globalPermission === "SYS_ADMIN" && u.type === "NORMAL");
    if (!admin) throw badRequest("No acting user: pass `as`, or create a system administrator first.", "as");
    return admin;
  }

  personOf(user: User): Person {
    return { name: user.displayName, email: user.email ?? `${user.slug}@noreply.invalid` };
  }

  // ---- directory ----------------------------------------------------------------------------------------------

  createUser(input: CreateUserInput): User {
    if (!/^[A-Za-z0-9._@-]+$/.test(input.name)) throw badRequest(`Invalid user name "${input.name}".`, "name");
    if (this.state.findUser(input.name))
      throw conflict(`User ${input.name} already exists.`, "user.DuplicateUserException");
    return this.state.addUser({
      name: input.name,
      displayName: input.displayName,
      email: input.email,
      password: input.password ?? null,
      globalPermission: input.admin ? "SYS_ADMIN" : "LICENSED_USER",
    });
  }

  /** An administrator resetting a user's password, as `PUT /rest/api/latest/admin/users/credentials` does. */
  setPassword(name: string, password: string): void {
    const user = this.userNamed(name);
    if (user.type !== "NORMAL") throw badRequest(`${user.name} is a token user and has no password.`, "name");
    if (password === "") throw badRequest("The password must not be empty.", "password");
    this.state.setPassword(user, password);
  }

  createGroup(name: string, members: readonly string[] = []): void {
    const group = this.state.groups.get(name) ?? { name, members: new Set<number>() };
    for (const m of members) group.members.add(this.userNamed(m).id);
    this.state.groups.set(name, group);
  }

  addToGroup(group: string, user: string): void {
    const g = this.state.groups.get(group);
    if (!g)
      throw new SimError(404, `Group ${group} does not exist.`, "com.atlassian.bitbucket.user.NoSuchGroupException");
    g.members.add(this.userNamed(user).id);
  }

  createProject(input: CreateProjectInput): Project {
    if (!/^[A-Za-z][A-Za-z0-9_]*$/.test(input.key)) throw badRequest(`Invalid project key "${input.key}".`, "key");
    if (this.state.findProject(input.key))
      throw conflict(`Project ${input.key} already exists.`, "project.DuplicateProjectKeyException");
    const project: Project = {
      id: this.state.nextId(),
      key: input.key.toUpperCase(),
      name: input.name ?? input.key,
      description: input.description ?? null,
      public: input.public ?? false,
      type: "NORMAL",
      ownerId: null,
    };
    this.state.projects.set(project.id, project);
    return project;
  }

  grant(input: GrantInput): void {
    if ((input.user === undefined) === (input.group === undefined))
      throw badRequest("Name exactly one of user or group.");
    const subject =
      input.user !== undefined
        ? { kind: "user" as const, userId: this.userNamed(input.user).id }
        : { kind: "group" as const, group: input.group ?? "" };
    if (subject.kind === "group" && !this.state.groups.has(subject.group)) this.createGroup(subject.group);
    const level: Level = levelOf(input.permission);
    if (input.repo !== undefined) {
      if (!input.permission.startsWith("REPO_"))
        throw badRequest("Repository grants take REPO_* permissions.", "permission");
      const repo = this.repoAt({ project: input.project, repo: input.repo });
      this.state.grants.push({ subject, target: { kind: "repository", repositoryId: repo.id, level } });
    } else {
      if (!input.permission.startsWith("PROJECT_"))
        throw badRequest("Project grants take PROJECT_* permissions.", "permission");
      const project = this.projectKeyed(input.project);
      this.state.grants.push({ subject, target: { kind: "project", projectId: project.id, level } });
    }
  }

  async createRepository(input: CreateRepositoryInput): Promise<Repository> {
    // `~user` names a personal project, which exists as soon as its owner does.
    const owner = input.project.startsWith("~") ? this.state.findUser(input.project.slice(1)) : undefined;
    const project = owner ? this.state.personalProjectOf(owner) : this.projectKeyed(input.project);
    const name = input.name ?? input.slug;
    if (!name) throw badRequest("A repository needs a name or a slug.", "name");
    const slug = input.slug ?? repositorySlug(name);
    if (!/^[a-z0-9][a-z0-9._-]*$/.test(slug)) throw badRequest(`Invalid repository slug "${slug}".`, "slug");
    if (this.state.findRepository(project.key, slug))
      throw conflict(
        `Repository ${project.key}/${slug} already exists.`,
        "repository.DuplicateRepositoryNameException",
      );
    const id = this.state.nextId();
    const repo: Repository = {
      id,
      slug,
      name,
      projectId: project.id,
      hierarchyId: randomBytes(10).toString("hex"),
      originId: null,
      public: input.public ?? false,
      forkable: true,
      defaultBranch: input.defaultBranch ?? "main",
      gitPath: `r/${id}.git`,
      nextPullRequestId: 1,
    };
    await this.git.init(repo.gitPath, repo.defaultBranch);
    this.state.repositories.set(repo.id, repo);
    if (input.files && Object.keys(input.files).length > 0)
      await this.push({
        project: project.key,
        repo: slug,
        branch: repo.defaultBranch,
        files: input.files,
        message: input.message ?? "Initial commit",
        as: input.as,
      });
    return repo;
  }

  async fork(input: ForkInput): Promise<Repository> {
    const origin = this.repoAt(input);
    const owner = this.userNamed(input.user);
    const project = this.state.personalProjectOf(owner);
    const slug = input.slug ?? origin.slug;
    if (this.state.findRepository(project.key, slug))
      throw conflict(
        `Repository ${project.key}/${slug} already exists.`,
        "repository.DuplicateRepositoryNameException",
      );
    const id = this.state.nextId();
    const repo: Repository = {
      id,
      slug,
      name: input.name ?? origin.name,
      projectId: project.id,
      // Forks share their origin's hierarchy (as in the captures), which is what allows cross-repo PRs.
      hierarchyId: origin.hierarchyId,
      originId: origin.id,
      public: false,
      forkable: true,
      defaultBranch: origin.defaultBranch,
      gitPath: `r/${id}.git`,
      nextPullRequestId: 1,
    };
    await this.git.cloneBare(origin.gitPath, repo.gitPath);
    this.state.repositories.set(repo.id, repo);
    return repo;
  }

  // ---- git content and ref changes ----------------------------------------------------------------------------

  async push(input: PushInput): Promise<PushResult> {
    const repo = this.repoAt(input);
    const actor = this.actor(input.as);
    const ref = input.branch.startsWith("refs/") ? input.branch : `refs/heads/${input.branch}`;
    const result = await this.lockRepo(repo, async () => {
      const old = await this.git.resolveRef(repo.gitPath, ref);
      let parent = old;
      if (!parent) {
        const start = input.startPoint ?? repo.defaultBranch;
        parent = await this.git.resolveCommit(repo.gitPath, start);
        if (!parent && input.startPoint)
          throw badRequest(`Start point ${input.startPoint} does not exist.`, "startPoint");
      }
      const sha = await this.git.commitFiles(repo.gitPath, {
        ref,
        parent,
        files: input.files,
        message: input.message ?? `Update ${Object.keys(input.files).join(", ")}`,
        author: this.personOf(actor),
        timestamp: this.clock.now(),
      });
      const change: RefChange = { refId: ref, fromHash: old ?? ZERO_SHA, toHash: sha, type: old ? "UPDATE" : "ADD" };
      return { sha, parent, ref, changes: [change] };
    });
    await this.refsChanged(repo, result.changes, actor);
    return result;
  }

  async createTag(input: TagInput): Promise<RefChange> {
    const repo = this.repoAt(input);
    const actor = this.actor(input.as);
    const ref = `refs/tags/${input.tag}`;
    const change = await this.lockRepo(repo, async () => {
      if (await this.git.resolveRef(repo.gitPath, ref))
        throw conflict(`Tag ${input.tag} already exists.`, "repository.DuplicateRefException");
      const target = await this.git.resolveCommit(repo.gitPath, input.target ?? repo.defaultBranch);
      if (!target) throw badRequest(`Revision ${input.target ?? repo.defaultBranch} does not exist.`, "target");
      const object = input.message
        ? await this.git.createAnnotatedTag(
            repo.gitPath,
            input.tag,
            target,
            input.message,
            this.personOf(actor),
            this.clock.now(),
          )
        : target;
      await this.git.updateRef(repo.gitPath, ref, object, ZERO_SHA);
      return { refId: ref, fromHash: ZERO_SHA, toHash: object, type: "ADD" as const };
    });
    await this.refsChanged(repo, [change], actor);
    return change;
  }

  async deleteRef(input: DeleteRefInput): Promise<RefChange> {
    const repo = this.repoAt(input);
    const actor = this.actor(input.as);
    const ref = input.ref.startsWith("refs/") ? input.ref : `refs/heads/${input.ref}`;
    const change = await this.lockRepo(repo, async () => {
      const old = await this.git.resolveRef(repo.gitPath, ref);
      if (!old)
        throw new SimError(
          404,
          `Ref ${ref} does not exist.`,
          "com.atlassian.bitbucket.repository.NoSuchBranchException",
        );
      await this.git.deleteRef(repo.gitPath, ref);
      return { refId: ref, fromHash: old, toHash: ZERO_SHA, type: "DELETE" as const };
    });
    await this.refsChanged(repo, [change], actor);
    return change;
  }

  /** Branch and tag snapshot, for diffing around a git push. */
  snapshotRefs(repo: Repository): Promise<Map<string, string>> {
    return this.git.refs(repo.gitPath);
  }

  diffRefs(before: Map<string, string>, after: Map<string, string>): RefChange[] {
    const changes: RefChange[] = [];
    for (const [ref, sha] of after) {
      const old = before.get(ref);
      if (old === undefined) changes.push({ refId: ref, fromHash: ZERO_SHA, toHash: sha, type: "ADD" });
      else if (old !== sha) changes.push({ refId: ref, fromHash: old, toHash: sha, type: "UPDATE" });
    }
    for (const [ref, sha] of before)
      if (!after.has(ref)) changes.push({ refId: ref, fromHash: sha, toHash: ZERO_SHA, type: "DELETE" });
    return changes;
  }

  /**
   * After any ref update (git push, control push, merge): `repo:refs_changed`, then pull-request rescoping. As on
   * Bitbucket, a push to a PR's source branch produces both `repo:refs_changed` and `pr:from_ref_updated`.
   */
  async refsChanged(repo: Repository, changes: readonly RefChange[], actor: User): Promise<void> {
    if (changes.length === 0) return;
    const now = this.clock.now();
    const commits = this.switches.refsChangedCommits ? await this.pushCommits(repo, changes) : null;
    this.emit(repo, "repo:refs_changed", this.presenter.refsChanged(actor, repo, changes, now, commits));

    for (const change of changes) {
      if (refTypeOf(change.refId) !== "BRANCH") continue;
      for (const pr of [...this.state.pullRequests.values()]) {
        if (pr.state !== "OPEN") continue;
        if (pr.from.repositoryId === repo.id && pr.from.refId === change.refId) {
          if (change.type === "DELETE") {
            if (this.switches.declineOnBranchDelete) await this.closePullRequest(pr, "DECLINED", actor);
            continue;
          }
          const previous = pr.from.latestCommit;
          if (previous === change.toHash) continue;
          pr.from.latestCommit = change.toHash;
          pr.updatedDate = this.clock.now();
          await this.stagePullRequestHead(pr);
          if (!this.switches.lazyPullRequestRefs) await this.writePullRequestRefs(pr);
          this.emitPullRequest("pr:from_ref_updated", pr, actor, { previousFromHash: previous });
        } else if (pr.repositoryId === repo.id && pr.to.refId === change.refId) {
          if (change.type === "DELETE") {
            if (this.switches.declineOnBranchDelete) await this.closePullRequest(pr, "DECLINED", actor);
            continue;
          }
          pr.to.latestCommit = change.toHash;
          if (!this.switches.lazyPullRequestRefs) await this.writePullRequestRefs(pr);
        }
      }
    }
  }

  /** `toCommit` and `commits[]` (at most 5) of a single-ref push, as in the 9.x/10.x captures. */
  private async pushCommits(
    repo: Repository,
    changes: readonly RefChange[],
  ): Promise<{ toCommit: CommitInfo; parents: Map<string, CommitInfo>; commits: CommitInfo[] } | null> {
    const change = changes.length === 1 ? changes[0] : undefined;
    if (!change || change.type === "DELETE") return null;
    // `^{commit}` peels annotated tags: toCommit is the tagged commit, as in the annotated-tag capture.
    const range = [`${change.toHash}^{commit}`, ...(change.type === "UPDATE" ? [`^${change.fromHash}^{commit}`] : [])];
    const commits = (await this.git.log(repo.gitPath, ["--max-count=5", ...range])) ?? [];
    const toCommit = commits[0] ?? (await this.git.commit(repo.gitPath, change.toHash));
    if (!toCommit) return null;
    const parents = new Map<string, CommitInfo>();
    if (toCommit.parents.length > 0)
      for (const info of (await this.git.log(repo.gitPath, ["--no-walk=unsorted", ...toCommit.parents])) ?? [])
        parents.set(info.id, info);
    return { toCommit, parents, commits };
  }

  // ---- events -------------------------------------------------------------------------------------------------

  /** Delivers an event to the repository's webhooks and, from the supported version on, its project's. */
  emit(repo: Repository, eventKey: string, payload: JsonObject): void {
    const hooks: Webhook[] = [];
    for (const hook of this.state.webhooks.values()) {
      if (!hook.active || !hook.events.includes(eventKey)) continue;
      if (hook.scope.kind === "repository" && hook.scope.repositoryId === repo.id) hooks.push(hook);
    }
    if (this.projectWebhooksEnabled())
      for (const hook of this.state.webhooks.values()) {
        if (!hook.active || !hook.events.includes(eventKey)) continue;
        if (hook.scope.kind === "project" && hook.scope.projectId === repo.projectId) hooks.push(hook);
      }
    if (hooks.length === 0) return;
    const body = JSON.stringify(payload);
    for (const hook of hooks) void this.deliveries.enqueue({ hook }, eventKey, body);
  }

  private emitPullRequest(eventKey: string, pr: PullRequest, actor: User, extra: JsonObject = {}): void {
    const target = this.state.repository(pr.repositoryId);
    this.emit(target, eventKey, this.presenter.pullRequestEvent(eventKey, actor, pr, this.clock.now(), extra));
  }

  // ---- pull requests ------------------------------------------------------------------------------------------

  view(pr: PullRequest): PullRequestView {
    const target = this.state.repository(pr.repositoryId);
    const source = this.state.repository(pr.from.repositoryId);
    return {
      id: pr.id,
      project: this.state.project(target.projectId).key,
      repo: target.slug,
      version: pr.version,
      state: pr.state,
      title: pr.title,
      description: pr.description,
      author: this.state.user(pr.authorId).name,
      fromRef: {
        project: this.state.project(source.projectId).key,
        repo: source.slug,
        id: pr.from.refId,
        latestCommit: pr.from.latestCommit,
      },
      toRef: { id: pr.to.refId, latestCommit: pr.to.latestCommit },
      refsFrom: pr.refsFrom,
      mergeCommit: pr.mergeCommit,
    };
  }

  private branchRef(name: string): string {
    return name.startsWith("refs/") ? name : `refs/heads/${name}`;
  }

  async openPullRequest(input: OpenPullRequestInput): Promise<PullRequest> {
    const target = this.repoAt(input);
    const source =
      input.from.project !== undefined || input.from.repo !== undefined
        ? this.repoAt({ project: input.from.project ?? input.project, repo: input.from.repo ?? input.repo })
        : target;
    if (source.hierarchyId !== target.hierarchyId)
      throw badRequest("The source repository is not a fork of the target repository.", "fromRef.repository");
    const author = this.userNamed(input.as);
    const fromRef = this.branchRef(input.from.branch);
    const toRef = this.branchRef(input.to ?? target.defaultBranch);
    if (!input.title.trim()) throw badRequest("A pull request needs a title.", "title");
    const fromHead = await this.git.resolveRef(source.gitPath, fromRef);
    if (!fromHead) throw badRequest(`Source ref ${fromRef} does not exist.`, "fromRef.id");
    const toHead = await this.git.resolveRef(target.gitPath, toRef);
    if (!toHead) throw badRequest(`Target ref ${toRef} does not exist.`, "toRef.id");
    if (source.id === target.id && fromRef === toRef)
      throw badRequest("The source and target refs are the same.", "fromRef.id");
    for (const other of this.state.pullRequestsOf(target.id))
      if (
        other.state === "OPEN" &&
        other.from.repositoryId === source.id &&
        other.from.refId === fromRef &&
        other.to.refId === toRef
      )
        throw conflict(
          `Only one pull request may be open for a given source and target branch (#${other.id}).`,
          "pull.DuplicatePullRequestException",
        );
    const now = this.clock.now();
    const pr: PullRequest = {
      repositoryId: target.id,
      id: target.nextPullRequestId++,
      version: 0,
      title: input.title,
      description: input.description ?? null,
      state: "OPEN",
      createdDate: now,
      updatedDate: now,
      closedDate: null,
      from: { repositoryId: source.id, refId: fromRef, latestCommit: fromHead },
      to: { refId: toRef, latestCommit: toHead },
      authorId: author.id,
      reviewers: (input.reviewers ?? []).map((r) => ({
        userId: this.userNamed(r).id,
        approved: false,
        status: "UNAPPROVED" as const,
      })),
      draft: false,
      refsFrom: null,
      mergeCommit: null,
    };
    this.state.pullRequests.set(`${target.id}/${pr.id}`, pr);
    await this.stagePullRequestHead(pr);
    // A new pull request is always scoped at creation: its refs exist right away, even under lazy refs.
    await this.writePullRequestRefs(pr);
    this.emitPullRequest("pr:opened", pr, author);
    return pr;
  }

  /** Copies the source head into a hidden ref of the target repository, so its objects are there for diffs and merges. */
  private async stagePullRequestHead(pr: PullRequest): Promise<void> {
    const target = this.state.repository(pr.repositoryId);
    const source = this.state.repository(pr.from.repositoryId);
    await this.lockRepo(target, async () => {
      if (source.id === target.id)
        await this.git.updateRef(target.gitPath, `refs/sim/pr/${pr.id}/head`, pr.from.latestCommit);
      else
        await this.git.fetchCommit(target.gitPath, source.gitPath, pr.from.latestCommit, `refs/sim/pr/${pr.id}/head`);
    });
  }

  /** Moves refs/pull-requests/<id>/from (and /merge) to the pull request's current heads. */
  async writePullRequestRefs(pr: PullRequest): Promise<void> {
    const target = this.state.repository(pr.repositoryId);
    await this.lockRepo(target, async () => {
      const from = pr.from.latestCommit;
      if (!(await this.git.hasObject(target.gitPath, from))) return;
      await this.git.updateRef(target.gitPath, `refs/pull-requests/${pr.id}/from`, from);
      pr.refsFrom = from;
      if (!this.switches.pullRequestMergeRefs) return;
      const tree = await this.git.mergeTree(target.gitPath, pr.to.latestCommit, from);
      if (tree === null) {
        await this.git.run(target.gitPath, ["update-ref", "-d", `refs/pull-requests/${pr.id}/merge`]);
        return;
      }
      const merge = await this.git.commitTree(
        target.gitPath,
        tree,
        [pr.to.latestCommit, from],
        `Merge pull request #${pr.id} (simulated merge ref)`,
        { name: "Bitbucket", email: "noreply@bitbucket.invalid" },
        pr.updatedDate,
      );
      await this.git.updateRef(target.gitPath, `refs/pull-requests/${pr.id}/merge`, merge);
    });
  }

  /** What viewing a pull request does on a real server: rescope, so lagging refs catch up. */
  async refreshPullRequestRefs(ref: PullRequestRef): Promise<PullRequest> {
    const pr = this.pullRequestAt(ref);
    await this.viewed(pr);
    return pr;
  }

  async viewed(pr: PullRequest): Promise<void> {
    if (pr.state === "OPEN" && pr.refsFrom !== pr.from.latestCommit) await this.writePullRequestRefs(pr);
  }

  async updatePullRequest(input: UpdatePullRequestInput): Promise<PullRequest> {
    const pr = this.pullRequestAt(input);
    if (pr.state !== "OPEN") throw conflict(`Pull request ${pr.id} is not open.`, "pull.PullRequestOutOfDateException");
    const actor = this.actor(input.as);
    const target = this.state.repository(pr.repositoryId);
    const previousTitle = pr.title;
    const previousDescription = pr.description;
    const previousTarget = {
      id: pr.to.refId,
      displayId: displayIdOf(pr.to.refId),
      type: refTypeOf(pr.to.refId),
      latestCommit: pr.to.latestCommit,
      latestChangeset: pr.to.latestCommit,
    };
    if (input.to !== undefined) {
      const toRef = this.branchRef(input.to);
      const head = await this.git.resolveRef(target.gitPath, toRef);
      if (!head) throw badRequest(`Target ref ${toRef} does not exist.`, "toRef.id");
      pr.to = { refId: toRef, latestCommit: head };
    }
    if (input.title !== undefined) pr.title = input.title;
    if (input.description !== undefined) pr.description = input.description;
    pr.version++;
    pr.updatedDate = this.clock.now();
    if (input.to !== undefined && !this.switches.lazyPullRequestRefs) await this.writePullRequestRefs(pr);
    const extra: JsonObject = {
      previousTitle,
      previousDescription: previousDescription ?? undefined,
      previousTarget,
    };
    if (this.since("9.0")) extra.previousDraft = pr.draft;
    this.emitPullRequest("pr:modified", pr, actor, extra);
    return pr;
  }

  async declinePullRequest(ref: PullRequestRef & { as?: string }): Promise<PullRequest> {
    const pr = this.pullRequestAt(ref);
    if (pr.state !== "OPEN") throw conflict(`Pull request ${pr.id} is not open.`, "pull.PullRequestOutOfDateException");
    await this.closePullRequest(pr, "DECLINED", this.actor(ref.as));
    return pr;
  }

  private async closePullRequest(pr: PullRequest, state: "DECLINED" | "MERGED", actor: User): Promise<void> {
    const now = this.clock.now();
    pr.state = state;
    pr.version++;
    pr.updatedDate = now;
    pr.closedDate = now;
    this.emitPullRequest(state === "DECLINED" ? "pr:declined" : "pr:merged", pr, actor);
  }

  /**
   * Merges with a merge commit (Bitbucket's default strategy). Project and repository tokens cannot merge:
   * a merge commit needs an author with an e-mail address (reference §2.3).
   */
  async mergePullRequest(ref: PullRequestRef & { as?: string; version?: number }): Promise<PullRequest> {
    const pr = this.pullRequestAt(ref);
    if (pr.state !== "OPEN") throw conflict(`Pull request ${pr.id} is not open.`, "pull.PullRequestOutOfDateException");
    if (ref.version !== undefined && ref.version !== pr.version)
      throw conflict(
        `You are attempting to modify a pull request based on out-of-date information (version ${ref.version}, current ${pr.version}).`,
        "pull.PullRequestOutOfDateException",
      );
    const actor = this.actor(ref.as);
    if (actor.type !== "NORMAL" || !actor.email)
      throw new SimError(
        401,
        "Only users with an e-mail address can merge pull requests.",
        "com.atlassian.bitbucket.AuthorisationException",
      );
    const target = this.state.repository(pr.repositoryId);
    await this.stagePullRequestHead(pr);
    const change = await this.lockRepo(target, async () => {
      const head = await this.git.resolveRef(target.gitPath, pr.to.refId);
      if (!head) throw conflict(`Target ref ${pr.to.refId} no longer exists.`, "pull.PullRequestMergeVetoedException");
      const tree = await this.git.mergeTree(target.gitPath, head, pr.from.latestCommit);
      if (tree === null)
        throw conflict("The pull request has conflicts and cannot be merged.", "pull.PullRequestMergeVetoedException");
      const source = this.state.repository(pr.from.repositoryId);
      const sourceName =
        source.id === target.id
          ? displayIdOf(pr.from.refId)
          : `${this.state.project(source.projectId).key}/${source.slug}:${displayIdOf(pr.from.refId)}`;
      const message = `Merge pull request #${pr.id} in ${this.state.project(target.projectId).key}/${target.slug} from ${sourceName} to ${displayIdOf(pr.to.refId)}`;
      const merge = await this.git.commitTree(
        target.gitPath,
        tree,
        [head, pr.from.latestCommit],
        message,
        this.personOf(actor),
        this.clock.now(),
      );
      await this.git.updateRef(target.gitPath, pr.to.refId, merge, head);
      return { refId: pr.to.refId, fromHash: head, toHash: merge, type: "UPDATE" as const };
    });
    pr.mergeCommit = change.toHash;
    pr.to.latestCommit = change.fromHash;
    await this.closePullRequest(pr, "MERGED", actor);
    await this.refsChanged(target, [change], actor);
    return pr;
  }

  async deletePullRequest(ref: PullRequestRef & { as?: string }): Promise<void> {
    const pr = this.pullRequestAt(ref);
    const actor = this.actor(ref.as);
    const target = this.state.repository(pr.repositoryId);
    this.state.pullRequests.delete(`${target.id}/${pr.id}`);
    await this.lockRepo(target, async () => {
      for (const r of [
        `refs/pull-requests/${pr.id}/from`,
        `refs/pull-requests/${pr.id}/merge`,
        `refs/sim/pr/${pr.id}/head`,
      ])
        await this.git.run(target.gitPath, ["update-ref", "-d", r]);
    });
    this.emitPullRequest("pr:deleted", pr, actor);
  }

  addComment(input: CommentInput): Comment {
    const pr = this.pullRequestAt(input);
    const author = this.userNamed(input.as);
    return this.addCommentAs(pr, author, input.text, input.parentId ?? null);
  }

  addCommentAs(pr: PullRequest, author: User, text: string, parentId: number | null): Comment {
    if (!text.trim()) throw badRequest("A comment needs text.", "text");
    if (parentId !== null) {
      const parent = this.state.comments.get(parentId);
      if (!parent || parent.repositoryId !== pr.repositoryId || parent.pullRequestId !== pr.id)
        throw new SimError(
          404,
          `Comment ${parentId} does not exist.`,
          "com.atlassian.bitbucket.comment.NoSuchCommentException",
        );
    }
    const now = this.clock.now();
    const comment: Comment = {
      id: this.state.nextId(),
      version: 0,
      text,
      authorId: author.id,
      createdDate: now,
      updatedDate: now,
      parentId,
      repositoryId: pr.repositoryId,
      pullRequestId: pr.id,
    };
    this.state.comments.set(comment.id, comment);
    const target = this.state.repository(pr.repositoryId);
    this.emit(target, "pr:comment:added", this.presenter.commentEvent(author, pr, comment, now));
    return comment;
  }

  // ---- access tokens ------------------------------------------------------------------------------------------

  resolveTokenScope(input: TokenScopeInput): TokenScope {
    switch (input.kind) {
      case "user":
        return { kind: "user", userId: this.userNamed(input.user).id };
      case "project":
        return { kind: "project", projectId: this.projectKeyed(input.project).id };
      case "repository": {
        const repo = this.repoAt({ project: input.project, repo: input.repo });
        return { kind: "repository", projectId: repo.projectId, repositoryId: repo.id };
      }
    }
  }

  sameScope(a: TokenScope, b: TokenScope): boolean {
    if (a.kind !== b.kind) return false;
    if (a.kind === "user" && b.kind === "user") return a.userId === b.userId;
    if (a.kind === "project" && b.kind === "project") return a.projectId === b.projectId;
    if (a.kind === "repository" && b.kind === "repository") return a.repositoryId === b.repositoryId;
    return false;
  }

  /** Normalises a permission list to one project level and one repository level, the highest named. */
  normalisePermissions(permissions: readonly TokenPermission[]): TokenPermission[] {
    const pick = (prefix: string): TokenPermission | undefined =>
      permissions
        .filter((p) => p.startsWith(prefix))
        .sort((a, b) => levelOf(b as ProjectPermission) - levelOf(a as ProjectPermission))[0];
    return [pick("PROJECT_"), pick("REPO_")].filter((p): p is TokenPermission => p !== undefined);
  }

  validateTokenPermissions(scope: TokenScope, permissions: readonly string[]): TokenPermission[] {
    const problem = tokenPermissionProblem(scope.kind, permissions);
    if (problem) throw badRequest(problem, "permissions");
    return this.normalisePermissions(permissions as TokenPermission[]);
  }

  createToken(
    scope: TokenScope,
    input: { name: string; permissions: readonly string[]; expiryDays?: number | null },
  ): { token: AccessToken; secret: string } {
    if (!input.name?.trim()) throw badRequest("A token name is required.", "name");
    const permissions = this.validateTokenPermissions(scope, input.permissions);
    const expiryDays = input.expiryDays ?? null;
    if (expiryDays !== null && (!Number.isInteger(expiryDays) || expiryDays <= 0))
      throw badRequest("expiryDays must be a positive whole number of days.", "expiryDays");
    const max = this.state.maxTokenExpiryDays;
    if (max !== null) {
      if (expiryDays === null && this.switches.requireExpiryWhenMaximumSet)
        throw badRequest(`An expiry is required: tokens may live at most ${max} days.`, "expiryDays");
      if (expiryDays !== null && expiryDays > max)
        throw badRequest(
          `expiryDays ${expiryDays} exceeds the maximum of ${max} days set by the administrator.`,
          "expiryDays",
        );
    }
    const inScope = [...this.state.tokens.values()].filter((t) => this.sameScope(t.scope, scope)).length;
    if (inScope >= this.switches.maxTokensPerScope)
      throw badRequest(`This scope already has the maximum number of tokens (${this.switches.maxTokensPerScope}).`);
    const id = this.state.newTokenId();
    const body = Buffer.concat([Buffer.from(`${id}:`), randomBytes(20)]).toString("base64");
    const secret = `${this.switches.tokenPrefix ? "BBDC-" : ""}${body}`;
    const userId = scope.kind === "user" ? scope.userId : this.serviceUserFor(scope, input.name).id;
    const token: AccessToken = {
      id,
      name: input.name,
      scope,
      userId,
      permissions,
      createdDate: this.clock.now(),
      expiryDays: expiryDays !== null ? expiryDays : max !== null ? max : null,
      lastAuthenticated: null,
      secretHash: hashSecret(secret),
    };
    this.state.addToken(token);
    return { token, secret };
  }

  /**
   * The system-generated user a project/repository token acts as. Its name format is UNCONFIRMED (reference
   * §2.3); the simulator uses `bbdc-<project>[-<repo>]-<8 random>` so logs show where a token belongs.
   */
  private serviceUserFor(scope: TokenScope, tokenName: string): User {
    const project = scope.kind === "user" ? null : this.state.project(scope.projectId);
    const repo = scope.kind === "repository" ? this.state.repository(scope.repositoryId) : null;
    const base = ["bbdc", project?.key.toLowerCase().replace(/^~/, ""), repo?.slug].filter(Boolean).join("-");
    let name = "";
    do
      name = `${base}-${randomBytes(6)
        .toString("base64url")
        .toLowerCase()
        .replace(/[^a-z0-9]/g, "")
        .slice(0, 8)
        .padEnd(8, "0")}`;
    while (this.state.findUser(name));
    const user = this.state.addUser({
      name,
      displayName: this.switches.tokenUserDisplayNameIsTokenName ? tokenName : name,
      email: null,
      type: this.switches.tokenUserType,
    });
    user.globalPermission = null;
    return user;
  }

  createTokenFor(input: CreateTokenInput): CreatedToken {
    const { token, secret } = this.createToken(this.resolveTokenScope(input.scope), input);
    return {
      id: token.id,
      token: secret,
      name: token.name,
      user: this.state.user(token.userId).name,
      permissions: [...token.permissions],
      createdDate: token.createdDate,
      expiryDays: token.expiryDays,
    };
  }

  revokeToken(id: string): boolean {
    return this.state.removeToken(id) !== undefined;
  }

  // ---- webhooks -----------------------------------------------------------------------------------------------

  storeWebhook(scope: Webhook["scope"], input: WebhookInput, existing?: Webhook): Webhook {
    const now = this.clock.now();
    const configuration = { ...(input.configuration ?? {}) };
    let credentials: Webhook["credentials"] = null;
    if (input.credentials) {
      // A username alone keeps the stored password (reference §3.2).
      const keep =
        existing?.credentials && input.credentials.password === undefined ? existing.credentials.password : null;
      credentials = { username: input.credentials.username, password: input.credentials.password ?? keep };
    }
    const hook: Webhook = {
      id: existing?.id ?? this.state.nextId(),
      name: input.name,
      url: input.url,
      events: [...new Set(input.events)],
      active: input.active ?? true,
      configuration,
      credentials,
      sslVerificationRequired: input.sslVerificationRequired ?? true,
      scope,
      createdDate: existing?.createdDate ?? now,
      updatedDate: now,
    };
    this.state.webhooks.set(hook.id, hook);
    return hook;
  }

  // ---- build statuses -----------------------------------------------------------------------------------------

  /** `repo` null: posted to the legacy `/rest/build-status/1.0/commits/{sha}`, which knows only the commit. */
  storeBuildStatus(repo: Repository | null, commit: string, input: BuildStatusInput, postedBy: string | null): void {
    const key = buildStatusKey(repo?.id ?? null, commit, input.key);
    const existing = this.state.buildStatuses.get(key);
    const now = this.clock.now();
    this.state.buildStatuses.set(key, {
      repositoryId: repo?.id ?? null,
      commit,
      key: input.key,
      state: input.state,
      url: input.url,
      name: input.name ?? null,
      description: input.description ?? null,
      buildNumber: input.buildNumber ?? null,
      parent: input.parent ?? null,
      ref: input.ref ?? null,
      duration: input.duration ?? null,
      lastUpdated: input.lastUpdated ?? null,
      testResults: input.testResults ?? null,
      createdDate: existing?.createdDate ?? now,
      updatedDate: now,
      seq: this.state.nextId(),
      postedBy,
    });
  }
}
