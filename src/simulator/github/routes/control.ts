import type { FastifyInstance } from "fastify";
import { z } from "zod";
import { machineryControlRoutes } from "../../control-kit.ts";
import type { GitHubSimulatorControl } from "../control.ts";
import { GhError } from "../errors.ts";
import { permissionSetSchema, ROLES } from "../permissions.ts";
import { param, parseBody, q } from "./context.ts";

export type GitHubControlTarget = GitHubSimulatorControl;

const files = z.record(z.string(), z.string().nullable());
const repoRef = { owner: z.string().min(1), repo: z.string().min(1) };

const schemas = {
  account: z.object({
    login: z.string().min(1),
    type: z.enum(["User", "Organization"]).optional(),
    email: z.string().nullable().optional(),
  }),
  app: z.object({
    name: z.string().min(1),
    owner: z.string().min(1),
    permissions: permissionSetSchema.optional(),
    events: z.array(z.string()).optional(),
    webhook: z
      .object({
        url: z.string().min(1),
        secret: z.string().nullable().optional(),
        contentType: z.enum(["json", "form"]).optional(),
      })
      .nullable()
      .optional(),
  }),
  appHook: z.object({
    url: z.string().min(1).optional(),
    contentType: z.enum(["json", "form"]).optional(),
    secret: z.string().nullable().optional(),
    insecureSsl: z.enum(["0", "1"]).optional(),
  }),
  jwt: z.object({
    iat: z.number().int().optional(),
    exp: z.number().optional(),
    iss: z.union([z.string(), z.number()]).optional(),
  }),
  installation: z.object({
    appId: z.number().int(),
    account: z.string().min(1),
    repositories: z.array(z.string()).nullable().optional(),
    permissions: permissionSetSchema.optional(),
    events: z.array(z.string()).optional(),
  }),
  suspend: z.object({ suspended: z.boolean().optional() }),
  installationToken: z.object({
    installationId: z.number().int(),
    repositories: z.array(z.string()).optional(),
    repository_ids: z.array(z.number().int()).optional(),
    permissions: permissionSetSchema.optional(),
  }),
  pat: z.object({
    user: z.string().min(1),
    owner: z.string().optional(),
    name: z.string().optional(),
    repositories: z.array(z.string()).nullable().optional(),
    permissions: permissionSetSchema,
    expiresInDays: z.number().positive().nullable().optional(),
    expiresAt: z.number().int().positive().optional(),
  }),
  repo: z.object({
    owner: z.string().min(1),
    name: z.string().min(1),
    private: z.boolean().optional(),
    defaultBranch: z.string().optional(),
    files: files.optional(),
    message: z.string().optional(),
  }),
  fork: z.object({ ...repoRef, into: z.string().min(1), name: z.string().optional() }),
  collaborator: z.object({ ...repoRef, login: z.string().min(1), role: z.enum(ROLES).nullable() }),
  push: z.object({
    ...repoRef,
    branch: z.string().min(1),
    files,
    message: z.string().optional(),
    as: z.string().optional(),
    startPoint: z.string().optional(),
  }),
  deleteBranch: z.object({ ...repoRef, branch: z.string().min(1), as: z.string().optional() }),
  pull: z.object({
    ...repoRef,
    head: z.string().min(1),
    base: z.string().optional(),
    title: z.string().min(1),
    body: z.string().nullable().optional(),
    as: z.string().min(1),
  }),
  prAction: z.object({ as: z.string().optional() }),
  comment: z.object({ body: z.string().min(1), as: z.string().min(1) }),
  secondary: z.object({
    enabled: z.boolean().optional(),
    capacity: z.number().positive().optional(),
    refillPerSecond: z.number().positive().optional(),
  }),
};

