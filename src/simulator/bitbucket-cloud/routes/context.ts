import type { z } from "zod";
import { param, type Req } from "../../route-kit.ts";
import type { CloudPrincipal } from "../auth.ts";
import type { CloudCore } from "../core.ts";
import { badRequest, CloudError, missingScopes, notFound } from "../errors.ts";
import { cloudPage } from "../paging.ts";
import { grants, type Scope } from "../scopes.ts";
import type { Repository, Workspace } from "../state.ts";

/** Per-request facts the server's hooks read back: who called, and which scopes the endpoint accepts. */
const principals = new WeakMap<Req, CloudPrincipal>();
const accepted = new WeakMap<Req, readonly Scope[]>();

export function setPrincipal(request: Req, principal: CloudPrincipal): void {
  principals.set(request, principal);
}

export function principalOf(request: Req): CloudPrincipal | null {
  return principals.get(request) ?? null;
}

export function acceptedScopes(request: Req): readonly Scope[] | undefined {
  return accepted.get(request);
}

export type UserLevel = "read" | "write" | "admin";

/** 401 for anonymous callers where authentication is required. */
export function unauthenticated(): CloudError {
  return new CloudError(
    401,
    "This API is only accessible with the following authentication types: session, password, apppassword, api_token, repository_access_token, workspace_access_token, project_access_token",
  );
}

export function requireCaller(request: Req): CloudPrincipal {
  const principal = principalOf(request);
  if (!principal) throw unauthenticated();
  return principal;
}

function userLevel(ws: Workspace, accountUuid: string): UserLevel | null {
  if (ws.owners.has(accountUuid)) return "admin";
  return ws.members.has(accountUuid) ? "write" : null;
}

/** Whether a listing shows the repository to this caller (the rule of a direct read, without the error). */
export function canRead(core: CloudCore, principal: CloudPrincipal | null, repo: Repository): boolean {
  if (!principal) return !repo.isPrivate;
  if (principal.kind === "token")
    return core.state.reaches(principal.token, repo) && grants(principal.token.scopes, ["repository"]);
  const ws = core.state.workspaces.get(repo.workspace);
  return !repo.isPrivate || (ws !== undefined && userLevel(ws, principal.account.uuid) !== null);
}

const RANK: Record<UserLevel, number> = { read: 0, write: 1, admin: 2 };

/**
 * Resolves `{workspace}/{repo_slug}` (either may be a `{uuid}`) and checks the caller: a token must reach the
 * repository and hold `scopes`; a user must be a workspace member (owners are admins); anonymous callers read
 * public repositories only.
 */
export function repoFor(
  core: CloudCore,
  request: Req,
  scopes: readonly Scope[],
  level: UserLevel = "read",
): Repository {
  accepted.set(request, scopes);
  const ws = param(request, "workspace");
  const slug = param(request, "repo_slug");
  const repo = core.state.repository(ws, slug);
  const principal = principalOf(request);
  if (!repo) throw notFound(`Repository ${ws}/${slug} not found`);
  if (!principal) {
    if (repo.isPrivate || level !== "read") throw unauthenticated();
    return repo;
  }
  if (principal.kind === "token") {
    const token = principal.token;
    if (!core.state.reaches(token, repo)) {
      const status = core.switches.outOfReachStatus;
      throw status === 404
        ? notFound(`Repository ${ws}/${slug} not found`)
        : new CloudError(403, "Access denied. You must have access to this repository.");
    }
    if (!grants(token.scopes, scopes)) throw missingScopes(scopes, token.scopes);
    return repo;
  }
  const workspace = core.state.workspaces.get(repo.workspace) as Workspace;
  const has = userLevel(workspace, principal.account.uuid);
  if (has === null && (repo.isPrivate || level !== "read")) throw notFound(`Repository ${ws}/${slug} not found`);
  if (has !== null && RANK[has] < RANK[level])
    throw new CloudError(403, "You do not have permission to perform this action.");
  return repo;
}

/**
 * A workspace-level call. Tokens must belong to it and hold `scopes`; `ownersOnly` refuses everyone but workspace
 * owners (§2.1: workspace hooks), and access tokens unless `workspaceTokenIsOwner` lets a workspace token in.
 */
export function workspaceFor(
  core: CloudCore,
  request: Req,
  scopes: readonly Scope[],
  options: { ownersOnly?: boolean } = {},
): Workspace {
  accepted.set(request, scopes);
  const segment = param(request, "workspace");
  const ws = core.state.workspace(segment);
  const principal = requireCaller(request);
  if (!ws) throw notFound(`No workspace with identifier '${segment}'.`);
  if (principal.kind === "token") {
    const token = principal.token;
    if (token.workspace !== ws.uuid)
      throw new CloudError(403, "Access denied. You must have access to this workspace.");
    if (!grants(token.scopes, scopes)) throw missingScopes(scopes, token.scopes);
    if (options.ownersOnly && !(token.kind === "workspace" && core.switches.workspaceTokenIsOwner))
      throw new CloudError(403, "You must be an owner of this workspace to manage its webhooks.");
    return ws;
  }
  const level = userLevel(ws, principal.account.uuid);
  if (level === null) throw notFound(`No workspace with identifier '${segment}'.`);
  if (options.ownersOnly && level !== "admin")
    throw new CloudError(403, "You must be an owner of this workspace to manage its webhooks.");
  return ws;
}

/** Validates a JSON body; problems become a 400 with `fields`. */
export function parseBody<S extends z.ZodType>(schema: S, body: unknown): z.infer<S> {
  const result = schema.safeParse(body ?? {});
  if (result.success) return result.data;
  const fields: Record<string, string[]> = {};
  for (const issue of result.error.issues) {
    const key = issue.path.join(".") || "body";
    fields[key] = [...(fields[key] ?? []), issue.message];
  }
  throw badRequest("Bad request", fields);
}

export function pageOf<T>(core: CloudCore, request: Req, all: readonly T[], maxPagelen?: number) {
  const url = new URL(request.url, core.baseUrl);
  const { defaultPagelen, maxPagelen: max } = core.options.paging;
  return cloudPage(all, url, { defaultPagelen: maxPagelen ?? defaultPagelen, maxPagelen: maxPagelen ?? max });
}

export function intId(request: Req, name: string): number {
  const raw = param(request, name);
  if (!/^\d+$/.test(raw)) throw notFound(`No ${name} ${raw}`);
  return Number(raw);
}
