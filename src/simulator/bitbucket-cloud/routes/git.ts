import type { FastifyInstance } from "fastify";
import { answerGit, type GitRequestLogger, gitTarget } from "../../git-route.ts";
import { param, params } from "../../route-kit.ts";
import type { CloudCore } from "../core.ts";
import { diffRefs } from "../core.ts";
import { CloudError } from "../errors.ts";
import type { RefChange } from "../events.ts";
import { grants } from "../scopes.ts";
import { principalOf } from "./context.ts";

export const GIT_CHALLENGE = { "WWW-Authenticate": 'Basic realm="Bitbucket.org HTTP"' };

/**
 * Smart HTTP at `/<workspace>/<slug>.git`, served by git http-backend (§1.4: Basic `x-token-auth:<token>`).
 * Reads need `repository`, pushes `repository:write`; a push ends only once its `repo:push` is queued.
 */
export function gitRoutes(core: CloudCore, logGit: GitRequestLogger) {
  return async (app: FastifyInstance): Promise<void> => {
    app.route({
      method: ["GET", "POST"],
      url: "/:workspace/:repo_git/*",
      config: { group: "git" },
      handler: async (request, reply) => {
        const slug = param(request, "repo_git");
        if (!slug.endsWith(".git")) throw new CloudError(404, "Not found");
        const repo = core.state.repository(param(request, "workspace"), slug.slice(0, -4));
        const target = gitTarget(request, params(request)["*"] ?? "");
        const { writing } = target;
        const principal = principalOf(request);
        const denied = (): boolean => {
          if (!repo) return true;
          if (!principal) return writing || repo.isPrivate;
          if (principal.kind === "token")
            return (
              !core.state.reaches(principal.token, repo) ||
              !grants(principal.token.scopes, [writing ? "repository:write" : "repository"])
            );
          const ws = core.state.workspaces.get(repo.workspace);
          return !ws?.members.has(principal.account.uuid) && (writing || repo.isPrivate);
        };
        if (denied()) {
          if (!principal) throw new CloudError(401, "Authentication required", { headers: GIT_CHALLENGE });
          throw new CloudError(403, "Access denied", {});
        }
        if (!repo) throw new CloudError(404, "Repository not found");
        await answerGit(request, reply, {
          core,
          gitPath: repo.gitPath,
          target,
          remoteUser: principal?.account.nickname ?? null,
          logGit,
          push: principal && {
            lock: (work) => core.lockRepo(repo, work),
            snapshot: () => core.git.refs(repo.gitPath),
            diff: diffRefs,
            announce: (changes: RefChange[]) => core.events.refsChanged(repo, changes, principal.account),
          },
        });
      },
    });
  };
}