/** The HTTP twin of GitHubSimulatorControl, for the demo and out-of-process tests. Unauthenticated. */
export function githubControlRoutes(sim: GitHubControlTarget) {
  const cfg = {};
  return async (app: FastifyInstance): Promise<void> => {
    // Control mistakes are the caller's: answer 400 with the reason rather than a 500.
    app.setErrorHandler((err, _request, reply) => {
      const status = err instanceof GhError ? err.status : (err as { statusCode?: number }).statusCode;
      reply.code(typeof status === "number" && status >= 400 && status < 600 ? status : 400);
      return reply.send({ message: (err as Error).message });
    });
    const prRef = (r: Parameters<typeof param>[0]) => ({
      owner: param(r, "owner"),
      repo: param(r, "repo"),
      number: Number(param(r, "number")),
    });

    app.get("/health", cfg, async () => ({ ok: true, provider: "github" }));
    app.post("/accounts", cfg, async (r) => sim.createAccount(parseBody(schemas.account, r.body)));
    app.post("/apps", cfg, async (r) => sim.createApp(parseBody(schemas.app, r.body)));
    app.post("/apps/:id/rotate-key", cfg, async (r) => sim.rotateAppKey(Number(param(r, "id"))));
    app.post("/apps/:id/jwt", cfg, async (r) =>
      sim.appJwt({ appId: Number(param(r, "id")), ...parseBody(schemas.jwt, r.body) }),
    );
    app.get("/apps/:id/hook", cfg, async (r) => sim.appHook(Number(param(r, "id"))));
    app.patch("/apps/:id/hook", cfg, async (r) => {
      sim.editAppHook(Number(param(r, "id")), parseBody(schemas.appHook, r.body));
      return sim.appHook(Number(param(r, "id")));
    });
    app.post("/installations", cfg, async (r) => sim.install(parseBody(schemas.installation, r.body)));
    app.get("/installations/:id", cfg, async (r) => sim.installationView(Number(param(r, "id"))));
    app.post("/installations/:id/suspend", cfg, async (r) =>
      sim.suspendInstallation(Number(param(r, "id")), parseBody(schemas.suspend, r.body).suspended ?? true),
    );
    app.post("/tokens/installation", cfg, async (r) =>
      sim.installationToken(parseBody(schemas.installationToken, r.body)),
    );
    app.get("/tokens/installation", cfg, async (r) => {
      const id = q(r, "installationId");
      return sim.installationTokens(id === undefined ? {} : { installationId: Number(id) });
    });
    app.post("/tokens/pat", cfg, async (r) => sim.personalToken(parseBody(schemas.pat, r.body)));

    app.post("/repos", cfg, async (r) => sim.createRepository(parseBody(schemas.repo, r.body)));
    app.get("/repos/:owner/:repo", cfg, async (r) => sim.repository(param(r, "owner"), param(r, "repo")));
    app.post("/forks", cfg, async (r) => sim.fork(parseBody(schemas.fork, r.body)));
    app.post("/collaborators", cfg, async (r) => {
      sim.setCollaborator(parseBody(schemas.collaborator, r.body));
      return { ok: true };
    });
    app.post("/push", cfg, async (r) => sim.push(parseBody(schemas.push, r.body)));
    app.post("/branches/delete", cfg, async (r) => {
      await sim.deleteBranch(parseBody(schemas.deleteBranch, r.body));
      return { ok: true };
    });

    app.post("/pulls", cfg, async (r) => sim.openPullRequest(parseBody(schemas.pull, r.body)));
    app.get("/pulls/:owner/:repo/:number", cfg, async (r) => sim.pullRequest(prRef(r)));
    app.post("/pulls/:owner/:repo/:number/close", cfg, async (r) =>
      sim.closePullRequest({ ...prRef(r), ...parseBody(schemas.prAction, r.body) }),
    );
    app.post("/pulls/:owner/:repo/:number/reopen", cfg, async (r) =>
      sim.reopenPullRequest({ ...prRef(r), ...parseBody(schemas.prAction, r.body) }),
    );
    app.post("/pulls/:owner/:repo/:number/merge", cfg, async (r) =>
      sim.mergePullRequest({ ...prRef(r), ...parseBody(schemas.prAction, r.body) }),
    );
    app.post("/pulls/:owner/:repo/:number/comments", cfg, async (r) =>
      sim.comment({ ...prRef(r), ...parseBody(schemas.comment, r.body) }),
    );

    const repoFilter = (r: Parameters<typeof q>[0]) => ({ owner: q(r, "owner"), repo: q(r, "repo") });
    app.get("/comments", cfg, async (r) => {
      const n = q(r, "number");
      return sim.comments({ ...repoFilter(r), number: n === undefined ? undefined : Number(n) });
    });
    app.get("/statuses", cfg, async (r) =>
      sim.statuses({ ...repoFilter(r), sha: q(r, "sha"), context: q(r, "context") }),
    );
    app.get("/check-runs", cfg, async (r) => sim.checkRuns({ ...repoFilter(r), sha: q(r, "sha") }));
    app.post("/check-runs/:id/rerequest", cfg, async (r) =>
      sim.rerequestCheckRun({
        id: Number(param(r, "id")),
        as: parseBody(schemas.comment.pick({ as: true }), r.body).as,
      }),
    );
    app.get("/hooks", cfg, async (r) => sim.hooks(repoFilter(r)));

    machineryControlRoutes(app, sim, parseBody);
    app.put("/rate-limit/secondary", cfg, async (r) => {
      sim.configureSecondaryRateLimit(parseBody(schemas.secondary, r.body));
      return { ok: true };
    });
    app.post("/rate-limit/reset", cfg, async () => {
      sim.resetRateLimits();
      return { ok: true };
    });
  };
}
