import type { CommitInfo } from "../git.ts";
import type { GitHubPresenter } from "./presenter.ts";
import { type FileChange, isoSeconds, type Json, nodeId } from "./shapes.ts";
import type { Account, CheckRun, CommitStatus, GitHubState, Repository } from "./state.ts";

/** Commits, changed files, commit statuses and check runs as GitHub shows them (REST and events). */
export class CommitPresenter {
  private readonly p: GitHubPresenter;
  private readonly state: GitHubState;

  constructor(p: GitHubPresenter, state: GitHubState) {
    this.p = p;
    this.state = state;
  }

  person(c: CommitInfo, who: "author" | "committer"): Json {
    const p = c[who];
    const at = who === "author" ? c.authorTimestamp : c.committerTimestamp;
    return { name: p.name, email: p.email, date: isoSeconds(at) };
  }

  accountByEmail(email: string): Account | null {
    for (const a of this.state.accounts.values()) if (a.email === email) return a;
    return null;
  }

  /** A commit as the REST API shows it (compare, pull commits). */
  commit(repo: Repository, c: CommitInfo, tree: string): Json {
    const full = this.state.fullName(repo);
    const author = this.accountByEmail(c.author.email);
    const committer = this.accountByEmail(c.committer.email);
    return {
      sha: c.id,
      node_id: nodeId("Commit", Number.parseInt(c.id.slice(0, 8), 16)),
      commit: {
        author: this.person(c, "author"),
        committer: this.person(c, "committer"),
        message: c.message,
        tree: { sha: tree, url: this.p.api(`/repos/${full}/git/trees/${tree}`) },
        url: this.p.api(`/repos/${full}/git/commits/${c.id}`),
        comment_count: 0,
        verification: { verified: false, reason: "unsigned", signature: null, payload: null },
      },
      url: this.p.api(`/repos/${full}/commits/${c.id}`),
      html_url: `${this.p.base}/${full}/commit/${c.id}`,
      comments_url: this.p.api(`/repos/${full}/commits/${c.id}/comments`),
      author: author ? this.p.user(author) : null,
      committer: committer ? this.p.user(committer) : null,
      parents: c.parents.map((p) => ({
        sha: p,
        url: this.p.api(`/repos/${full}/commits/${p}`),
        html_url: `${this.p.base}/${full}/commit/${p}`,
      })),
    };
  }

  /** A commit as the push event lists it. */
  pushCommit(repo: Repository, c: CommitInfo, tree: string, files: FileChange[]): Json {
    const full = this.state.fullName(repo);
    const who = (p: { name: string; email: string }): Json => {
      const account = this.accountByEmail(p.email);
      return account ? { name: p.name, email: p.email, username: account.login } : { name: p.name, email: p.email };
    };
    const pick = (status: FileChange["status"][]): string[] =>
      files.filter((f) => status.includes(f.status)).map((f) => f.filename);
    return {
      id: c.id,
      tree_id: tree,
      distinct: true,
      message: c.message,
      timestamp: isoSeconds(c.committerTimestamp),
      url: `${this.p.base}/${full}/commit/${c.id}`,
      author: who(c.author),
      committer: who(c.committer),
      added: pick(["added", "renamed"]),
      removed: pick(["removed"]),
      modified: pick(["modified"]),
    };
  }

  file(repo: Repository, f: FileChange, headSha: string, patch: string | null): Json {
    const full = this.state.fullName(repo);
    const path = encodeURI(f.filename);
    const json: Json = {
      sha: f.sha,
      filename: f.filename,
      status: f.status,
      additions: f.additions,
      deletions: f.deletions,
      changes: f.additions + f.deletions,
      blob_url: `${this.p.base}/${full}/blob/${headSha}/${path}`,
      raw_url: `${this.p.base}/${full}/raw/${headSha}/${path}`,
      contents_url: this.p.api(`/repos/${full}/contents/${path}?ref=${headSha}`),
    };
    if (patch !== null) json.patch = patch;
    if (f.previousFilename !== null) json.previous_filename = f.previousFilename;
    return json;
  }

  status(s: CommitStatus): Json {
    const repo = this.state.repository(s.repositoryId);
    return {
      url: this.p.api(`/repos/${this.state.fullName(repo)}/statuses/${s.sha}`),
      avatar_url: `${this.p.base}/avatars/u/${s.creatorId}?v=4`,
      id: s.id,
      node_id: nodeId("StatusContext", s.id),
      state: s.state,
      description: s.description,
      target_url: s.targetUrl,
      context: s.context,
      created_at: isoSeconds(s.createdAt),
      updated_at: isoSeconds(s.updatedAt),
      creator: this.p.user(this.state.account(s.creatorId)),
    };
  }

  /** The open pull requests whose head is `sha`, in the short form check runs and suites list. */
  private pullsAt(repo: Repository, sha: string): Json[] {
    const ref = (r: Repository) => ({ id: r.id, url: this.p.api(`/repos/${this.state.fullName(r)}`), name: r.name });
    return [...this.state.pulls.values()]
      .filter((p) => p.repositoryId === repo.id && p.state === "open" && p.headSha === sha)
      .map((p) => ({
        url: this.p.api(`/repos/${this.state.fullName(repo)}/pulls/${p.number}`),
        id: p.id,
        number: p.number,
        head: { ref: p.headRef, sha: p.headSha, repo: ref(this.state.repository(p.headRepositoryId)) },
        base: { ref: p.baseRef, sha: p.baseSha, repo: ref(repo) },
      }));
  }

  /** A check run; in events its `check_suite` is the whole suite (one per run in the simulator). */
  checkRun(run: CheckRun, opts: { event?: boolean } = {}): Json {
    const repo = this.state.repository(run.repositoryId);
    const full = this.state.fullName(repo);
    const url = this.p.api(`/repos/${full}/check-runs/${run.id}`);
    const app = run.appId === null ? undefined : this.state.apps.get(run.appId);
    const appJson = app ? this.p.appSummary(app) : null;
    const pulls = this.pullsAt(repo, run.headSha);
    const suite: Json = opts.event
      ? {
          id: run.id,
          node_id: nodeId("CheckSuite", run.id),
          head_branch: null,
          head_sha: run.headSha,
          status: run.status,
          conclusion: run.conclusion,
          url: this.p.api(`/repos/${full}/check-suites/${run.id}`),
          before: null,
          after: run.headSha,
          pull_requests: pulls,
          app: appJson,
          created_at: isoSeconds(run.startedAt),
          updated_at: isoSeconds(run.completedAt ?? run.startedAt),
        }
      : { id: run.id };
    return {
      id: run.id,
      head_sha: run.headSha,
      node_id: nodeId("CheckRun", run.id),
      external_id: run.externalId ?? "",
      url,
      html_url: `${this.p.base}/${full}/runs/${run.id}`,
      details_url: run.detailsUrl,
      status: run.status,
      conclusion: run.conclusion,
      started_at: isoSeconds(run.startedAt),
      completed_at: run.completedAt === null ? null : isoSeconds(run.completedAt),
      output: {
        title: run.output.title,
        summary: run.output.summary,
        text: run.output.text,
        annotations_count: 0,
        annotations_url: `${url}/annotations`,
      },
      name: run.name,
      check_suite: suite,
      app: appJson,
      pull_requests: pulls,
    };
  }
}
