import { MachineryControl } from "../control-kit.ts";
import { FaultInjector } from "../faults.ts";
import type { RateLimitSettings } from "../ratelimit.ts";
import type { FileMap, GitHubCore } from "./core.ts";
import { signAppJwt } from "./jwt.ts";
import type { PermissionSet, Role } from "./permissions.ts";
import { isoSeconds, type Json } from "./presenter.ts";
import type { Repository } from "./state.ts";
import { INSTALLATION_TOKEN_TTL_MS } from "./tokens.ts";

export interface AccountView {
  id: number;
  login: string;
  type: string;
}

export interface AppView {
  id: number;
  slug: string;
  name: string;
  clientId: string;
  /** PEM (PKCS#1) of the App's private key: what GitHub lets you download once. */
  privateKey: string;
  /** The bot account installation tokens act as (`<slug>[bot]`). */
  botLogin: string;
  webhookUrl: string | null;
}

export interface InstallationView {
  id: number;
  appId: number;
  account: string;
  repositorySelection: "all" | "selected";
  repositories: string[];
  permissions: PermissionSet;
  events: string[];
}

export interface RepositoryView {
  id: number;
  owner: string;
  name: string;
  fullName: string;
  defaultBranch: string;
  private: boolean;
  /** `<url>/<owner>/<name>.git` */
  cloneUrl: string;
  gitDir: string;
  parent: string | null;
}

export interface IssuedToken {
  token: string;
  id: string;
  /** ISO 8601, as `expires_at` of the REST answer. */
  expiresAt: string;
}

/** An installation token as the simulator keeps it (never the secret): who minted it for what, and when. */
export interface InstallationTokenView {
  id: string;
  installationId: number;
  /** The repositories it was narrowed to by name, or null: every repository of the installation. */
  repositories: string[] | null;
  permissions: PermissionSet;
  /** Epoch ms on the simulator clock. */
  issuedAt: number;
  expiresAt: number;
}

/** A fine-grained personal token: `expiresAt` null when it was made with "No expiration". */
export type PersonalToken = Omit<IssuedToken, "expiresAt"> & { expiresAt: string | null };

/**
 * The in-process control handle of the GitHub personality: arrange a GitHub world (accounts, Apps, installations,
 * repositories, pushes, pull requests from forks, comments) and observe what a client did to it. Every method
 * has an HTTP twin under `/_sim/` (see docs/simulator.md).
 */
export class GitHubSimulatorControl extends MachineryControl {
  protected readonly core: GitHubCore;
  private readonly keys = new Map<number, string>();

  constructor(core: GitHubCore, faults: FaultInjector = new FaultInjector()) {
    super(core, faults);
    this.core = core;
  }

  // ---- accounts, Apps, installations ----------------------------------------------------------------------------

  createAccount(input: { login: string; type?: "User" | "Organization"; email?: string | null }): AccountView {
    const a = this.core.createAccount(input);
    return { id: a.id, login: a.login, type: a.type };
  }

  createApp(input: {
    name: string;
    owner: string;
    permissions?: PermissionSet;
    events?: string[];
    webhook?: { url: string; secret?: string | null; contentType?: "json" | "form" } | null;
  }): AppView {
    const { app, privateKey } = this.core.createApp(input);
    this.keys.set(app.id, privateKey);
    return {
      id: app.id,
      slug: app.slug,
      name: app.name,
      clientId: app.clientId,
      privateKey,
      botLogin: this.core.state.account(app.botId).login,
      webhookUrl: app.hook?.url ?? null,
    };
  }

  /** A new key pair for the App; JWTs signed with the old key are refused from now on. */
  rotateAppKey(appId: number): { privateKey: string } {
    const privateKey = this.core.rotateAppKey(appId);
    this.keys.set(appId, privateKey);
    return { privateKey };
  }

