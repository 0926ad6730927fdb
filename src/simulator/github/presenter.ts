import { CommitPresenter } from "./commit-presenter.ts";
import { withMetadata } from "./permissions.ts";
import { isoSeconds, type Json, nodeId } from "./shapes.ts";
import type {
  Account,
  App,
  GitHubState,
  HookConfig,
  Installation,
  IssueComment,
  PullRequest,
  RepoHook,
  Repository,
} from "./state.ts";

/**
 * GitHub's JSON shapes, built from the model. REST answers and webhook payloads share them, as on GitHub; the key
 * sets follow the published examples (tests compare them with @octokit/webhooks-examples).
 */

export { type FileChange, isoSeconds, type Json, nodeId } from "./shapes.ts";

export class GitHubPresenter {
  private readonly state: GitHubState;
  /** Base URL of the simulator: REST, web and git are all served from it. */
  base: string;

  /** Commits, files, statuses and check runs. */
  readonly commits: CommitPresenter;

  constructor(state: GitHubState, base: string) {
    this.state = state;
    this.base = base;
    this.commits = new CommitPresenter(this, state);
  }

  api(path: string): string {
    return `${this.base}${path}`;
  }

  user(account: Account): Json {
    const u = this.api(`/users/${account.login}`);
    return {
      login: account.login,
      id: account.id,
      node_id: nodeId(account.type === "Organization" ? "Organization" : account.type, account.id),
      avatar_url: `${this.base}/avatars/u/${account.id}?v=4`,
      gravatar_id: "",
      url: u,
      html_url: `${this.base}/${account.login}`,
      followers_url: `${u}/followers`,
      following_url: `${u}/following{/other_user}`,
      gists_url: `${u}/gists{/gist_id}`,
      starred_url: `${u}/starred{/owner}{/repo}`,
      subscriptions_url: `${u}/subscriptions`,
      organizations_url: `${u}/orgs`,
      repos_url: `${u}/repos`,
      events_url: `${u}/events{/privacy}`,
      received_events_url: `${u}/received_events`,
      type: account.type,
      site_admin: false,
    };
  }

  cloneUrl(repo: Repository): string {
    return `${this.base}/${this.state.fullName(repo)}.git`;
  }

