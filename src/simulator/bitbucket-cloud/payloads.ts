import type { CommitInfo } from "../git.ts";
import type { CloudSwitches } from "./options.ts";
import type {
  Account,
  CloudState,
  Comment,
  CommitStatus,
  Hook,
  Project,
  PullRequest,
  Repository,
  Workspace,
} from "./state.ts";

/**
 * JSON shapes, field for field after the captures in shared/fixtures/bitbucket-cloud/ (2024–2026 where they
 * exist): REST answers and webhook bodies share them, as on Cloud.
 */
export type Json = Record<string, unknown>;

const href = (url: string): { href: string } => ({ href: url });

/** PR and comment timestamps: microseconds and `+00:00` (§4.2). */
export function isoMicros(ms: number): string {
  return new Date(ms).toISOString().replace("Z", "000+00:00");
}

/** Commit dates: no fraction (§4.2). */
export function isoSeconds(ms: number): string {
  return new Date(ms).toISOString().replace(/\.\d{3}Z$/, "+00:00");
}

/** Hook `created_at`: nanoseconds and `Z` (§2.2). */
export function isoNanos(ms: number): string {
  return new Date(ms).toISOString().replace("Z", "000000Z");
}

/** The 12-hex short hash of PR payloads (§4.2). */
export const short = (sha: string): string => sha.slice(0, 12);

export class CloudPresenter {
  private readonly state: CloudState;
  private readonly base: () => string;
  private readonly switches: () => CloudSwitches;

  constructor(state: CloudState, base: () => string, switches: () => CloudSwitches) {
    this.state = state;
    this.base = base;
    this.switches = switches;
  }

  get api(): string {
    return `${this.base()}/2.0`;
  }

  get web(): string {
    return this.base();
  }

  account(account: Account): Json {
    const id = encodeURIComponent(account.uuid);
    return {
      display_name: account.displayName,
      links: {
        self: href(`${this.api}/users/${id}`),
        avatar: href(`${this.web}/account/${id}/avatar/`),
        html: href(`${this.web}/${id}/`),
      },
      type: account.type,
      uuid: account.uuid,
      account_id: account.accountId,
      nickname: account.nickname,
    };
  }

  accountByUuid(uuid: string | null): Json | null {
    const account = uuid ? this.state.accounts.get(uuid) : undefined;
    return account ? this.account(account) : null;
  }

  /** A team workspace as an owner or actor: `type: "team"` and still a `username` (§4.2). */
  team(ws: Workspace): Json {
    const id = encodeURIComponent(ws.uuid);
    return {
      display_name: ws.name,
      links: {
        self: href(`${this.api}/workspaces/${id}`),
        avatar: href(`${this.web}/account/${ws.slug}/avatar/`),
        html: href(`${this.web}/${id}/`),
      },
      type: "team",
      uuid: ws.uuid,
      username: ws.slug,
    };
  }

  workspaceRef(ws: Workspace): Json {
    return {
      type: "workspace",
      uuid: ws.uuid,
      name: ws.name,
      slug: ws.slug,
      links: {
        avatar: href(`${this.web}/workspaces/${ws.slug}/avatar/`),
        html: href(`${this.web}/${ws.slug}/`),
        self: href(`${this.api}/workspaces/${ws.slug}`),
      },
    };
  }

  project(project: Project): Json {
    const ws = this.state.workspaces.get(project.workspace);
    const slug = ws?.slug ?? "";
    return {
      type: "project",
      key: project.key,
      uuid: project.uuid,
      name: project.name,
      links: {
        self: href(`${this.api}/workspaces/${slug}/projects/${project.key}`),
        html: href(`${this.web}/${slug}/workspace/projects/${project.key}`),
        avatar: href(`${this.web}/${slug}/workspace/projects/${project.key}/avatar/32`),
      },
    };
  }

  /** The short repository object inside PRs, statuses and hook subjects. */
  repoRef(repo: Repository): Json {
    const full = this.state.fullName(repo);
    return {
      type: "repository",
      full_name: full,
      links: {
        self: href(`${this.api}/repositories/${full}`),
        html: href(`${this.web}/${full}`),
        avatar: href(`${this.web}/ravatar/${encodeURIComponent(repo.uuid)}`),
      },
      name: repo.name,
      uuid: repo.uuid,
    };
  }

