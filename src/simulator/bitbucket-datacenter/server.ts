import type { FastifyInstance, FastifyRequest } from "fastify";
import { type FaultInjector, faultMessage } from "../faults.ts";
import { createSimApp, isControl, setErrorStyle } from "../server-kit.ts";
import { authenticate } from "./auth.ts";
import type { SimCore } from "./core.ts";
import { authenticationFailed, SimError } from "./errors.ts";
import { accessTokenRoutes } from "./routes/access-tokens.ts";
import { buildRoutes } from "./routes/builds.ts";
import { contentRoutes } from "./routes/content.ts";
import { type ControlTarget, controlRoutes } from "./routes/control.ts";
import { GIT_CHALLENGE, gitRoutes } from "./routes/git.ts";
import { legacyBuildRoutes } from "./routes/legacy-builds.ts";
import { projectRoutes } from "./routes/projects.ts";
import { pullRequestRoutes } from "./routes/pull-requests.ts";
import { systemRoutes } from "./routes/system.ts";
import { KNOWN_EVENT_KEYS, webhookRoutes } from "./routes/webhooks.ts";

const XSRF_TYPES = /^(application\/x-www-form-urlencoded|multipart\/form-data|text\/plain)/i;

/**
 * Builds the Fastify app: Bitbucket's REST API, git over HTTP, and (optionally) the `/_sim/` control API.
 * `faults` (see faults.ts) is consulted for every request before authentication.
 */
export function buildServer(core: SimCore, control: ControlTarget, faults: FaultInjector): FastifyInstance {
  const rateLimited = new WeakSet<FastifyRequest>();
  const { app, logRequest } = createSimApp({
    core,
    faults,
    caller: (request) => ({
      principal: request.principal?.user.name ?? null,
      authKind: request.principal?.authKind ?? "none",
      credential: request.principal?.credential ?? null,
      tokenId: request.principal?.token?.id ?? null,
    }),
    rateLimited,
    faultError: (status, headers) => {
      const { message, exceptionName } = faultMessage(status);
      return new SimError(status, message, exceptionName, null, headers);
    },
    faultBody: (status) => {
      const { message, exceptionName } = faultMessage(status);
      return {
        body: JSON.stringify(new SimError(status, message, exceptionName).toEnvelope()),
        contentType: "application/json;charset=UTF-8",
      };
    },
    invalidJson: () =>
      new SimError(400, "The request body is not valid JSON.", "com.atlassian.bitbucket.rest.BadRequestException"),
  });
  app.decorateRequest("principal", null);

  app.addHook("onRequest", async (request, reply) => {
    if (isControl(request)) return;
    const isGit = request.routeOptions.config?.group === "git";
    const outcome = authenticate(core.state, request.headers.authorization, core.switches, core.clock.now());
    if (outcome.kind === "failed") {
      if (isGit) throw new SimError(401, "Authentication failed", null, null, GIT_CHALLENGE);
      throw authenticationFailed();
    }
    if (outcome.kind === "authenticated") {
      const { principal } = outcome;
      request.principal = principal;
      const decision = core.limiter.take(`user:${principal.user.id}`);
      if (!decision.allowed) {
        rateLimited.add(request);
        const headers: Record<string, string> = { "Retry-After": String(decision.retryAfterSeconds) };
        if (core.switches.rateLimitExtraHeaders) {
          headers["X-RateLimit-Limit"] = String(core.limiter.current.capacity);
          headers["X-RateLimit-Remaining"] = "0";
        }
        throw new SimError(
          429,
          "You have exceeded the rate limit for your user account. Wait a moment and try again.",
          "com.atlassian.bitbucket.ratelimit.RateLimitedException",
          null,
          headers,
        );
      }
      reply.header("X-AUSERNAME", principal.user.name);
      reply.header("X-AUSERID", String(principal.user.id));
    }
    const type = request.headers["content-type"] ?? "";
    if (
      !isGit &&
      ["POST", "PUT", "PATCH", "DELETE"].includes(request.method) &&
      XSRF_TYPES.test(type) &&
      request.headers["x-atlassian-token"] !== "no-check"
    )
      throw new SimError(403, "XSRF check failed", "com.atlassian.bitbucket.XsrfProtectionException");
  });

  setErrorStyle(app, {
    own: (err) => err instanceof SimError,
    client: (status, message) => new SimError(status, message, null),
    internal: (err) => new SimError(500, "An unexpected error occurred in the simulator.", err.name ?? null),
    textType: "text/plain; charset=utf-8",
    send: (reply, error) => reply.send(error.toEnvelope()),
  });

  app.setNotFoundHandler((request, reply) => {
    reply.code(404).send(new SimError(404, `null for uri: ${core.baseUrl}${request.url}`, null).toEnvelope());
  });

  for (const version of ["1.0", "latest"]) {
    app.register(
      async (api) => {
        await api.register(systemRoutes(core));
        await api.register(projectRoutes(core));
        await api.register(contentRoutes(core));
        await api.register(pullRequestRoutes(core));
        await api.register(webhookRoutes(core));
        await api.register(buildRoutes(core));
      },
      { prefix: `/rest/api/${version}` },
    );
    app.register(accessTokenRoutes(core), { prefix: `/rest/access-tokens/${version}` });
    app.register(legacyBuildRoutes(core), { prefix: `/rest/build-status/${version}` });
  }

  app.get("/rest/capabilities", { config: { group: "capabilities" } }, async () => ({
    links: { self: `${core.baseUrl}/rest/capabilities` },
    application: "stash",
    buildDate: "2024-01-01T00:00:00Z",
    capabilities: {
      webhooks: `${core.baseUrl}/rest/webhooks/latest/capabilities`,
      "build-status": `${core.baseUrl}/rest/api/latest/build/capabilities`,
    },
  }));

  app.get("/rest/webhooks/latest/capabilities", { config: { group: "capabilities" } }, async () => {
    const skip = new Set<string>([
      core.switches.changesRequestedEventKey === "pr:reviewer:needs_work"
        ? "pr:reviewer:changes_requested"
        : "pr:reviewer:needs_work",
      core.switches.projectModifiedEventKey === "project:modified" ? "proj:modified" : "project:modified",
    ]);
    return { "application-webhooks": KNOWN_EVENT_KEYS.filter((k) => !skip.has(k)) };
  });

  app.get("/plugins/servlet/applinks/whoami", { config: { group: "users" } }, async (request, reply) =>
    reply.type("text/plain").send(request.principal?.user.name ?? ""),
  );

  app.register(gitRoutes(core, logRequest));
  if (core.options.controlApi) app.register(controlRoutes(control), { prefix: "/_sim" });
  return app;
}
