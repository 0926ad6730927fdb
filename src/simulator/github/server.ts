import { randomBytes } from "node:crypto";
import type { FastifyInstance, FastifyRequest } from "fastify";
import type { FaultInjector } from "../faults.ts";
import { createSimApp, isControl, setErrorStyle } from "../server-kit.ts";
import { authenticate, type GhPrincipal, principalName } from "./auth.ts";
import type { GitHubCore } from "./core.ts";
import { GhError } from "./errors.ts";
import { isoSeconds } from "./presenter.ts";
import { appRoutes } from "./routes/app.ts";
import { checkRoutes } from "./routes/checks.ts";
import { contentRoutes } from "./routes/contents.ts";
import { type GitHubControlTarget, githubControlRoutes } from "./routes/control.ts";
import { GIT_CHALLENGE, gitRoutes } from "./routes/git.ts";
import { hookRoutes } from "./routes/hooks.ts";
import { pullRoutes } from "./routes/pulls.ts";
import { repoRoutes } from "./routes/repos.ts";
import { statusRoutes } from "./routes/statuses.ts";

const FAULT_MESSAGES: Record<number, string> = {
  500: "Server Error",
  502: "Server Error",
  503: "Service Unavailable",
  429: "You have exceeded a secondary rate limit. Please wait a few minutes before you try again.",
};

/** The key a caller's rate limits are counted under, and its hourly budget. */
function rateKey(principal: GhPrincipal | null, ip: string): string {
  if (!principal) return `ip:${ip}`;
  if (principal.kind === "app") return `app:${principal.app.id}`;
  if (principal.kind === "installation") return `installation:${principal.installation.id}`;
  return `user:${principal.user.id}`;
}

function primaryExceeded(principal: GhPrincipal | null, ip: string): string {
  if (principal?.kind === "installation")
    return `API rate limit exceeded for installation ID ${principal.installation.id}.`;
  if (principal?.kind === "pat") return `API rate limit exceeded for user ID ${principal.user.id}.`;
  if (principal?.kind === "app") return `API rate limit exceeded for app ID ${principal.app.id}.`;
  return `API rate limit exceeded for ${ip}. (But here's the good news: Authenticated requests get a higher rate limit. Check out the documentation for more details.)`;
}

/** `github-authentication-token-expiration`: `2026-12-03 15:00:00 UTC`. */
export function tokenExpirationHeader(epochMs: number): string {
  return isoSeconds(epochMs).replace("T", " ").replace("Z", " UTC");
}

/**
 * The GitHub personality's Fastify app: REST at `/` (and `/api/v3`, where GitHub Enterprise serves it), git over
 * HTTP at `/<owner>/<repo>.git`, and the `/_sim/` control API. Faults are decided before authentication.
 */
export function buildGitHubServer(
  core: GitHubCore,
  control: GitHubControlTarget,
  faults: FaultInjector,
): FastifyInstance {
  const groupOf = (request: FastifyRequest) => request.routeOptions.config?.group ?? "unknown";
  const limited = new WeakSet<FastifyRequest>();
  const faultMessage = (status: number): string => FAULT_MESSAGES[status] ?? "Server Error";
  const { app, logRequest } = createSimApp({
    core,
    faults,
    caller: (request) => {
      const principal = request.ghPrincipal;
      return {
        principal: principalName(principal),
        authKind: request.headers.authorization?.toLowerCase().startsWith("basic ")
          ? "basic"
          : request.headers.authorization
            ? "bearer"
            : "none",
        credential: null,
        tokenId: principal && principal.kind !== "app" ? principal.token.id : null,
      };
    },
    rateLimited: limited,
    faultError: (status, headers) => new GhError(status, faultMessage(status), { headers }),
    faultBody: (status) => ({
      body: JSON.stringify(new GhError(status, faultMessage(status)).toBody()),
      contentType: "application/json; charset=utf-8",
    }),
    invalidJson: () => new GhError(400, "Problems parsing JSON"),
  });
  app.decorateRequest("ghPrincipal", null);

  app.addHook("onRequest", async (request, reply) => {
    if (isControl(request)) return;
    const isGit = groupOf(request) === "git";
    const outcome = authenticate(core, request.headers.authorization);
    if (outcome.kind === "failed") {
      if (isGit)
        throw new GhError(
          401,
          "Invalid username or token. Password authentication is not supported for Git operations.",
          {
            headers: GIT_CHALLENGE,
          },
        );
      throw outcome.error;
    }
    const principal = outcome.kind === "authenticated" ? outcome.principal : null;
    request.ghPrincipal = principal;
    if (!isGit) {
      reply.header("x-github-request-id", randomBytes(8).toString("hex").toUpperCase());
      reply.header("x-github-media-type", "github.v3; format=json");
      reply.header("x-github-api-version-selected", "2022-11-28");
    }
    // On every authenticated answer, git's included; a token without expiry gets no header at all.
    if (principal?.kind === "pat" && principal.token.expiresAt !== null)
      reply.header("github-authentication-token-expiration", tokenExpirationHeader(principal.token.expiresAt));
    if (isGit) return;

    const key = rateKey(principal, request.ip);
    const limit = principal ? core.options.rateLimit.limit : core.options.rateLimit.anonymousLimit;
    const counted = request.routeOptions.url !== "/rate_limit" && request.routeOptions.url !== "/api/v3/rate_limit";
    const primary = counted ? core.primary.take(key, limit) : core.primary.peek(key, limit);
    const headers = {
      "x-ratelimit-limit": String(primary.limit),
      "x-ratelimit-remaining": String(primary.remaining),
      "x-ratelimit-reset": String(primary.reset),
      "x-ratelimit-used": String(primary.used),
      "x-ratelimit-resource": "core",
    };
    for (const [k, v] of Object.entries(headers)) reply.header(k, v);
    if (!primary.allowed) {
      limited.add(request);
      throw new GhError(core.options.rateLimit.status, primaryExceeded(principal, request.ip), {
        documentationUrl: "https://docs.github.com/rest/overview/rate-limits-for-the-rest-api",
        headers,
      });
    }
    const secondary = core.secondary.take(key);
    if (!secondary.allowed) {
      limited.add(request);
      throw new GhError(
        core.options.secondaryRateLimit.status,
        "You have exceeded a secondary rate limit. Please wait a few minutes before you try again.",
        {
          documentationUrl:
            "https://docs.github.com/rest/overview/rate-limits-for-the-rest-api#about-secondary-rate-limits",
          headers: { ...headers, "retry-after": String(secondary.retryAfterSeconds) },
        },
      );
    }
  });

  setErrorStyle(app, {
    own: (err) => err instanceof GhError,
    client: (status, message) => new GhError(status, message),
    internal: () => new GhError(500, "Server Error"),
    textType: "text/plain; charset=utf-8",
    send: (reply, error) => reply.send(error.toBody()),
  });

  app.setNotFoundHandler((_request, reply) => {
    reply.code(404).send(new GhError(404, "Not Found").toBody());
  });

  for (const prefix of ["", "/api/v3"])
    app.register(
      async (api) => {
        await api.register(appRoutes(core));
        await api.register(repoRoutes(core));
        await api.register(contentRoutes(core));
        await api.register(pullRoutes(core));
        await api.register(statusRoutes(core));
        await api.register(checkRoutes(core));
        await api.register(hookRoutes(core));
      },
      { prefix },
    );
  app.register(gitRoutes(core, logRequest));
  if (core.options.controlApi) app.register(githubControlRoutes(control), { prefix: "/_sim" });
  return app;
}
