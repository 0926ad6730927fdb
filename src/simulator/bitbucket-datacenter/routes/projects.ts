import type { FastifyInstance } from "fastify";
import { canViewProject, repoLevel, userProjectLevel, userRepoLevel } from "../access.ts";
import type { SimCore } from "../core.ts";
import { pageRequest, paginate } from "../paging.ts";
import { ADMIN, levelOf, PROJECT_PERMISSIONS, READ, REPO_PERMISSIONS, type RepoPermission } from "../permissions.ts";
import type { Repository } from "../state.ts";
import { projectFor, q, query, repoFor } from "./context.ts";

export function projectRoutes(core: SimCore) {
  const paging = core.options.paging;
  return async (app: FastifyInstance): Promise<void> => {
    app.get("/projects", { config: { group: "projects" } }, async (request) => {
      const visible = [...core.state.projects.values()]
        .filter((p) => p.type === "NORMAL" && canViewProject(core.state, request.principal, p))
        .sort((a, b) => a.key.localeCompare(b.key));
      const page = paginate(visible, pageRequest(query(request), paging));
      return { ...page, values: page.values.map((p) => core.presenter.project(p)) };
    });

    app.get("/projects/:projectKey", { config: { group: "projects" } }, async (request) =>
      core.presenter.project(projectFor(core, request, "view")),
    );

    app.get("/projects/:projectKey/repos", { config: { group: "repos" } }, async (request) => {
      const project = projectFor(core, request, "view");
      const repos = core.state
        .repositoriesOf(project.id)
        .filter((r) => repoLevel(core.state, request.principal, r) >= READ);
      repos.sort((a, b) => a.slug.localeCompare(b.slug));
      const page = paginate(repos, pageRequest(query(request), paging));
      return { ...page, values: page.values.map((r) => core.presenter.repository(r)) };
    });

    app.get("/projects/:projectKey/repos/:repositorySlug", { config: { group: "repos" } }, async (request) =>
      core.presenter.repository(repoFor(core, request, READ)),
    );

    /** Answers for the caller only (reference §6). */
    app.get("/repos", { config: { group: "repos" } }, async (request) => {
      const projectKey = q(request, "projectkey")?.toUpperCase();
      const name = q(request, "name")?.toLowerCase();
      const permission = q(request, "permission");
      const minimum =
        permission && (REPO_PERMISSIONS as readonly string[]).includes(permission)
          ? levelOf(permission as RepoPermission)
          : READ;
      const repos = [...core.state.repositories.values()]
        .filter((r) => projectKey === undefined || core.state.project(r.projectId).key.toUpperCase() === projectKey)
        .filter((r) => name === undefined || r.name.toLowerCase().includes(name) || r.slug.includes(name))
        .filter((r) => repoLevel(core.state, request.principal, r) >= minimum)
        .sort((a, b) => a.id - b.id);
      const page = paginate(repos, pageRequest(query(request), paging));
      return { ...page, values: page.values.map((r) => core.presenter.repository(r)) };
    });

    const branchJson = (repo: Repository, ref: string, sha: string) => ({
      id: ref,
      displayId: ref.replace(/^refs\/heads\//, ""),
      type: "BRANCH",
      latestCommit: sha,
      latestChangeset: sha,
      isDefault: ref === `refs/heads/${repo.defaultBranch}`,
    });

    app.get("/projects/:projectKey/repos/:repositorySlug/branches", { config: { group: "repos" } }, async (request) => {
      const repo = repoFor(core, request, READ);
      const filter = q(request, "filterText")?.toLowerCase() ?? "";
      const refs = await core.git.refs(repo.gitPath, ["refs/heads/"]);
      const branches = [...refs]
        .filter(([ref]) => ref.toLowerCase().includes(filter))
        .map(([ref, sha]) => branchJson(repo, ref, sha))
        .sort((a, b) => Number(b.isDefault) - Number(a.isDefault) || a.displayId.localeCompare(b.displayId));
      return paginate(branches, pageRequest(query(request), paging));
    });

    const defaultBranch = async (request: Parameters<typeof repoFor>[1]) => {
      const repo = repoFor(core, request, READ);
      const ref = `refs/heads/${repo.defaultBranch}`;
      const sha = await core.git.resolveRef(repo.gitPath, ref);
      if (!sha) return { id: ref, displayId: repo.defaultBranch, type: "BRANCH", isDefault: true };
      return branchJson(repo, ref, sha);
    };
    app.get(
      "/projects/:projectKey/repos/:repositorySlug/branches/default",
      { config: { group: "repos" } },
      defaultBranch,
    );
    app.get(
      "/projects/:projectKey/repos/:repositorySlug/default-branch",
      { config: { group: "repos" } },
      defaultBranch,
    );

    app.get("/projects/:projectKey/repos/:repositorySlug/tags", { config: { group: "repos" } }, async (request) => {
      const repo = repoFor(core, request, READ);
      const refs = await core.git.refs(repo.gitPath, ["refs/tags/"]);
      const tags = [];
      for (const [ref, sha] of refs) {
        const commit = (await core.git.resolveCommit(repo.gitPath, sha)) ?? sha;
        tags.push({
          id: ref,
          displayId: ref.slice("refs/tags/".length),
          type: "TAG",
          latestCommit: commit,
          latestChangeset: commit,
          hash: commit === sha ? null : sha,
        });
      }
      tags.sort((a, b) => a.displayId.localeCompare(b.displayId));
      return paginate(tags, pageRequest(query(request), paging));
    });

    // Permission listings need admin rights: exactly what project/repository tokens usually lack (DESIGN §1).
    app.get("/projects/:projectKey/permissions/users", { config: { group: "projects" } }, async (request) => {
      const project = projectFor(core, request, ADMIN);
      const users = [...core.state.users.values()]
        .filter((u) => u.type === "NORMAL")
        .map((u) => ({ u, level: userProjectLevel(core.state, u, project) }))
        .filter((x) => x.level > 0);
      const page = paginate(users, pageRequest(query(request), paging));
      return {
        ...page,
        values: page.values.map((x) => ({
          user: core.presenter.user(x.u),
          permission: PROJECT_PERMISSIONS[x.level - 1],
        })),
      };
    });

    app.get(
      "/projects/:projectKey/repos/:repositorySlug/permissions/users",
      { config: { group: "repos" } },
      async (request) => {
        const repo = repoFor(core, request, ADMIN);
        const users = [...core.state.users.values()]
          .filter((u) => u.type === "NORMAL")
          .map((u) => ({ u, level: userRepoLevel(core.state, u, repo) }))
          .filter((x) => x.level > 0);
        const page = paginate(users, pageRequest(query(request), paging));
        return {
          ...page,
          values: page.values.map((x) => ({
            user: core.presenter.user(x.u),
            permission: REPO_PERMISSIONS[x.level - 1],
          })),
        };
      },
    );
  };
}
