import type { FastifyInstance } from "fastify";
import { z } from "zod";
import type { SimCore } from "../core.ts";
import { badRequest, notFound, SimError } from "../errors.ts";
import { ADMIN, READ } from "../permissions.ts";
import { buildStatusKey, type Repository } from "../state.ts";
import { param, parseBody, q, type Req, repoFor, requireAuthenticated } from "./context.ts";

const STATES = ["INPROGRESS", "SUCCESSFUL", "FAILED", "CANCELLED", "UNKNOWN"] as const;

/** The legacy endpoint limits every field to 255 characters (url 450); the current one leaves `description` free. */
export function buildStatusSchema(keyMax: number, descriptionMax?: number) {
  const description = z.string();
  return z.object({
    key: z.string().min(1).max(keyMax),
    state: z.enum(STATES),
    url: z.string().min(1).max(450),
    name: z.string().max(255).optional(),
    description: (descriptionMax === undefined ? description : description.max(descriptionMax)).optional(),
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

/** 400 when CANCELLED is posted to a server that does not advertise `cancelledStatus`. */
export function checkCancelledSupported(core: SimCore, state: (typeof STATES)[number]): void {
  if (state === "CANCELLED" && !core.options.buildCapabilities.includes("cancelledStatus"))
    throw badRequest("CANCELLED is not a supported build state on this server.", "state");
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
      checkCancelledSupported(core, body.state);
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
      // A legacy status belongs to the commit wherever it is (reference §5.2), so the repository sees it too.
      const status =
        core.state.buildStatuses.get(buildStatusKey(repo.id, sha, key)) ??
        core.state.buildStatuses.get(buildStatusKey(null, sha, key));
      if (!status) throw noSuchBuildStatus(key);
      return core.presenter.buildStatus(status);
    });

    app.delete(path, group, async (request, reply) => {
      requireVersion(request, "7.14");
      const repo = repoFor(core, request, ADMIN);
      const key = q(request, "key");
      if (!key) throw badRequest("The key query parameter is required.", "key");
      const sha = await commitFor(request, repo);
      if (!core.state.buildStatuses.delete(buildStatusKey(repo.id, sha, key))) throw noSuchBuildStatus(key);
      return reply.code(204).send();
    });
  };
}
