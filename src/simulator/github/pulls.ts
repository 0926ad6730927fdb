import type { GitHubCore } from "./core.ts";
import { GhError, notFound, validationFailed } from "./errors.ts";
import type { Json, PullStats } from "./presenter.ts";
import type { Account, IssueComment, PullRequest, Repository } from "./state.ts";

/**
 * The pull request lifecycle: open (from a branch or a fork), follow the head (synchronize), close, reopen, merge,
 * and comments on the conversation. The base repository keeps refs/pull/N/head (fetched from a fork) and
 * refs/pull/N/merge while the PR merges cleanly, as GitHub does.
 */
export class PullRequests {
  private readonly core: GitHubCore;

  constructor(core: GitHubCore) {
    this.core = core;
  }

  pullAt(owner: string, repo: string, number: number): PullRequest {
    const r = this.core.repoAt(owner, repo);
    const pr = this.core.state.pull(r.id, number);
    if (!pr) throw notFound();
    return pr;
  }

  async pullStats(pr: PullRequest): Promise<PullStats> {
    const repo = this.core.state.repository(pr.repositoryId);
    const gitPath = repo.gitPath;
    const head = (await this.core.git.resolveRef(gitPath, `refs/pull/${pr.number}/head`)) ?? pr.headSha;
    const base = pr.baseSha;
    const mergeBase = (await this.core.git.mergeBase(gitPath, base, head)) ?? base;
    const files = await this.core.fileChanges(repo, mergeBase, head);
    const commits = await this.core.git.revList(gitPath, head, base, 250);
    return {
      mergeable: (await this.core.git.mergeTree(gitPath, base, head)) !== null,
      commits: commits.length,
      additions: files.reduce((n, f) => n + f.additions, 0),
      deletions: files.reduce((n, f) => n + f.deletions, 0),
      changedFiles: files.length,
    };
  }

  async pullJson(pr: PullRequest): Promise<Json> {
    return this.core.presenter.pullRequest(pr, await this.pullStats(pr));
  }

