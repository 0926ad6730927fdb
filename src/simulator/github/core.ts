import { createHmac, createPublicKey, generateKeyPairSync, randomBytes } from "node:crypto";
import { appendFile } from "node:fs/promises";
import { join } from "node:path";
import type { SimClock } from "../clock.ts";
import { Deliveries, type DeliveryHeaders, signBody } from "../deliveries.ts";
import { type CommitInfo, Git, isSafeRevision, type Person, ZERO_SHA } from "../git.ts";
import { KeyedMutex } from "../mutex.ts";
import { RateLimiter } from "../ratelimit.ts";
import { RequestLog } from "../request-log.ts";
import { GhError, notFound, validationFailed } from "./errors.ts";
import type { GitHubOptions } from "./options.ts";
import { excessPermission, type PermissionSet, type Role, withMetadata } from "./permissions.ts";
import { type FileChange, GitHubPresenter, type Json, type PullStats } from "./presenter.ts";
import { PrimaryRateLimit } from "./ratelimit.ts";
import {
  type Account,
  type App,
  GitHubState,
  hashToken,
  type Installation,
  type IssueComment,
  type PullRequest,
  type RepoHook,
  type Repository,
  type Token,
} from "./state.ts";

/** Files of a commit: path → content, or null to delete the path. */
export type FileMap = Record<string, string | Buffer | null>;

export interface RefChange {
  ref: string;
  before: string;
  after: string;
}

/** An installation token's lifetime: one hour of simulator time. */
export const INSTALLATION_TOKEN_TTL_MS = 60 * 60 * 1000;