  private owner(ws: Workspace): Json {
    const personal = ws.personalOwner ? this.state.accounts.get(ws.personalOwner) : undefined;
    return personal ? this.account(personal) : this.team(ws);
  }

  /** The repository object of webhook bodies: no `links.clone` (§4.2). */
  repository(repo: Repository): Json {
    const ws = this.state.workspaces.get(repo.workspace) as Workspace;
    const project = this.state.projects.get(repo.project) as Project;
    return {
      ...this.repoRef(repo),
      project: this.project(project),
      website: null,
      owner: this.owner(ws),
      workspace: this.workspaceRef(ws),
      is_private: repo.isPrivate,
      scm: "git",
      parent: repo.parent ? this.repoRefByUuid(repo.parent) : null,
    };
  }

  private repoRefByUuid(uuid: string): Json | null {
    const repo = this.state.repositories.get(uuid);
    return repo ? this.repoRef(repo) : null;
  }

  /** `GET /repositories/{ws}/{slug}`: the webhook object plus clone links and the main branch. */
  repositoryRest(repo: Repository): Json {
    const full = this.state.fullName(repo);
    const body = this.repository(repo);
    const links = body.links as Json;
    links.clone = [
      { name: "https", href: `${this.web}/${full}.git` },
      { name: "ssh", href: `git@sim.invalid:${full}.git` },
    ];
    links.pullrequests = href(`${this.api}/repositories/${full}/pullrequests`);
    links.hooks = href(`${this.api}/repositories/${full}/hooks`);
    return {
      ...body,
      slug: repo.slug,
      mainbranch: { type: "branch", name: repo.mainBranch },
      created_on: isoMicros(repo.createdOn),
      fork_policy: "allow_forks",
    };
  }

  private commitLinks(repo: Repository, sha: string): Json {
    const full = this.state.fullName(repo);
    return {
      self: href(`${this.api}/repositories/${full}/commit/${sha}`),
      html: href(`${this.web}/${full}/commits/${sha}`),
    };
  }

  /** `{hash, links, type}` as in PR `source.commit` (12 hex in webhooks) and statuses (40 hex). */
  commitRef(repo: Repository, sha: string): Json {
    return { hash: sha, links: this.commitLinks(repo, sha), type: "commit" };
  }

  private author(person: { name: string; email: string }): Json {
    const user = this.state.accountByEmail(person.email);
    const out: Json = { type: "author", raw: `${person.name} <${person.email}>` };
    if (user) out.user = this.account(user);
    return out;
  }

  /** A full commit: `target` of a ref (`full: false`) or an entry of `commits[]` (`full: true`, more links). */
  commit(repo: Repository, c: CommitInfo, full: boolean): Json {
    const fullName = this.state.fullName(repo);
    const links = this.commitLinks(repo, c.id);
    if (full) {
      const api = `${this.api}/repositories/${fullName}`;
      Object.assign(links, {
        diff: href(`${api}/diff/${c.id}`),
        approve: href(`${api}/commit/${c.id}/approve`),
        comments: href(`${api}/commit/${c.id}/comments`),
        statuses: href(`${api}/commit/${c.id}/statuses`),
        patch: href(`${api}/patch/${c.id}`),
      });
    }
    const message = `${c.message}\n`;
    return {
      type: "commit",
      hash: c.id,
      date: isoSeconds(c.authorTimestamp),
      author: this.author(c.author),
      committer: {},
      message,
      summary: { type: "rendered", raw: message, markup: "markdown", html: `<p>${escapeHtml(c.message)}</p>` },
      links,
      parents: c.parents.map((p) => this.commitRef(repo, p)),
      rendered: {},
      properties: {},
    };
  }

