import { MachineryControl } from "../control-kit.ts";
import { FaultInjector } from "../faults.ts";
import { isSafeRevision } from "../git.ts";
import type { RateLimitSettings } from "../ratelimit.ts";
import type {
  CommentInput,
  CreatedToken,
  CreateProjectInput,
  CreateRepositoryInput,
  CreateTokenInput,
  CreateUserInput,
  DeleteRefInput,
  ForkInput,
  GrantInput,
  OpenPullRequestInput,
  PullRequestRef,
  PullRequestView,
  PushInput,
  PushResult,
  RepoRef,
  SimCore,
  TagInput,
  UpdatePullRequestInput,
  WebhookInput,
} from "./core.ts";
import type { SimulatorSwitches } from "./options.ts";
import { switchesSchema } from "./options.ts";
import type { RefChange } from "./payloads.ts";
import type { BuildStatus, Comment, Repository, Webhook } from "./state.ts";

export interface UserView {
  id: number;
  name: string;
  slug: string;
}

export interface ProjectView {
  id: number;
  key: string;
}

export interface RepositoryView {
  id: number;
  project: string;
  slug: string;
  name: string;
  defaultBranch: string;
  /** `<url>/scm/<project>/<slug>.git` */
  cloneUrl: string;
  /** The bare repository on disk. */
  gitDir: string;
  /** Project and slug of the origin, for forks. */
  origin: RepoRef | null;
}

export interface CommentView {
  id: number;
  project: string;
  repo: string;
  pullRequestId: number;
  text: string;
  author: string;
  parentId: number | null;
  createdDate: number;
}

export interface TokenView {
  id: string;
  name: string;
  kind: "user" | "project" | "repository";
  project: string | null;
  repo: string | null;
  user: string;
  permissions: string[];
  createdDate: number;
  expiryDays: number | null;
  lastAuthenticated: number | null;
}

export interface WebhookView {
  id: number;
  scope: "repository" | "project";
  project: string;
  repo: string | null;
  name: string;
  url: string;
  events: string[];
  active: boolean;
  /** Plaintext, as Bitbucket returns it. */
  secret: string | null;
  credentials: { username: string; hasPassword: boolean } | null;
}

export interface BuildStatusView {
  /** Null for a status posted to the legacy commit endpoint (no repository). */
  project: string | null;
  repo: string | null;
  commit: string;
  key: string;
  state: BuildStatus["state"];
  url: string;
  name: string | null;
  description: string | null;
  ref: string | null;
  duration: number | null;
  createdDate: number;
  updatedDate: number;
  postedBy: string | null;
}

export interface CreateWebhookInput extends WebhookInput {
  project: string;
  /** Without it, a project-level webhook. */
  repo?: string;
}

/**
 * The in-process control handle: what tests and the demo use to arrange a Bitbucket world and observe what
 * Baton did to it. Every method has an HTTP twin under `/_sim/` (see docs/simulator.md).
 */
export class SimulatorControl extends MachineryControl {
  protected readonly core: SimCore;

  constructor(core: SimCore, faults: FaultInjector = new FaultInjector()) {
    super(core, faults);
    this.core = core;
  }

  get version(): string {
    return this.core.version;
  }

  /** Current switch values (see SimulatorOptions.switches). */
  get switches(): Readonly<SimulatorSwitches> {
    return { ...this.core.switches };
  }

  /** Changes switches at run time (e.g. turn on lazy PR refs for one test). */
  configure(switches: Partial<SimulatorSwitches>): void {
    Object.assign(this.core.switches, switchesSchema.partial().parse(switches));
  }

  configureRateLimit(settings: Partial<RateLimitSettings>): void {
    this.core.limiter.configure(settings);
  }

  // ---- directory ----------------------------------------------------------------------------------------------

  createUser(input: CreateUserInput): UserView {
    const u = this.core.createUser(input);
    return { id: u.id, name: u.name, slug: u.slug };
  }

  /** Changes a user's password (say, to make Baton's admin credentials stale); the old one gets 401 at once. */
  setPassword(user: string, password: string): void {
    this.core.setPassword(user, password);
  }

  createGroup(name: string, members: string[] = []): void {
    this.core.createGroup(name, members);
  }

