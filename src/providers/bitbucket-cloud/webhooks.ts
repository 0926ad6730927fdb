// Repository and workspace webhooks (reference §2). Every call needs the `webhook` scope; creating one also needs
// read access to what it subscribes to (`repository` for repo:*, `pullrequest` for pullrequest:*). Workspace hooks
// are for workspace owners only, so Baton uses them only when asked to (an opt-in scope).
//
// The secret is write-only: GET shows `secret_set`, never the value. An update that omits `secret` keeps it, `null`
// removes it, a string replaces it.
import { NotFoundError } from "../http/errors.ts";
import type { CallOptions, RequestSpec } from "../http/http.ts";
import { segment } from "../http/url.ts";
import { normalizeUuid } from "./delivery.ts";
import { type CloudRepository, repositoryPath } from "./paths.ts";
import type { CloudRest, ListOptions } from "./rest.ts";
import { Webhook } from "./schemas.ts";

export type HookScope = { repository: CloudRepository } | { workspace: string };

export interface HookInput {
  description: string;
  url: string;
  events: readonly string[];
  active: boolean;
  /** string: set it; null: remove it; undefined on update: keep the stored one (create: none). */
  secret?: string | null;
}

export function hookBody(input: HookInput): Record<string, unknown> {
  return {
    description: input.description,
    url: input.url,
    active: input.active,
    events: [...new Set(input.events)],
    ...(input.secret === undefined ? {} : { secret: input.secret }),
  };
}

export class WebhooksApi {
  readonly #rest: CloudRest;

  constructor(rest: CloudRest) {
    this.#rest = rest;
  }

  list(scope: HookScope, options?: ListOptions): Promise<Webhook[]> {
    return this.#rest.list(this.#spec(scope, "GET"), Webhook, options);
  }

  async get(scope: HookScope, uuid: string, call?: CallOptions): Promise<Webhook> {
    return (await this.#rest.json(this.#spec(scope, "GET", uuid), Webhook, call)).data;
  }

  /** 201 with the hook. Not retried: a repeated POST would make a second hook. */
  async create(scope: HookScope, input: HookInput, call?: CallOptions): Promise<Webhook> {
    const spec = { ...this.#spec(scope, "POST"), body: hookBody(input), secrets: [input.secret ?? undefined] };
    return (await this.#rest.json(spec, Webhook, call)).data;
  }

  /** Replaces every mutable field (PUT); see HookInput.secret. */
  async update(scope: HookScope, uuid: string, input: HookInput, call?: CallOptions): Promise<Webhook> {
    const spec = { ...this.#spec(scope, "PUT", uuid), body: hookBody(input), secrets: [input.secret ?? undefined] };
    return (await this.#rest.json(spec, Webhook, call)).data;
  }

  /** False when it was already gone. */
  async delete(scope: HookScope, uuid: string, call?: CallOptions): Promise<boolean> {
    try {
      await this.#rest.send(this.#spec(scope, "DELETE", uuid), call);
      return true;
    } catch (err) {
      if (err instanceof NotFoundError) return false;
      throw err;
    }
  }

  #spec(scope: HookScope, method: RequestSpec["method"], uuid?: string): RequestSpec {
    const base = "workspace" in scope ? `/workspaces/${segment(scope.workspace)}` : repositoryPath(scope.repository);
    // The API's own links spell the uid braced and encoded (`%7B…%7D`).
    const suffix = uuid === undefined ? "" : `/${segment(`{${normalizeUuid(uuid)}}`)}`;
    return {
      group: "webhooks",
      method,
      path: `${base}/hooks${suffix}`,
      needs: "workspace" in scope ? "the webhook scope and workspace ownership" : "the webhook scope",
    };
  }
}
