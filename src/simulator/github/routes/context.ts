import type { z } from "zod";
import { param, q, type Reply, type Req } from "../../route-kit.ts";
import { enforce, type GhPrincipal } from "../auth.ts";
import type { GitHubCore } from "../core.ts";
import { GhError, notFound } from "../errors.ts";
import type { AccessLevel, AppPermission } from "../permissions.ts";
import type { Repository } from "../state.ts";

declare module "fastify" {
  interface FastifyRequest {
    /** Who called the GitHub personality (null: nobody, or not yet authenticated). */
    ghPrincipal: GhPrincipal | null;
  }
}

export { param, q, type Reply, type Req } from "../../route-kit.ts";

/** The repository of `:owner/:repo`, after the token's narrowing allowed `permission` at `level`. */
export function repoFor(core: GitHubCore, request: Req, permission: AppPermission, level: AccessLevel): Repository {
  const repo = core.state.findRepository(param(request, "owner"), param(request, "repo"));
  if (!repo) throw notFound();
  enforce(core, request.ghPrincipal, repo, permission, level);
  return repo;
}

export function intParam(request: Req, name: string): number {
  const n = Number(param(request, name));
  if (!Number.isSafeInteger(n) || n < 0) throw notFound();
  return n;
}

/** Validates a JSON body; a problem becomes GitHub's 422 "Invalid request." naming the field. */
export function parseBody<S extends z.ZodType>(schema: S, body: unknown): z.infer<S> {
  const result = schema.safeParse(body ?? {});
  if (result.success) return result.data;
  const issue = result.error.issues[0];
  const field = issue?.path.join(".") ?? "";
  throw new GhError(422, `Invalid request.\n\n${field ? `${field}: ` : ""}${issue?.message ?? "invalid"}`);
}

/** GitHub's paging: `per_page` (default 30, at most 100) and `page`, with a `Link` header to the others. */
export function paginate<T>(request: Req, reply: Reply, baseUrl: string, items: readonly T[]): T[] {
  const perPage = Math.min(100, Math.max(1, Number(q(request, "per_page") ?? 30) || 30));
  const page = Math.max(1, Number(q(request, "page") ?? 1) || 1);
  const last = Math.max(1, Math.ceil(items.length / perPage));
  const url = new URL(request.url, baseUrl);
  const link = (p: number, rel: string): string => {
    url.searchParams.set("page", String(p));
    url.searchParams.set("per_page", String(perPage));
    return `<${baseUrl}${url.pathname}${url.search}>; rel="${rel}"`;
  };
  const links: string[] = [];
  if (page > 1) links.push(link(page - 1, "prev"));
  if (page < last) links.push(link(page + 1, "next"), link(last, "last"));
  if (page > 1) links.push(link(1, "first"));
  if (links.length > 0) reply.header("link", links.join(", "));
  return items.slice((page - 1) * perPage, page * perPage);
}
