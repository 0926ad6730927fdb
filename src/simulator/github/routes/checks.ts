import type { FastifyInstance } from "fastify";
import { z } from "zod";
import { actorOf } from "../auth.ts";
import type { GitHubCore } from "../core.ts";
import { GhError, notFound } from "../errors.ts";
import type { CheckRun } from "../state.ts";
import { intParam, paginate, param, parseBody, type Req, repoFor } from "./context.ts";
import { commitOf } from "./repos.ts";

const status = z.enum(["queued", "in_progress", "completed", "waiting", "requested", "pending"]);
const conclusion = z.enum([
  "action_required",
  "cancelled",
  "failure",
  "neutral",
  "success",
  "skipped",
  "stale",
  "timed_out",
]);
const output = z.object({ title: z.string(), summary: z.string(), text: z.string().optional() });
const createRun = z.object({
  name: z.string().min(1),
  head_sha: z.string().min(1),
  details_url: z.string().optional(),
  external_id: z.string().optional(),
  status: status.optional(),
  conclusion: conclusion.optional(),
  started_at: z.string().optional(),
  completed_at: z.string().optional(),
  output: output.optional(),
});
const updateRun = createRun.partial().omit({ head_sha: true });

/** Check runs: only an App (an installation token) may create them, as on GitHub. */
export function checkRoutes(core: GitHubCore) {
  return async (app: FastifyInstance): Promise<void> => {
    const cfg = { config: { group: "build-status" as const } };
    const appIdOf = (r: Req): number => {
      const p = r.ghPrincipal;
      if (p?.kind !== "installation") throw new GhError(403, "You must authenticate via a GitHub App.");
      return p.app.id;
    };
    const apply = (run: CheckRun, body: z.infer<typeof updateRun>): void => {
      if (body.name !== undefined) run.name = body.name;
      if (body.details_url !== undefined) run.detailsUrl = body.details_url;
      if (body.external_id !== undefined) run.externalId = body.external_id;
      if (body.status !== undefined) run.status = body.status;
      if (body.output)
        run.output = { title: body.output.title, summary: body.output.summary, text: body.output.text ?? null };
      if (body.conclusion !== undefined) {
        // A conclusion completes the run.
        run.conclusion = body.conclusion;
        run.status = "completed";
      }
      if (run.status === "completed") {
        if (run.conclusion === null)
          throw new GhError(422, "Invalid request.\n\nconclusion is required when status is completed");
        run.completedAt = body.completed_at ? Date.parse(body.completed_at) : core.clock.now();
      }
      if (body.started_at) run.startedAt = Date.parse(body.started_at);
    };

    app.post("/repos/:owner/:repo/check-runs", cfg, async (r, reply) => {
      const repo = repoFor(core, r, "checks", "write");
      const appId = appIdOf(r);
      const body = parseBody(createRun, r.body);
      const sha = await commitOf(core, repo, body.head_sha);
      const run: CheckRun = {
        id: core.state.nextId(),
        repositoryId: repo.id,
        headSha: sha,
        name: body.name,
        status: "queued",
        conclusion: null,
        detailsUrl: null,
        externalId: null,
        output: { title: null, summary: null, text: null },
        appId,
        startedAt: core.clock.now(),
        completedAt: null,
      };
      apply(run, body);
      core.state.checkRuns.set(run.id, run);
      const actor = actorOf(core, r.ghPrincipal as NonNullable<typeof r.ghPrincipal>);
      core.events.checkRun(run, "created", actor);
      if (run.status === "completed") core.events.checkRun(run, "completed", actor);
      return reply.code(201).send(core.presenter.commits.checkRun(run));
    });

    const runOf = (r: Req) => {
      const repo = repoFor(core, r, "checks", r.method === "GET" ? "read" : "write");
      const run = core.state.checkRuns.get(intParam(r, "id"));
      if (!run || run.repositoryId !== repo.id) throw notFound();
      return run;
    };

    app.get("/repos/:owner/:repo/check-runs/:id", cfg, async (r) => core.presenter.commits.checkRun(runOf(r)));

    app.patch("/repos/:owner/:repo/check-runs/:id", cfg, async (r) => {
      const run = runOf(r);
      if (run.appId !== appIdOf(r))
        throw new GhError(
          403,
          `Invalid app_id \`${appIdOf(r)}\` - check run can only be modified by the GitHub App that created it.`,
        );
      const wasCompleted = run.status === "completed";
      apply(run, parseBody(updateRun, r.body));
      if (run.status === "completed" && !wasCompleted)
        core.events.checkRun(run, "completed", actorOf(core, r.ghPrincipal as NonNullable<typeof r.ghPrincipal>));
      return core.presenter.commits.checkRun(run);
    });

    app.get("/repos/:owner/:repo/commits/:ref/check-runs", cfg, async (r, reply) => {
      const repo = repoFor(core, r, "checks", "read");
      const sha = await commitOf(core, repo, param(r, "ref"));
      const runs = [...core.state.checkRuns.values()]
        .filter((x) => x.repositoryId === repo.id && x.headSha === sha)
        .sort((a, b) => b.id - a.id);
      return {
        total_count: runs.length,
        check_runs: paginate(r, reply, core.baseUrl, runs).map((x) => core.presenter.commits.checkRun(x)),
      };
    });
  };
}