  /**
   * The App's webhook config as GitHub holds it, secret included (the API only ever shows `********`); null when the
   * App has no webhook.
   */
  appHook(
    appId: number,
  ): { url: string; contentType: "json" | "form"; secret: string | null; insecureSsl: "0" | "1" } | null {
    const hook = this.core.appById(appId).hook;
    return hook
      ? { url: hook.url, contentType: hook.content_type, secret: hook.secret, insecureSsl: hook.insecure_ssl }
      : null;
  }

  /** Someone edits the App's webhook in its settings on GitHub (no API call, nothing in the request log). */
  editAppHook(
    appId: number,
    edit: { url?: string; contentType?: "json" | "form"; secret?: string | null; insecureSsl?: "0" | "1" },
  ): void {
    const app = this.core.appById(appId);
    const hook = app.hook ?? { url: "", content_type: "json", secret: null, insecure_ssl: "0" };
    if (edit.url !== undefined) hook.url = edit.url;
    if (edit.contentType !== undefined) hook.content_type = edit.contentType;
    if (edit.secret !== undefined) hook.secret = edit.secret;
    if (edit.insecureSsl !== undefined) hook.insecure_ssl = edit.insecureSsl;
    app.hook = hook;
  }

  /**
   * Signs an App JWT with the App's current key on the simulator clock (default: iat 60 s ago, exp in 9 min);
   * `iat`/`exp` (epoch seconds) override, to produce the refused ones.
   */
  appJwt(input: { appId: number; iat?: number; exp?: number; iss?: string | number }): { jwt: string } {
    const key = this.keys.get(input.appId);
    if (!key) throw new Error(`No private key for App ${input.appId}`);
    const now = Math.floor(this.core.clock.now() / 1000);
    return {
      jwt: signAppJwt(key, { iat: input.iat ?? now - 60, exp: input.exp ?? now + 540, iss: input.iss ?? input.appId }),
    };
  }

  install(input: {
    appId: number;
    account: string;
    repositories?: string[] | null;
    permissions?: PermissionSet;
    events?: string[];
  }): InstallationView {
    const inst = this.core.install(input);
    this.core.events.installation(inst, "created", this.installer(inst.accountId, inst.appId));
    return this.installationView(inst.id);
  }

  /** Who installs on an account: the user themselves, or the App's owner for an organization. */
  private installer(accountId: number, appId: number) {
    const account = this.core.state.account(accountId);
    return account.type === "User" ? account : this.core.state.account(this.core.appById(appId).ownerId);
  }

  /** A suspended installation's tokens are refused and it gets no events; `installation.suspend` is sent. */
  suspendInstallation(id: number, suspended = true): InstallationView {
    const inst = this.core.state.installations.get(id);
    if (!inst) throw new Error(`No installation ${id}`);
    if (inst.suspended !== suspended) {
      inst.suspended = suspended;
      this.core.events.installation(
        inst,
        suspended ? "suspend" : "unsuspend",
        this.installer(inst.accountId, inst.appId),
      );
    }
    return this.installationView(id);
  }

  /** A user asks to re-run a check run: `check_run.rerequested` goes to the App that created it. */
  rerequestCheckRun(input: { id: number; as: string }): Json {
    const run = this.core.state.checkRuns.get(input.id);
    if (!run) throw new Error(`No check run ${input.id}`);
    this.core.events.checkRun(run, "rerequested", this.core.accountNamed(input.as));
    return this.core.presenter.commits.checkRun(run);
  }

  installationView(id: number): InstallationView {
    const inst = this.core.state.installations.get(id);
    if (!inst) throw new Error(`No installation ${id}`);
    return {
      id: inst.id,
      appId: inst.appId,
      account: this.core.state.account(inst.accountId).login,
      repositorySelection: inst.repositoryIds === null ? "all" : "selected",
      repositories: this.core.installationRepos(inst).map((r) => r.name),
      permissions: { ...inst.permissions },
      events: [...inst.events],
    };
  }

