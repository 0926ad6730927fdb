import type { z } from "zod";
import { param, type Req } from "../../route-kit.ts";
import { canViewProject, type Principal, projectLevel, repoLevel } from "../access.ts";
import type { SimCore } from "../core.ts";
import { badRequest, noSuchProject, noSuchRepository, notPermitted, SimError } from "../errors.ts";
import type { Level } from "../permissions.ts";
import type { Project, Repository } from "../state.ts";

declare module "fastify" {
  interface FastifyRequest {
    principal: Principal | null;
  }
}

export { type Params, param, params, type Query, q, query, type Reply, type Req } from "../../route-kit.ts";

export function requireAuthenticated(request: Req): Principal {
  if (!request.principal) throw notPermitted();
  return request.principal;
}

/** Unknown project → 404; known but unreadable → 401 (reference §7.2: 401 covers "not permitted"). */
export function projectFor(core: SimCore, request: Req, minimum: Level | "view"): Project {
  const key = param(request, "projectKey");
  const project = core.state.findProject(key);
  if (!project) {
    if (!request.principal) throw notPermitted();
    throw noSuchProject(key);
  }
  const ok =
    minimum === "view"
      ? canViewProject(core.state, request.principal, project)
      : projectLevel(core.state, request.principal, project) >= minimum;
  if (!ok) throw notPermitted();
  return project;
}

export function repoFor(core: SimCore, request: Req, minimum: Level): Repository {
  const key = param(request, "projectKey");
  const slug = param(request, "repositorySlug");
  const project = core.state.findProject(key);
  const repo = project ? core.state.findRepository(project.key, slug) : undefined;
  if (!project || !repo) {
    // Anonymous callers learn nothing about what exists.
    if (!request.principal) throw notPermitted();
    throw project ? noSuchRepository(project.key, slug) : noSuchProject(key);
  }
  if (repoLevel(core.state, request.principal, repo) < minimum) throw notPermitted();
  return repo;
}

/** Validates a JSON body; the first problem becomes a 400 naming the field in `context`. */
export function parseBody<S extends z.ZodType>(schema: S, body: unknown): z.infer<S> {
  const result = schema.safeParse(body ?? {});
  if (result.success) return result.data;
  const issue = result.error.issues[0];
  const path = issue?.path.join(".") || null;
  throw badRequest(issue ? `${path ? `${path}: ` : ""}${issue.message}` : "Invalid request body.", path);
}

export function intParam(request: Req, name: string): number {
  const raw = param(request, name);
  const n = Number(raw);
  if (!Number.isInteger(n) || n < 0) throw new SimError(404, `${name} ${raw} does not exist.`, null);
  return n;
}
