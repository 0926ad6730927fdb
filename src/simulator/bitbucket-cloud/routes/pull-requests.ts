import type { FastifyInstance } from "fastify";
import { z } from "zod";
import { q } from "../../route-kit.ts";
import type { CloudCore } from "../core.ts";
import { badRequest, notFound } from "../errors.ts";
import { short } from "../payloads.ts";
import type { Repository } from "../state.ts";
import { intId, pageOf, parseBody, repoFor, requireCaller } from "./context.ts";

const createSchema = z.object({
  title: z.string().min(1),
  description: z.string().optional(),
  source: z.object({
    branch: z.object({ name: z.string().min(1) }),
    repository: z.object({ full_name: z.string().optional(), uuid: z.string().optional() }).optional(),
  }),
  destination: z.object({ branch: z.object({ name: z.string().min(1) }) }).optional(),
  close_source_branch: z.boolean().optional(),
});

const updateSchema = z.object({
  title: z.string().min(1).optional(),
  description: z.string().optional(),
  destination: z.object({ branch: z.object({ name: z.string().min(1) }) }).optional(),
});

const commentSchema = z.object({
  content: z.object({ raw: z.string().min(1) }),
  parent: z.object({ id: z.number().int() }).optional(),
  inline: z.object({ path: z.string().min(1), to: z.number().int().optional() }).optional(),
});

/**
 * Pull requests (§4.2, §6.2, §6.3): read with `pullrequest`, create/decline/merge with `pullrequest:write`, comment
 * with `pullrequest` (the read scope suffices). REST answers carry full hashes; webhooks the 12-hex short ones.
 */