  /** Mints an installation token directly (no JWT): the same narrowing and 422s as the REST endpoint. */
  installationToken(input: {
    installationId: number;
    repositories?: string[];
    repository_ids?: number[];
    permissions?: PermissionSet;
  }): IssuedToken {
    const inst = this.core.state.installations.get(input.installationId);
    if (!inst) throw new Error(`No installation ${input.installationId}`);
    const { secret, token } = this.core.tokens.createForInstallation(inst, input);
    return { token: secret, id: token.id, expiresAt: isoSeconds(token.expiresAt) };
  }

  /**
   * Every installation token minted (through REST or the control API) and not revoked, oldest first: how many a
   * client minted, and how narrow each was (a client's own calls vs. tokens it hands on narrowed).
   */
  installationTokens(filter: { installationId?: number } = {}): InstallationTokenView[] {
    const views: InstallationTokenView[] = [];
    for (const token of this.core.state.tokens.values()) {
      if (token.kind !== "installation") continue;
      if (filter.installationId !== undefined && token.installationId !== filter.installationId) continue;
      views.push({
        id: token.id,
        installationId: token.installationId,
        repositories:
          token.repositoryIds === null
            ? null
            : token.repositoryIds.map((id) => this.core.state.repositories.get(id)?.name ?? String(id)),
        permissions: { ...token.permissions },
        issuedAt: token.expiresAt - INSTALLATION_TOKEN_TTL_MS,
        expiresAt: token.expiresAt,
      });
    }
    return views;
  }

  /** A fine-grained personal access token (`github_pat_…`). */
  personalToken(input: {
    user: string;
    owner?: string;
    name?: string;
    repositories?: string[] | null;
    permissions: PermissionSet;
    /** Default 30; null: "No expiration". */
    expiresInDays?: number | null;
    /** Epoch milliseconds on the simulator clock; wins over expiresInDays. */
    expiresAt?: number;
  }): PersonalToken {
    const { secret, token } = this.core.tokens.createPersonal(input);
    return { token: secret, id: token.id, expiresAt: token.expiresAt === null ? null : isoSeconds(token.expiresAt) };
  }

  // ---- repositories and git -------------------------------------------------------------------------------------

  async createRepository(input: {
    owner: string;
    name: string;
    private?: boolean;
    defaultBranch?: string;
    files?: FileMap;
    message?: string;
  }): Promise<RepositoryView> {
    return this.repoView(await this.core.createRepository(input));
  }

  async fork(input: { owner: string; repo: string; into: string; name?: string }): Promise<RepositoryView> {
    return this.repoView(await this.core.fork(input));
  }

  repository(owner: string, name: string): RepositoryView {
    return this.repoView(this.core.repoAt(owner, name));
  }

  private repoView(repo: Repository): RepositoryView {
    return {
      id: repo.id,
      owner: this.core.state.account(repo.ownerId).login,
      name: repo.name,
      fullName: this.core.state.fullName(repo),
      defaultBranch: repo.defaultBranch,
      private: repo.private,
      cloneUrl: this.core.presenter.cloneUrl(repo),
      gitDir: this.core.git.dir(repo.gitPath),
      parent: repo.parentId === null ? null : this.core.state.fullName(this.core.state.repository(repo.parentId)),
    };
  }

  /** A collaborator's role on a repository (null removes it); the owner is always admin. */
  setCollaborator(input: { owner: string; repo: string; login: string; role: Role | null }): void {
    this.core.setCollaborator(input);
  }

  /** Commits `files` on a branch as a real git commit and emits push (and pull_request.synchronize). */
  push(input: {
    owner: string;
    repo: string;
    branch: string;
    files: FileMap;
    message?: string;
    as?: string;
    startPoint?: string;
  }): Promise<{ sha: string; before: string; ref: string }> {
    return this.core.push(input);
  }

  deleteBranch(input: { owner: string; repo: string; branch: string; as?: string }): Promise<void> {
    return this.core.deleteBranch(input);
  }

