import type { FastifyInstance } from "fastify";
import { z } from "zod";
import { repoLevel } from "../access.ts";
import type { SimCore } from "../core.ts";
import { conflict, noSuchPullRequest, notPermitted, SimError } from "../errors.ts";
import { pageRequest, paginate } from "../paging.ts";
import { READ, WRITE } from "../permissions.ts";
import type { PullRequest, Repository } from "../state.ts";
import { changeJson } from "./content.ts";
import { intParam, parseBody, q, query, type Req, repoFor, requireAuthenticated } from "./context.ts";

const refInput = z.object({
  id: z.string().min(1),
  repository: z.object({ slug: z.string(), project: z.object({ key: z.string() }) }).optional(),
});

const createSchema = z.object({
  title: z.string().min(1),
  description: z.string().optional(),
  fromRef: refInput,
  toRef: refInput,
  reviewers: z.array(z.object({ user: z.object({ name: z.string() }) })).optional(),
});

const commentSchema = z.object({
  text: z.string().min(1),
  parent: z.object({ id: z.number().int() }).optional(),
});

export function pullRequestRoutes(core: SimCore) {
  const paging = core.options.paging;
  const base = "/projects/:projectKey/repos/:repositorySlug/pull-requests";
  const group = { config: { group: "pull-requests" as const } };

  const prFor = (request: Req, minimum: typeof READ | typeof WRITE): { repo: Repository; pr: PullRequest } => {
    const repo = repoFor(core, request, minimum);
    const id = intParam(request, "pullRequestId");
    const pr = core.state.pullRequest(repo.id, id);
    if (!pr) throw noSuchPullRequest(id, core.state.project(repo.projectId).key, repo.slug);
    return { repo, pr };
  };

  const checkVersion = (request: Req, pr: PullRequest): void => {
    const raw = q(request, "version");
    if (raw !== undefined && Number(raw) !== pr.version)
      throw conflict(
        `You are attempting to modify a pull request based on out-of-date information (version ${raw}, current ${pr.version}).`,
        "pull.PullRequestOutOfDateException",
      );
  };

  return async (app: FastifyInstance): Promise<void> => {
    app.get(base, group, async (request) => {
      const repo = repoFor(core, request, READ);
      const state = (q(request, "state") ?? "OPEN").toUpperCase();
      const at = q(request, "at");
      const atRef = at && !at.startsWith("refs/") ? `refs/heads/${at}` : at;
      const outgoing = (q(request, "direction") ?? "INCOMING").toUpperCase() === "OUTGOING";
      const oldestFirst = (q(request, "order") ?? "NEWEST").toUpperCase() === "OLDEST";
      const prs = [...core.state.pullRequests.values()]
        .filter((p) => (outgoing ? p.from.repositoryId === repo.id : p.repositoryId === repo.id))
        .filter((p) => state === "ALL" || p.state === state)
        .filter((p) => atRef === undefined || (outgoing ? p.from.refId : p.to.refId) === atRef)
        .sort((a, b) =>
          oldestFirst ? a.createdDate - b.createdDate || a.id - b.id : b.createdDate - a.createdDate || b.id - a.id,
        );
      const page = paginate(prs, pageRequest(query(request), paging));
      return { ...page, values: page.values.map((p) => core.presenter.pullRequest(p, { rest: true })) };
    });

    app.post(base, group, async (request, reply) => {
      const target = repoFor(core, request, READ);
      const principal = requireAuthenticated(request);
      const body = parseBody(createSchema, request.body);
      const targetKey = core.state.project(target.projectId).key;
      const from = body.fromRef.repository
        ? core.repoAt({ project: body.fromRef.repository.project.key, repo: body.fromRef.repository.slug })
        : target;
      if (repoLevel(core.state, principal, from) < READ) throw notPermitted();
      const pr = await core.openPullRequest({
        project: targetKey,
        repo: target.slug,
        from: { branch: body.fromRef.id, project: core.state.project(from.projectId).key, repo: from.slug },
        to: body.toRef.id,
        title: body.title,
        description: body.description,
        as: principal.user.name,
        reviewers: body.reviewers?.map((r) => r.user.name),
      });
      return reply.code(201).send(core.presenter.pullRequest(pr, { rest: true }));
    });

    /** Viewing a pull request rescopes it, which is when lazily updated refs/pull-requests/* catch up. */
    app.get(`${base}/:pullRequestId`, group, async (request) => {
      const { pr } = prFor(request, READ);
      await core.viewed(pr);
      return core.presenter.pullRequest(pr, { rest: true });
    });

    /** One page only: cut at `limit` (or the internal maximum); `start` is ignored (reference §6). */
    app.get(`${base}/:pullRequestId/changes`, group, async (request) => {
      const { repo, pr } = prFor(request, READ);
      const target = repo;
      const baseCommit =
        (await core.git.mergeBase(target.gitPath, pr.to.latestCommit, pr.from.latestCommit)) ?? pr.to.latestCommit;
      const diff = await core.git.diffTree(target.gitPath, baseCommit, pr.from.latestCommit);
      const { limit } = pageRequest(query(request), paging);
      const applied = Math.min(limit, core.options.maxChanges);
      const values = diff.slice(0, applied).map(changeJson);
      return {
        fromHash: pr.from.latestCommit,
        toHash: baseCommit,
        properties: { changeScope: (q(request, "changeScope") ?? "ALL").toUpperCase() },
        values,
        size: values.length,
        isLastPage: diff.length <= applied,
        start: 0,
        limit: applied,
        nextPageStart: null,
      };
    });

    app.post(`${base}/:pullRequestId/comments`, group, async (request, reply) => {
      const { pr } = prFor(request, READ);
      const principal = requireAuthenticated(request);
      const body = parseBody(commentSchema, request.body);
      const comment = core.addCommentAs(pr, principal.user, body.text, body.parent?.id ?? null);
      return reply.code(201).send(core.presenter.comment(comment));
    });

    app.get(`${base}/:pullRequestId/comments/:commentId`, group, async (request) => {
      const { pr } = prFor(request, READ);
      const comment = core.state.comments.get(intParam(request, "commentId"));
      if (!comment || comment.repositoryId !== pr.repositoryId || comment.pullRequestId !== pr.id)
        throw new SimError(
          404,
          "The comment does not exist.",
          "com.atlassian.bitbucket.comment.NoSuchCommentException",
        );
      return core.presenter.comment(comment);
    });

    app.get(`${base}/:pullRequestId/activities`, group, async (request) => {
      const { pr } = prFor(request, READ);
      const activities: Record<string, unknown>[] = [...core.state.comments.values()]
        .filter((c) => c.repositoryId === pr.repositoryId && c.pullRequestId === pr.id && c.parentId === null)
        .map((c) => ({
          id: c.id,
          createdDate: c.createdDate,
          user: core.presenter.user(core.state.user(c.authorId)),
          action: "COMMENTED",
          commentAction: "ADDED",
          comment: core.presenter.comment(c),
        }));
      activities.push({
        id: 0,
        createdDate: pr.createdDate,
        user: core.presenter.user(core.state.user(pr.authorId)),
        action: "OPENED",
      });
      activities.sort(
        (a, b) => (b.createdDate as number) - (a.createdDate as number) || (b.id as number) - (a.id as number),
      );
      const page = paginate(activities, pageRequest(query(request), paging));
      return page;
    });

    app.post(`${base}/:pullRequestId/merge`, group, async (request) => {
      const { repo, pr } = prFor(request, WRITE);
      const principal = requireAuthenticated(request);
      checkVersion(request, pr);
      const merged = await core.mergePullRequest({
        project: core.state.project(repo.projectId).key,
        repo: repo.slug,
        id: pr.id,
        as: principal.user.name,
      });
      return core.presenter.pullRequest(merged, { rest: true });
    });

    app.post(`${base}/:pullRequestId/decline`, group, async (request) => {
      const { repo, pr } = prFor(request, WRITE);
      const principal = requireAuthenticated(request);
      checkVersion(request, pr);
      const declined = await core.declinePullRequest({
        project: core.state.project(repo.projectId).key,
        repo: repo.slug,
        id: pr.id,
        as: principal.user.name,
      });
      return core.presenter.pullRequest(declined, { rest: true });
    });
  };
}
