import type { FastifyInstance } from "fastify";
import { z } from "zod";
import type { GitHubCore } from "../core.ts";
import { GhError, notFound, requiresAuthentication } from "../errors.ts";
import { JWT_NOT_DECODED } from "../jwt.ts";
import { permissionSetSchema } from "../permissions.ts";
import { isoSeconds } from "../presenter.ts";
import type { App } from "../state.ts";
import { intParam, paginate, param, parseBody, type Req } from "./context.ts";

const tokenRequest = z.object({
  repositories: z.array(z.string()).max(500).optional(),
  repository_ids: z.array(z.number().int()).max(500).optional(),
  permissions: permissionSetSchema.optional(),
});

const hookConfigPatch = z.object({
  url: z.string().min(1).optional(),
  content_type: z.enum(["json", "form"]).optional(),
  secret: z.string().optional(),
  insecure_ssl: z.union([z.string(), z.number()]).optional(),
});

/** Endpoints only an App's JWT opens. */
function requireApp(request: Req): App {
  const principal = request.ghPrincipal;
  if (principal?.kind === "app") return principal.app;
  if (!principal) throw requiresAuthentication();
  throw new GhError(401, JWT_NOT_DECODED);
}

/** The App itself: its installations, their tokens, the App's hook config, and what an installation token lists. */
export function appRoutes(core: GitHubCore) {
  return async (app: FastifyInstance): Promise<void> => {
    const cfg = { config: { group: "access-tokens" as const } };
    app.get("/app", cfg, async (r) => core.presenter.app(requireApp(r)));

    app.get("/app/installations", cfg, async (r, reply) => {
      const self = requireApp(r);
      const list = [...core.state.installations.values()].filter((i) => i.appId === self.id);
      return paginate(r, reply, core.baseUrl, list).map((i) => core.presenter.installation(i));
    });

    const installationOf = (r: Req) => {
      const self = requireApp(r);
      const inst = core.state.installations.get(intParam(r, "id"));
      if (!inst || inst.appId !== self.id) throw notFound();
      return inst;
    };

    app.get("/app/installations/:id", cfg, async (r) => core.presenter.installation(installationOf(r)));

    app.post("/app/installations/:id/access_tokens", cfg, async (r, reply) => {
      const inst = installationOf(r);
      if (inst.suspended) throw new GhError(403, "This installation has been suspended");
      const body = parseBody(tokenRequest, r.body);
      const { secret, token, repositories } = core.tokens.createForInstallation(inst, body);
      const json: Record<string, unknown> = {
        token: secret,
        expires_at: isoSeconds(token.expiresAt),
        permissions: token.permissions,
        repository_selection: inst.repositoryIds === null && token.repositoryIds === null ? "all" : "selected",
      };
      if (repositories) json.repositories = repositories.map((repo) => core.presenter.repository(repo));
      return reply.code(201).send(json);
    });

    app.get("/repos/:owner/:repo/installation", cfg, async (r) => {
      const self = requireApp(r);
      const repo = core.state.findRepository(param(r, "owner"), param(r, "repo"));
      const inst = repo ? core.state.installationsFor(repo, self.id)[0] : undefined;
      if (!inst) throw notFound();
      return core.presenter.installation(inst);
    });

    // The installation on an account, as clients look it up by owner.
    const onAccount = (r: Req, name: string) => {
      const self = requireApp(r);
      const account = core.state.accountNamed(param(r, name));
      const inst = [...core.state.installations.values()].find(
        (i) => i.appId === self.id && i.accountId === account?.id,
      );
      if (!inst) throw notFound();
      return core.presenter.installation(inst);
    };
    app.get("/orgs/:org/installation", cfg, async (r) => onAccount(r, "org"));
    app.get("/users/:username/installation", cfg, async (r) => onAccount(r, "username"));

    app.get("/app/hook/config", cfg, async (r) => {
      const self = requireApp(r);
      if (!self.hook) throw notFound();
      return core.presenter.hookConfig(self.hook);
    });

    app.patch("/app/hook/config", cfg, async (r) => {
      const self = requireApp(r);
      const body = parseBody(hookConfigPatch, r.body);
      self.hook ??= { url: "", content_type: "json", secret: null, insecure_ssl: "0" };
      if (body.url !== undefined) self.hook.url = body.url;
      if (body.content_type !== undefined) self.hook.content_type = body.content_type;
      if (body.secret !== undefined) self.hook.secret = body.secret === "" ? null : body.secret;
      if (body.insecure_ssl !== undefined) self.hook.insecure_ssl = String(body.insecure_ssl) === "1" ? "1" : "0";
      return core.presenter.hookConfig(self.hook);
    });

    app.get("/installation/repositories", cfg, async (r, reply) => {
      const principal = r.ghPrincipal;
      if (principal?.kind !== "installation") throw new GhError(403, "This endpoint requires an installation token");
      const ids = principal.token.repositoryIds;
      const repos = core.installationRepos(principal.installation).filter((x) => ids === null || ids.includes(x.id));
      return {
        total_count: repos.length,
        repository_selection: principal.installation.repositoryIds === null && ids === null ? "all" : "selected",
        repositories: paginate(r, reply, core.baseUrl, repos).map((x) => core.presenter.repository(x)),
      };
    });

    app.delete("/installation/token", cfg, async (r, reply) => {
      const principal = r.ghPrincipal;
      if (principal?.kind !== "installation") throw requiresAuthentication();
      const header = r.headers.authorization ?? "";
      core.tokens.revoke(header.slice(header.indexOf(" ") + 1).trim());
      return reply.code(204).send();
    });

    app.get("/rate_limit", { config: { group: "application-properties" } }, async (_r, reply) => {
      const core_ = {
        limit: Number(reply.getHeader("x-ratelimit-limit")),
        remaining: Number(reply.getHeader("x-ratelimit-remaining")),
        reset: Number(reply.getHeader("x-ratelimit-reset")),
        used: Number(reply.getHeader("x-ratelimit-used")),
        resource: "core",
      };
      return { resources: { core: core_ }, rate: core_ };
    });
  };
}