  /** A repository as REST and most webhook payloads show it. */
  repository(repo: Repository, opts: { pushEvent?: boolean } = {}): Json {
    const full = this.state.fullName(repo);
    const owner = this.state.account(repo.ownerId);
    const r = this.api(`/repos/${full}`);
    const openIssues = [...this.state.pulls.values()].filter(
      (p) => p.repositoryId === repo.id && p.state === "open",
    ).length;
    const forks = [...this.state.repositories.values()].filter((x) => x.parentId === repo.id).length;
    const host = new URL(this.base).host;
    const json: Json = {
      id: repo.id,
      node_id: nodeId("Repository", repo.id),
      name: repo.name,
      full_name: full,
      private: repo.private,
      // The push event's owner also names the account and its address.
      owner: opts.pushEvent ? { name: owner.login, email: owner.email, ...this.user(owner) } : this.user(owner),
      html_url: `${this.base}/${full}`,
      description: null,
      fork: repo.parentId !== null,
      url: r,
      forks_url: `${r}/forks`,
      keys_url: `${r}/keys{/key_id}`,
      collaborators_url: `${r}/collaborators{/collaborator}`,
      teams_url: `${r}/teams`,
      hooks_url: `${r}/hooks`,
      issue_events_url: `${r}/issues/events{/number}`,
      events_url: `${r}/events`,
      assignees_url: `${r}/assignees{/user}`,
      branches_url: `${r}/branches{/branch}`,
      tags_url: `${r}/tags`,
      blobs_url: `${r}/git/blobs{/sha}`,
      git_tags_url: `${r}/git/tags{/sha}`,
      git_refs_url: `${r}/git/refs{/sha}`,
      trees_url: `${r}/git/trees{/sha}`,
      statuses_url: `${r}/statuses/{sha}`,
      languages_url: `${r}/languages`,
      stargazers_url: `${r}/stargazers`,
      contributors_url: `${r}/contributors`,
      subscribers_url: `${r}/subscribers`,
      subscription_url: `${r}/subscription`,
      commits_url: `${r}/commits{/sha}`,
      git_commits_url: `${r}/git/commits{/sha}`,
      comments_url: `${r}/comments{/number}`,
      issue_comment_url: `${r}/issues/comments{/number}`,
      contents_url: `${r}/contents/{+path}`,
      compare_url: `${r}/compare/{base}...{head}`,
      merges_url: `${r}/merges`,
      archive_url: `${r}/{archive_format}{/ref}`,
      downloads_url: `${r}/downloads`,
      issues_url: `${r}/issues{/number}`,
      pulls_url: `${r}/pulls{/number}`,
      milestones_url: `${r}/milestones{/number}`,
      notifications_url: `${r}/notifications{?since,all,participating}`,
      labels_url: `${r}/labels{/name}`,
      releases_url: `${r}/releases{/id}`,
      deployments_url: `${r}/deployments`,
      // The push event alone carries these two as epoch seconds.
      created_at: opts.pushEvent ? Math.floor(repo.createdAt / 1000) : isoSeconds(repo.createdAt),
      updated_at: isoSeconds(repo.pushedAt),
      pushed_at: opts.pushEvent ? Math.floor(repo.pushedAt / 1000) : isoSeconds(repo.pushedAt),
      git_url: `git://${host}/${full}.git`,
      ssh_url: `git@${host}:${full}.git`,
      clone_url: this.cloneUrl(repo),
      svn_url: `${this.base}/${full}`,
      homepage: null,
      size: 0,
      stargazers_count: 0,
      watchers_count: 0,
      language: null,
      has_issues: true,
      has_projects: true,
      has_downloads: true,
      has_wiki: true,
      has_pages: false,
      forks_count: forks,
      mirror_url: null,
      archived: false,
      disabled: false,
      open_issues_count: openIssues,
      license: null,
      forks,
      open_issues: openIssues,
      watchers: 0,
      default_branch: repo.defaultBranch,
      is_template: false,
      topics: [],
      visibility: repo.private ? "private" : "public",
      web_commit_signoff_required: false,
      custom_properties: {},
    };
    if (opts.pushEvent) {
      json.stargazers = 0;
      json.master_branch = repo.defaultBranch;
    }
    return json;
  }

  installationRef(inst: Installation): Json {
    return { id: inst.id, node_id: nodeId("IntegrationInstallation", inst.id) };
  }

  /** The App as other objects embed it (a check run's `app`): without client id and installation count. */
  appSummary(app: App): Json {
    const { client_id: _, installations_count: __, ...summary } = this.app(app);
    return summary;
  }

  app(app: App): Json {
    return {
      id: app.id,
      slug: app.slug,
      node_id: nodeId("Integration", app.id),
      client_id: app.clientId,
      owner: this.user(this.state.account(app.ownerId)),
      name: app.name,
      description: "",
      external_url: `${this.base}/apps/${app.slug}`,
      html_url: `${this.base}/apps/${app.slug}`,
      created_at: isoSeconds(app.createdAt),
      updated_at: isoSeconds(app.createdAt),
      permissions: withMetadata(app.permissions),
      events: [...app.events],
      installations_count: [...this.state.installations.values()].filter((i) => i.appId === app.id).length,
    };
  }

