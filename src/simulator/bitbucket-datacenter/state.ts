import { createHash, randomBytes, randomInt, scryptSync, timingSafeEqual } from "node:crypto";
import type { GlobalPermission, Level, ProjectPermission, RepoPermission, TokenPermission } from "./permissions.ts";

/** In-memory model. Git content lives in real bare repositories; everything else lives here. */

export interface User {
  id: number;
  /** Login name; Bitbucket compares it case-insensitively. */
  name: string;
  slug: string;
  displayName: string;
  email: string | null;
  type: "NORMAL" | "SERVICE";
  active: boolean;
  globalPermission: GlobalPermission | null;
  /** scrypt hash; null for users who cannot log in with a password (token users). */
  passwordHash: Buffer | null;
  passwordSalt: Buffer | null;
}

export interface Group {
  name: string;
  members: Set<number>;
}

export interface Project {
  id: number;
  key: string;
  name: string;
  description: string | null;
  public: boolean;
  type: "NORMAL" | "PERSONAL";
  /** Owner of a `~user` personal project. */
  ownerId: number | null;
}

export interface Repository {
  id: number;
  slug: string;
  name: string;
  projectId: number;
  hierarchyId: string;
  /** The repository this one was forked from. */
  originId: number | null;
  public: boolean;
  forkable: boolean;
  defaultBranch: string;
  /** Path relative to the git project root, e.g. `r/12.git`. */
  gitPath: string;
  nextPullRequestId: number;
}

export type GrantSubject = { kind: "user"; userId: number } | { kind: "group"; group: string };

export interface Grant {
  subject: GrantSubject;
  /** A project grant covers every repository of the project at the matching REPO_* level. */
  target:
    | { kind: "project"; projectId: number; level: Level }
    | { kind: "repository"; repositoryId: number; level: Level };
}

export type TokenScope =
  | { kind: "user"; userId: number }
  | { kind: "project"; projectId: number }
  | { kind: "repository"; projectId: number; repositoryId: number };

export interface AccessToken {
  id: string;
  name: string;
  scope: TokenScope;
  /** The owner for user tokens; the generated service user for project/repository tokens. */
  userId: number;
  permissions: TokenPermission[];
  createdDate: number;
  expiryDays: number | null;
  lastAuthenticated: number | null;
  secretHash: string;
}

export interface WebhookCredentials {
  username: string;
  password: string | null;
}

export interface Webhook {
  id: number;
  name: string;
  url: string;
  events: string[];
  active: boolean;
  configuration: Record<string, unknown>;
  credentials: WebhookCredentials | null;
  sslVerificationRequired: boolean;
  scope: { kind: "repository"; repositoryId: number } | { kind: "project"; projectId: number };
  createdDate: number;
  updatedDate: number;
}

export type PullRequestState = "OPEN" | "DECLINED" | "MERGED";

export interface Reviewer {
  userId: number;
  approved: boolean;
  status: "UNAPPROVED" | "NEEDS_WORK" | "APPROVED";
}

export interface PullRequest {
  /** Target repository; ids are per target repository. */
  repositoryId: number;
  id: number;
  version: number;
  title: string;
  description: string | null;
  state: PullRequestState;
  createdDate: number;
  updatedDate: number;
  closedDate: number | null;
  from: { repositoryId: number; refId: string; latestCommit: string };
  to: { refId: string; latestCommit: string };
  authorId: number;
  reviewers: Reviewer[];
  draft: boolean;
  /** What refs/pull-requests/<id>/from currently points at in the target repository. */
  refsFrom: string | null;
  mergeCommit: string | null;
}

export interface Comment {
  id: number;
  version: number;
  text: string;
  authorId: number;
  createdDate: number;
  updatedDate: number;
  parentId: number | null;
  repositoryId: number;
  pullRequestId: number;
}

export interface BuildStatus {
  /** Null for a status posted to the legacy commit endpoint: it belongs to the commit in every repository. */
  repositoryId: number | null;
  commit: string;
  key: string;
  state: "INPROGRESS" | "SUCCESSFUL" | "FAILED" | "CANCELLED" | "UNKNOWN";
  url: string;
  name: string | null;
  description: string | null;
  buildNumber: string | null;
  parent: string | null;
  ref: string | null;
  duration: number | null;
  lastUpdated: number | null;
  testResults: { successful: number; failed: number; skipped: number } | null;
  createdDate: number;
  updatedDate: number;
  /** Increases with every post, to order statuses posted in the same millisecond. */
  seq: number;
  /** Who posted it, for the in-process view. */
  postedBy: string | null;
}

/** A status is one per (repository, commit, key); a legacy status has no repository. */
export function buildStatusKey(repositoryId: number | null, commit: string, key: string): string {
  return `${repositoryId ?? "commit"}/${commit}/${key}`;
}

function hashPassword(password: string, salt: Buffer): Buffer {
  return scryptSync(password, salt, 32, { N: 1024 });
}

export function hashSecret(secret: string): string {
  return createHash("sha256").update(secret).digest("hex");
}

export class SimState {
  private seq = 1;
  readonly users = new Map<number, User>();
  readonly groups = new Map<string, Group>();
  readonly projects = new Map<number, Project>();
  readonly repositories = new Map<number, Repository>();
  readonly grants: Grant[] = [];
  readonly tokens = new Map<string, AccessToken>();
  readonly tokensBySecret = new Map<string, string>();
  readonly webhooks = new Map<number, Webhook>();
  /** Keyed `${repositoryId}/${id}`. */
  readonly pullRequests = new Map<string, PullRequest>();
  readonly comments = new Map<number, Comment>();
  /** Keyed by `buildStatusKey`: repository-scoped and legacy (commit-only) statuses in one store. */
  readonly buildStatuses = new Map<string, BuildStatus>();
  /** Admin "maximum expiry" for HTTP access tokens (days); null: no maximum, expiry optional. */
  maxTokenExpiryDays: number | null = null;

