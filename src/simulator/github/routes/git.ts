import type { FastifyInstance } from "fastify";
import { answerGit, type GitRequestLogger, gitTarget } from "../../git-route.ts";
import { actorOf, decide, principalName } from "../auth.ts";
import type { GitHubCore, RefChange } from "../core.ts";
import { GhError } from "../errors.ts";
import { param, type Reply, type Req } from "./context.ts";

export const GIT_CHALLENGE = { "WWW-Authenticate": 'Basic realm="GitHub"' };

/**
 * Smart HTTP at `/<owner>/<repo>.git/…` (and without `.git`), served by git http-backend. A token's narrowing
 * applies as on REST: a repository outside it is "not found", and pushing needs `contents: write`. The push
 * answer ends once its events are queued.
 */
export function gitRoutes(core: GitHubCore, logGit: GitRequestLogger) {
  return async (app: FastifyInstance): Promise<void> => {
    const handler = async (request: Req, reply: Reply): Promise<void> => {
      const principal = request.ghPrincipal;
      const name = param(request, "repo").replace(/\.git$/, "");
      const repo = core.state.findRepository(param(request, "owner"), name);
      const target = gitTarget(request, new URL(request.url, "http://sim").pathname.split("/").slice(3).join("/"));
      const access = target.writing ? "write" : "read";
      const decision = repo ? decide(core, principal, repo, "contents", access) : "not-found";
      if (!repo || decision !== "ok") {
        if (!principal) throw new GhError(401, "Authentication required", { headers: GIT_CHALLENGE });
        if (!repo || decision === "not-found") throw new GhError(404, "Repository not found.");
        throw new GhError(403, `Permission to ${core.state.fullName(repo)}.git denied to ${principalName(principal)}.`);
      }
      await answerGit(request, reply, {
        core,
        gitPath: repo.gitPath,
        target,
        remoteUser: principalName(principal),
        logGit,
        push: principal && {
          lock: (work) => core.lockRepo(repo, work),
          snapshot: () => core.snapshot(repo),
          diff: (before, after) => core.diff(before, after),
          announce: (changes: RefChange[]) => core.refsChanged(repo, changes, actorOf(core, principal)),
        },
      });
    };
    const cfg = { config: { group: "git" as const } };
    app.get("/:owner/:repo/info/refs", cfg, handler);
    app.post("/:owner/:repo/git-upload-pack", cfg, handler);
    app.post("/:owner/:repo/git-receive-pack", cfg, handler);
  };
}
