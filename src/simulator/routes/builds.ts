import type { FastifyInstance } from "fastify";
import { z } from "zod";
import type { SimCore } from "../core.ts";
import { badRequest, notFound, SimError } from "../errors.ts";
import { ADMIN, READ } from "../permissions.ts";
import type { Repository } from "../state.ts";
import { param, parseBody, q, type Req, repoFor, requireAuthenticated } from "./context.ts";

const STATES = ["INPROGRESS", "SUCCESSFUL", "FAILED", "CANCELLED", "UNKNOWN"] as const;

function buildStatusSchema(keyMax: number) {
  return z.object({
    key: z.string().min(1).max(keyMax),
    state: z.enum(STATES),
    url: z.string().min(1).max(450),
    name: z.string().max(255).optional(),
    description: z.string().optional(),
    buildNumber: z.string().max(255).optional(),
    parent: z.string().max(1024).optional(),
    ref: z
      .string()
      .max(1024)
      .regex(/^refs\//, "must start with refs/")
      .optional(),
    duration: z.number().int().min(0).optional(),
    lastUpdated: z.number().int().optional(),
    testResults: z
      .object({
        successful: z.number().int().min(0),
        failed: z.number().int().min(0),
        skipped: z.number().int().min(0),
      })
      .optional(),
  });
}

function noSuchBuildStatus(key: string): SimError {
  return new SimError(
    404,
    `No build status with key '${key}' exists for this commit.`,
    "com.atlassian.bitbucket.build.NoSuchBuildStatusException",
  );
}

export function buildRoutes(core: SimCore) {
  const path = "/projects/:projectKey/repos/:repositorySlug/commits/:commitId/builds";
  const group = { config: { group: "build-status" as const } };

  const commitFor = async (request: Req, repo: Repository): Promise<string> => {
    const id = param(request, "commitId");
    const sha = /^[0-9a-f]{4,40}$/i.test(id) ? await core.git.resolveCommit(repo.gitPath, id.toLowerCase()) : null;
    if (!sha) throw badRequest(`Commit '${id}' does not exist in repository '${repo.slug}'.`, "commitId");
    return sha;
  };

  const requireVersion = (request: Req, minimum: string): void => {
    if (!core.since(minimum)) throw notFound(`null for uri: ${core.baseUrl}${request.url}`);
  };

  return async (app: FastifyInstance): Promise<void> => {
    /** REPO_READ is enough to post a status (reference §5.1). */
    app.post(path, group, async (request, reply) => {
      requireVersion(request, core.switches.buildStatusSince);
      const repo = repoFor(core, request, READ);
      const principal = requireAuthenticated(request);
      const body = parseBody(buildStatusSchema(core.switches.buildStatusKeyMaxLength), request.body);
      if (body.state === "CANCELLED" && !core.options.buildCapabilities.includes("cancelledStatus"))
        throw badRequest("CANCELLED is not a supported build state on this server.", "state");
      const sha = await commitFor(request, repo);
      core.storeBuildStatus(repo, sha, body, principal.user.name);
      return reply.code(204).send();
    });

    app.get(path, group, async (request) => {
      requireVersion(request, "7.14");
      const repo = repoFor(core, request, READ);
      const key = q(request, "key");
      if (!key) throw badRequest("The key query parameter is required.", "key");
      const sha = await commitFor(request, repo);
      const status = core.state.buildStatuses.get(`${repo.id}/${sha}/${key}`);
      if (!status) throw noSuchBuildStatus(key);
      return core.presenter.buildStatus(status);
    });

    app.delete(path, group, async (request, reply) => {
      requireVersion(request, "7.14");
      const repo = repoFor(core, request, ADMIN);
      const key = q(request, "key");
      if (!key) throw badRequest("The key query parameter is required.", "key");
      const sha = await commitFor(request, repo);
      if (!core.state.buildStatuses.delete(`${repo.id}/${sha}/${key}`)) throw noSuchBuildStatus(key);
      return reply.code(204).send();
    });
  };
}
