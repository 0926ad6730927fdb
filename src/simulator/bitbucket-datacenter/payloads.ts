import { formatWebhookDate } from "../clock.ts";
import type { CommitInfo, Person } from "../git.ts";
import type { SimulatorSwitches } from "./options.ts";
import type {
  AccessToken,
  BuildStatus,
  Comment,
  Project,
  PullRequest,
  Repository,
  Reviewer,
  SimState,
  User,
  Webhook,
} from "./state.ts";
import { versionAtLeast } from "./version.ts";

/**
 * JSON shapes of Bitbucket entities and webhook payloads (reference §4, checked against the captures in
 * test/fixtures/bitbucket-dc/). Key order follows the newer captures so a diff against a fixture reads easily.
 */

export type Json = null | boolean | number | string | Json[] | { [key: string]: Json | undefined };
export type JsonObject = { [key: string]: Json | undefined };

export interface PresenterContext {
  state: SimState;
  baseUrl: string;
  version: string;
  switches: SimulatorSwitches;
}

export interface RefChange {
  refId: string;
  fromHash: string;
  toHash: string;
  type: "ADD" | "UPDATE" | "DELETE";
}

export function displayIdOf(refId: string): string {
  if (refId.startsWith("refs/heads/")) return refId.slice("refs/heads/".length);
  if (refId.startsWith("refs/tags/")) return refId.slice("refs/tags/".length);
  return refId;
}

export function refTypeOf(refId: string): "BRANCH" | "TAG" {
  return refId.startsWith("refs/tags/") ? "TAG" : "BRANCH";
}

export class Presenter {
  private readonly ctx: PresenterContext;

  constructor(ctx: PresenterContext) {
    this.ctx = ctx;
  }

  private get state(): SimState {
    return this.ctx.state;
  }

  private since(version: string): boolean {
    return versionAtLeast(this.ctx.version, version);
  }

  /** Entity timestamp: epoch ms, or an ISO string (DC 10.x webhook payloads; the spec's token dates). */
  ts(ms: number, iso: boolean): number | string {
    return iso ? new Date(ms).toISOString() : ms;
  }

  private href(path: string): { href: string } {
    return { href: `${this.ctx.baseUrl}${path}` };
  }

  user(user: User): JsonObject {
    return {
      name: user.name,
      emailAddress: user.email ?? undefined,
      id: user.id,
      displayName: user.displayName,
      active: user.active,
      slug: user.slug,
      type: user.type,
      links: { self: [this.href(`/users/${user.slug}`)] },
    };
  }

  project(project: Project): JsonObject {
    if (project.type === "PERSONAL" && project.ownerId !== null) {
      const owner = this.state.user(project.ownerId);
      return {
        key: project.key,
        id: project.id,
        name: project.name,
        type: "PERSONAL",
        owner: this.user(owner),
        links: { self: [this.href(`/users/${owner.slug}`)] },
      };
    }
    return {
      key: project.key,
      id: project.id,
      name: project.name,
      description: project.description ?? undefined,
      public: project.public,
      type: "NORMAL",
      links: { self: [this.href(`/projects/${project.key}`)] },
    };
  }

  /** Clone path segment: `prj/repo` or `~user/repo`, lower case as Bitbucket prints it. */
  scmPath(repo: Repository): string {
    return `${this.state.project(repo.projectId).key.toLowerCase()}/${repo.slug}`;
  }

  cloneUrl(repo: Repository): string {
    return `${this.ctx.baseUrl}/scm/${this.scmPath(repo)}.git`;
  }

  browsePath(repo: Repository): string {
    const project = this.state.project(repo.projectId);
    if (project.type === "PERSONAL" && project.ownerId !== null)
      return `/users/${this.state.user(project.ownerId).slug}/repos/${repo.slug}`;
    return `/projects/${project.key}/repos/${repo.slug}`;
  }

  repository(repo: Repository, withOrigin = true): JsonObject {
    const host = new URL(this.ctx.baseUrl).hostname;
    const out: JsonObject = {
      slug: repo.slug,
      id: repo.id,
      name: repo.name,
      hierarchyId: this.since("6.0") ? repo.hierarchyId : undefined,
      scmId: "git",
      state: "AVAILABLE",
      statusMessage: "Available",
      forkable: repo.forkable,
    };
    if (withOrigin && repo.originId !== null) {
      const origin = this.state.repositories.get(repo.originId);
      if (origin) out.origin = this.repository(origin, false);
    }
    const project = this.state.project(repo.projectId);
    out.project = this.project(project);
    out.public = repo.public;
    if (this.since("8.0")) out.archived = false;
    out.links = {
      clone: [
        { href: this.cloneUrl(repo), name: "http" },
        { href: `ssh://git@${host}:7999/${this.scmPath(repo)}.git`, name: "ssh" },
      ],
      self: [this.href(`${this.browsePath(repo)}/browse`)],
    };
    return out;
  }

