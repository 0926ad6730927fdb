import type { FastifyInstance } from "fastify";
import { z } from "zod";
import { machineryControlRoutes } from "../../control-kit.ts";
import type { SimulatorControl } from "../control.ts";
import { switchesSchema } from "../options.ts";
import { PROJECT_PERMISSIONS, REPO_PERMISSIONS } from "../permissions.ts";
import { param, parseBody, q } from "./context.ts";

export type ControlTarget = SimulatorControl;

const files = z.record(z.string(), z.string().nullable());
const repoRef = { project: z.string().min(1), repo: z.string().min(1) };

const schemas = {
  user: z.object({
    name: z.string().min(1),
    password: z.string().optional(),
    displayName: z.string().optional(),
    email: z.string().nullable().optional(),
    admin: z.boolean().optional(),
  }),
  password: z.object({ password: z.string().min(1) }),
  group: z.object({ name: z.string().min(1), members: z.array(z.string()).optional() }),
  member: z.object({ user: z.string().min(1) }),
  project: z.object({
    key: z.string().min(1),
    name: z.string().optional(),
    description: z.string().optional(),
    public: z.boolean().optional(),
  }),
  grant: z.object({
    permission: z.enum([...PROJECT_PERMISSIONS, ...REPO_PERMISSIONS]),
    user: z.string().optional(),
    group: z.string().optional(),
    project: z.string().min(1),
    repo: z.string().optional(),
  }),
  repo: z.object({
    project: z.string().min(1),
    slug: z.string().optional(),
    name: z.string().optional(),
    files: files.optional(),
    message: z.string().optional(),
    defaultBranch: z.string().optional(),
    public: z.boolean().optional(),
    as: z.string().optional(),
  }),
  fork: z.object({ ...repoRef, user: z.string().min(1), slug: z.string().optional(), name: z.string().optional() }),
  push: z.object({
    ...repoRef,
    branch: z.string().min(1),
    files,
    message: z.string().optional(),
    as: z.string().optional(),
    startPoint: z.string().optional(),
  }),
  tag: z.object({
    ...repoRef,
    tag: z.string().min(1),
    target: z.string().optional(),
    message: z.string().optional(),
    as: z.string().optional(),
  }),
  deleteRef: z.object({ ...repoRef, ref: z.string().min(1), as: z.string().optional() }),
  openPr: z.object({
    ...repoRef,
    from: z.object({ branch: z.string().min(1), project: z.string().optional(), repo: z.string().optional() }),
    to: z.string().optional(),
    title: z.string().min(1),
    description: z.string().optional(),
    as: z.string().min(1),
    reviewers: z.array(z.string()).optional(),
  }),
  updatePr: z.object({
    title: z.string().optional(),
    description: z.string().nullable().optional(),
    to: z.string().optional(),
    as: z.string().optional(),
  }),
  prAction: z.object({ as: z.string().optional(), version: z.number().int().optional() }),
  comment: z.object({ text: z.string().min(1), as: z.string().min(1), parentId: z.number().int().optional() }),
  token: z.object({
    scope: z.discriminatedUnion("kind", [
      z.object({ kind: z.literal("user"), user: z.string() }),
      z.object({ kind: z.literal("project"), project: z.string() }),
      z.object({ kind: z.literal("repository"), project: z.string(), repo: z.string() }),
    ]),
    name: z.string(),
    permissions: z.array(z.string()),
    expiryDays: z.number().int().nullable().optional(),
  }),
  tokenSettings: z.object({ maxExpiryDays: z.number().int().positive().nullable() }),
  webhook: z.object({
    project: z.string().min(1),
    repo: z.string().optional(),
    name: z.string().min(1),
    url: z.string().min(1),
    events: z.array(z.string()).min(1),
    active: z.boolean().optional(),
    configuration: z.record(z.string(), z.unknown()).optional(),
    credentials: z.object({ username: z.string(), password: z.string().optional() }).nullable().optional(),
    sslVerificationRequired: z.boolean().optional(),
  }),
  rateLimit: z.object({
    enabled: z.boolean().optional(),
    capacity: z.number().positive().optional(),
    refillPerSecond: z.number().positive().optional(),
  }),
};

function intQ(v: string | undefined): number | undefined {
  return v === undefined ? undefined : Number(v);
}

