import type { FastifyInstance } from "fastify";
import { z } from "zod";
import { actorOf } from "../auth.ts";
import type { GitHubCore } from "../core.ts";
import { notFound, validationFailed } from "../errors.ts";
import type { HookConfig, RepoHook, Repository } from "../state.ts";
import { intParam, paginate, parseBody, type Req, repoFor } from "./context.ts";

const config = z.object({
  url: z.string().optional(),
  content_type: z.enum(["json", "form"]).optional(),
  secret: z.string().optional(),
  insecure_ssl: z.union([z.string(), z.number()]).optional(),
});
const createHook = z.object({
  name: z.literal("web").optional(),
  config,
  events: z.array(z.string().min(1)).optional(),
  active: z.boolean().optional(),
});
const updateHook = z.object({
  config: config.optional(),
  events: z.array(z.string().min(1)).optional(),
  add_events: z.array(z.string().min(1)).optional(),
  remove_events: z.array(z.string().min(1)).optional(),
  active: z.boolean().optional(),
});

function mergeConfig(current: HookConfig | null, patch: z.infer<typeof config>): HookConfig {
  const url = patch.url ?? current?.url;
  if (!url) throw validationFailed("Validation Failed", "url", "missing_field");
  try {
    new URL(url);
  } catch {
    throw validationFailed("Validation Failed", "url", "invalid");
  }
  return {
    url,
    content_type: patch.content_type ?? current?.content_type ?? "form",
    secret: patch.secret === undefined ? (current?.secret ?? null) : patch.secret === "" ? null : patch.secret,
    insecure_ssl:
      patch.insecure_ssl === undefined
        ? (current?.insecure_ssl ?? "0")
        : String(patch.insecure_ssl) === "1"
          ? "1"
          : "0",
  };
}

/** Repository webhooks: create (with the ping GitHub sends), list, read, update, delete, ping. */
export function hookRoutes(core: GitHubCore) {
  return async (app: FastifyInstance): Promise<void> => {
    const cfg = { config: { group: "webhooks" as const } };
    const hookOf = (repo: Repository, r: Req): RepoHook => {
      const hook = core.state.hooks.get(intParam(r, "id"));
      if (!hook || hook.repositoryId !== repo.id) throw notFound();
      return hook;
    };
    const sender = (r: Req) => (r.ghPrincipal ? actorOf(core, r.ghPrincipal) : null);

    app.get("/repos/:owner/:repo/hooks", cfg, async (r, reply) => {
      const repo = repoFor(core, r, "repository_hooks", "read");
      const list = [...core.state.hooks.values()].filter((h) => h.repositoryId === repo.id);
      return paginate(r, reply, core.baseUrl, list).map((h) => core.presenter.hook(h));
    });

    app.post("/repos/:owner/:repo/hooks", cfg, async (r, reply) => {
      const repo = repoFor(core, r, "repository_hooks", "write");
      const body = parseBody(createHook, r.body);
      const hook = core.events.createHook(repo, {
        name: "web",
        active: body.active,
        events: body.events,
        config: mergeConfig(null, body.config),
      });
      core.events.ping(hook, sender(r));
      return reply.code(201).send(core.presenter.hook(hook));
    });

    app.get("/repos/:owner/:repo/hooks/:id", cfg, async (r) =>
      core.presenter.hook(hookOf(repoFor(core, r, "repository_hooks", "read"), r)),
    );

    app.patch("/repos/:owner/:repo/hooks/:id", cfg, async (r) => {
      const hook = hookOf(repoFor(core, r, "repository_hooks", "write"), r);
      const body = parseBody(updateHook, r.body);
      if (body.config) hook.config = mergeConfig(hook.config, body.config);
      if (body.events) hook.events = [...new Set(body.events)];
      if (body.add_events) hook.events = [...new Set([...hook.events, ...body.add_events])];
      if (body.remove_events) hook.events = hook.events.filter((e) => !body.remove_events?.includes(e));
      if (body.active !== undefined) hook.active = body.active;
      hook.updatedAt = core.clock.now();
      return core.presenter.hook(hook);
    });

    app.delete("/repos/:owner/:repo/hooks/:id", cfg, async (r, reply) => {
      const hook = hookOf(repoFor(core, r, "repository_hooks", "write"), r);
      core.state.hooks.delete(hook.id);
      return reply.code(204).send();
    });

    app.post("/repos/:owner/:repo/hooks/:id/pings", cfg, async (r, reply) => {
      const hook = hookOf(repoFor(core, r, "repository_hooks", "read"), r);
      core.events.ping(hook, sender(r));
      return reply.code(204).send();
    });
  };
}
