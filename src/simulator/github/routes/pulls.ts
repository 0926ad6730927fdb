import type { FastifyInstance } from "fastify";
import { z } from "zod";
import { actorOf, decide, enforce } from "../auth.ts";
import type { GitHubCore } from "../core.ts";
import { GhError, notFound, requiresAuthentication } from "../errors.ts";
import type { AccessLevel } from "../permissions.ts";
import type { PullRequest, Repository } from "../state.ts";
import { intParam, paginate, param, parseBody, q, type Req, repoFor } from "./context.ts";

const createPull = z.object({
  title: z.string().min(1),
  head: z.string().min(1),
  base: z.string().min(1),
  body: z.string().nullable().optional(),
});
const updatePull = z.object({
  title: z.string().optional(),
  body: z.string().nullable().optional(),
  state: z.enum(["open", "closed"]).optional(),
});
const mergePull = z.object({
  sha: z.string().optional(),
  commit_title: z.string().optional(),
  merge_method: z.enum(["merge", "squash", "rebase"]).optional(),
});
const comment = z.object({ body: z.string().min(1) });

/** Pull requests, their files and commits, merging, and the comments of their conversation. */
export function pullRoutes(core: GitHubCore) {
  return async (app: FastifyInstance): Promise<void> => {
    const cfg = { config: { group: "pull-requests" as const } };
    const pullOf = (repo: Repository, r: Req): PullRequest => {
      const pr = core.state.pull(repo.id, intParam(r, "number"));
      if (!pr) throw notFound();
      return pr;
    };
    const actor = (r: Req) => {
      if (!r.ghPrincipal) throw requiresAuthentication();
      return actorOf(core, r.ghPrincipal);
    };

    app.get("/repos/:owner/:repo/pulls", cfg, async (r, reply) => {
      const repo = repoFor(core, r, "pull_requests", "read");
      const state = q(r, "state") ?? "open";
      const base = q(r, "base");
      const head = q(r, "head");
      const list = [...core.state.pulls.values()]
        .filter(
          (p) =>
            p.repositoryId === repo.id &&
            (state === "all" || p.state === state) &&
            (base === undefined || p.baseRef === base) &&
            (head === undefined ||
              `${core.state.account(core.state.repository(p.headRepositoryId).ownerId).login}:${p.headRef}` === head),
        )
        .sort((a, b) => b.number - a.number);
      return Promise.all(paginate(r, reply, core.baseUrl, list).map((p) => core.pulls.pullJson(p)));
    });

    app.get("/repos/:owner/:repo/pulls/:number", cfg, async (r) => {
      const repo = repoFor(core, r, "pull_requests", "read");
      return core.pulls.pullJson(pullOf(repo, r));
    });

    app.get("/repos/:owner/:repo/pulls/:number/files", cfg, async (r, reply) => {
      const repo = repoFor(core, r, "pull_requests", "read");
      const pr = pullOf(repo, r);
      const base = (await core.git.mergeBase(repo.gitPath, pr.baseSha, pr.headSha)) ?? pr.baseSha;
      const files = await core.fileChanges(repo, base, pr.headSha);
      const page = paginate(r, reply, core.baseUrl, files);
      return Promise.all(
        page.map(async (f) =>
          core.presenter.commits.file(repo, f, pr.headSha, await core.patch(repo, base, pr.headSha, f.filename)),
        ),
      );
    });

    app.get("/repos/:owner/:repo/pulls/:number/commits", cfg, async (r, reply) => {
      const repo = repoFor(core, r, "pull_requests", "read");
      const pr = pullOf(repo, r);
      const ids = (await core.git.revList(repo.gitPath, pr.headSha, pr.baseSha, 250)).reverse();
      const commits = (await core.git.log(repo.gitPath, ["--no-walk=unsorted", ...ids])) ?? [];
      return Promise.all(
        paginate(r, reply, core.baseUrl, commits).map(async (c) =>
          core.presenter.commits.commit(repo, c, await core.git.treeOf(repo.gitPath, c.id)),
        ),
      );
    });

    app.post("/repos/:owner/:repo/pulls", cfg, async (r, reply) => {
      const repo = repoFor(core, r, "pull_requests", "write");
      const body = parseBody(createPull, r.body);
      const pr = await core.pulls.openPullRequest({
        owner: core.state.account(repo.ownerId).login,
        repo: repo.name,
        head: body.head,
        base: body.base,
        title: body.title,
        body: body.body ?? null,
        as: actor(r).login,
      });
      return reply.code(201).send(await core.pulls.pullJson(pr));
    });

    app.patch("/repos/:owner/:repo/pulls/:number", cfg, async (r) => {
      const repo = repoFor(core, r, "pull_requests", "write");
      const pr = pullOf(repo, r);
      const body = parseBody(updatePull, r.body);
      if (body.title !== undefined) pr.title = body.title;
      if (body.body !== undefined) pr.body = body.body;
      pr.updatedAt = core.clock.now();
      const ref = {
        owner: core.state.account(repo.ownerId).login,
        repo: repo.name,
        number: pr.number,
        as: actor(r).login,
      };
      if (body.state === "closed" && pr.state === "open") await core.pulls.closePullRequest(ref);
      if (body.state === "open" && pr.state === "closed") await core.pulls.reopenPullRequest(ref);
      return core.pulls.pullJson(pr);
    });

    app.put("/repos/:owner/:repo/pulls/:number/merge", cfg, async (r) => {
      const repo = repoFor(core, r, "contents", "write");
      const pr = pullOf(repo, r);
      const body = parseBody(mergePull, r.body);
      if ((body.merge_method ?? "merge") !== "merge")
        throw new GhError(405, `${body.merge_method} merges are not supported by the simulator`);
      const merged = await core.pulls.mergePullRequest({
        owner: core.state.account(repo.ownerId).login,
        repo: repo.name,
        number: pr.number,
        as: actor(r).login,
        sha: body.sha,
        commitTitle: body.commit_title,
      });
      return { sha: merged.mergeCommitSha, merged: true, message: "Pull Request successfully merged" };
    });

    // Comments on a pull request's conversation are issue comments: `issues` or `pull_requests` opens them.
    const commentRepo = (r: Req, level: AccessLevel): Repository => {
      const repo = core.state.findRepository(param(r, "owner"), param(r, "repo"));
      if (!repo) throw notFound();
      if (decide(core, r.ghPrincipal, repo, "issues", level) === "ok") return repo;
      enforce(core, r.ghPrincipal, repo, "pull_requests", level);
      return repo;
    };

    app.get("/repos/:owner/:repo/issues/:number/comments", cfg, async (r, reply) => {
      const repo = commentRepo(r, "read");
      const pr = pullOf(repo, r);
      const list = [...core.state.comments.values()].filter(
        (c) => c.repositoryId === repo.id && c.number === pr.number,
      );
      return paginate(r, reply, core.baseUrl, list).map((c) => core.presenter.comment(c));
    });

    app.post("/repos/:owner/:repo/issues/:number/comments", cfg, async (r, reply) => {
      const repo = commentRepo(r, "write");
      const pr = pullOf(repo, r);
      const created = core.pulls.commentAs(pr, actor(r), parseBody(comment, r.body).body);
      return reply.code(201).send(core.presenter.comment(created));
    });
  };
}
