import { createHash, type KeyObject } from "node:crypto";
import type { PermissionSet, Role } from "./permissions.ts";

/** The GitHub world the simulator holds: accounts, Apps and installations, repositories, their PRs and hooks. */

export interface Account {
  id: number;
  login: string;
  type: "User" | "Organization" | "Bot";
  name: string | null;
  email: string | null;
  createdAt: number;
}

export interface HookConfig {
  url: string;
  content_type: "json" | "form";
  secret: string | null;
  insecure_ssl: "0" | "1";
}

export interface App {
  id: number;
  slug: string;
  name: string;
  clientId: string;
  ownerId: number;
  publicKey: KeyObject;
  permissions: PermissionSet;
  events: string[];
  /** The App's own webhook; null when it has none. */
  hook: HookConfig | null;
  hookId: number;
  /** The bot account an installation token acts as (`<slug>[bot]`). */
  botId: number;
  createdAt: number;
}

export interface Installation {
  id: number;
  appId: number;
  accountId: number;
  /** null: every repository of the account ("all"). */
  repositoryIds: number[] | null;
  permissions: PermissionSet;
  events: string[];
  suspended: boolean;
  createdAt: number;
}

export interface Repository {
  id: number;
  ownerId: number;
  name: string;
  defaultBranch: string;
  private: boolean;
  /** The repository this one was forked from. */
  parentId: number | null;
  gitPath: string;
  /** login → role, besides the owner (admin). */
  collaborators: Map<string, Role>;
  createdAt: number;
  pushedAt: number;
}

export interface PullRequest {
  id: number;
  number: number;
  repositoryId: number;
  headRepositoryId: number;
  headRef: string;
  headSha: string;
  baseRef: string;
  /** The base branch head when the PR last changed. */
  baseSha: string;
  title: string;
  body: string | null;
  userId: number;
  state: "open" | "closed";
  merged: boolean;
  mergeCommitSha: string | null;
  mergedById: number | null;
  createdAt: number;
  updatedAt: number;
  closedAt: number | null;
  mergedAt: number | null;
}

export interface IssueComment {
  id: number;
  repositoryId: number;
  number: number;
  userId: number;
  body: string;
  createdAt: number;
  updatedAt: number;
}

export interface CommitStatus {
  id: number;
  repositoryId: number;
  sha: string;
  state: "error" | "failure" | "pending" | "success";
  context: string;
  description: string | null;
  targetUrl: string | null;
  creatorId: number;
  createdAt: number;
  updatedAt: number;
}

export interface CheckRun {
  id: number;
  repositoryId: number;
  headSha: string;
  name: string;
  status: "queued" | "in_progress" | "completed" | "waiting" | "requested" | "pending";
  conclusion: string | null;
  detailsUrl: string | null;
  externalId: string | null;
  output: { title: string | null; summary: string | null; text: string | null };
  appId: number | null;
  startedAt: number;
  completedAt: number | null;
}

export interface RepoHook {
  id: number;
  repositoryId: number;
  name: string;
  active: boolean;
  events: string[];
  config: HookConfig;
  createdAt: number;
  updatedAt: number;
}

export type Token =
  | {
      kind: "installation";
      id: string;
      installationId: number;
      /** null: every repository of the installation. */
      repositoryIds: number[] | null;
      permissions: PermissionSet;
      expiresAt: number;
    }
  | {
      kind: "pat";
      id: string;
      userId: number;
      name: string;
      /** null: every repository the resource owner owns. */
      repositoryIds: number[] | null;
      ownerId: number;
      permissions: PermissionSet;
      /** null: a token made with "No expiration". */
      expiresAt: number | null;
    };

export function hashToken(secret: string): string {
  return createHash("sha256").update(secret).digest("hex");
}

export class GitHubState {
  readonly accounts = new Map<number, Account>();
  readonly apps = new Map<number, App>();
  readonly installations = new Map<number, Installation>();
  readonly repositories = new Map<number, Repository>();
  readonly pulls = new Map<number, PullRequest>();
  readonly comments = new Map<number, IssueComment>();
  readonly statuses = new Map<number, CommitStatus>();
  readonly checkRuns = new Map<number, CheckRun>();
  readonly hooks = new Map<number, RepoHook>();
  /** By the SHA-256 of the secret: the simulator never keeps a token in the clear. */
  readonly tokens = new Map<string, Token>();
  private next = 1000;
  /** Issue and PR numbers share one sequence per repository, as on GitHub. */
  private readonly numbers = new Map<number, number>();

  nextId(): number {
    return ++this.next;
  }

  nextNumber(repositoryId: number): number {
    const n = (this.numbers.get(repositoryId) ?? 0) + 1;
    this.numbers.set(repositoryId, n);
    return n;
  }

  accountNamed(login: string): Account | undefined {
    const lower = login.toLowerCase();
    for (const a of this.accounts.values()) if (a.login.toLowerCase() === lower) return a;
    return undefined;
  }

  account(id: number): Account {
    const a = this.accounts.get(id);
    if (!a) throw new Error(`internal: no account ${id}`);
    return a;
  }

  repository(id: number): Repository {
    const r = this.repositories.get(id);
    if (!r) throw new Error(`internal: no repository ${id}`);
    return r;
  }

  /** Repository names are case-insensitive on GitHub. */
  findRepository(owner: string, name: string): Repository | undefined {
    const account = this.accountNamed(owner);
    if (!account) return undefined;
    const lower = name.toLowerCase();
    for (const r of this.repositories.values())
      if (r.ownerId === account.id && r.name.toLowerCase() === lower) return r;
    return undefined;
  }

  fullName(repo: Repository): string {
    return `${this.account(repo.ownerId).login}/${repo.name}`;
  }

  pull(repositoryId: number, number: number): PullRequest | undefined {
    for (const p of this.pulls.values()) if (p.repositoryId === repositoryId && p.number === number) return p;
    return undefined;
  }

  /** The installations of `appId` (or of every App) that cover a repository. */
  installationsFor(repo: Repository, appId?: number): Installation[] {
    return [...this.installations.values()].filter(
      (i) =>
        (appId === undefined || i.appId === appId) &&
        i.accountId === repo.ownerId &&
        (i.repositoryIds === null || i.repositoryIds.includes(repo.id)),
    );
  }

  role(repo: Repository, login: string): Role | null {
    const account = this.accountNamed(login);
    if (account?.id === repo.ownerId) return "admin";
    for (const [name, role] of repo.collaborators) if (name.toLowerCase() === login.toLowerCase()) return role;
    return null;
  }
}
