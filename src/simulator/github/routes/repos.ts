import type { FastifyInstance } from "fastify";
import { EMPTY_TREE, isSafeRevision } from "../../git.ts";
import { canSee } from "../auth.ts";
import type { GitHubCore } from "../core.ts";
import { GhError, notFound } from "../errors.ts";
import { legacyPermission } from "../permissions.ts";
import type { Repository } from "../state.ts";
import { paginate, param, type Reply, type Req, repoFor } from "./context.ts";

/** A revision of a request, as a commit id (404 when it names nothing). */
export async function commitOf(core: GitHubCore, repo: Repository, rev: string): Promise<string> {
  if (!isSafeRevision(rev)) throw notFound();
  const sha = await core.git.resolveCommit(repo.gitPath, rev);
  if (!sha) throw new GhError(404, `No commit found for SHA: ${rev}`);
  return sha;
}

/** The repository, its collaborators' permissions, commits and comparisons. */
export function repoRoutes(core: GitHubCore) {
  return async (app: FastifyInstance): Promise<void> => {
    const repos = { config: { group: "repos" as const } };
    app.get("/repos/:owner/:repo", repos, async (r) => core.presenter.repository(repoFor(core, r, "metadata", "read")));

    // An owner's repositories, as far as the caller sees them: an organisation's (404 for a user or nobody), with
    // the private ones the token covers; a user's, public ones only (GitHub lists a user's private repositories
    // only at `/user/repos`, for the user themself). Oldest first, paged like every list.
    const ownerRepos = (login: string, type: "Organization" | "User", r: Req, reply: Reply) => {
      const owner = core.state.accountNamed(login);
      if (!owner || owner.type !== type) throw notFound();
      const visible = [...core.state.repositories.values()].filter(
        (repo) => repo.ownerId === owner.id && (type === "User" ? !repo.private : canSee(core, r.ghPrincipal, repo)),
      );
      return paginate(r, reply, core.baseUrl, visible).map((repo) => core.presenter.repository(repo));
    };
    app.get("/orgs/:org/repos", repos, async (r, reply) => ownerRepos(param(r, "org"), "Organization", r, reply));
    app.get("/users/:username/repos", repos, async (r, reply) => ownerRepos(param(r, "username"), "User", r, reply));

    app.get("/repos/:owner/:repo/collaborators/:username/permission", { config: { group: "users" } }, async (r) => {
      const repo = repoFor(core, r, "metadata", "read");
      const user = core.state.accountNamed(param(r, "username"));
      if (!user) throw notFound();
      const role = core.state.role(repo, user.login);
      // GitHub answers 404 for a user who is not a collaborator on a private repository.
      if (role === null && repo.private) throw new GhError(404, `${user.login} is not a user`);
      return {
        permission: legacyPermission(role ?? "read"),
        role_name: role ?? "read",
        user: { ...core.presenter.user(user), permissions: permissionFlags(role ?? "read") },
      };
    });

    const content = { config: { group: "content" as const } };
    app.get("/repos/:owner/:repo/commits/:ref", content, async (r) => {
      const repo = repoFor(core, r, "contents", "read");
      const sha = await commitOf(core, repo, param(r, "ref"));
      const c = await core.git.commit(repo.gitPath, sha);
      if (!c) throw notFound();
      const json = core.presenter.commits.commit(repo, c, await core.git.treeOf(repo.gitPath, sha));
      const files = await core.fileChanges(repo, c.parents[0] ?? EMPTY_TREE, sha);
      return { ...json, files: files.map((f) => core.presenter.commits.file(repo, f, sha, null)) };
    });

    app.get("/repos/:owner/:repo/compare/:basehead", content, async (r) => {
      const repo = repoFor(core, r, "contents", "read");
      const spec = param(r, "basehead");
      const dots = spec.indexOf("...");
      if (dots < 0) throw notFound();
      const base = await commitOf(core, repo, spec.slice(0, dots));
      const head = await commitOf(core, repo, spec.slice(dots + 3));
      const mergeBase = (await core.git.mergeBase(repo.gitPath, base, head)) ?? base;
      const ahead = await core.git.revList(repo.gitPath, head, base, 250);
      const behind = await core.git.revList(repo.gitPath, base, head, 250);
      const commits = (await core.git.log(repo.gitPath, ["--no-walk=unsorted", ...[...ahead].reverse()])) ?? [];
      const files = await core.fileChanges(repo, mergeBase, head);
      const full = core.state.fullName(repo);
      const baseCommit = await core.git.commit(repo.gitPath, base);
      const mergeBaseCommit = await core.git.commit(repo.gitPath, mergeBase);
      const commitJson = async (sha: string, c: NonNullable<typeof baseCommit>) =>
        core.presenter.commits.commit(repo, c, await core.git.treeOf(repo.gitPath, sha));
      return {
        url: `${core.baseUrl}/repos/${full}/compare/${spec}`,
        html_url: `${core.baseUrl}/${full}/compare/${spec}`,
        permalink_url: `${core.baseUrl}/${full}/compare/${base.slice(0, 7)}...${head.slice(0, 7)}`,
        diff_url: `${core.baseUrl}/${full}/compare/${spec}.diff`,
        patch_url: `${core.baseUrl}/${full}/compare/${spec}.patch`,
        base_commit: baseCommit ? await commitJson(base, baseCommit) : null,
        merge_base_commit: mergeBaseCommit ? await commitJson(mergeBase, mergeBaseCommit) : null,
        status:
          ahead.length === 0 && behind.length === 0
            ? "identical"
            : behind.length === 0
              ? "ahead"
              : ahead.length === 0
                ? "behind"
                : "diverged",
        ahead_by: ahead.length,
        behind_by: behind.length,
        total_commits: ahead.length,
        commits: await Promise.all(commits.map((c) => commitJson(c.id, c))),
        files: await Promise.all(
          files.map(async (f) =>
            core.presenter.commits.file(repo, f, head, await core.patch(repo, mergeBase, head, f.filename)),
          ),
        ),
      };
    });
  };
}

function permissionFlags(role: string): Record<string, boolean> {
  const order = ["read", "triage", "write", "maintain", "admin"];
  const at = order.indexOf(role);
  return { admin: at >= 4, maintain: at >= 3, push: at >= 2, triage: at >= 1, pull: at >= 0 };
}
