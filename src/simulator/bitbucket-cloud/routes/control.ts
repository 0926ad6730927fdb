import type { FastifyInstance } from "fastify";
import { z } from "zod";
import { machineryControlRoutes } from "../../control-kit.ts";
import { param, q, type Req } from "../../route-kit.ts";
import type { CloudSimulatorControl } from "../control.ts";
import { cloudSwitchesSchema } from "../options.ts";
import { SCOPES } from "../scopes.ts";
import { parseBody } from "./context.ts";

export type CloudControlTarget = CloudSimulatorControl;

const repoRef = { workspace: z.string(), repo: z.string() };
const schemas = {
  user: z.object({
    nickname: z.string().min(1),
    displayName: z.string().optional(),
    email: z.string().optional(),
    password: z.string().optional(),
  }),
  workspace: z.object({
    slug: z.string().min(1),
    name: z.string().optional(),
    owner: z.string().optional(),
    personal: z.boolean().optional(),
    members: z.array(z.string()).optional(),
  }),
  member: z.object({ user: z.string(), owner: z.boolean().optional() }),
  project: z.object({ workspace: z.string(), key: z.string().min(1), name: z.string().optional() }),
  repo: z.object({
    workspace: z.string(),
    slug: z.string().min(1),
    name: z.string().optional(),
    project: z.string().optional(),
    isPrivate: z.boolean().optional(),
    mainBranch: z.string().optional(),
  }),
  fork: z.object({
    from: z.object({ workspace: z.string(), repo: z.string() }),
    workspace: z.string(),
    slug: z.string(),
    project: z.string().optional(),
    isPrivate: z.boolean().optional(),
  }),
  push: z.object({
    ...repoRef,
    branch: z.string().min(1),
    files: z.record(z.string(), z.string().nullable()),
    message: z.string().optional(),
    as: z.string().optional(),
    from: z.string().optional(),
  }),
  tag: z.object({
    ...repoRef,
    name: z.string().min(1),
    at: z.string().min(1),
    message: z.string().optional(),
    as: z.string().optional(),
  }),
  deleteBranch: z.object({ ...repoRef, branch: z.string().min(1), as: z.string().optional() }),
  openPr: z.object({
    ...repoRef,
    title: z.string().min(1),
    description: z.string().optional(),
    sourceBranch: z.string().min(1),
    sourceRepo: z.object(repoRef).optional(),
    destinationBranch: z.string().optional(),
    author: z.string(),
    reviewers: z.array(z.string()).optional(),
    closeSourceBranch: z.boolean().optional(),
  }),
  updatePr: z.object({
    title: z.string().optional(),
    description: z.string().optional(),
    destinationBranch: z.string().optional(),
    as: z.string(),
  }),
  actor: z.object({ as: z.string(), closeSourceBranch: z.boolean().optional(), message: z.string().optional() }),
  comment: z.object({ text: z.string().min(1), as: z.string(), parent: z.number().int().optional() }),
  token: z.object({
    kind: z.enum(["repository", "project", "workspace"]),
    workspace: z.string(),
    project: z.string().optional(),
    repo: z.string().optional(),
    name: z.string().optional(),
    scopes: z.array(z.enum(SCOPES)).min(1),
    expiresInDays: z.number().int().positive().nullable().optional(),
  }),
  rotate: z.object({ expiresInDays: z.number().int().positive().nullable().optional() }),
  webhook: z.object({
    workspace: z.string(),
    repo: z.string().optional(),
    url: z.string().url(),
    events: z.array(z.string()).min(1),
    secret: z.string().max(128).nullable().optional(),
    description: z.string().optional(),
    active: z.boolean().optional(),
  }),
  rateLimit: z.object({
    enabled: z.boolean().optional(),
    repositoriesPerHour: z.number().int().positive().optional(),
    webhooksPerHour: z.number().int().positive().optional(),
    gitPerHour: z.number().int().positive().optional(),
  }),
};

