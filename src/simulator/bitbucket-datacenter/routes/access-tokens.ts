import type { FastifyInstance } from "fastify";
import { z } from "zod";
import { isSystemAdminPrincipal, type Principal, projectLevel, repoLevel } from "../access.ts";
import { isExpired } from "../auth.ts";
import type { SimCore } from "../core.ts";
import {
  noSuchProject,
  noSuchRepository,
  noSuchToken,
  noSuchUser,
  notFound,
  notPermitted,
  SimError,
} from "../errors.ts";
import { pageRequest, paginate } from "../paging.ts";
import { ADMIN } from "../permissions.ts";
import type { AccessToken, TokenScope } from "../state.ts";
import { param, parseBody, query, type Req } from "./context.ts";

const createSchema = z.object({
  name: z.string().optional(),
  permissions: z.array(z.string()).optional(),
  expiryDays: z.number().int().nullable().optional(),
});

const updateSchema = z.object({
  name: z.string().min(1).optional(),
  permissions: z.array(z.string()).optional(),
});

const adminSchema = z.object({ maxExpiryDays: z.number().int().positive() });

type Action = "create" | "read" | "update" | "delete";

export function accessTokenRoutes(core: SimCore) {
  const paging = core.options.paging;
  const group = { config: { group: "access-tokens" as const } };

  /**
   * Token management needs a password (or session): a token may never create, list or revoke tokens (reference
   * §1.4), whatever its permissions.
   */
  const passwordPrincipal = (request: Req): Principal => {
    const principal = request.principal;
    if (!principal) throw notPermitted();
    if (principal.token)
      throw new SimError(
        core.switches.tokenOnAccessTokensApiStatus,
        "HTTP access tokens cannot be used to manage HTTP access tokens. Authenticate with a password.",
        "com.atlassian.bitbucket.AuthorisationException",
      );
    return principal;
  };

  /** Resolves the scope named by the path and checks the caller may act on it. */
  const scopeFor = (request: Req, kind: TokenScope["kind"], action: Action): TokenScope => {
    const principal = passwordPrincipal(request);
    if (kind === "user") {
      const slug = param(request, "userSlug");
      const user = core.state.findUser(slug);
      if (user?.type !== "NORMAL") throw noSuchUser(slug);
      const self = user.id === principal.user.id;
      // Only yourself for creation; administrators may also read, edit and revoke other people's tokens.
      if (!self && (action === "create" || !isSystemAdminPrincipal(principal))) throw notPermitted();
      return { kind: "user", userId: user.id };
    }
    const key = param(request, "projectKey");
    const project = core.state.findProject(key);
    if (!project) throw noSuchProject(key);
    if (kind === "project") {
      if (projectLevel(core.state, principal, project) < ADMIN) throw notPermitted();
      return { kind: "project", projectId: project.id };
    }
    const slug = param(request, "repositorySlug");
    const repo = core.state.findRepository(project.key, slug);
    if (!repo) throw noSuchRepository(project.key, slug);
    if (repoLevel(core.state, principal, repo) < ADMIN) throw notPermitted();
    return { kind: "repository", projectId: project.id, repositoryId: repo.id };
  };

  const tokenIn = (request: Req, scope: TokenScope): AccessToken => {
    const id = param(request, "tokenId");
    const token = core.state.tokens.get(id);
    if (!token || !core.sameScope(token.scope, scope)) throw noSuchToken(id);
    return token;
  };

  const register = (app: FastifyInstance, base: string, kind: TokenScope["kind"]): void => {
    app.put(base, group, async (request) => {
      const scope = scopeFor(request, kind, "create");
      const body = parseBody(createSchema, request.body);
      const { token, secret } = core.createToken(scope, {
        name: body.name ?? "",
        permissions: body.permissions ?? [],
        expiryDays: body.expiryDays,
      });
      return core.presenter.token(token, secret);
    });

    app.get(base, group, async (request) => {
      const scope = scopeFor(request, kind, "read");
      const now = core.clock.now();
      const tokens = [...core.state.tokens.values()]
        .filter((t) => core.sameScope(t.scope, scope))
        .filter((t) => core.switches.listExpiredTokens || !isExpired(t, now))
        .sort((a, b) => a.createdDate - b.createdDate || a.id.localeCompare(b.id));
      const page = paginate(tokens, pageRequest(query(request), paging));
      return { ...page, values: page.values.map((t) => core.presenter.token(t)) };
    });

    app.get(`${base}/:tokenId`, group, async (request) =>
      core.presenter.token(tokenIn(request, scopeFor(request, kind, "read"))),
    );

    /** Changes only what is sent, and only name and permissions: an expiry can never be changed. */
    app.post(`${base}/:tokenId`, group, async (request) => {
      const scope = scopeFor(request, kind, "update");
      const token = tokenIn(request, scope);
      const body = parseBody(updateSchema, request.body);
      if (body.permissions !== undefined) token.permissions = core.validateTokenPermissions(scope, body.permissions);
      if (body.name !== undefined) token.name = body.name;
      return core.presenter.token(token);
    });

    app.delete(`${base}/:tokenId`, group, async (request, reply) => {
      const token = tokenIn(request, scopeFor(request, kind, "delete"));
      core.state.removeToken(token.id);
      return reply.code(204).send();
    });
  };

  return async (app: FastifyInstance): Promise<void> => {
    register(app, "/users/:userSlug", "user");
    register(app, "/projects/:projectKey", "project");
    register(app, "/projects/:projectKey/repos/:repositorySlug", "repository");

    const admin = (request: Req): void => {
      if (!core.switches.accessTokenAdminApi) throw notFound(`null for uri: ${core.baseUrl}${request.url}`);
      const principal = passwordPrincipal(request);
      if (!isSystemAdminPrincipal(principal)) throw notPermitted();
    };
    app.get("/admin", group, async (request) => {
      admin(request);
      return core.state.maxTokenExpiryDays === null ? {} : { maxExpiryDays: core.state.maxTokenExpiryDays };
    });
    app.put("/admin", group, async (request) => {
      admin(request);
      core.state.maxTokenExpiryDays = parseBody(adminSchema, request.body).maxExpiryDays;
      return { maxExpiryDays: core.state.maxTokenExpiryDays };
    });
    app.delete("/admin", group, async (request, reply) => {
      admin(request);
      core.state.maxTokenExpiryDays = null;
      return reply.code(204).send();
    });
  };
}