  nextId(): number {
    return this.seq++;
  }

  // ---- users -------------------------------------------------------------------------------------------------

  addUser(input: {
    name: string;
    displayName?: string;
    email?: string | null;
    password?: string | null;
    type?: "NORMAL" | "SERVICE";
    globalPermission?: GlobalPermission | null;
  }): User {
    if (this.findUser(input.name)) throw new Error(`user ${input.name} already exists`);
    const salt = input.password ? randomBytes(16) : null;
    const user: User = {
      id: this.nextId(),
      name: input.name,
      slug: userSlug(input.name),
      displayName: input.displayName ?? input.name,
      email: input.email === undefined ? `${input.name}@example.com` : input.email,
      type: input.type ?? "NORMAL",
      active: true,
      globalPermission: input.globalPermission ?? (input.type === "SERVICE" ? null : "LICENSED_USER"),
      passwordHash: input.password && salt ? hashPassword(input.password, salt) : null,
      passwordSalt: salt,
    };
    this.users.set(user.id, user);
    return user;
  }

  findUser(nameOrSlug: string): User | undefined {
    const wanted = nameOrSlug.toLowerCase();
    for (const u of this.users.values()) if (u.name.toLowerCase() === wanted || u.slug === wanted) return u;
    return undefined;
  }

  user(id: number): User {
    const u = this.users.get(id);
    if (!u) throw new Error(`internal: no user ${id}`);
    return u;
  }

  /** Replaces a user's password: the old one stops working at once. */
  setPassword(user: User, password: string): void {
    const salt = randomBytes(16);
    user.passwordSalt = salt;
    user.passwordHash = hashPassword(password, salt);
  }

  checkPassword(user: User, password: string): boolean {
    if (!user.passwordHash || !user.passwordSalt) return false;
    return timingSafeEqual(user.passwordHash, hashPassword(password, user.passwordSalt));
  }

  groupsOf(userId: number): string[] {
    return [...this.groups.values()].filter((g) => g.members.has(userId)).map((g) => g.name);
  }

  // ---- projects and repositories -----------------------------------------------------------------------------

  findProject(key: string): Project | undefined {
    const wanted = key.toUpperCase();
    for (const p of this.projects.values()) if (p.key.toUpperCase() === wanted) return p;
    return undefined;
  }

  project(id: number): Project {
    const p = this.projects.get(id);
    if (!p) throw new Error(`internal: no project ${id}`);
    return p;
  }

  findRepository(projectKey: string, slug: string): Repository | undefined {
    const project = this.findProject(projectKey);
    if (!project) return undefined;
    const wanted = slug.toLowerCase();
    for (const r of this.repositories.values()) if (r.projectId === project.id && r.slug === wanted) return r;
    return undefined;
  }

  repository(id: number): Repository {
    const r = this.repositories.get(id);
    if (!r) throw new Error(`internal: no repository ${id}`);
    return r;
  }

  repositoriesOf(projectId: number): Repository[] {
    return [...this.repositories.values()].filter((r) => r.projectId === projectId).sort((a, b) => a.id - b.id);
  }

  personalProjectOf(user: User): Project {
    const existing = this.findProject(`~${user.slug}`);
    if (existing) return existing;
    const project: Project = {
      id: this.nextId(),
      key: `~${user.slug.toUpperCase()}`,
      name: user.displayName,
      description: null,
      public: false,
      type: "PERSONAL",
      ownerId: user.id,
    };
    this.projects.set(project.id, project);
    return project;
  }

  // ---- tokens -------------------------------------------------------------------------------------------------

  newTokenId(): string {
    for (;;) {
      // Twelve digits like the spec's example "252973515069"; a string, never a number.
      const id = String(randomInt(100_000_000_000, 999_999_999_999));
      if (!this.tokens.has(id)) return id;
    }
  }

  addToken(token: AccessToken): void {
    this.tokens.set(token.id, token);
    this.tokensBySecret.set(token.secretHash, token.id);
  }

  removeToken(id: string): AccessToken | undefined {
    const token = this.tokens.get(id);
    if (!token) return undefined;
    this.tokens.delete(id);
    this.tokensBySecret.delete(token.secretHash);
    return token;
  }

  tokenBySecret(secret: string): AccessToken | undefined {
    const id = this.tokensBySecret.get(hashSecret(secret));
    return id === undefined ? undefined : this.tokens.get(id);
  }

  // ---- pull requests ------------------------------------------------------------------------------------------

  pullRequest(repositoryId: number, id: number): PullRequest | undefined {
    return this.pullRequests.get(`${repositoryId}/${id}`);
  }

  pullRequestsOf(repositoryId: number): PullRequest[] {
    return [...this.pullRequests.values()].filter((p) => p.repositoryId === repositoryId);
  }
}

/** Bitbucket slugs are lower case; characters outside [a-z0-9._-] become "_" (close enough for the simulator). */
export function userSlug(name: string): string {
  return name.toLowerCase().replace(/[^a-z0-9._-]/g, "_");
}

export function repositorySlug(name: string): string {
  return name
    .toLowerCase()
    .replace(/[^a-z0-9._-]+/g, "-")
    .replace(/^-+|-+$/g, "");
}

export type { ProjectPermission, RepoPermission };