  /** A revision's commit id (or a ref's target, for `refs/...`), or null. */
  resolve(input: { owner: string; repo: string; rev: string }): Promise<string | null> {
    const repo = this.core.repoAt(input.owner, input.repo);
    return input.rev.startsWith("refs/")
      ? this.core.git.resolveRef(repo.gitPath, input.rev)
      : this.core.git.resolveCommit(repo.gitPath, input.rev);
  }

  // ---- pull requests ------------------------------------------------------------------------------------------

  /** Opens a PR; `head` is `branch` or `login:branch` (a fork of the base repository). */
  async openPullRequest(input: {
    owner: string;
    repo: string;
    head: string;
    base?: string;
    title: string;
    body?: string | null;
    as: string;
  }): Promise<Json> {
    return this.core.pulls.pullJson(await this.core.pulls.openPullRequest(input));
  }

  async pullRequest(input: { owner: string; repo: string; number: number }): Promise<Json> {
    return this.core.pulls.pullJson(this.core.pulls.pullAt(input.owner, input.repo, input.number));
  }

  async closePullRequest(input: { owner: string; repo: string; number: number; as?: string }): Promise<Json> {
    return this.core.pulls.pullJson(await this.core.pulls.closePullRequest(input));
  }

  async reopenPullRequest(input: { owner: string; repo: string; number: number; as?: string }): Promise<Json> {
    return this.core.pulls.pullJson(await this.core.pulls.reopenPullRequest(input));
  }

  async mergePullRequest(input: { owner: string; repo: string; number: number; as?: string }): Promise<Json> {
    return this.core.pulls.pullJson(await this.core.pulls.mergePullRequest(input));
  }

  comment(input: { owner: string; repo: string; number: number; body: string; as: string }): Json {
    return this.core.presenter.comment(this.core.pulls.addComment(input));
  }

  // ---- observations -------------------------------------------------------------------------------------------

  comments(filter: { owner?: string; repo?: string; number?: number } = {}): Json[] {
    return [...this.core.state.comments.values()]
      .filter((c) => this.inRepo(c.repositoryId, filter) && (filter.number === undefined || c.number === filter.number))
      .map((c) => this.core.presenter.comment(c));
  }

  statuses(filter: { owner?: string; repo?: string; sha?: string; context?: string } = {}): Json[] {
    return [...this.core.state.statuses.values()]
      .filter(
        (s) =>
          this.inRepo(s.repositoryId, filter) &&
          (filter.sha === undefined || s.sha === filter.sha) &&
          (filter.context === undefined || s.context === filter.context),
      )
      .map((s) => ({
        ...this.core.presenter.commits.status(s),
        sha: s.sha,
        repository: this.core.state.fullName(this.core.state.repository(s.repositoryId)),
      }));
  }

  checkRuns(filter: { owner?: string; repo?: string; sha?: string } = {}): Json[] {
    return [...this.core.state.checkRuns.values()]
      .filter((c) => this.inRepo(c.repositoryId, filter) && (filter.sha === undefined || c.headSha === filter.sha))
      .map((c) => this.core.presenter.commits.checkRun(c));
  }

  hooks(filter: { owner?: string; repo?: string } = {}): Json[] {
    return [...this.core.state.hooks.values()]
      .filter((h) => this.inRepo(h.repositoryId, filter))
      .map((h) => ({ ...this.core.presenter.hook(h), config: { ...h.config } }));
  }

  private inRepo(repositoryId: number, filter: { owner?: string; repo?: string }): boolean {
    const repo = this.core.state.repository(repositoryId);
    const owner = this.core.state.account(repo.ownerId).login.toLowerCase();
    return (
      (filter.owner === undefined || owner === filter.owner.toLowerCase()) &&
      (filter.repo === undefined || repo.name.toLowerCase() === filter.repo.toLowerCase())
    );
  }

  /** The secondary limit's token bucket (off by default). */
  configureSecondaryRateLimit(settings: Partial<RateLimitSettings>): void {
    this.core.secondary.configure(settings);
  }

  /** Forgets every primary rate-limit window (a fresh hour for everyone). */
  resetRateLimits(): void {
    this.core.primary.reset();
  }
}
