import type { FastifyInstance } from "fastify";
import { z } from "zod";
import { param, type Req } from "../../route-kit.ts";
import type { CloudCore } from "../core.ts";
import { badRequest, missingScopes, notFound } from "../errors.ts";
import { eventScope, grants, type Scope } from "../scopes.ts";
import type { Hook } from "../state.ts";
import { pageOf, parseBody, repoFor, requireCaller, workspaceFor } from "./context.ts";

/** The spec's `events` enum at x-revision b62ea302637b (§2.2). */
export const HOOK_EVENTS = [
  "issue:comment_created",
  "issue:created",
  "issue:updated",
  "pipeline:span_created",
  "project:updated",
  "pullrequest:approved",
  "pullrequest:changes_request_created",
  "pullrequest:changes_request_removed",
  "pullrequest:comment_created",
  "pullrequest:comment_deleted",
  "pullrequest:comment_reopened",
  "pullrequest:comment_resolved",
  "pullrequest:comment_updated",
  "pullrequest:created",
  "pullrequest:fulfilled",
  "pullrequest:push",
  "pullrequest:rejected",
  "pullrequest:unapproved",
  "pullrequest:updated",
  "repo:commit_comment_created",
  "repo:commit_status_created",
  "repo:commit_status_updated",
  "repo:created",
  "repo:deleted",
  "repo:fork",
  "repo:imported",
  "repo:push",
  "repo:transfer",
  "repo:updated",
] as const;

const eventsSchema = z
  .array(z.enum(HOOK_EVENTS))
  .min(1)
  .refine((e) => new Set(e).size === e.length, "events must be unique");

const createSchema = z.object({
  url: z.string().url(),
  description: z.string().optional(),
  active: z.boolean().optional(),
  events: eventsSchema,
  secret: z.string().max(128).nullable().optional(),
});

const updateSchema = createSchema.partial();

/**
 * Repository and workspace webhooks (§2). Every call needs `webhook`; a create or update also needs the read scope
 * of the subscribed events. `secret` is write-only: answers carry `secret_set` only. Workspace hooks are for
 * workspace owners.
 */
export function hookRoutes(core: CloudCore) {
  return async (app: FastifyInstance): Promise<void> => {
    const cfg = { config: { group: "webhooks" as const } };
    const repoBase = "/repositories/:workspace/:repo_slug/hooks";
    const wsBase = "/workspaces/:workspace/hooks";

    const checkEventScopes = (request: Req, events: readonly string[]): void => {
      const principal = requireCaller(request);
      if (principal.kind !== "token") return;
      const needed = [...new Set(events.map(eventScope).filter((s): s is Scope => s !== null))];
      if (!grants(principal.token.scopes, needed)) throw missingScopes(["webhook", ...needed], principal.token.scopes);
    };
    const find = (subject: string, request: Req): Hook => {
      const uid = param(request, "uid").toLowerCase();
      const hook = [...core.state.hooks.values()].find(
        (h) => h.subject === subject && (h.uuid === uid || h.uuid === `{${uid}}`),
      );
      if (!hook) throw notFound("Webhook not found");
      return hook;
    };
    const update = (request: Req, hook: Hook): Hook => {
      const body = parseBody(updateSchema, request.body);
      if (body.events) checkEventScopes(request, body.events);
      const clear = core.switches.hookPutClearsOmitted;
      if (body.url !== undefined) hook.url = body.url;
      if (body.description !== undefined || clear) hook.description = body.description ?? "";
      if (body.active !== undefined || clear) hook.active = body.active ?? true;
      if (body.events !== undefined) hook.events = [...body.events];
      else if (clear) throw badRequest("events: at least one event is required", { events: ["required"] });
      // Omitted keeps the secret; null or "" removes it; a value replaces it (§2.2).
      if ("secret" in (request.body as object)) hook.secret = body.secret ? body.secret : null;
      return hook;
    };
    const subjects = [
      {
        base: repoBase,
        type: "repository" as const,
        subject: (r: Req) => repoFor(core, r, ["webhook"], "admin").uuid,
        owners: false,
      },
      {
        base: wsBase,
        type: "workspace" as const,
        subject: (r: Req) => workspaceFor(core, r, ["webhook"], { ownersOnly: true }).uuid,
        owners: true,
      },
    ];
    for (const s of subjects) {
      app.get(s.base, cfg, async (request) => {
        const subject = s.subject(request);
        const hooks = [...core.state.hooks.values()].filter((h) => h.subject === subject);
        return pageOf(
          core,
          request,
          hooks.map((h) => core.present.hook(h)),
        );
      });
      app.post(s.base, cfg, async (request, reply) => {
        const subject = s.subject(request);
        const body = parseBody(createSchema, request.body);
        checkEventScopes(request, body.events);
        const hook = core.createHook(s.type, subject, body);
        return reply.code(201).send(core.present.hook(hook));
      });
      app.get(`${s.base}/:uid`, cfg, async (request) => core.present.hook(find(s.subject(request), request)));
      app.put(`${s.base}/:uid`, cfg, async (request) =>
        core.present.hook(update(request, find(s.subject(request), request))),
      );
      app.delete(`${s.base}/:uid`, cfg, async (request, reply) => {
        const hook = find(s.subject(request), request);
        core.state.hooks.delete(hook.uuid);
        return reply.code(204).send();
      });
    }

    app.get("/hook_events/:subject_type", cfg, async (request) => {
      const type = param(request, "subject_type");
      if (type !== "repository" && type !== "workspace") throw notFound(`Unknown subject type ${type}`);
      return pageOf(
        core,
        request,
        HOOK_EVENTS.map((event) => ({
          type: "hook_event",
          event,
          category: event.split(":")[0],
          label: event,
          description: event,
        })),
      );
    });
  };
}
