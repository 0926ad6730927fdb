// Fine-grained personal access tokens, for a Repository that names no App: made by a person, so Baton only
// validates them and tracks their expiry, which GitHub states on every authenticated answer in
// `github-authentication-token-expiration` (`2030-01-31 12:00:00 UTC`; absent for a token without expiry).
//
// Only fine-grained tokens (`github_pat_…`) are accepted: they are limited to chosen repositories and permissions.
// A classic token (`ghp_…`) reaches every repository its owner can, which Baton's least-privilege rule refuses;
// App, OAuth and user-to-server tokens (`ghs_`, `gho_`, `ghu_`) are not personal tokens and expire within hours.
import type { IncomingHttpHeaders } from "node:http";
import { z } from "zod";
import { isNotFound, UnauthorizedError } from "../http/errors.ts";
import type { CallOptions, HttpTransport } from "../http/http.ts";
import type { TokenValidation } from "../provider.ts";
import { type RepoRef, repoPath } from "./content.ts";

export const expirationHeader = "github-authentication-token-expiration";

/**
 * The expiry GitHub states, as epoch milliseconds; undefined when the header is absent (no expiry) and NaN when
 * it is unreadable. GitHub writes `YYYY-MM-DD HH:MM:SS UTC`; a numeric offset (`-0700`) is read too.
 */
export function parseTokenExpiration(headers: IncomingHttpHeaders): number | undefined {
  const raw = headers[expirationHeader];
  const value = (Array.isArray(raw) ? raw[0] : raw)?.trim();
  if (value === undefined || value === "") return undefined;
  const m = /^(\d{4}-\d{2}-\d{2})[ T](\d{2}:\d{2}:\d{2})\s*(UTC|Z|[+-]\d{2}:?\d{2})$/.exec(value);
  if (!m) return Number.NaN;
  const zone = m[3] === "UTC" || m[3] === "Z" ? "Z" : (m[3] as string).replace(/^([+-]\d{2}):?(\d{2})$/, "$1:$2");
  return Date.parse(`${m[1]}T${m[2]}${zone}`);
}

/** Why a token is not a fine-grained personal token, or undefined when it looks like one. Pure. */
export function personalTokenProblem(token: string): string | undefined {
  const value = token.trim();
  if (value.startsWith("github_pat_")) return undefined;
  if (value.startsWith("ghp_")) {
    return "the Secret holds a classic personal token, which reaches every repository of its owner; create a fine-grained token limited to this repository";
  }
  if (/^gh[osur]_/.test(value)) return "the Secret holds an App, OAuth or user-to-server token, not a personal token";
  return "the Secret does not hold a GitHub fine-grained personal token (github_pat_…)";
}

const RepositoryAccess = z.object({ full_name: z.string() });

/**
 * Checks a fine-grained token works and reads when it expires: one call. With `repo`, `GET /repos/{o}/{r}`, which
 * also proves the token reaches that repository (a 404 means it was not given access to it); without one,
 * `GET /rate_limit`, which proves only that GitHub accepts the token and does not count against the limit. (Whose
 * token it is would cost a second call, `GET /user`, for a name GitHub's UI shows anyway.) GitHub refusing the
 * token (401) is an invalid token; anything else (network, 5xx) throws, since it says nothing about the token.
 */
export async function validatePersonalToken(
  http: HttpTransport,
  token: string,
  repo: RepoRef | undefined,
  call: Omit<CallOptions, "auth"> = {},
): Promise<TokenValidation> {
  const problem = personalTokenProblem(token);
  if (problem !== undefined) return { valid: false, reason: problem };
  const auth = { kind: "bearer" as const, token };
  let expiresAt: number | undefined;
  try {
    const { headers } =
      repo === undefined
        ? await http.send({ group: "server", method: "GET", path: "/rate_limit" }, { ...call, auth })
        : await http.json({ group: "repos", method: "GET", path: repoPath(repo) }, RepositoryAccess, {
            ...call,
            auth,
          });
    expiresAt = parseTokenExpiration(headers);
  } catch (err) {
    if (err instanceof UnauthorizedError) {
      return { valid: false, reason: "GitHub refuses the token: it is expired, revoked or mistyped" };
    }
    if (repo !== undefined && isNotFound(err)) {
      return {
        valid: false,
        reason: `the token cannot see ${repo.owner}/${repo.name}; give it access to that repository (Repository access)`,
      };
    }
    throw err;
  }
  if (expiresAt !== undefined && Number.isNaN(expiresAt)) {
    return { valid: false, reason: `GitHub's ${expirationHeader} header is unreadable; the expiry cannot be tracked` };
  }
  return expiresAt === undefined ? { valid: true, neverExpires: true } : { valid: true, expiresAt };
}