  addUserToGroup(group: string, user: string): void {
    this.core.addToGroup(group, user);
  }

  createProject(input: CreateProjectInput): ProjectView {
    const p = this.core.createProject(input);
    return { id: p.id, key: p.key };
  }

  grant(input: GrantInput): void {
    this.core.grant(input);
  }

  async createRepository(input: CreateRepositoryInput): Promise<RepositoryView> {
    return this.repoView(await this.core.createRepository(input));
  }

  /** Forks into the user's personal project (`~USER`): a real, separate git repository. */
  async fork(input: ForkInput): Promise<RepositoryView> {
    return this.repoView(await this.core.fork(input));
  }

  repository(ref: RepoRef): RepositoryView {
    return this.repoView(this.core.repoAt(ref));
  }

  private repoView(repo: Repository): RepositoryView {
    const origin = repo.originId !== null ? this.core.state.repositories.get(repo.originId) : undefined;
    return {
      id: repo.id,
      project: this.core.state.project(repo.projectId).key,
      slug: repo.slug,
      name: repo.name,
      defaultBranch: repo.defaultBranch,
      cloneUrl: this.core.presenter.cloneUrl(repo),
      gitDir: this.core.git.dir(repo.gitPath),
      origin: origin ? { project: this.core.state.project(origin.projectId).key, repo: origin.slug } : null,
    };
  }

  // ---- git ----------------------------------------------------------------------------------------------------

  /** Commits `files` on a branch as a real git commit; emits repo:refs_changed and rescopes PRs like a git push. */
  push(input: PushInput): Promise<PushResult> {
    return this.core.push(input);
  }

  createTag(input: TagInput): Promise<RefChange> {
    return this.core.createTag(input);
  }

  deleteRef(input: DeleteRefInput): Promise<RefChange> {
    return this.core.deleteRef(input);
  }

  /** A revision's commit id (or the id a ref points at, for `refs/...`), or null. */
  async resolve(ref: RepoRef & { rev: string }): Promise<string | null> {
    const repo = this.core.repoAt(ref);
    if (!isSafeRevision(ref.rev)) return null;
    return ref.rev.startsWith("refs/")
      ? this.core.git.resolveRef(repo.gitPath, ref.rev)
      : this.core.git.resolveCommit(repo.gitPath, ref.rev);
  }

  // ---- pull requests ------------------------------------------------------------------------------------------

  async openPullRequest(input: OpenPullRequestInput): Promise<PullRequestView> {
    return this.core.view(await this.core.openPullRequest(input));
  }

  /** Title, description and/or target branch; emits pr:modified. */
  async updatePullRequest(input: UpdatePullRequestInput): Promise<PullRequestView> {
    return this.core.view(await this.core.updatePullRequest(input));
  }

  async declinePullRequest(input: PullRequestRef & { as?: string }): Promise<PullRequestView> {
    return this.core.view(await this.core.declinePullRequest(input));
  }

  async mergePullRequest(input: PullRequestRef & { as?: string; version?: number }): Promise<PullRequestView> {
    return this.core.view(await this.core.mergePullRequest(input));
  }

  deletePullRequest(input: PullRequestRef & { as?: string }): Promise<void> {
    return this.core.deletePullRequest(input);
  }

  /** Brings lagging refs/pull-requests/<id>/* up to date, as viewing the PR on a real server does. */
  async refreshPullRequestRefs(input: PullRequestRef): Promise<PullRequestView> {
    return this.core.view(await this.core.refreshPullRequestRefs(input));
  }

  pullRequest(ref: PullRequestRef): PullRequestView {
    return this.core.view(this.core.pullRequestAt(ref));
  }

  /** Adds a comment as a user; emits pr:comment:added. */
  comment(input: CommentInput): CommentView {
    return this.commentView(this.core.addComment(input));
  }

  comments(filter: Partial<PullRequestRef> = {}): CommentView[] {
    return [...this.core.state.comments.values()]
      .map((c) => this.commentView(c))
      .filter(
        (c) =>
          (filter.project === undefined || c.project.toUpperCase() === filter.project.toUpperCase()) &&
          (filter.repo === undefined || c.repo === filter.repo) &&
          (filter.id === undefined || c.pullRequestId === filter.id),
      );
  }