  /** An installation; the `installation` event carries the older, shorter form of the published examples. */
  installation(inst: Installation, opts: { event?: boolean } = {}): Json {
    const app = this.state.apps.get(inst.appId) as App;
    const account = this.state.account(inst.accountId);
    const json: Json = {
      id: inst.id,
      account: this.user(account),
      repository_selection: inst.repositoryIds === null ? "all" : "selected",
      access_tokens_url: this.api(`/app/installations/${inst.id}/access_tokens`),
      repositories_url: this.api("/installation/repositories"),
      html_url: `${this.base}/settings/installations/${inst.id}`,
      app_id: app.id,
      app_slug: app.slug,
      target_id: account.id,
      target_type: account.type,
      permissions: withMetadata(inst.permissions),
      events: [...inst.events],
      created_at: isoSeconds(inst.createdAt),
      updated_at: isoSeconds(inst.createdAt),
      single_file_name: null,
      has_multiple_single_files: false,
      single_file_paths: [],
      suspended_by: null,
      suspended_at: null,
    };
    if (opts.event) {
      delete json.app_slug;
      delete json.has_multiple_single_files;
      delete json.single_file_paths;
    }
    return json;
  }

  hookConfig(config: HookConfig): Json {
    const json: Json = { content_type: config.content_type, insecure_ssl: config.insecure_ssl, url: config.url };
    // GitHub never shows a secret back, only that there is one.
    if (config.secret) json.secret = "********";
    return json;
  }

  hook(hook: RepoHook): Json {
    const url = this.api(`/repos/${this.state.fullName(this.state.repository(hook.repositoryId))}/hooks/${hook.id}`);
    return {
      type: "Repository",
      id: hook.id,
      name: hook.name,
      active: hook.active,
      events: [...hook.events],
      config: this.hookConfig(hook.config),
      updated_at: isoSeconds(hook.updatedAt),
      created_at: isoSeconds(hook.createdAt),
      url,
      test_url: `${url}/test`,
      ping_url: `${url}/pings`,
      deliveries_url: `${url}/deliveries`,
      last_response: { code: null, status: "unused", message: null },
    };
  }

  private branch(repo: Repository, ref: string, sha: string): Json {
    const owner = this.state.account(repo.ownerId);
    return {
      label: `${owner.login}:${ref}`,
      ref,
      sha,
      user: this.user(owner),
      repo: this.repository(repo),
    };
  }

  pullRequest(pr: PullRequest, stats: PullStats): Json {
    const repo = this.state.repository(pr.repositoryId);
    const head = this.state.repository(pr.headRepositoryId);
    const full = this.state.fullName(repo);
    const url = this.api(`/repos/${full}/pulls/${pr.number}`);
    const issue = this.api(`/repos/${full}/issues/${pr.number}`);
    const html = `${this.base}/${full}/pull/${pr.number}`;
    const statuses = this.api(`/repos/${full}/statuses/${pr.headSha}`);
    const comments = [...this.state.comments.values()].filter(
      (c) => c.repositoryId === repo.id && c.number === pr.number,
    ).length;
    const mergedBy = pr.mergedById === null ? null : this.state.account(pr.mergedById);
    return {
      url,
      id: pr.id,
      node_id: nodeId("PullRequest", pr.id),
      html_url: html,
      diff_url: `${html}.diff`,
      patch_url: `${html}.patch`,
      issue_url: issue,
      number: pr.number,
      state: pr.state,
      locked: false,
      title: pr.title,
      user: this.user(this.state.account(pr.userId)),
      body: pr.body,
      created_at: isoSeconds(pr.createdAt),
      updated_at: isoSeconds(pr.updatedAt),
      closed_at: pr.closedAt === null ? null : isoSeconds(pr.closedAt),
      merged_at: pr.mergedAt === null ? null : isoSeconds(pr.mergedAt),
      merge_commit_sha: pr.mergeCommitSha,
      assignee: null,
      assignees: [],
      requested_reviewers: [],
      requested_teams: [],
      labels: [],
      milestone: null,
      draft: false,
      commits_url: `${url}/commits`,
      review_comments_url: `${url}/comments`,
      review_comment_url: this.api(`/repos/${full}/pulls/comments{/number}`),
      comments_url: `${issue}/comments`,
      statuses_url: statuses,
      head: this.branch(head, pr.headRef, pr.headSha),
      base: this.branch(repo, pr.baseRef, pr.baseSha),
      _links: {
        self: { href: url },
        html: { href: html },
        issue: { href: issue },
        comments: { href: `${issue}/comments` },
        review_comments: { href: `${url}/comments` },
        review_comment: { href: this.api(`/repos/${full}/pulls/comments{/number}`) },
        commits: { href: `${url}/commits` },
        statuses: { href: statuses },
      },
      author_association: this.association(repo, pr.userId),
      auto_merge: null,
      active_lock_reason: null,
      merged: pr.merged,
      mergeable: pr.state === "open" ? stats.mergeable : null,
      rebaseable: pr.state === "open" ? stats.mergeable : null,
      mergeable_state: pr.state !== "open" ? "unknown" : stats.mergeable ? "clean" : "dirty",
      merged_by: mergedBy ? this.user(mergedBy) : null,
      comments,
      review_comments: 0,
      maintainer_can_modify: false,
      commits: stats.commits,
      additions: stats.additions,
      deletions: stats.deletions,
      changed_files: stats.changedFiles,
    };
  }

