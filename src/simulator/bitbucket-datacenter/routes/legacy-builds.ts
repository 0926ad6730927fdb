import type { FastifyInstance } from "fastify";
import type { Principal } from "../access.ts";
import type { SimCore } from "../core.ts";
import { badRequest, notPermitted } from "../errors.ts";
import { pageRequest, paginate } from "../paging.ts";
import type { BuildStatus } from "../state.ts";
import { buildStatusSchema, checkCancelledSupported } from "./builds.ts";
import { param, parseBody, q, query, type Req, requireAuthenticated } from "./context.ts";

/** The spec: "limited to the most recent 100 build statuses associated with the commit". */
const MAX_LISTED = 100;
/** `orderBy=STATUS`: what needs attention first. */
const STATE_ORDER: Record<BuildStatus["state"], number> = {
  FAILED: 0,
  INPROGRESS: 1,
  CANCELLED: 2,
  UNKNOWN: 3,
  SUCCESSFUL: 4,
};

/**
 * The spec asks for the LICENSED global permission. Project and repository tokens act as generated users with
 * project/repository permissions only (reference §1.4), so they pass only with `legacyBuildStatusProjectTokens`.
 */
function requireLicensed(core: SimCore, request: Req): Principal {
  const principal = requireAuthenticated(request);
  const { user, credential } = principal;
  const tokenUser = credential === "project-token" || credential === "repository-token";
  if (tokenUser ? !core.switches.legacyBuildStatusProjectTokens : user.globalPermission === null || !user.active)
    throw notPermitted();
  return principal;
}

/** Only a full 40-character SHA-1 (the commit need not exist in any repository: the status is the commit's). */
function commitOf(request: Req): string {
  const id = param(request, "commitId");
  if (!/^[0-9a-f]{40}$/i.test(id)) throw badRequest(`'${id}' is not a full 40-character commit ID.`, "commitId");
  return id.toLowerCase();
}

/**
 * The legacy commit-scoped build status resource (deprecated in 7.14, still served by 9.x; reference §5.2). Its
 * statuses are stored beside the repository-scoped ones, without a repository: the commit's list here shows both.
 */
export function legacyBuildRoutes(core: SimCore) {
  const group = { config: { group: "build-status" as const } };
  return async (app: FastifyInstance): Promise<void> => {
    app.post("/commits/:commitId", group, async (request, reply) => {
      const principal = requireLicensed(core, request);
      const body = parseBody(buildStatusSchema(core.switches.buildStatusKeyMaxLength, 255), request.body);
      checkCancelledSupported(core, body.state);
      core.storeBuildStatus(null, commitOf(request), body, principal.user.name);
      return reply.code(204).send();
    });

    app.get("/commits/:commitId", group, async (request) => {
      requireLicensed(core, request);
      const commit = commitOf(request);
      const orderBy = (q(request, "orderBy") ?? "NEWEST").toUpperCase();
      if (!["NEWEST", "OLDEST", "STATUS"].includes(orderBy))
        throw badRequest(`orderBy must be NEWEST, OLDEST or STATUS, not '${orderBy}'.`, "orderBy");
      const newest = [...core.state.buildStatuses.values()]
        .filter((s) => s.commit === commit)
        .sort((a, b) => b.updatedDate - a.updatedDate || b.seq - a.seq)
        .slice(0, MAX_LISTED);
      const ordered =
        orderBy === "OLDEST"
          ? newest.reverse()
          : orderBy === "STATUS"
            ? newest.sort((a, b) => STATE_ORDER[a.state] - STATE_ORDER[b.state])
            : newest;
      const page = paginate(ordered, pageRequest(query(request), core.options.paging));
      return { ...page, values: page.values.map((s) => core.presenter.buildStatus(s)) };
    });
  };
}
