import { createPublicKey, generateKeyPairSync, randomBytes } from "node:crypto";
import { appendFile } from "node:fs/promises";
import { join } from "node:path";
import type { SimClock } from "../clock.ts";
import { Deliveries } from "../deliveries.ts";
import { Git, isSafeRevision, type Person, ZERO_SHA } from "../git.ts";
import { KeyedMutex } from "../mutex.ts";
import { RateLimiter } from "../ratelimit.ts";
import { RequestLog } from "../request-log.ts";
import { GhError } from "./errors.ts";
import { Events, githubDeliveryStyle } from "./events.ts";
import type { GitHubOptions } from "./options.ts";
import { excessPermission, type PermissionSet, type Role, withMetadata } from "./permissions.ts";
import { type FileChange, GitHubPresenter } from "./presenter.ts";
import { PullRequests } from "./pulls.ts";
import { PrimaryRateLimit } from "./ratelimit.ts";
import { type Account, type App, GitHubState, type Installation, type Repository } from "./state.ts";
import { Tokens } from "./tokens.ts";

/** Files of a commit: path → content, or null to delete the path. */
export type FileMap = Record<string, string | Buffer | null>;

export interface RefChange {
  ref: string;
  before: string;
  after: string;
}

export class GitHubCore {
  readonly state = new GitHubState();
  readonly git: Git;
  readonly clock: SimClock;
  readonly options: GitHubOptions;
  readonly dataDir: string;
  readonly reposRoot: string;
  readonly presenter: GitHubPresenter;
  readonly deliveries: Deliveries;
  readonly requests = new RequestLog();
  readonly primary: PrimaryRateLimit;
  readonly secondary: RateLimiter;
  readonly tokens: Tokens;
  readonly pulls: PullRequests;
  readonly events: Events;
  private readonly mutex = new KeyedMutex();

  constructor(options: GitHubOptions, clock: SimClock, dataDir: string) {
    this.options = options;
    this.clock = clock;
    this.dataDir = dataDir;
    this.reposRoot = join(dataDir, "repositories");
    this.git = new Git(this.reposRoot, dataDir);
    this.presenter = new GitHubPresenter(this.state, "http://placeholder.invalid");
    this.deliveries = new Deliveries({
      now: () => clock.now(),
      timeoutMs: options.deliveryTimeoutMs,
      style: githubDeliveryStyle,
    });
    this.primary = new PrimaryRateLimit(options.rateLimit.limit, () => clock.now());
    this.secondary = new RateLimiter(options.secondaryRateLimit, () => clock.now());
    this.tokens = new Tokens(this);
    this.pulls = new PullRequests(this);
    this.events = new Events(this);
  }

  get baseUrl(): string {
    return this.presenter.base;
  }

  set baseUrl(url: string) {
    this.presenter.base = url;
  }

  lockRepo<T>(repo: Repository, work: () => Promise<T>): Promise<T> {
    return this.mutex.run(`repo:${repo.id}`, work);
  }

  // ---- lookups ------------------------------------------------------------------------------------------------

  accountNamed(login: string): Account {
    const a = this.state.accountNamed(login);
    if (!a) throw new GhError(404, `No account ${login}`);
    return a;
  }

  repoAt(owner: string, name: string): Repository {
    const r = this.state.findRepository(owner, name);
    if (!r) throw new GhError(404, `No repository ${owner}/${name}`);
    return r;
  }

  appById(id: number): App {
    const app = this.state.apps.get(id);
    if (!app) throw new GhError(404, `No App ${id}`);
    return app;
  }

  appForIssuer(iss: string): App | undefined {
    for (const app of this.state.apps.values()) if (String(app.id) === iss || app.clientId === iss) return app;
    return undefined;
  }

  personOf(account: Account): Person {
    return { name: account.login, email: account.email ?? `${account.id}+${account.login}@users.noreply.github.com` };
  }

  // ---- accounts, Apps, installations ----------------------------------------------------------------------------

  createAccount(input: { login: string; type?: "User" | "Organization"; email?: string | null }): Account {
    if (this.state.accountNamed(input.login)) throw new GhError(422, `Account ${input.login} already exists`);
    if (!/^[A-Za-z0-9](?:[A-Za-z0-9-]{0,38})$/.test(input.login) && !input.login.endsWith("[bot]"))
      throw new GhError(422, `Invalid login ${input.login}`);
    const id = this.state.nextId();
    const account: Account = {
      id,
      login: input.login,
      type: input.type ?? "User",
      name: null,
      email: input.email === undefined ? `${id}+${input.login}@users.noreply.github.com` : input.email,
      createdAt: this.clock.now(),
    };
    this.state.accounts.set(id, account);
    return account;
  }