/** The HTTP twin of CloudSimulatorControl, shaped like the Data Center one. Unauthenticated. */
export function cloudControlRoutes(sim: CloudControlTarget) {
  const cfg = { config: { control: true } };
  return async (app: FastifyInstance): Promise<void> => {
    const prRef = (r: Req) => ({
      workspace: param(r, "workspace"),
      repo: param(r, "repo"),
      id: Number(param(r, "id")),
    });

    app.get("/health", cfg, async () => ({ ok: true, provider: "bitbucket-cloud" }));
    app.post("/users", cfg, async (r) => sim.createUser(parseBody(schemas.user, r.body)));
    app.post("/workspaces", cfg, async (r) => sim.createWorkspace(parseBody(schemas.workspace, r.body)));
    app.post("/workspaces/:workspace/members", cfg, async (r, reply) => {
      sim.addMember({ workspace: param(r, "workspace"), ...parseBody(schemas.member, r.body) });
      return reply.code(204).send();
    });
    app.post("/projects", cfg, async (r) => sim.createProject(parseBody(schemas.project, r.body)));
    app.post("/repos", cfg, async (r) => sim.createRepository(parseBody(schemas.repo, r.body)));
    app.post("/forks", cfg, async (r) => sim.fork(parseBody(schemas.fork, r.body)));
    app.post("/push", cfg, async (r) => sim.push(parseBody(schemas.push, r.body)));
    app.post("/tags", cfg, async (r) => sim.createTag(parseBody(schemas.tag, r.body)));
    app.post("/branches/delete", cfg, async (r) => sim.deleteBranch(parseBody(schemas.deleteBranch, r.body)));

    app.post("/pull-requests", cfg, async (r) => sim.openPullRequest(parseBody(schemas.openPr, r.body)));
    app.get("/pull-requests/:workspace/:repo/:id", cfg, async (r) => sim.pullRequest(prRef(r)));
    app.post("/pull-requests/:workspace/:repo/:id/update", cfg, async (r) =>
      sim.updatePullRequest({ ...prRef(r), ...parseBody(schemas.updatePr, r.body) }),
    );
    app.post("/pull-requests/:workspace/:repo/:id/decline", cfg, async (r) =>
      sim.declinePullRequest({ ...prRef(r), ...parseBody(schemas.actor, r.body) }),
    );
    app.post("/pull-requests/:workspace/:repo/:id/merge", cfg, async (r) =>
      sim.mergePullRequest({ ...prRef(r), ...parseBody(schemas.actor, r.body) }),
    );
    app.post("/pull-requests/:workspace/:repo/:id/comments", cfg, async (r) =>
      sim.comment({ ...prRef(r), ...parseBody(schemas.comment, r.body) }),
    );
    app.get("/pull-requests/:workspace/:repo/:id/comments", cfg, async (r) => sim.comments(prRef(r)));

    app.post("/tokens", cfg, async (r) => sim.createToken(parseBody(schemas.token, r.body)));
    app.get("/tokens", cfg, async () => sim.tokens());
    app.post("/tokens/:id/rotate", cfg, async (r) =>
      sim.rotateToken(param(r, "id"), parseBody(schemas.rotate, r.body).expiresInDays),
    );
    app.delete("/tokens/:id", cfg, async (r, reply) => reply.code(sim.revokeToken(param(r, "id")) ? 204 : 404).send());

    app.post("/webhooks", cfg, async (r) => sim.createWebhook(parseBody(schemas.webhook, r.body)));
    app.get("/webhooks", cfg, async (r) => sim.webhooks({ workspace: q(r, "workspace"), repo: q(r, "repo") }));
    app.get("/build-statuses", cfg, async (r) =>
      sim.buildStatuses({ workspace: q(r, "workspace"), repo: q(r, "repo"), commit: q(r, "commit"), key: q(r, "key") }),
    );

    machineryControlRoutes(app, sim, parseBody);
    app.get("/switches", cfg, async () => sim.switches);
    app.patch("/switches", cfg, async (r) => {
      sim.configure(parseBody(cloudSwitchesSchema.partial(), r.body));
      return sim.switches;
    });
    app.put("/rate-limit", cfg, async (r) => {
      sim.configureRateLimit(parseBody(schemas.rateLimit, r.body));
      return { ok: true };
    });
  };
}
