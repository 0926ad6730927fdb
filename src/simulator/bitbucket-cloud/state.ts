import { createHash, randomUUID } from "node:crypto";
import type { Scope, TokenKind } from "./scopes.ts";

/** The Cloud simulator's world: accounts, workspaces, projects, repositories, tokens, PRs, statuses and hooks. */

export interface Account {
  uuid: string;
  accountId: string;
  displayName: string;
  nickname: string;
  email: string;
  /** `app_user` for the identity behind an access token (§1.4: the shape is UNCONFIRMED). */
  type: "user" | "app_user";
}

export interface Workspace {
  uuid: string;
  slug: string;
  name: string;
  /** A personal workspace's owner is a user (payload `owner.type: "user"`), a team workspace is its own owner. */
  personalOwner: string | null;
  owners: Set<string>;
  members: Set<string>;
}

export interface Project {
  uuid: string;
  key: string;
  name: string;
  workspace: string;
}

export interface Repository {
  uuid: string;
  workspace: string;
  slug: string;
  name: string;
  project: string;
  isPrivate: boolean;
  mainBranch: string;
  gitPath: string;
  /** uuid of the repository it was forked from. */
  parent: string | null;
  createdOn: number;
}

export interface AccessToken {
  id: string;
  kind: TokenKind;
  name: string;
  /** uuid of the repository, project or workspace it reaches. */
  target: string;
  workspace: string;
  scopes: Scope[];
  secretHash: string;
  createdAt: number;
  expiresAt: number | null;
  revoked: boolean;
  /** The token acts as its own account. */
  account: Account;
}

export interface Participant {
  user: string;
  role: "PARTICIPANT" | "REVIEWER";
  approved: boolean;
  state: "approved" | "changes_requested" | null;
  participatedOn: number | null;
}

export interface PullRequest {
  id: number;
  repo: string;
  title: string;
  description: string;
  state: "OPEN" | "MERGED" | "DECLINED";
  source: { repo: string; branch: string; commit: string };
  destination: { branch: string; commit: string };
  author: string;
  closedBy: string | null;
  mergeCommit: string | null;
  closeSourceBranch: boolean;
  reason: string;
  reviewers: string[];
  participants: Participant[];
  createdOn: number;
  updatedOn: number;
}

export interface Comment {
  id: number;
  repo: string;
  pullRequest: number;
  raw: string;
  user: string;
  createdOn: number;
  updatedOn: number;
  deleted: boolean;
  parent: number | null;
  inline: { path: string; to: number | null } | null;
}

export type StatusState = "INPROGRESS" | "SUCCESSFUL" | "FAILED" | "STOPPED";

export interface CommitStatus {
  repo: string;
  commit: string;
  key: string;
  state: StatusState;
  name: string;
  description: string;
  url: string;
  refname: string | null;
  creator: string;
  createdOn: number;
  updatedOn: number;
}

export interface Hook {
  /** Internal number, for the delivery log. */
  id: number;
  uuid: string;
  subjectType: "repository" | "workspace";
  subject: string;
  url: string;
  description: string;
  active: boolean;
  events: string[];
  /** Write-only: never rendered. */
  secret: string | null;
  createdAt: number;
}

export function braced(): string {
  return `{${randomUUID()}}`;
}

export function hashSecret(secret: string): string {
  return createHash("sha256").update(secret, "utf8").digest("hex");
}

/** `{uuid}` or `%7Buuid%7D` (Fastify decodes the latter) as a path segment. */
export function isBracedUuid(segment: string): boolean {
  return /^\{[0-9a-f-]{36}\}$/i.test(segment);
}

export class CloudState {
  readonly accounts = new Map<string, Account>();
  readonly workspaces = new Map<string, Workspace>();
  readonly projects = new Map<string, Project>();
  readonly repositories = new Map<string, Repository>();
  readonly tokens = new Map<string, AccessToken>();
  readonly pullRequests = new Map<string, PullRequest[]>();
  readonly comments: Comment[] = [];
  readonly statuses: CommitStatus[] = [];
  readonly hooks = new Map<string, Hook>();
  private nextComment = 100_000;
  private nextHook = 0;
  private nextRepo = 0;

  commentId(): number {
    return ++this.nextComment;
  }

  hookId(): number {
    return ++this.nextHook;
  }

  gitPathFor(): string {
    return `r/${++this.nextRepo}.git`;
  }

  accountByNickname(name: string): Account | undefined {
    return [...this.accounts.values()].find((a) => a.nickname === name || a.uuid === name || a.accountId === name);
  }

  /** An account by the keys Cloud's REST paths take (§4.2, §6.5): `{uuid}` or `account_id`, never the nickname. */
  accountByKey(key: string): Account | undefined {
    if (isBracedUuid(key)) return this.accounts.get(key.toLowerCase());
    return [...this.accounts.values()].find((a) => a.accountId === key);
  }

  accountByEmail(email: string): Account | undefined {
    return [...this.accounts.values()].find((a) => a.type === "user" && a.email.toLowerCase() === email.toLowerCase());
  }

  /** A workspace by slug or `{uuid}`. */
  workspace(segment: string): Workspace | undefined {
    if (isBracedUuid(segment)) return this.workspaces.get(segment.toLowerCase());
    return [...this.workspaces.values()].find((w) => w.slug === segment.toLowerCase());
  }

  project(workspace: Workspace, key: string): Project | undefined {
    if (isBracedUuid(key)) return this.projects.get(key.toLowerCase());
    return [...this.projects.values()].find((p) => p.workspace === workspace.uuid && p.key === key.toUpperCase());
  }

  /** A repository by `{workspace}/{slug}`, either of them possibly a `{uuid}`. */
  repository(workspaceSegment: string, slugSegment: string): Repository | undefined {
    if (isBracedUuid(slugSegment)) {
      const repo = this.repositories.get(slugSegment.toLowerCase());
      const ws = this.workspace(workspaceSegment);
      return repo && ws && repo.workspace === ws.uuid ? repo : undefined;
    }
    const ws = this.workspace(workspaceSegment);
    if (!ws) return undefined;
    const slug = slugSegment.toLowerCase();
    return [...this.repositories.values()].find((r) => r.workspace === ws.uuid && r.slug === slug);
  }

  fullName(repo: Repository): string {
    return `${this.workspaces.get(repo.workspace)?.slug ?? "?"}/${repo.slug}`;
  }

  pullRequestsOf(repo: Repository): PullRequest[] {
    let list = this.pullRequests.get(repo.uuid);
    if (!list) {
      list = [];
      this.pullRequests.set(repo.uuid, list);
    }
    return list;
  }

  tokenBySecret(secret: string): AccessToken | undefined {
    const hash = hashSecret(secret);
    return [...this.tokens.values()].find((t) => t.secretHash === hash);
  }

  /** Does a token reach this repository (its repository, a repository of its project, or of its workspace)? */
  reaches(token: AccessToken, repo: Repository): boolean {
    if (token.kind === "repository") return token.target === repo.uuid;
    if (token.kind === "project") return token.target === repo.project;
    return token.target === repo.workspace;
  }
}
