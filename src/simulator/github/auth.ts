import type { GitHubCore } from "./core.ts";
import { badCredentials, GhError, notAccessible, notFound, requiresAuthentication } from "./errors.ts";
import { looksLikeJwt, verifyAppJwt } from "./jwt.ts";
import { type AccessLevel, type AppPermission, grants, roleAllows } from "./permissions.ts";
import type { Account, App, Installation, Repository, Token } from "./state.ts";

/** Who a request is: an App (JWT), an installation (token), a user's fine-grained PAT, or nobody. */
export type GhPrincipal =
  | { kind: "app"; app: App }
  | {
      kind: "installation";
      token: Token & { kind: "installation" };
      installation: Installation;
      app: App;
      bot: Account;
    }
  | { kind: "pat"; token: Token & { kind: "pat" }; user: Account };

export type AuthOutcome =
  | { kind: "anonymous" }
  | { kind: "authenticated"; principal: GhPrincipal }
  | { kind: "failed"; error: GhError };

/** The secret of a Basic credential (git sends `x-access-token:<token>` or `<login>:<token>`). */
function basicSecret(value: string): string | null {
  try {
    const decoded = Buffer.from(value, "base64").toString("utf8");
    const colon = decoded.indexOf(":");
    return colon < 0 ? null : decoded.slice(colon + 1);
  } catch {
    return null;
  }
}

/**
 * Reads `Authorization`: `Bearer <jwt>` authenticates an App; `Bearer|token <secret>` or Basic with the token as
 * password authenticates an installation token or a PAT. An expired or unknown token is refused (401).
 */
export function authenticate(core: GitHubCore, header: string | undefined): AuthOutcome {
  if (!header) return { kind: "anonymous" };
  const space = header.indexOf(" ");
  const scheme = (space < 0 ? header : header.slice(0, space)).toLowerCase();
  const value = space < 0 ? "" : header.slice(space + 1).trim();
  let secret: string | null = null;
  if (scheme === "basic") secret = basicSecret(value);
  else if (scheme === "bearer" || scheme === "token") secret = value;
  if (!secret) return { kind: "failed", error: badCredentials() };

  if (scheme === "bearer" && looksLikeJwt(secret)) {
    const outcome = verifyAppJwt(
      secret,
      (iss) => core.appForIssuer(iss)?.publicKey,
      Math.floor(core.clock.now() / 1000),
    );
    if (!outcome.ok) return { kind: "failed", error: new GhError(401, outcome.message) };
    const app = core.appForIssuer(outcome.appKey);
    if (!app) return { kind: "failed", error: badCredentials() };
    return { kind: "authenticated", principal: { kind: "app", app } };
  }
  const token = core.tokens.find(secret);
  if (!token) return { kind: "failed", error: badCredentials() };
  if (token.kind === "pat")
    return { kind: "authenticated", principal: { kind: "pat", token, user: core.state.account(token.userId) } };
  const installation = core.state.installations.get(token.installationId);
  const app = installation ? core.state.apps.get(installation.appId) : undefined;
  if (!installation || !app || installation.suspended) return { kind: "failed", error: badCredentials() };
  return {
    kind: "authenticated",
    principal: { kind: "installation", token, installation, app, bot: core.state.account(app.botId) },
  };
}

/** The account a principal acts as (comments, statuses, pushes). */
export function actorOf(core: GitHubCore, principal: GhPrincipal): Account {
  if (principal.kind === "installation") return principal.bot;
  if (principal.kind === "pat") return principal.user;
  return core.state.account(principal.app.botId);
}

/** Name of the principal in the request log and in git's refusal messages. */
export function principalName(principal: GhPrincipal | null): string | null {
  if (!principal) return null;
  if (principal.kind === "app") return principal.app.slug;
  if (principal.kind === "installation") return `${principal.app.slug}[bot]`;
  return principal.user.login;
}

export type AccessDecision = "ok" | "not-found" | "forbidden" | "unauthenticated";

/** Whether the principal reaches `repo` at all (a repository it cannot see is "not found", never "forbidden"). */
export function canSee(core: GitHubCore, principal: GhPrincipal | null, repo: Repository): boolean {
  if (!repo.private) return true;
  if (!principal || principal.kind === "app") return false;
  if (principal.kind === "installation") {
    const { installation, token } = principal;
    const inInstallation =
      installation.accountId === repo.ownerId &&
      (installation.repositoryIds === null || installation.repositoryIds.includes(repo.id));
    return inInstallation && (token.repositoryIds === null || token.repositoryIds.includes(repo.id));
  }
  const { token, user } = principal;
  const selected =
    token.ownerId === repo.ownerId && (token.repositoryIds === null || token.repositoryIds.includes(repo.id));
  return selected && core.state.role(repo, user.login) !== null;
}

/**
 * The narrowing of a token, enforced on every call: the repository must be one the token covers, and the token
 * must hold `permission` at `level`. Public repositories are readable by anyone.
 */
export function decide(
  core: GitHubCore,
  principal: GhPrincipal | null,
  repo: Repository,
  permission: AppPermission,
  level: AccessLevel,
): AccessDecision {
  if (!canSee(core, principal, repo)) return "not-found";
  if (!principal) return level === "read" ? "ok" : "unauthenticated";
  if (principal.kind === "app") return level === "read" && !repo.private ? "ok" : "forbidden";
  const covered =
    principal.kind === "installation"
      ? principal.installation.accountId === repo.ownerId &&
        (principal.installation.repositoryIds === null || principal.installation.repositoryIds.includes(repo.id)) &&
        (principal.token.repositoryIds === null || principal.token.repositoryIds.includes(repo.id))
      : principal.token.ownerId === repo.ownerId &&
        (principal.token.repositoryIds === null || principal.token.repositoryIds.includes(repo.id));
  // Outside its selection a token reads public repositories like anybody, and nothing more.
  if (!covered) return level === "read" ? "ok" : "forbidden";
  if (!grants(principal.token.permissions, permission, level)) return "forbidden";
  if (principal.kind === "pat" && !roleAllows(core.state.role(repo, principal.user.login), level)) return "forbidden";
  return "ok";
}

/** Throws GitHub's answer for a refused decision. */
export function enforce(
  core: GitHubCore,
  principal: GhPrincipal | null,
  repo: Repository,
  permission: AppPermission,
  level: AccessLevel,
): void {
  const decision = decide(core, principal, repo, permission, level);
  if (decision === "ok") return;
  if (decision === "not-found") throw notFound();
  if (decision === "unauthenticated") throw requiresAuthentication();
  // GitHub names the permission the call needed, so an integrator can see what to ask for.
  throw notAccessible(principal?.kind === "pat" ? "personal access token" : "integration", `${permission}=${level}`);
}