  /** A branch as in `push.changes[].new/old` (2025 shape). */
  branch(repo: Repository, name: string, target: CommitInfo): Json {
    const full = this.state.fullName(repo);
    return {
      name,
      target: this.commit(repo, target, false),
      links: {
        self: href(`${this.api}/repositories/${full}/refs/branches/${name}`),
        commits: href(`${this.api}/repositories/${full}/commits/${name}`),
        html: href(`${this.web}/${full}/branch/${name}`),
        pullrequest_create: href(`${this.web}/${full}/pull-requests/new?source=${name}&t=1`),
      },
      type: "branch",
      merge_strategies: [
        "merge_commit",
        "squash",
        "fast_forward",
        "squash_fast_forward",
        "rebase_fast_forward",
        "rebase_merge",
      ],
      sync_strategies: ["merge_commit", "rebase"],
      default_merge_strategy: "merge_commit",
    };
  }

  /** A tag: `message`/`date` null for a lightweight tag, `tagger: {}` (§4.2); `target` is the peeled commit. */
  tag(repo: Repository, name: string, target: CommitInfo, annotation: { message: string; date: number } | null): Json {
    const full = this.state.fullName(repo);
    return {
      name,
      target: this.commit(repo, target, false),
      links: {
        self: href(`${this.api}/repositories/${full}/refs/tags/${name}`),
        commits: href(`${this.api}/repositories/${full}/commits/${name}`),
        html: href(`${this.web}/${full}/commits/tag/${name}`),
      },
      type: "tag",
      message: annotation ? `${annotation.message}\n` : null,
      date: annotation ? isoSeconds(annotation.date) : null,
      tagger: {},
    };
  }

  pullRequest(pr: PullRequest, options: { shortHashes: boolean }): Json {
    const repo = this.state.repositories.get(pr.repo) as Repository;
    const source = this.state.repositories.get(pr.source.repo) as Repository;
    const full = this.state.fullName(repo);
    const api = `${this.api}/repositories/${full}/pullrequests/${pr.id}`;
    const hash = (sha: string): string => (options.shortHashes ? short(sha) : sha);
    const spec = `${this.state.fullName(source)}:${short(pr.source.commit)}%0D${short(pr.destination.commit)}`;
    const rendered = (raw: string): Json => ({
      type: "rendered",
      raw,
      markup: "markdown",
      html: raw ? `<p>${escapeHtml(raw)}</p>` : "",
    });
    const body: Json = {
      comment_count: this.state.comments.filter((c) => c.repo === pr.repo && c.pullRequest === pr.id && !c.deleted)
        .length,
      task_count: 0,
      type: "pullrequest",
      id: pr.id,
      title: pr.title,
      description: pr.description,
      rendered: { title: rendered(pr.title), description: rendered(pr.description) },
      state: pr.state,
      merge_commit: pr.mergeCommit ? this.commitRef(repo, hash(pr.mergeCommit)) : null,
      close_source_branch: pr.closeSourceBranch,
      closed_by: this.accountByUuid(pr.closedBy),
      author: this.accountByUuid(pr.author),
      reason: pr.reason,
      created_on: isoMicros(pr.createdOn),
      updated_on: isoMicros(pr.updatedOn),
      destination: {
        branch: { name: pr.destination.branch },
        commit: this.commitRef(repo, hash(pr.destination.commit)),
        repository: this.repoRef(repo),
      },
      source: {
        branch: { name: pr.source.branch, links: {}, sync_strategies: ["merge_commit", "rebase"] },
        commit: this.commitRef(source, hash(pr.source.commit)),
        repository: this.repoRef(source),
      },
      reviewers: pr.reviewers.map((u) => this.accountByUuid(u)).filter((a) => a !== null),
      participants: pr.participants.map((p) => ({
        type: "participant",
        user: this.accountByUuid(p.user),
        role: p.role,
        approved: p.approved,
        state: p.state,
        participated_on: p.participatedOn === null ? null : isoMicros(p.participatedOn),
      })),
      links: {
        self: href(api),
        html: href(`${this.web}/${full}/pull-requests/${pr.id}`),
        commits: href(`${api}/commits`),
        approve: href(`${api}/approve`),
        "request-changes": href(`${api}/request-changes`),
        diff: href(`${this.api}/repositories/${full}/diff/${spec}?from_pullrequest_id=${pr.id}&topic=true`),
        diffstat: href(`${this.api}/repositories/${full}/diffstat/${spec}?from_pullrequest_id=${pr.id}&topic=true`),
        comments: href(`${api}/comments`),
        activity: href(`${api}/activity`),
        merge: href(`${api}/merge`),
        decline: href(`${api}/decline`),
        statuses: href(`${api}/statuses`),
      },
      summary: rendered(pr.description),
    };
    if (this.switches().pullRequestDraftFields) {
      body.draft = false;
      body.queued = false;
    }
    return body;
  }

