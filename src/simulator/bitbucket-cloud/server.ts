import type { FastifyInstance, FastifyRequest } from "fastify";
import { type FaultInjector, faultMessage } from "../faults.ts";
import { createSimApp, isControl, setErrorStyle } from "../server-kit.ts";
import { authenticate, credentialType } from "./auth.ts";
import type { CloudCore } from "./core.ts";
import { CloudError, rateLimited } from "./errors.ts";
import { contentRoutes } from "./routes/content.ts";
import { acceptedScopes, principalOf, setPrincipal } from "./routes/context.ts";
import { type CloudControlTarget, cloudControlRoutes } from "./routes/control.ts";
import { GIT_CHALLENGE, gitRoutes } from "./routes/git.ts";
import { hookRoutes } from "./routes/hooks.ts";
import { pullRequestRoutes } from "./routes/pull-requests.ts";
import { repositoryRoutes } from "./routes/repositories.ts";

/** Which hourly budget a request draws from (§6.6), or null for unmetered ones. */
function resourceOf(request: FastifyRequest, path: string): "repositories" | "webhooks" | "git" | null {
  const group = request.routeOptions.config?.group;
  if (group === "git") return "git";
  if (group === "webhooks" && request.method !== "DELETE") return "webhooks";
  return path.startsWith("/2.0/repositories/") ? "repositories" : null;
}

/**
 * The Cloud app: REST under `/2.0`, git at `/<workspace>/<slug>.git`, the control API under `/_sim`. Faults are
 * taken before authentication, as on the DC personality.
 */
export function buildCloudServer(core: CloudCore, control: CloudControlTarget, faults: FaultInjector): FastifyInstance {
  const limited = new WeakSet<FastifyRequest>();
  const { app, logRequest } = createSimApp({
    core,
    faults,
    caller: (request) => {
      const principal = principalOf(request);
      const token = principal?.kind === "token" ? principal.token : null;
      return {
        principal: principal?.account.nickname ?? null,
        // Tokens are Bearer on REST and Basic x-token-auth on git; users are Basic.
        authKind: !principal ? "none" : token && request.routeOptions.config?.group !== "git" ? "bearer" : "basic",
        credential: token ? credentialType(token, core.switches) : principal ? "user" : null,
        tokenId: token?.id ?? null,
      };
    },
    rateLimited: limited,
    faultError: (status, headers) =>
      new CloudError(status, faultMessage(status).message, { headers, plain: status === 429 }),
    faultBody: (status) => ({
      body: JSON.stringify(new CloudError(status, faultMessage(status).message).toBody()),
      contentType: "application/json",
    }),
    invalidJson: () => new CloudError(400, "The request body is not valid JSON."),
    // §6.6: Cloud's 429 carries no Retry-After, injected ones included.
    faultHeaders: ({ "Retry-After": _dropped, ...rest }) => rest,
    beforeSend: (request, reply) => {
      // Every authenticated answer tells an access token its scopes (§1.2).
      const principal = principalOf(request);
      if (principal?.kind !== "token" || isControl(request)) return;
      reply.header("x-oauth-scopes", principal.token.scopes.join(", "));
      reply.header("x-credential-type", credentialType(principal.token, core.switches));
      const accepted = acceptedScopes(request);
      if (accepted) reply.header("x-accepted-oauth-scopes", accepted.join(", "));
    },
  });

  app.addHook("onRequest", async (request, reply) => {
    if (isControl(request)) return;
    const path = new URL(request.url, "http://sim").pathname;
    const isGit = request.routeOptions.config?.group === "git";
    const outcome = authenticate(core.state, core.passwords, request.headers.authorization, {
      git: isGit,
      now: core.clock.now(),
      switches: core.switches,
    });
    if (outcome.kind === "failed") throw new CloudError(401, outcome.message, isGit ? { headers: GIT_CHALLENGE } : {});
    const principal = outcome.kind === "authenticated" ? outcome.principal : null;
    if (principal) setPrincipal(request, principal);
    const resource = resourceOf(request, path);
    if (core.options.rateLimit.enabled && resource) {
      const limit = core.options.rateLimit[`${resource}PerHour`];
      const who =
        principal?.kind === "token"
          ? core.switches.rateLimitPerToken
            ? `token:${principal.token.id}`
            : `workspace:${principal.token.workspace}`
          : principal
            ? `user:${principal.account.uuid}`
            : `ip:${request.ip}`;
      const decision = core.limiter.take(`${resource}:${who}`, principal ? limit : 60);
      // Scaled endpoints tell access tokens their budget (§6.6); other credentials get no such headers.
      const headers: Record<string, string> = {};
      if (principal?.kind === "token" && resource === "repositories") {
        headers["X-RateLimit-Limit"] = String(limit);
        headers["X-RateLimit-Resource"] = "api-repositories";
        headers["X-RateLimit-NearLimit"] = String(decision.remaining < limit * 0.05);
      }
      for (const [k, v] of Object.entries(headers)) reply.header(k, v);
      if (!decision.allowed) {
        limited.add(request);
        throw rateLimited(headers);
      }
    }
  });

  setErrorStyle(app, {
    own: (err) => err instanceof CloudError,
    client: (status, message) => new CloudError(status, message),
    internal: () => new CloudError(500, "Something went wrong in the simulator."),
    textType: "text/plain",
    plain: (error) => error.plain,
    send: (reply, error) => reply.type("application/json").send(error.toBody()),
  });

  app.setNotFoundHandler((request, reply) => {
    reply
      .code(404)
      .send(new CloudError(404, `Resource not found: ${new URL(request.url, "http://sim").pathname}`).toBody());
  });

  app.register(
    async (api) => {
      await api.register(repositoryRoutes(core));
      await api.register(contentRoutes(core));
      await api.register(pullRequestRoutes(core));
      await api.register(hookRoutes(core));
    },
    { prefix: "/2.0" },
  );
  app.register(gitRoutes(core, logRequest));
  if (core.options.controlApi) app.register(cloudControlRoutes(control), { prefix: "/_sim" });
  return app;
}
