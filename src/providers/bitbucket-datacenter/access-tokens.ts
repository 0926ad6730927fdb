import type { Permission } from "../../api/permissions.ts";
import { SchemaError } from "../http/errors.ts";
import type { CallOptions } from "../http/http.ts";
import { segment } from "../http/url.ts";
import { Endpoints, type ListOptions } from "./endpoints.ts";
import { type AccessToken, AccessTokenSchema, type CreatedAccessToken, CreatedAccessTokenSchema } from "./schemas.ts";
import { type ScopeRef, scopePath } from "./url.ts";

/** Bitbucket's token permissions: one list, declared with the CRD's permission table. */
export type TokenPermission = Permission;

export interface CreateAccessTokenRequest {
  name: string;
  permissions: readonly TokenPermission[];
  /** Omit for no expiry, where the Bitbucket admin allows it. Fixed at creation: it can never be changed. */
  expiryDays?: number;
}

const ROOT = "/rest/access-tokens/latest";

/** A token cannot manage tokens, so every call here needs a project/repository admin's username and password. */
function needs(scope: ScopeRef): string {
  const admin = scope.repository === undefined ? "PROJECT_ADMIN" : "REPO_ADMIN or PROJECT_ADMIN";
  return `${admin} as a username and password (an access token cannot manage access tokens)`;
}

/** Project and repository HTTP access tokens: `/rest/access-tokens/latest/projects/{key}[/repos/{slug}]`. */
export class AccessTokensApi extends Endpoints {
  /**
   * Creates a token; the result is the only place its secret ever appears. Not retried on 5xx or network
   * errors, because this PUT creates a new token each time.
   */
  async create(scope: ScopeRef, request: CreateAccessTokenRequest, call?: CallOptions): Promise<CreatedAccessToken> {
    const body = {
      name: request.name,
      permissions: [...request.permissions],
      ...(request.expiryDays === undefined ? {} : { expiryDays: request.expiryDays }),
    };
    const spec = { group: "access-tokens", method: "PUT", path: `${ROOT}${scopePath(scope)}`, body } as const;
    try {
      return (await this.http.json({ ...spec, idempotent: false, needs: needs(scope) }, CreatedAccessTokenSchema, call))
        .data;
    } catch (err) {
      if (!(err instanceof SchemaError)) throw err;
      throw new SchemaError(
        `${err.message} Bitbucket probably created the token "${request.name}" anyway; list the tokens and revoke it.`,
        err,
        { fieldPath: err.fieldPath },
      );
    }
  }

  async *iterate(scope: ScopeRef, options?: ListOptions): AsyncGenerator<AccessToken, void, undefined> {
    yield* this.paged(this.#spec(scope), AccessTokenSchema, options);
  }

  async list(scope: ScopeRef, options?: ListOptions): Promise<AccessToken[]> {
    return this.listAll(this.#spec(scope), AccessTokenSchema, options);
  }

  async get(scope: ScopeRef, tokenId: string, call?: CallOptions): Promise<AccessToken> {
    return (await this.http.json(this.#spec(scope, tokenId), AccessTokenSchema, call)).data;
  }

  /** Revokes a token. False when it did not exist (already revoked, or removed by someone else). */
  async delete(scope: ScopeRef, tokenId: string, call?: CallOptions): Promise<boolean> {
    return this.remove({ ...this.#spec(scope, tokenId), method: "DELETE" }, call);
  }

  #spec(scope: ScopeRef, tokenId?: string) {
    const id = tokenId === undefined ? "" : `/${segment(tokenId)}`;
    return {
      group: "access-tokens",
      method: "GET",
      path: `${ROOT}${scopePath(scope)}${id}`,
      needs: needs(scope),
    } as const;
  }
}
