// Talks to Bitbucket's access-tokens API on behalf of one BitbucketProjectToken. A token cannot manage tokens, so
// every call here uses the project admin's username and password; validation alone uses the token itself.

import type { TokenSpec } from "../api/token.ts";
import type { Credential } from "../providers/http/auth.ts";
import { BadRequestError, NotFoundError } from "../providers/http/errors.ts";
import type { GitProvider, TokenApi, TokenValidation } from "../providers/provider.ts";
import { expiryDaysFor, expiryOf, revisionOf } from "./lifecycle.ts";

export interface IssuedToken {
  id: string;
  name: string;
  secret: string;
  user?: string | undefined;
  notBefore: number;
  notAfter: number;
  expiryDays: number;
  /** Set when the server's maximum expiry made Baton ask for less than the spec's lifetime. */
  clampedFrom?: number | undefined;
}

export type Scope = { owner: string; repository?: string };

export function scopeOf(spec: Pick<TokenSpec, "project" | "repository">): Scope {
  return spec.repository ? { owner: spec.project, repository: spec.repository } : { owner: spec.project };
}

/** The host's token API; a host whose tokens are made by people has none, and saying so beats a TypeError. */
function tokenApi(provider: GitProvider): TokenApi {
  if (!provider.tokens) {
    throw new Error(`${provider.kind} cannot issue access tokens through its API; give the token in a Secret instead`);
  }
  return provider.tokens;
}

/**
 * Learnt per server: the administrator's maximum expiry is only readable by system admins, so Baton learns it
 * from the 400 a too-long request gets, and asks for no more next time.
 */
const learntMaxExpiryDays = new Map<string, number>();

export async function issueToken(
  client: GitProvider,
  admin: Credential,
  spec: TokenSpec,
  name: string,
  lifetime: number,
  now: () => number,
  signal?: AbortSignal,
): Promise<IssuedToken> {
  const wanted = expiryDaysFor(lifetime);
  let request = expiryDaysFor(lifetime, learntMaxExpiryDays.get(client.baseUrl));
  const create = (expiryDays: number) =>
    tokenApi(client).issue(
      scopeOf(spec),
      { name, permissions: spec.permissions, expiryDays },
      { auth: admin, ...(signal ? { signal } : {}) },
    );
  let created: Awaited<ReturnType<typeof create>>;
  try {
    created = await create(request.expiryDays);
  } catch (error) {
    const max = error instanceof BadRequestError ? maximumFrom(error, request.expiryDays) : undefined;
    if (max === undefined) throw error;
    learntMaxExpiryDays.set(client.baseUrl, max);
    request = { expiryDays: max, clamped: true };
    created = await create(max);
  }
  const notBefore = created.createdAt ?? now();
  const expiryDays = created.expiryDays ?? request.expiryDays;
  return {
    id: created.id,
    name,
    secret: created.token,
    user: created.user,
    notBefore,
    notAfter: created.expiresAt ?? expiryOf(notBefore, expiryDays),
    expiryDays,
    clampedFrom: expiryDays < wanted.expiryDays ? wanted.expiryDays : undefined,
  };
}

/**
 * The largest number below what was asked, in a 400 about the expiry: the message wording is not documented
 * (reference §1.4), so any "at most N days"-style message is understood, and nothing else is guessed.
 */
function maximumFrom(error: BadRequestError, asked: number): number | undefined {
  const text = error.messages.join(" ");
  if (!/expir/i.test(text)) return undefined;
  const numbers = [...text.matchAll(/\b([0-9]{1,5})\b/g)].map((m) => Number(m[1])).filter((n) => n > 0 && n < asked);
  return numbers.length > 0 ? Math.max(...numbers) : undefined;
}

/** Revokes a token; true when it existed. Already gone (revoked by hand, expired and purged) is fine. */
export async function revokeToken(
  client: GitProvider,
  admin: Credential,
  spec: Pick<TokenSpec, "project" | "repository">,
  id: string,
  signal?: AbortSignal,
): Promise<boolean> {
  try {
    return await tokenApi(client).revoke(scopeOf(spec), id, { auth: admin, ...(signal ? { signal } : {}) });
  } catch (error) {
    if (error instanceof NotFoundError) return false;
    throw error;
  }
}

/**
 * Tokens carrying this object's name prefix that it does not track: left by a crash between creating a token
 * and storing it. Their secret was shown once and is lost, so they cannot be adopted, only revoked.
 */
export async function findOrphans(
  client: GitProvider,
  admin: Credential,
  spec: TokenSpec,
  prefix: string,
  tracked: ReadonlySet<string>,
  signal?: AbortSignal,
): Promise<{ id: string; name: string }[]> {
  const tokens = await tokenApi(client).list(scopeOf(spec), { auth: admin, ...(signal ? { signal } : {}) });
  return tokens
    .filter((t) => revisionOf(t.name, prefix) !== undefined && !tracked.has(t.id))
    .map((t) => ({ id: t.id, name: t.name }));
}

export type Validation = TokenValidation;

/**
 * One authenticated call with the token itself: who the host says it is. Invalid means revoked, expired or never
 * valid; any other failure (an outage) says nothing about the token and is thrown for the caller to retry.
 */
export function validateToken(
  client: GitProvider,
  token: string,
  spec: TokenSpec,
  signal?: AbortSignal,
): Promise<Validation> {
  return client.validateToken(token, { scope: scopeOf(spec), ...(signal ? { signal } : {}) });
}
