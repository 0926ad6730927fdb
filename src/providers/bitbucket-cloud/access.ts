// What a token is and may do (reference §1.2, §6.5). Cloud has no endpoint describing an access token; every
// authenticated answer carries `x-oauth-scopes` and `x-credential-type`, so one cheap call says both, or a 401 says
// the token is expired or revoked.
//
// Trust: an access token cannot ask another user's repository permission at all. The one question it may ask is
// workspace membership, and only a workspace token with the `account` scope may ask even that.
import { ForbiddenError, NotFoundError, UnauthorizedError } from "../http/errors.ts";
import type { CallOptions } from "../http/http.ts";
import { segment } from "../http/url.ts";
import type { CloudRepository } from "./paths.ts";
import { repositoryPath } from "./paths.ts";
import type { CloudRest, ListOptions } from "./rest.ts";
import { Repository, RepositoryRef } from "./schemas.ts";

export interface TokenInfo {
  /** Classic scope names (`repository`, `pullrequest:write`, …), as the server lists them. */
  scopes: string[];
  /** `repo_access_token` for repository tokens; the project and workspace values are UNCONFIRMED. */
  credentialType?: string;
  /** Present on scaled endpoints for access tokens (§6.6). */
  rateLimit?: { limit?: number; resource?: string; nearLimit?: boolean };
}

/** Scopes beyond what Baton uses (it needs repository, pullrequest and webhook): worth a warning, not a refusal. */
export const excessScopes = [
  "repository:admin",
  "repository:delete",
  "project:admin",
  "pipeline:variable",
  "runner:write",
];

export type MembershipAnswer = { kind: "answered"; member: boolean } | { kind: "cannot-ask"; why: string };

function header(value: string | string[] | undefined): string | undefined {
  return Array.isArray(value) ? value.join(",") : value;
}

export function tokenInfoFrom(headers: Record<string, string | string[] | undefined>): TokenInfo {
  const scopes = (header(headers["x-oauth-scopes"]) ?? "").split(/[\s,]+/).filter((s) => s !== "");
  const credentialType = header(headers["x-credential-type"]);
  const limit = Number(header(headers["x-ratelimit-limit"]));
  const resource = header(headers["x-ratelimit-resource"]);
  const near = header(headers["x-ratelimit-nearlimit"]);
  const rateLimit = {
    ...(Number.isFinite(limit) && limit > 0 ? { limit } : {}),
    ...(resource ? { resource } : {}),
    ...(near ? { nearLimit: near.toLowerCase() === "true" } : {}),
  };
  return {
    scopes,
    ...(credentialType ? { credentialType } : {}),
    ...(Object.keys(rateLimit).length > 0 ? { rateLimit } : {}),
  };
}

export class AccessApi {
  readonly #rest: CloudRest;

  constructor(rest: CloudRest) {
    this.#rest = rest;
  }

  /**
   * Reads the repository with the token: proves it works for that repository and returns what the server says
   * about it. UnauthorizedError: expired, revoked or wrong; NotFoundError/ForbiddenError: it cannot see the
   * repository.
   */
  async inspect(repo: CloudRepository, call?: CallOptions): Promise<{ token: TokenInfo; repository: Repository }> {
    const spec = { group: "repos", method: "GET", path: repositoryPath(repo), needs: "the repository scope" } as const;
    const { data, headers } = await this.#rest.json(spec, Repository, call);
    return { token: tokenInfoFrom(headers), repository: data };
  }

  /**
   * The token's scopes and kind, from the cheapest call every access token may make: one page of one repository
   * of the workspace. UnauthorizedError: expired, revoked or wrong.
   */
  async tokenInfo(workspace: string, call?: CallOptions): Promise<TokenInfo> {
    const spec = {
      group: "repos",
      method: "GET",
      path: `/repositories/${segment(workspace)}`,
      query: { pagelen: 1, fields: "values.full_name" },
    } as const;
    return tokenInfoFrom((await this.#rest.send(spec, call)).headers);
  }

  /** Slugs of the workspace's repositories this token can read (one, for a repository token). */
  async listRepositories(workspace: string, options?: ListOptions): Promise<string[]> {
    const spec = { group: "repos", method: "GET", path: `/repositories/${segment(workspace)}` } as const;
    const repos = await this.#rest.list(spec, RepositoryRef, options);
    return repos.map((r) => r.full_name.slice(r.full_name.indexOf("/") + 1));
  }

  /**
   * Is `member` (an `account_id` or `{uuid}`) in the workspace? `cannot-ask` when the token may not ask (only a
   * workspace token with `account` may): an answer, not an error, so trust falls back to policy and /ok-to-test.
   */
  async isWorkspaceMember(workspace: string, member: string, call?: CallOptions): Promise<MembershipAnswer> {
    const spec = {
      group: "users",
      method: "GET",
      path: `/workspaces/${segment(workspace)}/members/${segment(member)}`,
    } as const;
    try {
      await this.#rest.send(spec, call);
      return { kind: "answered", member: true };
    } catch (err) {
      if (err instanceof NotFoundError) return { kind: "answered", member: false };
      if (err instanceof ForbiddenError || err instanceof UnauthorizedError) {
        return {
          kind: "cannot-ask",
          why: `this token may not read the members of workspace ${workspace} (it needs a workspace access token with the account scope)`,
        };
      }
      throw err;
    }
  }
}