  /** refs/pull/N/head in the base repository (fetched from a fork) and refs/pull/N/merge when it merges cleanly. */
  async writePullRefs(pr: PullRequest): Promise<void> {
    const base = this.core.state.repository(pr.repositoryId);
    const head = this.core.state.repository(pr.headRepositoryId);
    await this.core.lockRepo(base, async () => {
      const headRef = `refs/pull/${pr.number}/head`;
      if (head.id === base.id) await this.core.git.updateRef(base.gitPath, headRef, pr.headSha);
      else await this.core.git.fetchCommit(base.gitPath, head.gitPath, pr.headSha, headRef);
      const mergeRef = `refs/pull/${pr.number}/merge`;
      const tree = await this.core.git.mergeTree(base.gitPath, pr.baseSha, pr.headSha);
      if (tree === null) {
        if (await this.core.git.resolveRef(base.gitPath, mergeRef))
          await this.core.git.deleteRef(base.gitPath, mergeRef);
        return;
      }
      const bot = this.core.state.accountNamed("web-flow") ?? null;
      const sha = await this.core.git.commitTree(
        base.gitPath,
        tree,
        [pr.baseSha, pr.headSha],
        `Merge ${pr.headSha} into ${pr.baseSha}`,
        bot ? this.core.personOf(bot) : { name: "GitHub", email: "noreply@github.com" },
        this.core.clock.now(),
      );
      await this.core.git.updateRef(base.gitPath, mergeRef, sha);
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
    const repo = this.core.repoAt(input.owner, input.repo);
    const user = this.core.accountNamed(input.as);
    const [headOwner, headBranch] = input.head.includes(":")
      ? (input.head.split(":", 2) as [string, string])
      : [this.core.state.account(repo.ownerId).login, input.head];
    let headRepo: Repository | undefined;
    if (headOwner.toLowerCase() === this.core.state.account(repo.ownerId).login.toLowerCase()) headRepo = repo;
    else
      headRepo = [...this.core.state.repositories.values()].find(
        (r) =>
          r.parentId === repo.id && this.core.state.account(r.ownerId).login.toLowerCase() === headOwner.toLowerCase(),
      );
    if (!headRepo) throw validationFailed("Validation Failed", "head", "invalid");
    const baseRef = input.base ?? repo.defaultBranch;
    const headSha = await this.core.git.resolveRef(headRepo.gitPath, `refs/heads/${headBranch}`);
    const baseSha = await this.core.git.resolveRef(repo.gitPath, `refs/heads/${baseRef}`);
    if (!headSha) throw validationFailed("Validation Failed", "head", "invalid");
    if (!baseSha) throw validationFailed("Validation Failed", "base", "invalid");
    for (const other of this.core.state.pulls.values())
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
    const now = this.core.clock.now();
    const pr: PullRequest = {
      id: this.core.state.nextId(),
      number: this.core.state.nextNumber(repo.id),
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
    this.core.state.pulls.set(pr.id, pr);
    await this.writePullRefs(pr);
    await this.emitPull(pr, "opened", user);
    return pr;
  }

  async closePullRequest(input: { owner: string; repo: string; number: number; as?: string }): Promise<PullRequest> {
    const pr = this.pullAt(input.owner, input.repo, input.number);
    const repo = this.core.state.repository(pr.repositoryId);
    const actor = this.core.accountNamed(input.as ?? this.core.state.account(repo.ownerId).login);
    if (pr.state !== "open") throw new GhError(422, "Pull request is not open");
    pr.state = "closed";
    pr.closedAt = pr.updatedAt = this.core.clock.now();
    await this.emitPull(pr, "closed", actor);
    return pr;
  }

  async reopenPullRequest(input: { owner: string; repo: string; number: number; as?: string }): Promise<PullRequest> {
    const pr = this.pullAt(input.owner, input.repo, input.number);
    const repo = this.core.state.repository(pr.repositoryId);
    const actor = this.core.accountNamed(input.as ?? this.core.state.account(repo.ownerId).login);
    if (pr.state === "open" || pr.merged) throw new GhError(422, "Pull request cannot be reopened");
    pr.state = "open";
    pr.closedAt = null;
    pr.updatedAt = this.core.clock.now();
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
    const repo = this.core.state.repository(pr.repositoryId);
    const actor = this.core.accountNamed(input.as ?? this.core.state.account(repo.ownerId).login);
    if (pr.state !== "open") throw new GhError(405, "Pull Request is not mergeable");
    if (input.sha !== undefined && input.sha !== pr.headSha)
      throw new GhError(409, "Head branch was modified. Review and try the merge again.");
    const ref = `refs/heads/${pr.baseRef}`;
    const change = await this.core.lockRepo(repo, async () => {
      const base = await this.core.git.resolveRef(repo.gitPath, ref);
      if (!base) throw new GhError(405, "Base branch was deleted");
      const tree = await this.core.git.mergeTree(repo.gitPath, base, pr.headSha);
      if (tree === null) throw new GhError(405, "Pull Request is not mergeable");
      const head = this.core.state.repository(pr.headRepositoryId);
      const sha = await this.core.git.commitTree(
        repo.gitPath,
        tree,
        [base, pr.headSha],
        `${input.commitTitle ?? `Merge pull request #${pr.number} from ${this.core.state.account(head.ownerId).login}/${pr.headRef}`}\n\n${pr.title}`,
        this.core.personOf(actor),
        this.core.clock.now(),
      );
      await this.core.git.updateRef(repo.gitPath, ref, sha, base);
      return { ref, before: base, after: sha };
    });
    pr.state = "closed";
    pr.merged = true;
    pr.mergeCommitSha = change.after;
    pr.mergedById = actor.id;
    pr.closedAt = pr.mergedAt = pr.updatedAt = this.core.clock.now();
    await this.core.refsChanged(repo, [change], actor);
    await this.emitPull(pr, "closed", actor);
    return pr;
  }

  async emitPull(pr: PullRequest, action: string, actor: Account, extra: Json = {}): Promise<void> {
    const repo = this.core.state.repository(pr.repositoryId);
    const payload: Json = {
      action,
      number: pr.number,
      ...extra,
      pull_request: await this.pullJson(pr),
      repository: this.core.presenter.repository(repo),
      sender: this.core.presenter.user(actor),
    };
    this.core.events.emit(repo, "pull_request", payload);
  }

  addComment(input: { owner: string; repo: string; number: number; body: string; as: string }): IssueComment {
    const pr = this.pullAt(input.owner, input.repo, input.number);
    const user = this.core.accountNamed(input.as);
    return this.commentAs(pr, user, input.body);
  }

  commentAs(pr: PullRequest, user: Account, body: string): IssueComment {
    const now = this.core.clock.now();
    const comment: IssueComment = {
      id: this.core.state.nextId(),
      repositoryId: pr.repositoryId,
      number: pr.number,
      userId: user.id,
      body,
      createdAt: now,
      updatedAt: now,
    };
    this.core.state.comments.set(comment.id, comment);
    const repo = this.core.state.repository(pr.repositoryId);
    this.core.events.emit(repo, "issue_comment", {
      action: "created",
      issue: this.core.presenter.issue(pr),
      comment: this.core.presenter.comment(comment),
      repository: this.core.presenter.repository(repo),
      sender: this.core.presenter.user(user),
    });
    return comment;
  }
}