/** GitHub's webhook headers: X-GitHub-Event, X-GitHub-Delivery, X-Hub-Signature(-256) and the hook's target. */
export const githubDeliveryHeaders: DeliveryHeaders = ({ target, eventKey, requestId, body, secret }) => {
  const headers: Record<string, string> = {
    "Content-Type": "application/json",
    "X-GitHub-Event": eventKey,
    "X-GitHub-Delivery": requestId,
    "X-GitHub-Hook-ID": String(target.hook.id),
  };
  const { targetType, targetId } = target.hook.configuration;
  headers["X-GitHub-Hook-Installation-Target-Type"] = String(targetType);
  headers["X-GitHub-Hook-Installation-Target-ID"] = String(targetId);
  const signature = secret ? signBody(secret, body) : null;
  if (signature && secret) {
    headers["X-Hub-Signature-256"] = signature;
    // The SHA-1 signature is still sent, for old receivers.
    headers["X-Hub-Signature"] = `sha1=${createHmac("sha1", secret).update(body, "utf8").digest("hex")}`;
  }
  return { headers, signature };
};

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
      userAgent: () => "GitHub-Hookshot/sim",
      headers: githubDeliveryHeaders,
    });
    this.primary = new PrimaryRateLimit(options.rateLimit.limit, () => clock.now());
    this.secondary = new RateLimiter(options.secondaryRateLimit, () => clock.now());
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

  private person(account: Account): Person {
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
    const excess = excessPermission(permissions, app.permissions);
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

  // ---- tokens ---------------------------------------------------------------------------------------------------

  private newSecret(prefix: "ghs_" | "github_pat_"): string {
    const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
    const bytes = randomBytes(prefix === "ghs_" ? 36 : 82);
    let out = prefix;
    for (const b of bytes) out += alphabet[b % alphabet.length];
    return out;
  }

  /**
   * `POST /app/installations/{id}/access_tokens`: a token narrowed to `repositories` (names) or `repository_ids`
   * and to `permissions`, refused (422) when it asks for more than the installation has.
   */
  createInstallationToken(
    inst: Installation,
    request: { repositories?: string[]; repository_ids?: number[]; permissions?: PermissionSet },
  ): { secret: string; token: Token & { kind: "installation" }; repositories: Repository[] | null } {
    const covered = this.installationRepos(inst);
    let repositoryIds: number[] | null = null;
    if (request.repositories !== undefined || request.repository_ids !== undefined) {
      const ids = new Set<number>();
      for (const name of request.repositories ?? []) {
        const repo = covered.find((r) => r.name.toLowerCase() === name.toLowerCase());
        if (!repo)
          throw new GhError(
            422,
            "There is at least one repository that does not exist or is not accessible to the parent installation.",
          );
        ids.add(repo.id);
      }
      for (const id of request.repository_ids ?? []) {
        if (!covered.some((r) => r.id === id))
          throw new GhError(
            422,
            "There is at least one repository that does not exist or is not accessible to the parent installation.",
          );
        ids.add(id);
      }
      repositoryIds = [...ids];
    }
    let permissions = withMetadata(inst.permissions);
    if (request.permissions !== undefined) {
      if (excessPermission(request.permissions, withMetadata(inst.permissions)) !== null)
        throw new GhError(422, "The permissions requested are not granted to this installation.");
      permissions = withMetadata(request.permissions);
    }
    const secret = this.newSecret("ghs_");
    const token: Token & { kind: "installation" } = {
      kind: "installation",
      id: `ghs-${this.state.nextId()}`,
      installationId: inst.id,
      repositoryIds,
      permissions,
      expiresAt: this.clock.now() + INSTALLATION_TOKEN_TTL_MS,
    };
    this.state.tokens.set(hashToken(secret), token);
    return {
      secret,
      token,
      repositories: repositoryIds === null ? null : covered.filter((r) => repositoryIds.includes(r.id)),
    };
  }

  /** A fine-grained personal access token of `user` on `owner`'s repositories (all, or the named ones). */
  createPersonalToken(input: {
    user: string;
    owner?: string;
    name?: string;
    repositories?: string[] | null;
    permissions: PermissionSet;
    expiresInDays?: number;
  }): { secret: string; token: Token & { kind: "pat" } } {
    const user = this.accountNamed(input.user);
    const owner = this.accountNamed(input.owner ?? input.user);
    const repositoryIds =
      input.repositories === undefined || input.repositories === null
        ? null
        : input.repositories.map((n) => this.repoAt(owner.login, n).id);
    const secret = this.newSecret("github_pat_");
    const token: Token & { kind: "pat" } = {
      kind: "pat",
      id: `pat-${this.state.nextId()}`,
      userId: user.id,
      name: input.name ?? "token",
      repositoryIds,
      ownerId: owner.id,
      permissions: withMetadata(input.permissions),
      expiresAt: this.clock.now() + (input.expiresInDays ?? 30) * 24 * 60 * 60 * 1000,
    };
    this.state.tokens.set(hashToken(secret), token);
    return { secret, token };
  }

  /** The token a secret names, if it exists and has not expired on the simulator clock. */
  tokenFor(secret: string): Token | undefined {
    const token = this.state.tokens.get(hashToken(secret));
    if (!token || token.expiresAt <= this.clock.now()) return undefined;
    return token;
  }

  revokeToken(secret: string): boolean {
    return this.state.tokens.delete(hashToken(secret));
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
      const sha = await this.git.commitFiles(repo.gitPath, {
        ref: `refs/heads/${repo.defaultBranch}`,
        parent: null,
        files: input.files,
        message: input.message ?? "Initial commit",
        author: this.person(owner),
        timestamp: now,
      });
      await this.git.updateRef(repo.gitPath, "HEAD", `refs/heads/${repo.defaultBranch}`).catch(() => undefined);
      void sha;
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
        author: this.person(actor),
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
    for (const change of changes) await this.emitPush(repo, change, actor);
    for (const pr of [...this.state.pulls.values()]) {
      if (pr.state !== "open") continue;
      for (const change of changes) {
        if (pr.headRepositoryId === repo.id && change.ref === `refs/heads/${pr.headRef}`) {
          if (change.after === ZERO_SHA) continue;
          const before = pr.headSha;
          pr.headSha = change.after;
          pr.updatedAt = this.clock.now();
          await this.writePullRefs(pr);
          await this.emitPull(pr, "synchronize", actor, { before, after: change.after });
        } else if (
          pr.repositoryId === repo.id &&
          change.ref === `refs/heads/${pr.baseRef}` &&
          change.after !== ZERO_SHA
        ) {
          pr.baseSha = change.after;
          await this.writePullRefs(pr);
        }
      }
    }
  }

  private async emitPush(repo: Repository, change: RefChange, actor: Account): Promise<void> {
    const full = this.state.fullName(repo);
    const created = change.before === ZERO_SHA;
    const deleted = change.after === ZERO_SHA;
    let commits: CommitInfo[] = [];
    let forced = false;
    if (!deleted) {
      let exclude: string | null = created ? null : change.before;
      if (created && change.ref !== `refs/heads/${repo.defaultBranch}`)
        exclude = await this.git.resolveRef(repo.gitPath, `refs/heads/${repo.defaultBranch}`);
      if (!created) forced = !(await this.git.isAncestor(repo.gitPath, change.before, change.after));
      const ids = await this.git.revList(repo.gitPath, change.after, exclude, 20);
      commits = (await this.git.log(repo.gitPath, ["--no-walk=unsorted", ...ids.reverse()])) ?? [];
    }
    const entries: Json[] = [];
    for (const c of commits) {
      const tree = await this.git.treeOf(repo.gitPath, c.id);
      const files = await this.fileChanges(repo, c.parents[0] ?? "4b825dc642cb6eb9a060e54bf8d69288fbee4904", c.id);
      entries.push(this.presenter.pushCommit(repo, c, tree, files));
    }
    let headCommit: Json | null = entries.at(-1) ?? null;
    if (!deleted && headCommit === null) {
      const c = await this.git.commit(repo.gitPath, change.after);
      if (c) {
        const tree = await this.git.treeOf(repo.gitPath, c.id);
        headCommit = this.presenter.pushCommit(repo, c, tree, []);
      }
    }
    const short = change.ref.replace(/^refs\/(heads|tags)\//, "");
    const payload: Json = {
      ref: change.ref,
      before: change.before,
      after: change.after,
      created,
      deleted,
      forced,
      base_ref: null,
      compare: created
        ? `${this.baseUrl}/${full}/compare/${short}`
        : `${this.baseUrl}/${full}/compare/${change.before.slice(0, 12)}...${change.after.slice(0, 12)}`,
      commits: entries,
      head_commit: headCommit,
      repository: this.presenter.repository(repo, { pushEvent: true }),
      pusher: { name: actor.login, email: actor.email },
      sender: this.presenter.user(actor),
    };
    this.emit(repo, "push", payload);
  }

  // ---- pull requests ------------------------------------------------------------------------------------------

  pullAt(owner: string, repo: string, number: number): PullRequest {
    const r = this.repoAt(owner, repo);
    const pr = this.state.pull(r.id, number);
    if (!pr) throw notFound();
    return pr;
  }

  async pullStats(pr: PullRequest): Promise<PullStats> {
    const repo = this.state.repository(pr.repositoryId);
    const gitPath = repo.gitPath;
    const head = (await this.git.resolveRef(gitPath, `refs/pull/${pr.number}/head`)) ?? pr.headSha;
    const base = pr.baseSha;
    const mergeBase = (await this.git.mergeBase(gitPath, base, head)) ?? base;
    const files = await this.fileChanges(repo, mergeBase, head);
    const commits = await this.git.revList(gitPath, head, base, 250);
    return {
      mergeable: (await this.git.mergeTree(gitPath, base, head)) !== null,
      commits: commits.length,
      additions: files.reduce((n, f) => n + f.additions, 0),
      deletions: files.reduce((n, f) => n + f.deletions, 0),
      changedFiles: files.length,
    };
  }

  async pullJson(pr: PullRequest): Promise<Json> {
    return this.presenter.pullRequest(pr, await this.pullStats(pr));
  }

  /** refs/pull/N/head in the base repository (fetched from a fork) and refs/pull/N/merge when it merges cleanly. */
  private async writePullRefs(pr: PullRequest): Promise<void> {
    const base = this.state.repository(pr.repositoryId);
    const head = this.state.repository(pr.headRepositoryId);
    await this.lockRepo(base, async () => {
      const headRef = `refs/pull/${pr.number}/head`;
      if (head.id === base.id) await this.git.updateRef(base.gitPath, headRef, pr.headSha);
      else await this.git.fetchCommit(base.gitPath, head.gitPath, pr.headSha, headRef);
      const mergeRef = `refs/pull/${pr.number}/merge`;
      const tree = await this.git.mergeTree(base.gitPath, pr.baseSha, pr.headSha);
      if (tree === null) {
        if (await this.git.resolveRef(base.gitPath, mergeRef)) await this.git.deleteRef(base.gitPath, mergeRef);
        return;
      }
      const bot = this.state.accountNamed("web-flow") ?? null;
      const sha = await this.git.commitTree(
        base.gitPath,
        tree,
        [pr.baseSha, pr.headSha],
        `Merge ${pr.headSha} into ${pr.baseSha}`,
        bot ? this.person(bot) : { name: "GitHub", email: "noreply@github.com" },
        this.clock.now(),
      );
      await this.git.updateRef(base.gitPath, mergeRef, sha);
    });
  }

  /**
   * Opens a pull request on `owner/repo` from `head` (`branch`, or `login:branch` for a fork of it) into `base`
   * (default: the default branch); emits pull_request.opened.
   */
  async openPullRequest(input: {
    owner: string;
    repo: string;
    head: string;
    base?: string;
    title: string;
    body?: string | null;
    as: string;
  }): Promise<PullRequest> {
    const repo = this.repoAt(input.owner, input.repo);
    const user = this.accountNamed(input.as);
    const [headOwner, headBranch] = input.head.includes(":")
      ? (input.head.split(":", 2) as [string, string])
      : [this.state.account(repo.ownerId).login, input.head];
    let headRepo: Repository | undefined;
    if (headOwner.toLowerCase() === this.state.account(repo.ownerId).login.toLowerCase()) headRepo = repo;
    else
      headRepo = [...this.state.repositories.values()].find(
        (r) => r.parentId === repo.id && this.state.account(r.ownerId).login.toLowerCase() === headOwner.toLowerCase(),
      );
    if (!headRepo) throw validationFailed("Validation Failed", "head", "invalid");
    const baseRef = input.base ?? repo.defaultBranch;
    const headSha = await this.git.resolveRef(headRepo.gitPath, `refs/heads/${headBranch}`);
    const baseSha = await this.git.resolveRef(repo.gitPath, `refs/heads/${baseRef}`);
    if (!headSha) throw validationFailed("Validation Failed", "head", "invalid");
    if (!baseSha) throw validationFailed("Validation Failed", "base", "invalid");
    for (const other of this.state.pulls.values())
      if (
        other.state === "open" &&
        other.repositoryId === repo.id &&
        other.headRepositoryId === headRepo.id &&
        other.headRef === headBranch &&
        other.baseRef === baseRef
      )
        throw new GhError(422, "Validation Failed", {
          extra: {
            errors: [
              {
                resource: "PullRequest",
                code: "custom",
                message: `A pull request already exists for ${input.head}.`,
              },
            ],
          },
        });
    const now = this.clock.now();
    const pr: PullRequest = {
      id: this.state.nextId(),
      number: this.state.nextNumber(repo.id),
      repositoryId: repo.id,
      headRepositoryId: headRepo.id,
      headRef: headBranch,
      headSha,
      baseRef,
      baseSha,
      title: input.title,
      body: input.body ?? null,
      userId: user.id,
      state: "open",
      merged: false,
      mergeCommitSha: null,
      mergedById: null,
      createdAt: now,
      updatedAt: now,
      closedAt: null,
      mergedAt: null,
    };
    this.state.pulls.set(pr.id, pr);
    await this.writePullRefs(pr);
    await this.emitPull(pr, "opened", user);
    return pr;
  }

  async closePullRequest(input: { owner: string; repo: string; number: number; as?: string }): Promise<PullRequest> {
    const pr = this.pullAt(input.owner, input.repo, input.number);
    const repo = this.state.repository(pr.repositoryId);
    const actor = this.accountNamed(input.as ?? this.state.account(repo.ownerId).login);
    if (pr.state !== "open") throw new GhError(422, "Pull request is not open");
    pr.state = "closed";
    pr.closedAt = pr.updatedAt = this.clock.now();
    await this.emitPull(pr, "closed", actor);
    return pr;
  }

  async reopenPullRequest(input: { owner: string; repo: string; number: number; as?: string }): Promise<PullRequest> {
    const pr = this.pullAt(input.owner, input.repo, input.number);
    const repo = this.state.repository(pr.repositoryId);
    const actor = this.accountNamed(input.as ?? this.state.account(repo.ownerId).login);
    if (pr.state === "open" || pr.merged) throw new GhError(422, "Pull request cannot be reopened");
    pr.state = "open";
    pr.closedAt = null;
    pr.updatedAt = this.clock.now();
    await this.emitPull(pr, "reopened", actor);
    return pr;
  }

  /** A merge commit on the base branch, a push event for it, then pull_request.closed with merged true. */
  async mergePullRequest(input: {
    owner: string;
    repo: string;
    number: number;
    as?: string;
    sha?: string;
    commitTitle?: string;
  }): Promise<PullRequest> {
    const pr = this.pullAt(input.owner, input.repo, input.number);
    const repo = this.state.repository(pr.repositoryId);
    const actor = this.accountNamed(input.as ?? this.state.account(repo.ownerId).login);
    if (pr.state !== "open") throw new GhError(405, "Pull Request is not mergeable");
    if (input.sha !== undefined && input.sha !== pr.headSha)
      throw new GhError(409, "Head branch was modified. Review and try the merge again.");
    const ref = `refs/heads/${pr.baseRef}`;
    const change = await this.lockRepo(repo, async () => {
      const base = await this.git.resolveRef(repo.gitPath, ref);
      if (!base) throw new GhError(405, "Base branch was deleted");
      const tree = await this.git.mergeTree(repo.gitPath, base, pr.headSha);
      if (tree === null) throw new GhError(405, "Pull Request is not mergeable");
      const head = this.state.repository(pr.headRepositoryId);
      const sha = await this.git.commitTree(
        repo.gitPath,
        tree,
        [base, pr.headSha],
        `${input.commitTitle ?? `Merge pull request #${pr.number} from ${this.state.account(head.ownerId).login}/${pr.headRef}`}\n\n${pr.title}`,
        this.person(actor),
        this.clock.now(),
      );
      await this.git.updateRef(repo.gitPath, ref, sha, base);
      return { ref, before: base, after: sha };
    });
    pr.state = "closed";
    pr.merged = true;
    pr.mergeCommitSha = change.after;
    pr.mergedById = actor.id;
    pr.closedAt = pr.mergedAt = pr.updatedAt = this.clock.now();
    await this.refsChanged(repo, [change], actor);
    await this.emitPull(pr, "closed", actor);
    return pr;
  }

  private async emitPull(pr: PullRequest, action: string, actor: Account, extra: Json = {}): Promise<void> {
    const repo = this.state.repository(pr.repositoryId);
    const payload: Json = {
      action,
      number: pr.number,
      ...extra,
      pull_request: await this.pullJson(pr),
      repository: this.presenter.repository(repo),
      sender: this.presenter.user(actor),
    };
    this.emit(repo, "pull_request", payload);
  }

  addComment(input: { owner: string; repo: string; number: number; body: string; as: string }): IssueComment {
    const pr = this.pullAt(input.owner, input.repo, input.number);
    const user = this.accountNamed(input.as);
    return this.commentAs(pr, user, input.body);
  }

  commentAs(pr: PullRequest, user: Account, body: string): IssueComment {
    const now = this.clock.now();
    const comment: IssueComment = {
      id: this.state.nextId(),
      repositoryId: pr.repositoryId,
      number: pr.number,
      userId: user.id,
      body,
      createdAt: now,
      updatedAt: now,
    };
    this.state.comments.set(comment.id, comment);
    const repo = this.state.repository(pr.repositoryId);
    this.emit(repo, "issue_comment", {
      action: "created",
      issue: this.presenter.issue(pr),
      comment: this.presenter.comment(comment),
      repository: this.presenter.repository(repo),
      sender: this.presenter.user(user),
    });
    return comment;
  }

  // ---- hooks and deliveries -------------------------------------------------------------------------------------

  createHook(
    repo: Repository,
    input: { name?: string; active?: boolean; events?: string[]; config: RepoHook["config"] },
  ): RepoHook {
    const now = this.clock.now();
    const hook: RepoHook = {
      id: this.state.nextId(),
      repositoryId: repo.id,
      name: input.name ?? "web",
      active: input.active ?? true,
      events: input.events ?? ["push"],
      config: input.config,
      createdAt: now,
      updatedAt: now,
    };
    this.state.hooks.set(hook.id, hook);
    return hook;
  }

  /** The ping GitHub sends to a new hook (and on `POST …/pings`). */
  ping(hook: RepoHook, sender: Account | null): void {
    const repo = this.state.repository(hook.repositoryId);
    const payload: Json = {
      zen: "Keep it logically awesome.",
      hook_id: hook.id,
      hook: { ...this.presenter.hook(hook), config: this.presenter.hookConfig(hook.config) },
      repository: this.presenter.repository(repo),
      sender: this.presenter.user(sender ?? this.state.account(repo.ownerId)),
    };
    this.sendToHook(hook, "ping", payload);
  }

  private sendToHook(hook: RepoHook, event: string, payload: Json): void {
    this.deliveries.enqueue(
      {
        hook: {
          id: hook.id,
          url: hook.config.url,
          configuration: { secret: hook.config.secret, targetType: "repository", targetId: hook.repositoryId },
          credentials: null,
          scope: { kind: "repository" },
        },
      },
      event,
      JSON.stringify(payload),
    );
  }

  /**
   * Delivers an event to the repository's hooks that subscribe to it and to every App installed on the
   * repository whose installation subscribes to it (with the `installation` field those carry).
   */
  emit(repo: Repository, event: string, payload: Json): void {
    const owner = this.state.account(repo.ownerId);
    const withOrg = owner.type === "Organization" ? { ...payload, organization: this.organization(owner) } : payload;
    for (const hook of this.state.hooks.values())
      if (hook.repositoryId === repo.id && hook.active && (hook.events.includes(event) || hook.events.includes("*")))
        this.sendToHook(hook, event, withOrg);
    for (const inst of this.state.installationsFor(repo)) {
      const app = this.state.apps.get(inst.appId);
      if (!app?.hook || inst.suspended || !inst.events.includes(event)) continue;
      this.deliveries.enqueue(
        {
          hook: {
            id: app.hookId,
            url: app.hook.url,
            configuration: { secret: app.hook.secret, targetType: "integration", targetId: app.id },
            credentials: null,
            scope: { kind: "app" },
          },
        },
        event,
        JSON.stringify({ ...withOrg, installation: this.presenter.installationRef(inst) }),
      );
    }
  }

  private organization(org: Account): Json {
    const u = `${this.baseUrl}/orgs/${org.login}`;
    return {
      login: org.login,
      id: org.id,
      node_id: this.presenter.user(org).node_id,
      url: u,
      repos_url: `${u}/repos`,
      events_url: `${u}/events`,
      hooks_url: `${u}/hooks`,
      issues_url: `${u}/issues`,
      members_url: `${u}/members{/member}`,
      public_members_url: `${u}/public_members{/member}`,
      avatar_url: `${this.baseUrl}/avatars/u/${org.id}?v=4`,
      description: null,
    };
  }
}
