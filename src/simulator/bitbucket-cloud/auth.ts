import type { CloudSwitches } from "./options.ts";
import type { Scope } from "./scopes.ts";
import type { AccessToken, Account, CloudState } from "./state.ts";

/**
 * Who is calling. REST takes `Authorization: Bearer <token>`; git takes Basic `x-token-auth:<token>` (§1.4).
 * Users authenticate with Basic `<nickname>:<password>` (the control API sets passwords), standing in for the
 * API tokens and app passwords Baton does not use.
 */
export type CloudPrincipal =
  | { kind: "token"; token: AccessToken; account: Account }
  | { kind: "user"; account: Account; scopes: null };

export type AuthOutcome =
  | { kind: "anonymous" }
  | { kind: "authenticated"; principal: CloudPrincipal }
  | { kind: "failed"; message: string };

export function isExpired(token: AccessToken, now: number): boolean {
  return token.expiresAt !== null && now >= token.expiresAt;
}

export function credentialType(token: AccessToken, switches: CloudSwitches): string {
  if (token.kind === "repository") return "repo_access_token";
  return token.kind === "project" ? switches.projectTokenCredentialType : switches.workspaceTokenCredentialType;
}

export function principalScopes(principal: CloudPrincipal): Scope[] | null {
  return principal.kind === "token" ? principal.token.scopes : null;
}

function tokenOutcome(state: CloudState, secret: string, now: number, switches: CloudSwitches): AuthOutcome {
  const token = state.tokenBySecret(secret);
  if (!token || token.revoked)
    return { kind: "failed", message: "Token is invalid or not supported for this endpoint." };
  if (isExpired(token, now)) return { kind: "failed", message: switches.expiredTokenMessage };
  return { kind: "authenticated", principal: { kind: "token", token, account: token.account } };
}

export function authenticate(
  state: CloudState,
  passwords: ReadonlyMap<string, string>,
  header: string | undefined,
  options: { git: boolean; now: number; switches: CloudSwitches },
): AuthOutcome {
  if (!header) return { kind: "anonymous" };
  const [scheme = "", value = ""] = header.split(/\s+/, 2);
  if (/^bearer$/i.test(scheme)) {
    if (options.git && !options.switches.gitAcceptsBearer)
      return { kind: "failed", message: "Bearer tokens are not accepted for git; use x-token-auth." };
    return tokenOutcome(state, value, options.now, options.switches);
  }
  if (/^basic$/i.test(scheme)) {
    const decoded = Buffer.from(value, "base64").toString("utf8");
    const colon = decoded.indexOf(":");
    if (colon < 0) return { kind: "failed", message: "Invalid credentials" };
    const user = decoded.slice(0, colon);
    const secret = decoded.slice(colon + 1);
    if (user === "x-token-auth") {
      // REST wants Bearer for access tokens; Basic x-token-auth is git's form.
      if (!options.git) return { kind: "failed", message: "Access tokens must be sent as a Bearer token." };
      return tokenOutcome(state, secret, options.now, options.switches);
    }
    const account = state.accountByNickname(user);
    if (account?.type !== "user" || passwords.get(account.uuid) !== secret)
      return { kind: "failed", message: "Invalid credentials" };
    return { kind: "authenticated", principal: { kind: "user", account, scopes: null } };
  }
  return { kind: "failed", message: "Unsupported authorization scheme" };
}