  comment(c: Comment): Json {
    const repo = this.state.repositories.get(c.repo) as Repository;
    const pr = this.state.pullRequestsOf(repo).find((p) => p.id === c.pullRequest) as PullRequest;
    const full = this.state.fullName(repo);
    const raw = c.deleted ? "" : c.raw;
    const body: Json = {
      links: {
        self: href(`${this.api}/repositories/${full}/pullrequests/${pr.id}/comments/${c.id}`),
        html: href(`${this.web}/${full}/pull-requests/${pr.id}/_/diff#comment-${c.id}`),
      },
      deleted: c.deleted,
      pullrequest: {
        type: "pullrequest",
        id: pr.id,
        links: {
          self: href(`${this.api}/repositories/${full}/pullrequests/${pr.id}`),
          html: href(`${this.web}/${full}/pull-requests/${pr.id}`),
        },
        title: pr.title,
      },
      content: { raw, markup: "markdown", html: raw ? `<p>${escapeHtml(raw)}</p>` : "", type: "rendered" },
      created_on: isoMicros(c.createdOn),
      user: this.accountByUuid(c.user),
      updated_on: isoMicros(c.updatedOn),
      type: "pullrequest_comment",
      id: c.id,
    };
    if (c.parent !== null) body.parent = { id: c.parent };
    if (c.inline) body.inline = { path: c.inline.path, to: c.inline.to, from: null };
    return body;
  }

  /** `commit_status` (REST and the `repo:commit_status_*` body); `commit` is the full commit there. */
  status(s: CommitStatus, commit: Json): Json {
    const repo = this.state.repositories.get(s.repo) as Repository;
    const full = this.state.fullName(repo);
    return {
      key: s.key,
      type: "build",
      state: s.state,
      name: s.name,
      refname: s.refname,
      commit,
      url: s.url,
      repository: this.repoRef(repo),
      description: s.description,
      created_on: isoMicros(s.createdOn),
      updated_on: isoMicros(s.updatedOn),
      links: {
        self: href(`${this.api}/repositories/${full}/commit/${s.commit}/statuses/build/${encodeURIComponent(s.key)}`),
        commit: href(`${this.api}/repositories/${full}/commit/${s.commit}`),
      },
    };
  }

  /** A hook: `secret` is never rendered, only `secret_set` (§2.2). */
  hook(h: Hook): Json {
    const subject =
      h.subjectType === "repository"
        ? (this.state.repositories.get(h.subject) as Repository)
        : (this.state.workspaces.get(h.subject) as Workspace);
    const self =
      h.subjectType === "repository"
        ? `${this.api}/repositories/${this.state.fullName(subject as Repository)}/hooks/${encodeURIComponent(h.uuid)}`
        : `${this.api}/workspaces/${(subject as Workspace).slug}/hooks/${encodeURIComponent(h.uuid)}`;
    return {
      type: "webhook_subscription",
      uuid: h.uuid,
      description: h.description,
      url: h.url,
      active: h.active,
      skip_cert_verification: false,
      events: [...h.events],
      created_at: isoNanos(h.createdAt),
      subject_type: h.subjectType,
      subject:
        h.subjectType === "repository" ? this.repoRef(subject as Repository) : this.workspaceRef(subject as Workspace),
      links: { self: href(self) },
      source: null,
      read_only: false,
      history_enabled: false,
      secret_set: h.secret !== null,
    };
  }
}

function escapeHtml(text: string): string {
  return text.replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;").replace(/"/g, "&quot;");
}