  private commentView(c: Comment): CommentView {
    const repo = this.core.state.repository(c.repositoryId);
    return {
      id: c.id,
      project: this.core.state.project(repo.projectId).key,
      repo: repo.slug,
      pullRequestId: c.pullRequestId,
      text: c.text,
      author: this.core.state.user(c.authorId).name,
      parentId: c.parentId,
      createdDate: c.createdDate,
    };
  }

  // ---- tokens -------------------------------------------------------------------------------------------------

  /** Creates an HTTP access token directly (no permission checks); the secret is returned once. */
  createToken(input: CreateTokenInput): CreatedToken {
    return this.core.createTokenFor(input);
  }

  revokeToken(id: string): boolean {
    return this.core.revokeToken(id);
  }

  tokens(): TokenView[] {
    return [...this.core.state.tokens.values()].map((t) => {
      const project = t.scope.kind === "user" ? null : this.core.state.project(t.scope.projectId).key;
      const repo = t.scope.kind === "repository" ? this.core.state.repository(t.scope.repositoryId).slug : null;
      return {
        id: t.id,
        name: t.name,
        kind: t.scope.kind,
        project,
        repo,
        user: this.core.state.user(t.userId).name,
        permissions: [...t.permissions],
        createdDate: t.createdDate,
        expiryDays: t.expiryDays,
        lastAuthenticated: t.lastAuthenticated,
      };
    });
  }

  /** The administrator's maximum token lifetime (null: none). */
  setMaxTokenExpiryDays(days: number | null): void {
    this.core.state.maxTokenExpiryDays = days;
  }

  // ---- webhooks and deliveries --------------------------------------------------------------------------------

  createWebhook(input: CreateWebhookInput): WebhookView {
    const scope: Webhook["scope"] =
      input.repo !== undefined
        ? { kind: "repository", repositoryId: this.core.repoAt({ project: input.project, repo: input.repo }).id }
        : { kind: "project", projectId: this.core.projectKeyed(input.project).id };
    return this.webhookView(this.core.storeWebhook(scope, input));
  }

  webhooks(filter: { project?: string; repo?: string } = {}): WebhookView[] {
    return [...this.core.state.webhooks.values()]
      .map((h) => this.webhookView(h))
      .filter(
        (h) =>
          (filter.project === undefined || h.project.toUpperCase() === filter.project.toUpperCase()) &&
          (filter.repo === undefined || h.repo === filter.repo),
      );
  }

  private webhookView(h: Webhook): WebhookView {
    const repo = h.scope.kind === "repository" ? this.core.state.repository(h.scope.repositoryId) : null;
    const projectId = h.scope.kind === "project" ? h.scope.projectId : (repo?.projectId ?? 0);
    const secret = h.configuration.secret;
    return {
      id: h.id,
      scope: h.scope.kind,
      project: this.core.state.project(projectId).key,
      repo: repo?.slug ?? null,
      name: h.name,
      url: h.url,
      events: [...h.events],
      active: h.active,
      secret: typeof secret === "string" ? secret : null,
      credentials: h.credentials
        ? { username: h.credentials.username, hasPassword: h.credentials.password !== null }
        : null,
    };
  }

  // ---- observations -------------------------------------------------------------------------------------------

  buildStatuses(filter: { project?: string; repo?: string; commit?: string; key?: string } = {}): BuildStatusView[] {
    return [...this.core.state.buildStatuses.values()]
      .map((b) => {
        const repo = b.repositoryId === null ? null : this.core.state.repository(b.repositoryId);
        return {
          project: repo ? this.core.state.project(repo.projectId).key : null,
          repo: repo?.slug ?? null,
          commit: b.commit,
          key: b.key,
          state: b.state,
          url: b.url,
          name: b.name,
          description: b.description,
          ref: b.ref,
          duration: b.duration,
          createdDate: b.createdDate,
          updatedDate: b.updatedDate,
          postedBy: b.postedBy,
        };
      })
      .filter(
        (b) =>
          (filter.project === undefined || b.project?.toUpperCase() === filter.project.toUpperCase()) &&
          (filter.repo === undefined || b.repo === filter.repo) &&
          (filter.commit === undefined || b.commit === filter.commit) &&
          (filter.key === undefined || b.key === filter.key),
      );
  }
}