  ref(repo: Repository, refId: string, latestCommit: string): JsonObject {
    return {
      id: refId,
      displayId: displayIdOf(refId),
      latestCommit,
      type: this.since("6.0") ? refTypeOf(refId) : undefined,
      repository: this.repository(repo),
    };
  }

  participant(reviewer: Reviewer, role: "AUTHOR" | "REVIEWER" | "PARTICIPANT"): JsonObject {
    return {
      user: this.user(this.state.user(reviewer.userId)),
      role,
      approved: reviewer.approved,
      status: reviewer.status,
    };
  }

  pullRequest(pr: PullRequest, options: { iso?: boolean; rest?: boolean } = {}): JsonObject {
    const iso = options.iso ?? false;
    const target = this.state.repository(pr.repositoryId);
    const source = this.state.repository(pr.from.repositoryId);
    const out: JsonObject = {
      id: pr.id,
      version: pr.version,
      title: pr.title,
      description: pr.description ? pr.description : undefined,
      state: pr.state,
      open: pr.state === "OPEN",
      closed: pr.state !== "OPEN",
      createdDate: this.ts(pr.createdDate, iso),
      updatedDate: this.ts(pr.updatedDate, iso),
      closedDate: pr.closedDate === null ? undefined : this.ts(pr.closedDate, iso),
      fromRef: this.ref(source, pr.from.refId, pr.from.latestCommit),
      toRef: this.ref(target, pr.to.refId, pr.to.latestCommit),
      locked: false,
      author: this.participant({ userId: pr.authorId, approved: false, status: "UNAPPROVED" }, "AUTHOR"),
      reviewers: pr.reviewers.map((r) => this.participant(r, "REVIEWER")),
      participants: [],
    };
    if (this.since("8.18")) out.draft = pr.draft;
    const properties: JsonObject = {};
    if (pr.mergeCommit) properties.mergeCommit = { displayId: pr.mergeCommit.slice(0, 11), id: pr.mergeCommit };
    if (options.rest) {
      properties.resolvedTaskCount = 0;
      properties.openTaskCount = 0;
    }
    if (Object.keys(properties).length > 0) out.properties = properties;
    out.links = { self: [this.href(`${this.browsePath(target)}/pull-requests/${pr.id}`)] };
    return out;
  }

  comment(comment: Comment, iso = false): JsonObject {
    const out: JsonObject = {
      properties: { repositoryId: comment.repositoryId },
      id: comment.id,
      version: comment.version,
      text: comment.text,
      author: this.user(this.state.user(comment.authorId)),
      createdDate: this.ts(comment.createdDate, iso),
      updatedDate: this.ts(comment.updatedDate, iso),
      comments: [...this.state.comments.values()]
        .filter((c) => c.parentId === comment.id)
        .map((c) => this.comment(c, iso)),
      tasks: [],
    };
    if (this.since("7.2")) {
      out.severity = "NORMAL";
      out.state = "OPEN";
    }
    if (this.since("8.0")) out.threadResolved = false;
    return out;
  }

  /** A commit author: the plain git identity, enriched with the Bitbucket user when the e-mail matches one (REST). */
  person(person: Person, enrich: boolean): JsonObject {
    if (enrich) {
      const user = [...this.state.users.values()].find(
        (u) => u.email !== null && u.email.toLowerCase() === person.email.toLowerCase(),
      );
      if (user) return { ...this.user(user), name: user.name };
    }
    return { name: person.name, emailAddress: person.email };
  }

  commit(
    info: CommitInfo,
    options: { iso?: boolean; enrich?: boolean; parents?: Map<string, CommitInfo> } = {},
  ): JsonObject {
    const iso = options.iso ?? false;
    return {
      id: info.id,
      displayId: info.id.slice(0, 11),
      author: this.person(info.author, options.enrich ?? false),
      authorTimestamp: this.ts(info.authorTimestamp, iso),
      committer: this.person(info.committer, options.enrich ?? false),
      committerTimestamp: this.ts(info.committerTimestamp, iso),
      message: info.message,
      parents: info.parents.map((p) => {
        const parent = options.parents?.get(p);
        return parent ? this.commit(parent, { iso, enrich: options.enrich }) : { id: p, displayId: p.slice(0, 11) };
      }),
    };
  }

