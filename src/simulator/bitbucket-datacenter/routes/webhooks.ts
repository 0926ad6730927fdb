import type { FastifyInstance } from "fastify";
import { z } from "zod";
import { webhookSecret } from "../../deliveries.ts";
import type { SimCore, WebhookInput } from "../core.ts";
import { badRequest, noSuchWebhook, notFound, SimError } from "../errors.ts";
import { pageRequest, paginate } from "../paging.ts";
import { ADMIN } from "../permissions.ts";
import type { Webhook } from "../state.ts";
import { param, parseBody, projectFor, q, query, type Req, repoFor } from "./context.ts";

/** Every event key Bitbucket DC documents (reference §3.4); both spellings where the key is UNCONFIRMED. */
export const KNOWN_EVENT_KEYS: readonly string[] = [
  "repo:refs_changed",
  "repo:modified",
  "repo:created",
  "repo:deleted",
  "repo:default_branch_modified",
  "project:created",
  "project:deleted",
  "repo:forked",
  "repo:comment:added",
  "repo:comment:edited",
  "repo:comment:deleted",
  "repo:secret_detected",
  "mirror:repo_synchronized",
  "pr:opened",
  "pr:from_ref_updated",
  "pr:modified",
  "pr:reviewer:updated",
  "pr:reviewer:approved",
  "pr:reviewer:unapproved",
  "pr:reviewer:needs_work",
  "pr:reviewer:changes_requested",
  "pr:merged",
  "pr:declined",
  "pr:deleted",
  "pr:comment:added",
  "pr:comment:edited",
  "pr:comment:deleted",
  "project:modified",
  "proj:modified",
];

const webhookSchema = z.object({
  name: z.string().min(1),
  url: z
    .string()
    .min(1)
    .refine((u) => /^https?:\/\/[^\s]+$/i.test(u), "must be an http(s) URL"),
  events: z
    .array(z.string())
    .min(1)
    .refine((events) => events.every((e) => KNOWN_EVENT_KEYS.includes(e)), "contains an unknown event key"),
  active: z.boolean().optional(),
  configuration: z.record(z.string(), z.unknown()).optional(),
  credentials: z.object({ username: z.string(), password: z.string().optional() }).nullable().optional(),
  sslVerificationRequired: z.boolean().optional(),
});

const testCredentialsSchema = z.object({ username: z.string().optional(), password: z.string().optional() }).optional();

function parseWebhook(body: unknown): WebhookInput {
  const input = parseBody(webhookSchema, body);
  // Bitbucket fails with a 500 on an empty secret, which is why clients omit `configuration` (reference §3.2).
  if (input.configuration && input.configuration.secret === "")
    throw new SimError(
      500,
      "An internal error occurred: the webhook secret must not be empty.",
      "java.lang.IllegalArgumentException",
    );
  if (input.configuration?.secret !== undefined && typeof input.configuration.secret !== "string")
    throw badRequest("configuration.secret must be a string.", "configuration.secret");
  return input;
}

