import type { FastifyInstance } from "fastify";
import { userProjectLevel, userRepoLevel } from "../access.ts";
import type { SimCore } from "../core.ts";
import { badRequest, noSuchUser } from "../errors.ts";
import { pageRequest, paginate } from "../paging.ts";
import { GLOBAL_PERMISSIONS, levelOf, PROJECT_PERMISSIONS, REPO_PERMISSIONS } from "../permissions.ts";
import type { User } from "../state.ts";
import { buildNumber } from "../version.ts";
import { param, type Query, query, requireAuthenticated } from "./context.ts";

const GLOBAL_RANK: Record<string, number> = { LICENSED_USER: 1, PROJECT_CREATE: 2, ADMIN: 3, SYS_ADMIN: 4 };

interface PermissionFilter {
  permission: string;
  projectKey?: string;
  repositorySlug?: string;
}

/** `permission=…` plus numbered `permission.1=…`, each with its own `.projectKey`/`.repositorySlug`. */
function permissionFilters(q: Query): PermissionFilter[] {
  const one = (v: string | string[] | undefined): string | undefined => (Array.isArray(v) ? v[0] : v);
  const filters: PermissionFilter[] = [];
  const prefixes = Object.keys(q)
    .filter((k) => /^permission(\.\d+)?$/.test(k))
    .sort();
  for (const prefix of prefixes) {
    const permission = one(q[prefix]);
    if (!permission) continue;
    filters.push({
      permission,
      projectKey: one(q[`${prefix}.projectKey`]),
      repositorySlug: one(q[`${prefix}.repositorySlug`]),
    });
  }
  return filters;
}

export function systemRoutes(core: SimCore) {
  return async (app: FastifyInstance): Promise<void> => {
    // No authentication needed (Renovate reads the version before logging in).
    app.get("/application-properties", { config: { group: "application-properties" } }, async () => ({
      version: core.version,
      buildNumber: buildNumber(core.version),
      buildDate: String(Date.UTC(2024, 0, 1)),
      displayName: "Bitbucket",
    }));

    app.get("/build/capabilities", { config: { group: "capabilities" } }, async (request) => {
      requireAuthenticated(request);
      return { buildStatus: [...core.options.buildCapabilities] };
    });

    /**
     * Any authenticated caller may ask who has a permission (reference §6); an empty page means "no". A filter
     * naming a project or repository that does not exist is a 400, not an empty page (the 9.2 spec's `getUsers_2`).
     */
    app.get("/users", { config: { group: "users" } }, async (request) => {
      requireAuthenticated(request);
      const q = query(request);
      const filter = (Array.isArray(q.filter) ? q.filter[0] : q.filter)?.toLowerCase() ?? "";
      const checks = permissionFilters(q).map((f) => {
        if ((GLOBAL_PERMISSIONS as readonly string[]).includes(f.permission))
          return (u: User) => (GLOBAL_RANK[u.globalPermission ?? ""] ?? 0) >= (GLOBAL_RANK[f.permission] ?? 9);
        if ((PROJECT_PERMISSIONS as readonly string[]).includes(f.permission)) {
          if (!f.projectKey) throw badRequest(`${f.permission} needs permission.projectKey.`, "permission.projectKey");
          const project = core.state.findProject(f.projectKey);
          if (!project) throw badRequest(`Project ${f.projectKey} does not exist.`, "permission.projectKey");
          const level = levelOf(f.permission as (typeof PROJECT_PERMISSIONS)[number]);
          return (u: User) => userProjectLevel(core.state, u, project) >= level;
        }
        if ((REPO_PERMISSIONS as readonly string[]).includes(f.permission)) {
          if (!f.projectKey || !f.repositorySlug)
            throw badRequest(
              `${f.permission} needs permission.projectKey and permission.repositorySlug.`,
              "permission.repositorySlug",
            );
          const repo = core.state.findRepository(f.projectKey, f.repositorySlug);
          if (!repo)
            throw badRequest(
              `Repository ${f.projectKey}/${f.repositorySlug} does not exist.`,
              "permission.repositorySlug",
            );
          const level = levelOf(f.permission as (typeof REPO_PERMISSIONS)[number]);
          return (u: User) => userRepoLevel(core.state, u, repo) >= level;
        }
        throw badRequest(`Unknown permission ${f.permission}.`, "permission");
      });
      const users = [...core.state.users.values()]
        .filter((u) => u.type === "NORMAL" && u.active)
        .filter(
          (u) =>
            filter === "" ||
            u.name.toLowerCase().includes(filter) ||
            u.displayName.toLowerCase().includes(filter) ||
            (u.email ?? "").toLowerCase().includes(filter),
        )
        .filter((u) => checks.every((check) => check(u)))
        .sort((a, b) => a.name.localeCompare(b.name));
      const page = paginate(users, pageRequest(q, core.options.paging));
      return { ...page, values: page.values.map((u) => core.presenter.user(u)) };
    });

    app.get("/users/:userSlug", { config: { group: "users" } }, async (request) => {
      requireAuthenticated(request);
      const user = core.state.findUser(param(request, "userSlug"));
      if (!user) throw noSuchUser(param(request, "userSlug"));
      return core.presenter.user(user);
    });
  };
}
