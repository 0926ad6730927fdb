import type { CredentialKind, Principal } from "./access.ts";
import type { SimulatorSwitches } from "./options.ts";
import type { AccessToken, SimState } from "./state.ts";

const DAY_MS = 86_400_000;

export type AuthOutcome = { kind: "anonymous" } | { kind: "authenticated"; principal: Principal } | { kind: "failed" };

export function tokenExpiresAt(token: AccessToken): number | null {
  return token.expiryDays === null ? null : token.createdDate + token.expiryDays * DAY_MS;
}

export function isExpired(token: AccessToken, now: number): boolean {
  const at = tokenExpiresAt(token);
  return at !== null && now >= at;
}

function credentialOf(token: AccessToken): CredentialKind {
  return token.scope.kind === "user"
    ? "user-token"
    : token.scope.kind === "project"
      ? "project-token"
      : "repository-token";
}

function usableToken(state: SimState, secret: string, now: number): AccessToken | undefined {
  const token = state.tokenBySecret(secret);
  if (!token || isExpired(token, now)) return undefined;
  if (!state.user(token.userId).active) return undefined;
  return token;
}

function tokenPrincipal(state: SimState, token: AccessToken, authKind: "basic" | "bearer", now: number): AuthOutcome {
  token.lastAuthenticated = now;
  return {
    kind: "authenticated",
    principal: { user: state.user(token.userId), authKind, credential: credentialOf(token), token },
  };
}

/**
 * Resolves the Authorization header the way the reference §2 describes: Bearer works for every token kind; Basic
 * works with a user's password or that user's own personal token; project and repository tokens are refused as
 * Basic unless `acceptTokenAsBasicWithXTokenAuth` allows the `x-token-auth` user name.
 */
export function authenticate(
  state: SimState,
  header: string | undefined,
  switches: Pick<SimulatorSwitches, "acceptTokenAsBasicWithXTokenAuth">,
  now: number,
): AuthOutcome {
  if (header === undefined || header.trim() === "") return { kind: "anonymous" };
  const space = header.indexOf(" ");
  const scheme = (space < 0 ? header : header.slice(0, space)).toLowerCase();
  const value = space < 0 ? "" : header.slice(space + 1).trim();

  if (scheme === "bearer") {
    const token = value ? usableToken(state, value, now) : undefined;
    return token ? tokenPrincipal(state, token, "bearer", now) : { kind: "failed" };
  }
  if (scheme !== "basic") return { kind: "failed" };

  const decoded = Buffer.from(value, "base64").toString("utf8");
  const colon = decoded.indexOf(":");
  if (colon < 0) return { kind: "failed" };
  const username = decoded.slice(0, colon);
  const secret = decoded.slice(colon + 1);

  if (username.toLowerCase() === "x-token-auth") {
    if (!switches.acceptTokenAsBasicWithXTokenAuth) return { kind: "failed" };
    const token = usableToken(state, secret, now);
    return token ? tokenPrincipal(state, token, "basic", now) : { kind: "failed" };
  }

  const user = state.findUser(username);
  if (!user?.active || user.type !== "NORMAL") return { kind: "failed" };
  if (state.checkPassword(user, secret))
    return { kind: "authenticated", principal: { user, authKind: "basic", credential: "password", token: null } };
  const token = usableToken(state, secret, now);
  if (token && token.scope.kind === "user" && token.userId === user.id)
    return tokenPrincipal(state, token, "basic", now);
  return { kind: "failed" };
}