export function pullRequestRoutes(core: CloudCore) {
  return async (app: FastifyInstance): Promise<void> => {
    const cfg = { config: { group: "pull-requests" as const } };
    const base = "/repositories/:workspace/:repo_slug/pullrequests";
    const view = (pr: Parameters<typeof core.present.pullRequest>[0]) =>
      core.present.pullRequest(pr, { shortHashes: false });
    const sourceRepo = (repo: Repository, ref?: { full_name?: string; uuid?: string }): Repository => {
      if (!ref) return repo;
      const found = ref.uuid
        ? core.state.repositories.get(ref.uuid.toLowerCase())
        : ref.full_name
          ? core.state.repository(ref.full_name.split("/")[0] ?? "", ref.full_name.split("/")[1] ?? "")
          : repo;
      if (!found) throw badRequest("Source repository not found", { source: ["repository not found"] });
      return found;
    };

    app.get(base, cfg, async (request) => {
      const repo = repoFor(core, request, ["pullrequest"]);
      const states = [q(request, "state") ?? "OPEN"].flatMap((s) => s.toUpperCase().split(","));
      const list = core.state.pullRequestsOf(repo).filter((pr) => states.includes(pr.state));
      return pageOf(core, request, [...list].reverse().map(view));
    });

    app.post(base, cfg, async (request, reply) => {
      const repo = repoFor(core, request, ["pullrequest:write"], "write");
      const principal = requireCaller(request);
      const body = parseBody(createSchema, request.body);
      const pr = await core.openPullRequest({
        repo,
        title: body.title,
        description: body.description,
        sourceBranch: body.source.branch.name,
        sourceRepo: sourceRepo(repo, body.source.repository),
        destinationBranch: body.destination?.branch.name,
        author: principal.account,
        closeSourceBranch: body.close_source_branch,
      });
      return reply.code(201).send(view(pr));
    });

    app.get(`${base}/:id`, cfg, async (request) => {
      const repo = repoFor(core, request, ["pullrequest"]);
      return view(core.pullRequest(repo, intId(request, "id")));
    });

    app.put(`${base}/:id`, cfg, async (request) => {
      const repo = repoFor(core, request, ["pullrequest:write"], "write");
      const body = parseBody(updateSchema, request.body);
      const pr = core.pullRequest(repo, intId(request, "id"));
      return view(
        await core.updatePullRequest(
          repo,
          pr,
          { title: body.title, description: body.description, destinationBranch: body.destination?.branch.name },
          requireCaller(request).account,
        ),
      );
    });

    app.post(`${base}/:id/decline`, cfg, async (request) => {
      const repo = repoFor(core, request, ["pullrequest:write"], "write");
      return view(
        await core.declinePullRequest(
          repo,
          core.pullRequest(repo, intId(request, "id")),
          requireCaller(request).account,
        ),
      );
    });

    app.post(`${base}/:id/merge`, cfg, async (request) => {
      const repo = repoFor(core, request, ["pullrequest:write"], "write");
      const body = parseBody(
        z.object({ close_source_branch: z.boolean().optional(), message: z.string().optional() }),
        request.body,
      );
      const pr = core.pullRequest(repo, intId(request, "id"));
      return view(
        await core.mergePullRequest(repo, pr, requireCaller(request).account, {
          closeSourceBranch: body.close_source_branch,
          message: body.message,
        }),
      );
    });

    // §6.2: the PR diffstat answers 302 to the repository diffstat of the PR's revspec.
    app.get(`${base}/:id/diffstat`, cfg, async (request, reply) => {
      const repo = repoFor(core, request, ["pullrequest"]);
      const pr = core.pullRequest(repo, intId(request, "id"));
      const source = core.state.repositories.get(pr.source.repo) as Repository;
      const spec = `${core.state.fullName(source)}:${short(pr.source.commit)}%0D${short(pr.destination.commit)}`;
      return reply.redirect(
        `${core.present.api}/repositories/${core.state.fullName(repo)}/diffstat/${spec}?from_pullrequest_id=${pr.id}&topic=true`,
        302,
      );
    });

    app.get(`${base}/:id/commits`, cfg, async (request) => {
      const repo = repoFor(core, request, ["pullrequest"]);
      const pr = core.pullRequest(repo, intId(request, "id"));
      const source = core.state.repositories.get(pr.source.repo) as Repository;
      const commits =
        (await core.git.log(source.gitPath, ["-n", "1000", pr.source.commit, `^${pr.destination.commit}`])) ??
        (await core.git.log(source.gitPath, ["-n", "1000", pr.source.commit])) ??
        [];
      return pageOf(
        core,
        request,
        commits.map((c) => core.present.commit(source, c, true)),
      );
    });

    app.get(`${base}/:id/statuses`, cfg, async (request) => {
      const repo = repoFor(core, request, ["pullrequest"]);
      const pr = core.pullRequest(repo, intId(request, "id"));
      const list = core.state.statuses.filter((s) => s.repo === repo.uuid && s.commit === pr.source.commit);
      return pageOf(
        core,
        request,
        list.map((s) => core.present.status(s, core.present.commitRef(repo, s.commit))),
      );
    });

    app.get(`${base}/:id/comments`, cfg, async (request) => {
      const repo = repoFor(core, request, ["pullrequest"]);
      const pr = core.pullRequest(repo, intId(request, "id"));
      const list = core.state.comments.filter((c) => c.repo === repo.uuid && c.pullRequest === pr.id);
      return pageOf(
        core,
        request,
        list.map((c) => core.present.comment(c)),
      );
    });

    app.post(`${base}/:id/comments`, cfg, async (request, reply) => {
      const repo = repoFor(core, request, ["pullrequest"]);
      const pr = core.pullRequest(repo, intId(request, "id"));
      const body = parseBody(commentSchema, request.body);
      const comment = await core.comment(
        repo,
        pr,
        { raw: body.content.raw, parent: body.parent?.id, inline: body.inline },
        requireCaller(request).account,
      );
      return reply.code(201).send(core.present.comment(comment));
    });

    app.get(`${base}/:id/comments/:comment`, cfg, async (request) => {
      const repo = repoFor(core, request, ["pullrequest"]);
      const pr = core.pullRequest(repo, intId(request, "id"));
      const c = core.state.comments.find(
        (x) => x.repo === repo.uuid && x.pullRequest === pr.id && x.id === intId(request, "comment"),
      );
      if (!c) throw notFound("Comment not found");
      return core.present.comment(c);
    });
  };
}