export function webhookRoutes(core: SimCore) {
  const paging = core.options.paging;
  const group = { config: { group: "webhooks" as const } };

  type ScopeResolver = (request: Req) => Webhook["scope"];
  const repoScope: ScopeResolver = (request) => ({
    kind: "repository",
    repositoryId: repoFor(core, request, ADMIN).id,
  });
  const projectScope: ScopeResolver = (request) => {
    // Before project webhooks existed these paths were simply unknown to the server.
    if (!core.projectWebhooksEnabled()) throw notFound(`null for uri: ${core.baseUrl}${request.url}`);
    return { kind: "project", projectId: projectFor(core, request, ADMIN).id };
  };

  const inScope = (hook: Webhook, scope: Webhook["scope"]): boolean =>
    hook.scope.kind === scope.kind &&
    (hook.scope.kind === "repository"
      ? scope.kind === "repository" && hook.scope.repositoryId === scope.repositoryId
      : scope.kind === "project" && hook.scope.projectId === scope.projectId);

  const hookById = (raw: string, scope: Webhook["scope"]): Webhook => {
    const hook = /^\d+$/.test(raw) ? core.state.webhooks.get(Number(raw)) : undefined;
    if (!hook || !inScope(hook, scope)) throw noSuchWebhook(raw);
    return hook;
  };
  const hookFor = (request: Req, scope: Webhook["scope"]): Webhook => hookById(param(request, "webhookId"), scope);

  const register = (app: FastifyInstance, base: string, resolve: ScopeResolver): void => {
    app.get(base, group, async (request) => {
      const scope = resolve(request);
      const event = q(request, "event");
      const hooks = [...core.state.webhooks.values()]
        .filter((h) => inScope(h, scope) && (event === undefined || h.events.includes(event)))
        .sort((a, b) => a.id - b.id);
      const page = paginate(hooks, pageRequest(query(request), paging));
      return { ...page, values: page.values.map((h) => core.presenter.webhook(h)) };
    });

    app.post(base, group, async (request) => {
      const scope = resolve(request);
      return core.presenter.webhook(core.storeWebhook(scope, parseWebhook(request.body)));
    });

    app.post(`${base}/test`, group, async (request) => {
      const scope = resolve(request);
      const webhookId = q(request, "webhookId");
      const hook = webhookId !== undefined ? hookById(webhookId, scope) : null;
      const url = q(request, "url") ?? hook?.url;
      if (!url || !/^https?:\/\//i.test(url)) throw badRequest("A valid url is required.", "url");
      const creds = parseBody(testCredentialsSchema, request.body ?? undefined);
      const credentials = creds?.username
        ? { username: creds.username, password: creds.password ?? hook?.credentials?.password ?? null }
        : (hook?.credentials ?? null);
      const secret = hook && core.switches.signDiagnosticsPing ? webhookSecret(hook.configuration) : null;
      const body = JSON.stringify({ test: true });
      const record = await core.deliveries.enqueue(
        { hook: { id: hook?.id ?? 0, url, configuration: {}, credentials: null, scope: { kind: "test" } } },
        "diagnostics:ping",
        body,
        { signWith: secret, credentials },
      );
      return {
        request: { url, method: "POST", headers: record.headers, body },
        response: record.status !== null ? { statusCode: record.status, body: record.responseBody ?? "" } : undefined,
        error: record.error ?? undefined,
      };
    });

    app.get(`${base}/:webhookId`, group, async (request) => core.presenter.webhook(hookFor(request, resolve(request))));

    /** Replaces the whole webhook: whatever the body leaves out is gone (a missing `configuration` clears the secret). */
    app.put(`${base}/:webhookId`, group, async (request) => {
      const scope = resolve(request);
      const existing = hookFor(request, scope);
      return core.presenter.webhook(core.storeWebhook(scope, parseWebhook(request.body), existing));
    });

    app.delete(`${base}/:webhookId`, group, async (request, reply) => {
      const hook = hookFor(request, resolve(request));
      core.state.webhooks.delete(hook.id);
      return reply.code(204).send();
    });

    app.get(`${base}/:webhookId/latest`, group, async (request, reply) => {
      const hook = hookFor(request, resolve(request));
      const event = q(request, "event");
      const outcome = q(request, "outcome")?.toUpperCase();
      const last = core.deliveries
        .records({ webhookId: hook.id })
        .filter((d) => d.scope !== "test" && !d.dropped && d.done && (event === undefined || d.eventKey === event))
        .map((d) => ({
          d,
          outcome:
            d.error !== null ? "ERROR" : d.status !== null && d.status >= 200 && d.status < 300 ? "SUCCESS" : "FAILURE",
        }))
        .filter((x) => outcome === undefined || x.outcome === outcome)
        .pop();
      if (!last) return reply.code(204).send();
      return {
        eventKey: last.d.eventKey,
        requestId: last.d.requestId,
        start: last.d.time,
        result: {
          outcome: last.outcome,
          statusCode: last.d.status ?? undefined,
          description: last.d.error ?? undefined,
        },
      };
    });
  };

  return async (app: FastifyInstance): Promise<void> => {
    register(app, "/projects/:projectKey/repos/:repositorySlug/webhooks", repoScope);
    register(app, "/projects/:projectKey/webhooks", projectScope);
  };
}