  webhook(hook: Webhook): JsonObject {
    const out: JsonObject = {
      id: hook.id,
      name: hook.name,
      createdDate: hook.createdDate,
      updatedDate: hook.updatedDate,
      events: [...hook.events],
      configuration: structuredClone(hook.configuration) as JsonObject,
      url: hook.url,
      active: hook.active,
    };
    // The stored password is never returned, only the user name (reference §3.2).
    if (hook.credentials) out.credentials = { username: hook.credentials.username };
    if (this.since(this.ctx.switches.projectWebhooksSince)) out.scopeType = hook.scope.kind;
    out.sslVerificationRequired = hook.sslVerificationRequired;
    return out;
  }

  token(token: AccessToken, secret?: string): JsonObject {
    const iso = this.ctx.switches.isoTokenDates;
    const out: JsonObject = {
      id: token.id,
      name: token.name,
      createdDate: this.ts(token.createdDate, iso),
      lastAuthenticated: token.lastAuthenticated ?? undefined,
      expiryDays: token.expiryDays ?? undefined,
      permissions: [...token.permissions],
      user: this.user(this.state.user(token.userId)),
    };
    if (this.ctx.switches.tokenExpiryDateField && token.expiryDays !== null)
      out.expiryDate = this.ts(token.createdDate + token.expiryDays * 86_400_000, iso);
    if (secret !== undefined) out.token = secret;
    return out;
  }

  buildStatus(status: BuildStatus): JsonObject {
    const out: JsonObject = {
      key: status.key,
      state: status.state,
      url: status.url,
      name: status.name ?? undefined,
      description: status.description ?? undefined,
      buildNumber: status.buildNumber ?? undefined,
      parent: status.parent ?? undefined,
      ref: status.ref ?? undefined,
      duration: status.duration ?? undefined,
      testResults: status.testResults ?? undefined,
      createdDate: status.createdDate,
      updatedDate: status.updatedDate,
    };
    if (this.since("9.4") && status.repositoryId !== null)
      out.repository = this.repository(this.state.repository(status.repositoryId));
    return out;
  }

  // ---- webhook payloads ---------------------------------------------------------------------------------------

  private envelope(eventKey: string, actor: User, now: number): JsonObject {
    return { eventKey, date: formatWebhookDate(now), actor: this.user(actor) };
  }

  refsChanged(
    actor: User,
    repo: Repository,
    changes: readonly RefChange[],
    now: number,
    commits: { toCommit: CommitInfo; parents: Map<string, CommitInfo>; commits: CommitInfo[] } | null,
  ): JsonObject {
    const iso = this.ctx.switches.isoEntityTimestamps;
    const out = this.envelope("repo:refs_changed", actor, now);
    out.repository = this.repository(repo);
    out.changes = changes.map((c) => ({
      ref: { id: c.refId, displayId: displayIdOf(c.refId), type: refTypeOf(c.refId) },
      refId: c.refId,
      fromHash: c.fromHash,
      toHash: c.toHash,
      type: c.type,
    }));
    if (commits) {
      // Authors that are Bitbucket users appear as users, as in the DC 9 captures.
      out.toCommit = this.commit(commits.toCommit, { iso, parents: commits.parents, enrich: true });
      out.commits = commits.commits.map((c) => this.commit(c, { iso, enrich: true }));
    }
    return out;
  }

  pullRequestEvent(eventKey: string, actor: User, pr: PullRequest, now: number, extra: JsonObject = {}): JsonObject {
    const out = this.envelope(eventKey, actor, now);
    out.pullRequest = this.pullRequest(pr, { iso: this.ctx.switches.isoEntityTimestamps });
    return { ...out, ...extra };
  }

  commentEvent(actor: User, pr: PullRequest, comment: Comment, now: number): JsonObject {
    const iso = this.ctx.switches.isoEntityTimestamps;
    const out = this.pullRequestEvent("pr:comment:added", actor, pr, now);
    out.comment = this.comment(comment, iso);
    if (comment.parentId !== null) out.commentParentId = comment.parentId;
    return out;
  }
}