  association(repo: Repository, userId: number): string {
    if (repo.ownerId === userId) return "OWNER";
    const login = this.state.account(userId).login;
    return this.state.role(repo, login) !== null ? "COLLABORATOR" : "CONTRIBUTOR";
  }

  /** A pull request seen as an issue (what issue_comment events carry). */
  issue(pr: PullRequest): Json {
    const repo = this.state.repository(pr.repositoryId);
    const full = this.state.fullName(repo);
    const url = this.api(`/repos/${full}/issues/${pr.number}`);
    const html = `${this.base}/${full}/pull/${pr.number}`;
    const comments = [...this.state.comments.values()].filter(
      (c) => c.repositoryId === repo.id && c.number === pr.number,
    ).length;
    return {
      url,
      repository_url: this.api(`/repos/${full}`),
      labels_url: `${url}/labels{/name}`,
      comments_url: `${url}/comments`,
      events_url: `${url}/events`,
      html_url: html,
      id: pr.id + 1,
      node_id: nodeId("Issue", pr.id + 1),
      number: pr.number,
      title: pr.title,
      user: this.user(this.state.account(pr.userId)),
      labels: [],
      state: pr.state,
      locked: false,
      assignee: null,
      assignees: [],
      milestone: null,
      comments,
      created_at: isoSeconds(pr.createdAt),
      updated_at: isoSeconds(pr.updatedAt),
      closed_at: pr.closedAt === null ? null : isoSeconds(pr.closedAt),
      author_association: this.association(repo, pr.userId),
      active_lock_reason: null,
      pull_request: {
        url: this.api(`/repos/${full}/pulls/${pr.number}`),
        html_url: html,
        diff_url: `${html}.diff`,
        patch_url: `${html}.patch`,
      },
      body: pr.body,
      performed_via_github_app: null,
    };
  }

  comment(c: IssueComment): Json {
    const repo = this.state.repository(c.repositoryId);
    const full = this.state.fullName(repo);
    return {
      url: this.api(`/repos/${full}/issues/comments/${c.id}`),
      html_url: `${this.base}/${full}/pull/${c.number}#issuecomment-${c.id}`,
      issue_url: this.api(`/repos/${full}/issues/${c.number}`),
      id: c.id,
      node_id: nodeId("IssueComment", c.id),
      user: this.user(this.state.account(c.userId)),
      created_at: isoSeconds(c.createdAt),
      updated_at: isoSeconds(c.updatedAt),
      author_association: this.association(repo, c.userId),
      body: c.body,
      performed_via_github_app: null,
    };
  }
}

export interface PullStats {
  mergeable: boolean;
  commits: number;
  additions: number;
  deletions: number;
  changedFiles: number;
}
