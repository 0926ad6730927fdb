import type { FastifyInstance } from "fastify";
import { type CgiRequest, serveGit } from "../../http-backend.ts";
import { repoLevel } from "../access.ts";
import type { SimCore } from "../core.ts";
import { SimError } from "../errors.ts";
import type { RefChange } from "../payloads.ts";
import { READ, WRITE } from "../permissions.ts";
import { param, params, type Req } from "./context.ts";

export const GIT_CHALLENGE = { "WWW-Authenticate": 'Basic realm="Atlassian Bitbucket"' };

/** Called with the final status of a hijacked git request, so it lands in the request log. */
export type GitRequestLogger = (request: Req, status: number) => void;

/**
 * Smart HTTP at /scm/<project>/<repo>.git, served by git http-backend. Reads need REPO_READ, pushes REPO_WRITE.
 * A push is followed by the same `repo:refs_changed` / pull-request processing as any other ref change, and the
 * response only ends once those events are queued: when `git push` returns, the webhooks are on their way.
 */
export function gitRoutes(core: SimCore, logGit: GitRequestLogger) {
  return async (app: FastifyInstance): Promise<void> => {
    app.route({
      method: ["GET", "POST"],
      url: "/scm/:projectKey/:repositorySlug/*",
      config: { group: "git" },
      handler: async (request, reply) => {
        const principal = request.principal;
        const slug = param(request, "repositorySlug").replace(/\.git$/, "");
        const project = core.state.findProject(param(request, "projectKey"));
        const repo = project ? core.state.findRepository(project.key, slug) : undefined;
        const rest = params(request)["*"] ?? "";
        const url = new URL(request.url, "http://sim");
        const service = rest === "info/refs" ? url.searchParams.get("service") : rest;
        const writing = service === "git-receive-pack";
        if (!repo || repoLevel(core.state, principal, repo) < (writing ? WRITE : READ)) {
          if (!principal) throw new SimError(401, "Authentication required", null, null, GIT_CHALLENGE);
          if (!repo) throw new SimError(404, "Repository not found", null);
          throw new SimError(403, "You are not permitted to access this resource", null);
        }

        reply.hijack();
        const res = reply.raw;
        const cgi: CgiRequest = {
          req: request.raw,
          res,
          projectRoot: core.reposRoot,
          pathInfo: `/${repo.gitPath}/${rest}`,
          queryString: url.search.replace(/^\?/, ""),
          remoteUser: principal?.user.name ?? null,
          home: core.dataDir,
          headers: principal
            ? { "X-AUSERNAME": principal.user.name, "X-AUSERID": String(principal.user.id) }
            : undefined,
          onStatus: (status: number) => logGit(request, status),
        };
        const push =
          writing && request.method === "POST" && principal
            ? (runBackend: () => Promise<void>) =>
                core.deliveries.track(
                  (async () => {
                    let changes: RefChange[] = [];
                    await core.lockRepo(repo, async () => {
                      const before = await core.snapshotRefs(repo);
                      await runBackend();
                      changes = core.diffRefs(before, await core.snapshotRefs(repo));
                    });
                    await core.refsChanged(repo, changes, principal.user);
                  })(),
                )
            : null;
        await serveGit(
          cgi,
          (status) => logGit(request, status),
          push,
          (err) => request.log.error({ err }, "git request failed"),
        );
      },
    });
  };
}
