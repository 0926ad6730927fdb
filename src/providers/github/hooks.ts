// Webhooks on GitHub, at the two places Baton keeps one:
// - token mode: a repository hook (`/repos/{o}/{r}/hooks`), created, repaired and deleted like Data Center's;
// - App mode: the App's own single hook, whose config (URL, content type, secret, TLS check) is read and repaired
//   through `/app/hook/config` with the App JWT. Its events are the App's subscription, set in the App's settings.
// GitHub never returns a hook secret, only `********` when one is set: Baton's own record says whether the secret
// it set is the current one.
import { z } from "zod";
import { isNotFound } from "../http/errors.ts";
import type { CallOptions, HttpTransport } from "../http/http.ts";
import { type RepoRef, repoPath } from "./content.ts";
import { listAll } from "./paging.ts";

const HookConfig = z.object({
  url: z.string().optional(),
  content_type: z.string().optional(),
  insecure_ssl: z.union([z.string(), z.number()]).optional(),
  /** `********` when set; absent when not. */
  secret: z.string().optional(),
});
export type HookConfig = z.infer<typeof HookConfig>;

const RepoHook = z.object({
  id: z.number(),
  name: z.string(),
  active: z.boolean(),
  events: z.array(z.string()),
  config: HookConfig,
});

export interface Hook {
  id: string;
  url: string;
  events: readonly string[];
  active: boolean;
  /** GitHub masks the secret; this says only whether one is set. */
  secretSet: boolean;
  contentType?: string;
  insecureSsl: boolean;
}

export interface HookInput {
  url: string;
  events: readonly string[];
  active: boolean;
  secret: string;
}

function toHook(hook: z.infer<typeof RepoHook>): Hook {
  return {
    id: String(hook.id),
    url: hook.config.url ?? "",
    events: hook.events,
    active: hook.active,
    secretSet: hook.config.secret !== undefined && hook.config.secret !== "",
    ...(hook.config.content_type === undefined ? {} : { contentType: hook.config.content_type }),
    insecureSsl: String(hook.config.insecure_ssl ?? "0") !== "0",
  };
}

/** The config Baton wants: JSON bodies (the signature covers the raw JSON), TLS verified. */
function desiredConfig(input: { url: string; secret: string }): Record<string, string> {
  return { url: input.url, content_type: "json", insecure_ssl: "0", secret: input.secret };
}

export async function listRepoHooks(http: HttpTransport, repo: RepoRef, call: CallOptions = {}): Promise<Hook[]> {
  const hooks = await listAll(
    http,
    { group: "webhooks", path: `${repoPath(repo)}/hooks`, maxItems: 100 },
    RepoHook,
    call,
  );
  return hooks.filter((h) => h.name === "web").map(toHook);
}

export async function createRepoHook(
  http: HttpTransport,
  repo: RepoRef,
  input: HookInput,
  call: CallOptions = {},
): Promise<Hook> {
  const { data } = await http.json(
    {
      group: "webhooks",
      method: "POST",
      path: `${repoPath(repo)}/hooks`,
      body: { name: "web", active: input.active, events: input.events, config: desiredConfig(input) },
      secrets: [input.secret],
      needs: "Webhooks (repository_hooks): write",
    },
    RepoHook,
    call,
  );
  return toHook(data);
}

export async function updateRepoHook(
  http: HttpTransport,
  repo: RepoRef,
  id: string,
  input: HookInput,
  call: CallOptions = {},
): Promise<Hook> {
  const { data } = await http.json(
    {
      group: "webhooks",
      method: "PATCH",
      path: `${repoPath(repo)}/hooks/${encodeURIComponent(id)}`,
      body: { active: input.active, events: input.events, config: desiredConfig(input) },
      secrets: [input.secret],
      needs: "Webhooks (repository_hooks): write",
    },
    RepoHook,
    call,
  );
  return toHook(data);
}

/** False when the hook was already gone. */
export async function deleteRepoHook(
  http: HttpTransport,
  repo: RepoRef,
  id: string,
  call: CallOptions = {},
): Promise<boolean> {
  try {
    await http.send(
      { group: "webhooks", method: "DELETE", path: `${repoPath(repo)}/hooks/${encodeURIComponent(id)}` },
      call,
    );
    return true;
  } catch (err) {
    if (isNotFound(err)) return false;
    throw err;
  }
}

/** The App's hook config; `call.auth` must be the App JWT. */
export async function getAppHookConfig(http: HttpTransport, call: CallOptions): Promise<HookConfig> {
  const { data } = await http.json(
    { group: "webhooks", method: "GET", path: "/app/hook/config", needs: "the App's JWT" },
    HookConfig,
    call,
  );
  return data;
}

/** Rewrites the App's hook config as Baton wants it; `call.auth` must be the App JWT. */
export async function repairAppHookConfig(
  http: HttpTransport,
  desired: { url: string; secret: string },
  call: CallOptions,
): Promise<HookConfig> {
  const { data } = await http.json(
    {
      group: "webhooks",
      method: "PATCH",
      path: "/app/hook/config",
      body: desiredConfig(desired),
      secrets: [desired.secret],
      needs: "the App's JWT",
    },
    HookConfig,
    call,
  );
  return data;
}
