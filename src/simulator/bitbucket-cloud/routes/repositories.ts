import type { FastifyInstance } from "fastify";
import { z } from "zod";
import { param } from "../../route-kit.ts";
import type { CloudCore } from "../core.ts";
import { CloudError, missingScopes, notFound } from "../errors.ts";
import { grants } from "../scopes.ts";
import type { StatusState } from "../state.ts";
import { canRead, pageOf, parseBody, principalOf, repoFor, requireCaller, workspaceFor } from "./context.ts";

const statusSchema = z.object({
  key: z.string().min(1).max(255),
  state: z.enum(["INPROGRESS", "SUCCESSFUL", "FAILED", "STOPPED"]),
  name: z.string().optional(),
  description: z.string().optional(),
  url: z.string().optional(),
  refname: z.string().nullable().optional(),
});

/** Repositories, workspaces and their members, the caller, and commit build statuses. */
export function repositoryRoutes(core: CloudCore) {
  return async (app: FastifyInstance): Promise<void> => {
    const repos = { config: { group: "repos" as const } };
    const base = "/repositories/:workspace/:repo_slug";

    app.get("/user", { config: { group: "users" as const } }, async (request) => {
      const principal = requireCaller(request);
      if (principal.kind === "token" && !grants(principal.token.scopes, ["account"]))
        throw missingScopes(["account"], principal.token.scopes);
      return core.present.account(principal.account);
    });

    app.get("/workspaces/:workspace", { config: { group: "workspaces" as const } }, async (request) => {
      const ws = workspaceFor(core, request, []);
      return { ...core.present.workspaceRef(ws), is_private: true, created_on: null };
    });

    app.get("/workspaces/:workspace/members/:member", { config: { group: "workspaces" as const } }, async (request) => {
      const ws = workspaceFor(core, request, ["account"]);
      const member = core.state.accountByKey(param(request, "member"));
      if (!member || !ws.members.has(member.uuid))
        throw notFound(`${param(request, "member")} is not a member of ${ws.slug}`);
      return {
        type: "workspace_membership",
        user: core.present.account(member),
        workspace: core.present.workspaceRef(ws),
      };
    });

    app.get("/workspaces/:workspace/projects/:key", { config: { group: "projects" as const } }, async (request) => {
      const ws = workspaceFor(core, request, ["project"]);
      const project = core.state.project(ws, param(request, "key"));
      if (!project) throw notFound(`Project ${param(request, "key")} not found`);
      return core.present.project(project);
    });

    app.get("/repositories/:workspace", repos, async (request) => {
      const ws = core.state.workspace(param(request, "workspace"));
      if (!ws) throw notFound(`No workspace with identifier '${param(request, "workspace")}'.`);
      const principal = principalOf(request);
      const visible = [...core.state.repositories.values()].filter(
        (r) => r.workspace === ws.uuid && canRead(core, principal, r),
      );
      return pageOf(
        core,
        request,
        visible.map((r) => core.present.repositoryRest(r)),
      );
    });

    app.get(base, repos, async (request) => core.present.repositoryRest(repoFor(core, request, ["repository"])));

    // ---- build statuses (§5): the repository (read) scope is enough to write them.

    const commitOf = async (repoGitPath: string, raw: string): Promise<string> => {
      const full = /^[0-9a-f]{40}$/.test(raw);
      if (!full && !(core.switches.statusesAcceptShortHash && /^[0-9a-f]{7,39}$/.test(raw)))
        throw notFound(`Commit ${raw} not found`);
      const sha = await core.git.resolveCommit(repoGitPath, raw);
      if (!sha) throw notFound(`Commit ${raw} not found`);
      return sha;
    };
    const statusJson = (repoUuid: string, s: Parameters<typeof core.present.status>[0]) => {
      const repo = core.state.repositories.get(repoUuid);
      return core.present.status(s, repo ? core.present.commitRef(repo, s.commit) : {});
    };
    const mayOverwrite = (request: Parameters<typeof requireCaller>[0]): boolean => {
      const principal = requireCaller(request);
      return principal.kind === "token" ? principal.token.scopes.includes("repository:admin") : false;
    };

    app.post(
      `${base}/commit/:commit/statuses/build`,
      { config: { group: "build-status" as const } },
      async (request, reply) => {
        const repo = repoFor(core, request, ["repository"]);
        const principal = requireCaller(request);
        const commit = await commitOf(repo.gitPath, param(request, "commit"));
        const body = parseBody(statusSchema, request.body);
        const { status, created } = await core.setStatus(
          repo,
          { ...body, commit, state: body.state as StatusState },
          principal.account,
          mayOverwrite(request),
        );
        return reply.code(created ? 201 : 200).send(statusJson(repo.uuid, status));
      },
    );

    app.get(
      `${base}/commit/:commit/statuses/build/:key`,
      { config: { group: "build-status" as const } },
      async (request) => {
        const repo = repoFor(core, request, ["repository"]);
        const commit = await commitOf(repo.gitPath, param(request, "commit"));
        const s = core.state.statuses.find(
          (x) => x.repo === repo.uuid && x.commit === commit && x.key === param(request, "key"),
        );
        if (!s) throw notFound(`No build status with key ${param(request, "key")}`);
        return statusJson(repo.uuid, s);
      },
    );

    app.put(
      `${base}/commit/:commit/statuses/build/:key`,
      { config: { group: "build-status" as const } },
      async (request) => {
        const repo = repoFor(core, request, ["repository"]);
        const principal = requireCaller(request);
        const commit = await commitOf(repo.gitPath, param(request, "commit"));
        const key = param(request, "key");
        const existing = core.state.statuses.find((x) => x.repo === repo.uuid && x.commit === commit && x.key === key);
        if (!existing) throw notFound(`No build status with key ${key}`);
        const body = parseBody(statusSchema.partial(), request.body);
        if (body.key !== undefined && body.key !== key)
          throw new CloudError(400, "The key of a build status cannot change.");
        const { status } = await core.setStatus(
          repo,
          { ...body, key, commit, state: (body.state ?? existing.state) as StatusState },
          principal.account,
          mayOverwrite(request),
        );
        return statusJson(repo.uuid, status);
      },
    );

    app.get(`${base}/commit/:commit/statuses`, { config: { group: "build-status" as const } }, async (request) => {
      const repo = repoFor(core, request, ["repository"]);
      const commit = await commitOf(repo.gitPath, param(request, "commit"));
      const list = core.state.statuses
        .filter((s) => s.repo === repo.uuid && s.commit === commit)
        .sort((a, b) => a.createdOn - b.createdOn);
      return pageOf(
        core,
        request,
        list.map((s) => statusJson(repo.uuid, s)),
      );
    });
  };
}
