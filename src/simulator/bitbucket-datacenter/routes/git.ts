import type { FastifyInstance } from "fastify";
import { answerGit, type GitRequestLogger, gitTarget } from "../../git-route.ts";
import { repoLevel } from "../access.ts";
import type { SimCore } from "../core.ts";
import { SimError } from "../errors.ts";
import type { RefChange } from "../payloads.ts";
import { READ, WRITE } from "../permissions.ts";
import { param, params } from "./context.ts";

export const GIT_CHALLENGE = { "WWW-Authenticate": 'Basic realm="Atlassian Bitbucket"' };

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
        const target = gitTarget(request, params(request)["*"] ?? "");
        if (!repo || repoLevel(core.state, principal, repo) < (target.writing ? WRITE : READ)) {
          if (!principal) throw new SimError(401, "Authentication required", null, null, GIT_CHALLENGE);
          if (!repo) throw new SimError(404, "Repository not found", null);
          throw new SimError(403, "You are not permitted to access this resource", null);
        }

        await answerGit(request, reply, {
          core,
          gitPath: repo.gitPath,
          target,
          remoteUser: principal?.user.name ?? null,
          headers: principal
            ? { "X-AUSERNAME": principal.user.name, "X-AUSERID": String(principal.user.id) }
            : undefined,
          logGit,
          push: principal && {
            lock: (work) => core.lockRepo(repo, work),
            snapshot: () => core.snapshotRefs(repo),
            diff: (before, after) => core.diffRefs(before, after),
            announce: (changes: RefChange[]) => core.refsChanged(repo, changes, principal.user),
          },
        });
      },
    });
  };
}
