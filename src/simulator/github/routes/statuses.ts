import type { FastifyInstance } from "fastify";
import { z } from "zod";
import { actorOf } from "../auth.ts";
import type { GitHubCore } from "../core.ts";
import { GhError, requiresAuthentication } from "../errors.ts";
import type { CommitStatus } from "../state.ts";
import { paginate, param, parseBody, repoFor } from "./context.ts";
import { commitOf } from "./repos.ts";

const createStatus = z.object({
  state: z.enum(["error", "failure", "pending", "success"]),
  target_url: z.string().nullable().optional(),
  description: z.string().nullable().optional(),
  context: z.string().optional(),
});

/** GitHub keeps at most this many statuses per commit and context. */
const MAX_PER_CONTEXT = 1000;

/** Combined state: failure or error wins, then pending, success only when every context succeeded. */
function combined(latest: CommitStatus[]): string {
  if (latest.length === 0) return "pending";
  if (latest.some((s) => s.state === "error" || s.state === "failure")) return "failure";
  if (latest.some((s) => s.state === "pending")) return "pending";
  return "success";
}

/** Commit statuses, one list per commit, the latest per context combined. */
export function statusRoutes(core: GitHubCore) {
  return async (app: FastifyInstance): Promise<void> => {
    const cfg = { config: { group: "build-status" as const } };

    app.post("/repos/:owner/:repo/statuses/:sha", cfg, async (r, reply) => {
      const repo = repoFor(core, r, "statuses", "write");
      if (!r.ghPrincipal) throw requiresAuthentication();
      const sha = await commitOf(core, repo, param(r, "sha"));
      const body = parseBody(createStatus, r.body);
      const context = body.context ?? "default";
      const same = [...core.state.statuses.values()].filter(
        (s) => s.repositoryId === repo.id && s.sha === sha && s.context === context,
      );
      if (same.length >= MAX_PER_CONTEXT)
        throw new GhError(422, "Validation Failed", {
          extra: {
            errors: [
              {
                resource: "Status",
                code: "custom",
                message: `This SHA and context has reached the maximum number of statuses.`,
              },
            ],
          },
        });
      const now = core.clock.now();
      const creator = actorOf(core, r.ghPrincipal);
      const status: CommitStatus = {
        id: core.state.nextId(),
        repositoryId: repo.id,
        sha,
        state: body.state,
        context,
        description: body.description ?? null,
        targetUrl: body.target_url ?? null,
        creatorId: creator.id,
        createdAt: now,
        updatedAt: now,
      };
      core.state.statuses.set(status.id, status);
      const c = await core.git.commit(repo.gitPath, sha);
      const branches = [...(await core.git.refs(repo.gitPath, ["refs/heads/"])).entries()]
        .filter(([, head]) => head === sha)
        .map(([ref, head]) => ({
          name: ref.slice("refs/heads/".length),
          commit: { sha: head, url: `${core.baseUrl}/repos/${core.state.fullName(repo)}/commits/${head}` },
          protected: false,
        }));
      core.events.emit(repo, "status", {
        id: status.id,
        sha,
        name: core.state.fullName(repo),
        target_url: status.targetUrl,
        avatar_url: null,
        context,
        description: status.description,
        state: status.state,
        commit: c ? core.presenter.commits.commit(repo, c, await core.git.treeOf(repo.gitPath, sha)) : null,
        branches,
        created_at: core.presenter.commits.status(status).created_at,
        updated_at: core.presenter.commits.status(status).updated_at,
        repository: core.presenter.repository(repo),
        sender: core.presenter.user(creator),
      });
      return reply.code(201).send(core.presenter.commits.status(status));
    });

    const forRef = async (repo: Parameters<typeof commitOf>[1], ref: string) => {
      const sha = await commitOf(core, repo, ref);
      const all = [...core.state.statuses.values()]
        .filter((s) => s.repositoryId === repo.id && s.sha === sha)
        .sort((a, b) => b.id - a.id);
      return { sha, all };
    };

    app.get("/repos/:owner/:repo/commits/:ref/statuses", cfg, async (r, reply) => {
      const repo = repoFor(core, r, "statuses", "read");
      const { all } = await forRef(repo, param(r, "ref"));
      return paginate(r, reply, core.baseUrl, all).map((s) => core.presenter.commits.status(s));
    });

    app.get("/repos/:owner/:repo/commits/:ref/status", cfg, async (r) => {
      const repo = repoFor(core, r, "statuses", "read");
      const { sha, all } = await forRef(repo, param(r, "ref"));
      const latest = new Map<string, CommitStatus>();
      for (const s of all) if (!latest.has(s.context)) latest.set(s.context, s);
      const list = [...latest.values()];
      const full = core.state.fullName(repo);
      return {
        state: combined(list),
        statuses: list.map((s) => core.presenter.commits.status(s)),
        sha,
        total_count: list.length,
        repository: core.presenter.repository(repo),
        commit_url: `${core.baseUrl}/repos/${full}/commits/${sha}`,
        url: `${core.baseUrl}/repos/${full}/commits/${sha}/status`,
      };
    });
  };
}