  /** Creates an App with a fresh RSA key pair; the private key (PEM) is returned once, as GitHub offers it. */
  createApp(input: {
    name: string;
    owner: string;
    permissions?: PermissionSet;
    events?: string[];
    webhook?: { url: string; secret?: string | null; contentType?: "json" | "form" } | null;
  }): { app: App; privateKey: string } {
    const owner = this.accountNamed(input.owner);
    const slug = input.name
      .toLowerCase()
      .replace(/[^a-z0-9]+/g, "-")
      .replace(/^-|-$/g, "");
    if (!slug) throw new GhError(422, "Name must contain a letter or digit");
    const { publicKey, privateKey } = generateKeyPairSync("rsa", { modulusLength: 2048 });
    const bot = this.createAccount({ login: `${slug}[bot]`, email: null });
    bot.type = "Bot";
    const id = this.state.nextId();
    const app: App = {
      id,
      slug,
      name: input.name,
      clientId: `Iv1.${randomBytes(8).toString("hex")}`,
      ownerId: owner.id,
      publicKey,
      permissions: input.permissions ?? { contents: "read", pull_requests: "write", statuses: "write" },
      events: input.events ?? ["push", "pull_request", "issue_comment"],
      hook: input.webhook
        ? {
            url: input.webhook.url,
            content_type: input.webhook.contentType ?? "json",
            secret: input.webhook.secret ?? null,
            insecure_ssl: "0",
          }
        : null,
      hookId: this.state.nextId(),
      botId: bot.id,
      createdAt: this.clock.now(),
    };
    this.state.apps.set(id, app);
    return { app, privateKey: privateKey.export({ type: "pkcs1", format: "pem" }).toString() };
  }

  /** Replaces an App's key pair (the old private key stops working at once). */
  rotateAppKey(appId: number): string {
    const app = this.appById(appId);
    const { publicKey, privateKey } = generateKeyPairSync("rsa", { modulusLength: 2048 });
    app.publicKey = createPublicKey(publicKey.export({ type: "spki", format: "pem" }));
    return privateKey.export({ type: "pkcs1", format: "pem" }).toString();
  }

  install(input: {
    appId: number;
    account: string;
    repositories?: string[] | null;
    permissions?: PermissionSet;
    events?: string[];
  }): Installation {
    const app = this.appById(input.appId);
    const account = this.accountNamed(input.account);
    if ([...this.state.installations.values()].some((i) => i.appId === app.id && i.accountId === account.id))
      throw new GhError(422, `${app.slug} is already installed on ${account.login}`);
    const repositoryIds =
      input.repositories === undefined || input.repositories === null
        ? null
        : input.repositories.map((name) => this.repoAt(account.login, name).id);
    const permissions = input.permissions ?? app.permissions;
    const excess = excessPermission(permissions, withMetadata(app.permissions));
    if (excess) throw new GhError(422, `The App does not have the ${excess} permission it is installed with`);
    const installation: Installation = {
      id: this.state.nextId(),
      appId: app.id,
      accountId: account.id,
      repositoryIds,
      permissions,
      events: input.events ?? [...app.events],
      suspended: false,
      createdAt: this.clock.now(),
    };
    this.state.installations.set(installation.id, installation);
    return installation;
  }

  /** Repositories an installation covers. */
  installationRepos(inst: Installation): Repository[] {
    return [...this.state.repositories.values()].filter(
      (r) => r.ownerId === inst.accountId && (inst.repositoryIds === null || inst.repositoryIds.includes(r.id)),
    );
  }

  // ---- repositories and git -------------------------------------------------------------------------------------

  private async initRepo(gitPath: string, defaultBranch: string): Promise<void> {
    await this.git.init(gitPath, defaultBranch);
    await this.hidePullRefs(gitPath);
  }

  /** refs/pull/* are advertised (fetchable) but, as on GitHub, cannot be pushed. */
  private async hidePullRefs(gitPath: string): Promise<void> {
    await appendFile(join(this.git.dir(gitPath), "config"), "[receive]\n\thideRefs = refs/pull\n");
  }