/** The HTTP twin of the in-process control handle, for the demo and out-of-process tests. Unauthenticated. */
export function controlRoutes(sim: ControlTarget) {
  const cfg = { config: { control: true } };
  return async (app: FastifyInstance): Promise<void> => {
    const prRef = (request: Parameters<typeof param>[0]) => ({
      project: param(request, "project"),
      repo: param(request, "repo"),
      id: Number(param(request, "id")),
    });

    app.get("/health", cfg, async () => ({ ok: true, version: sim.version }));
    app.post("/users", cfg, async (r) => sim.createUser(parseBody(schemas.user, r.body)));
    app.put("/users/:name/password", cfg, async (r, reply) => {
      sim.setPassword(param(r, "name"), parseBody(schemas.password, r.body).password);
      return reply.code(204).send();
    });
    app.post("/groups", cfg, async (r) => {
      const b = parseBody(schemas.group, r.body);
      sim.createGroup(b.name, b.members);
      return { name: b.name };
    });
    app.post("/groups/:name/members", cfg, async (r) => {
      sim.addUserToGroup(param(r, "name"), parseBody(schemas.member, r.body).user);
      return { ok: true };
    });
    app.post("/projects", cfg, async (r) => sim.createProject(parseBody(schemas.project, r.body)));
    app.post("/grants", cfg, async (r) => {
      sim.grant(parseBody(schemas.grant, r.body));
      return { ok: true };
    });
    app.post("/repos", cfg, async (r) => sim.createRepository(parseBody(schemas.repo, r.body)));
    app.post("/forks", cfg, async (r) => sim.fork(parseBody(schemas.fork, r.body)));
    app.post("/push", cfg, async (r) => sim.push(parseBody(schemas.push, r.body)));
    app.post("/tags", cfg, async (r) => sim.createTag(parseBody(schemas.tag, r.body)));
    app.post("/refs/delete", cfg, async (r) => sim.deleteRef(parseBody(schemas.deleteRef, r.body)));

    app.post("/pull-requests", cfg, async (r) => sim.openPullRequest(parseBody(schemas.openPr, r.body)));
    app.get("/pull-requests/:project/:repo/:id", cfg, async (r) => sim.pullRequest(prRef(r)));
    app.post("/pull-requests/:project/:repo/:id/update", cfg, async (r) =>
      sim.updatePullRequest({ ...prRef(r), ...parseBody(schemas.updatePr, r.body) }),
    );
    app.post("/pull-requests/:project/:repo/:id/decline", cfg, async (r) =>
      sim.declinePullRequest({ ...prRef(r), ...parseBody(schemas.prAction, r.body) }),
    );
    app.post("/pull-requests/:project/:repo/:id/merge", cfg, async (r) =>
      sim.mergePullRequest({ ...prRef(r), ...parseBody(schemas.prAction, r.body) }),
    );
    app.post("/pull-requests/:project/:repo/:id/delete", cfg, async (r) => {
      await sim.deletePullRequest({ ...prRef(r), ...parseBody(schemas.prAction, r.body) });
      return { ok: true };
    });
    app.post("/pull-requests/:project/:repo/:id/refresh", cfg, async (r) => sim.refreshPullRequestRefs(prRef(r)));
    app.post("/pull-requests/:project/:repo/:id/comments", cfg, async (r) =>
      sim.comment({ ...prRef(r), ...parseBody(schemas.comment, r.body) }),
    );

    app.post("/tokens", cfg, async (r) => sim.createToken(parseBody(schemas.token, r.body)));
    app.get("/tokens", cfg, async () => sim.tokens());
    app.delete("/tokens/:id", cfg, async (r, reply) => {
      const found = sim.revokeToken(param(r, "id"));
      return reply.code(found ? 204 : 404).send();
    });
    app.put("/token-settings", cfg, async (r) => {
      const b = parseBody(schemas.tokenSettings, r.body);
      sim.setMaxTokenExpiryDays(b.maxExpiryDays);
      return b;
    });

    app.post("/webhooks", cfg, async (r) => sim.createWebhook(parseBody(schemas.webhook, r.body)));
    app.get("/webhooks", cfg, async (r) => sim.webhooks({ project: q(r, "project"), repo: q(r, "repo") }));

    app.get("/build-statuses", cfg, async (r) =>
      sim.buildStatuses({ project: q(r, "project"), repo: q(r, "repo"), commit: q(r, "commit"), key: q(r, "key") }),
    );
    app.get("/comments", cfg, async (r) =>
      sim.comments({ project: q(r, "project"), repo: q(r, "repo"), id: intQ(q(r, "pullRequestId")) }),
    );

    machineryControlRoutes(app, sim, parseBody);
    app.get("/switches", cfg, async () => sim.switches);
    app.patch("/switches", cfg, async (r) => {
      sim.configure(parseBody(switchesSchema.partial(), r.body));
      return sim.switches;
    });
    app.put("/rate-limit", cfg, async (r) => {
      sim.configureRateLimit(parseBody(schemas.rateLimit, r.body));
      return { ok: true };
    });
  };
}
