import type { FastifyInstance } from "fastify";
import { type CgiRequest, serveGit } from "../../http-backend.ts";
import { actorOf, decide, principalName } from "../auth.ts";
import type { GitHubCore, RefChange } from "../core.ts";
import { GhError } from "../errors.ts";
import { param, type Req } from "./context.ts";

export const GIT_CHALLENGE = { "WWW-Authenticate": 'Basic realm="GitHub"' };

export type GitRequestLogger = (request: Req, status: number) => void;

/**
 * Smart HTTP at `/<owner>/<repo>.git/…` (and without `.git`), served by git http-backend. A token's narrowing
 * applies as on REST: a repository outside it is "not found", and pushing needs `contents: write`. The push
 * answer ends once its events are queued.
 */
export function gitRoutes(core: GitHubCore, logGit: GitRequestLogger) {
  return async (app: FastifyInstance): Promise<void> => {
    const handler = async (request: Req, reply: import("fastify").FastifyReply): Promise<void> => {
      const principal = request.ghPrincipal;
      const name = param(request, "repo").replace(/\.git$/, "");
      const repo = core.state.findRepository(param(request, "owner"), name);
      const url = new URL(request.url, "http://sim");
      const rest = url.pathname.split("/").slice(3).join("/");
      const service = rest === "info/refs" ? url.searchParams.get("service") : rest;
      const writing = service === "git-receive-pack";
      const decision = repo ? decide(core, principal, repo, "contents", writing ? "write" : "read") : "not-found";
      if (!repo || decision !== "ok") {
        if (!principal) throw new GhError(401, "Authentication required", { headers: GIT_CHALLENGE });
        if (!repo || decision === "not-found") throw new GhError(404, "Repository not found.");
        throw new GhError(403, `Permission to ${core.state.fullName(repo)}.git denied to ${principalName(principal)}.`);
      }
      reply.hijack();
      const cgi: CgiRequest = {
        req: request.raw,
        res: reply.raw,
        projectRoot: core.reposRoot,
        pathInfo: `/${repo.gitPath}/${rest}`,
        queryString: url.search.replace(/^\?/, ""),
        remoteUser: principalName(principal),
        home: core.dataDir,
        onStatus: (status: number) => logGit(request, status),
      };
      const push =
        writing && request.method === "POST" && principal
          ? (runBackend: () => Promise<void>) => {
              const actor = actorOf(core, principal);
              return core.deliveries.track(
                (async () => {
                  let changes: RefChange[] = [];
                  await core.lockRepo(repo, async () => {
                    const before = await core.snapshot(repo);
                    await runBackend();
                    changes = core.diff(before, await core.snapshot(repo));
                  });
                  await core.refsChanged(repo, changes, actor);
                })(),
              );
            }
          : null;
      await serveGit(
        cgi,
        (status) => logGit(request, status),
        push,
        (err) => request.log.error({ err }, "git request failed"),
      );
    };
    const cfg = { config: { group: "git" as const } };
    app.get("/:owner/:repo/info/refs", cfg, handler);
    app.post("/:owner/:repo/git-upload-pack", cfg, handler);
    app.post("/:owner/:repo/git-receive-pack", cfg, handler);
  };
}