  async createRepository(input: {
    owner: string;
    name: string;
    private?: boolean;
    defaultBranch?: string;
    files?: FileMap;
    message?: string;
  }): Promise<Repository> {
    const owner = this.accountNamed(input.owner);
    if (!/^[A-Za-z0-9._-]{1,100}$/.test(input.name) || input.name === "." || input.name === "..")
      throw new GhError(422, `Invalid repository name ${input.name}`);
    if (this.state.findRepository(owner.login, input.name))
      throw new GhError(422, `Repository ${owner.login}/${input.name} already exists`);
    const id = this.state.nextId();
    const now = this.clock.now();
    const repo: Repository = {
      id,
      ownerId: owner.id,
      name: input.name,
      defaultBranch: input.defaultBranch ?? "main",
      private: input.private ?? true,
      parentId: null,
      gitPath: `r/${id}.git`,
      collaborators: new Map(),
      createdAt: now,
      pushedAt: now,
    };
    await this.initRepo(repo.gitPath, repo.defaultBranch);
    this.state.repositories.set(id, repo);
    if (input.files && Object.keys(input.files).length > 0) {
      await this.git.commitFiles(repo.gitPath, {
        ref: `refs/heads/${repo.defaultBranch}`,
        parent: null,
        files: input.files,
        message: input.message ?? "Initial commit",
        author: this.personOf(owner),
        timestamp: now,
      });
    }
    return repo;
  }

  /** Forks into `into`'s account: a separate repository with the same history. */
  async fork(input: { owner: string; repo: string; into: string; name?: string }): Promise<Repository> {
    const source = this.repoAt(input.owner, input.repo);
    const owner = this.accountNamed(input.into);
    const name = input.name ?? source.name;
    if (this.state.findRepository(owner.login, name))
      throw new GhError(422, `Repository ${owner.login}/${name} already exists`);
    const id = this.state.nextId();
    const now = this.clock.now();
    const repo: Repository = {
      id,
      ownerId: owner.id,
      name,
      defaultBranch: source.defaultBranch,
      private: source.private,
      parentId: source.id,
      gitPath: `r/${id}.git`,
      collaborators: new Map(),
      createdAt: now,
      pushedAt: now,
    };
    await this.git.cloneBare(source.gitPath, repo.gitPath);
    // A fork does not carry its parent's pull request refs.
    for (const ref of (await this.git.refs(repo.gitPath, ["refs/pull/"])).keys())
      await this.git.deleteRef(repo.gitPath, ref);
    await this.hidePullRefs(repo.gitPath);
    this.state.repositories.set(id, repo);
    return repo;
  }

  setCollaborator(input: { owner: string; repo: string; login: string; role: Role | null }): void {
    const repo = this.repoAt(input.owner, input.repo);
    const account = this.accountNamed(input.login);
    if (input.role === null) repo.collaborators.delete(account.login);
    else repo.collaborators.set(account.login, input.role);
  }

  async snapshot(repo: Repository): Promise<Map<string, string>> {
    return this.git.refs(repo.gitPath, ["refs/heads/", "refs/tags/"]);
  }

  diff(before: Map<string, string>, after: Map<string, string>): RefChange[] {
    const changes: RefChange[] = [];
    for (const [ref, sha] of after)
      if (before.get(ref) !== sha) changes.push({ ref, before: before.get(ref) ?? ZERO_SHA, after: sha });
    for (const [ref, sha] of before) if (!after.has(ref)) changes.push({ ref, before: sha, after: ZERO_SHA });
    return changes;
  }

  /** Commits `files` on a branch (created from `startPoint` or the default branch) and emits what a push would. */
  async push(input: {
    owner: string;
    repo: string;
    branch: string;
    files: FileMap;
    message?: string;
    as?: string;
    startPoint?: string;
  }): Promise<{ sha: string; before: string; ref: string }> {
    const repo = this.repoAt(input.owner, input.repo);
    const actor = this.accountNamed(input.as ?? this.state.account(repo.ownerId).login);
    const ref = `refs/heads/${input.branch}`;
    const result = await this.lockRepo(repo, async () => {
      const current = await this.git.resolveRef(repo.gitPath, ref);
      let parent = current;
      if (!parent) {
        const start = input.startPoint ?? repo.defaultBranch;
        if (!isSafeRevision(start)) throw new GhError(422, `Invalid start point ${start}`);
        parent = await this.git.resolveCommit(repo.gitPath, start);
      }
      const sha = await this.git.commitFiles(repo.gitPath, {
        ref,
        parent,
        files: input.files,
        message: input.message ?? `Update ${Object.keys(input.files).join(", ")}`,
        author: this.personOf(actor),
        timestamp: this.clock.now(),
      });
      return { sha, before: current ?? ZERO_SHA, ref };
    });
    await this.refsChanged(repo, [{ ref, before: result.before, after: result.sha }], actor);
    return result;
  }

  async deleteBranch(input: { owner: string; repo: string; branch: string; as?: string }): Promise<void> {
    const repo = this.repoAt(input.owner, input.repo);
    const actor = this.accountNamed(input.as ?? this.state.account(repo.ownerId).login);
    const ref = `refs/heads/${input.branch}`;
    const before = await this.lockRepo(repo, async () => {
      const sha = await this.git.resolveRef(repo.gitPath, ref);
      if (!sha) throw new GhError(422, "Reference does not exist");
      await this.git.deleteRef(repo.gitPath, ref);
      return sha;
    });
    await this.refsChanged(repo, [{ ref, before, after: ZERO_SHA }], actor);
  }

  /** The file changes between two commits, with line counts. */
  async fileChanges(repo: Repository, from: string, to: string): Promise<FileChange[]> {
    const entries = await this.git.diffTree(repo.gitPath, from, to);
    const numstat = (
      await this.git.run(repo.gitPath, ["diff-tree", "-r", "-M", "--numstat", "-z", "--no-commit-id", from, to])
    ).stdout.toString("utf8");
    const counts = new Map<string, [number, number]>();
    const parts = numstat.split("\0");
    for (let i = 0; i < parts.length; i++) {
      const head = parts[i] ?? "";
      const m = /^(-|\d+)\t(-|\d+)\t(.*)$/.exec(head);
      if (!m) continue;
      let path = m[3] ?? "";
      if (path === "") {
        // A rename: the old and the new path follow as two more fields.
        i += 2;
        path = parts[i] ?? "";
      }
      counts.set(path, [m[1] === "-" ? 0 : Number(m[1]), m[2] === "-" ? 0 : Number(m[2])]);
    }
    return entries.map((e) => {
      const [additions, deletions] = counts.get(e.path) ?? [0, 0];
      const status: FileChange["status"] =
        e.status === "A" ? "added" : e.status === "D" ? "removed" : e.status === "R" ? "renamed" : "modified";
      return {
        filename: e.path,
        previousFilename: e.status === "R" ? e.srcPath : null,
        status,
        sha: e.status === "D" ? e.srcId : e.dstId,
        additions,
        deletions,
      };
    });
  }

  /** The unified diff of one file between two commits (the `patch` of a files entry). */
  async patch(repo: Repository, from: string, to: string, path: string): Promise<string | null> {
    const out = (await this.git.run(repo.gitPath, ["diff", "--no-color", "-M", from, to, "--", path])).stdout.toString(
      "utf8",
    );
    const at = out.indexOf("\n@@");
    return at < 0 ? null : out.slice(at + 1).replace(/\n$/, "");
  }

  /** After refs moved (git push, control push, merge): push events, then pull requests follow their branches. */
  async refsChanged(repo: Repository, changes: readonly RefChange[], actor: Account): Promise<void> {
    if (changes.length === 0) return;
    repo.pushedAt = this.clock.now();
    for (const change of changes) await this.events.emitPush(repo, change, actor);
    for (const pr of [...this.state.pulls.values()]) {
      if (pr.state !== "open") continue;
      for (const change of changes) {
        if (pr.headRepositoryId === repo.id && change.ref === `refs/heads/${pr.headRef}`) {
          if (change.after === ZERO_SHA) continue;
          const before = pr.headSha;
          pr.headSha = change.after;
          pr.updatedAt = this.clock.now();
          await this.pulls.writePullRefs(pr);
          await this.pulls.emitPull(pr, "synchronize", actor, { before, after: change.after });
        } else if (
          pr.repositoryId === repo.id &&
          change.ref === `refs/heads/${pr.baseRef}` &&
          change.after !== ZERO_SHA
        ) {
          pr.baseSha = change.after;
          await this.pulls.writePullRefs(pr);
        }
      }
    }
  }
}
