import type { CallOptions, RequestSpec } from "../http/http.ts";
import { segment } from "../http/url.ts";
import { API, Endpoints, type ListOptions } from "./endpoints.ts";
import { type Webhook, WebhookSchema } from "./schemas.ts";
import { type ScopeRef, scopePath } from "./url.ts";

/** The whole desired webhook: PUT replaces every field, so anything left out is cleared. */
export interface WebhookInput {
  name: string;
  url: string;
  events: readonly string[];
  active: boolean;
  /** `secret` signs deliveries. Other keys are kept as given (Bitbucket and plugins store their own). */
  configuration?: { secret?: string | undefined; [key: string]: unknown };
  /** Sent as Basic auth on deliveries. A username without password keeps the stored password. */
  credentials?: { username: string; password?: string };
  sslVerificationRequired?: boolean;
}

export interface WebhookListOptions extends ListOptions {
  /** Only webhooks subscribed to this event key. */
  event?: string;
}

/**
 * An empty secret makes Bitbucket answer 500, so an empty or absent secret means no `secret` key, and an
 * empty configuration is left out altogether.
 */
export function webhookBody(input: WebhookInput): Record<string, unknown> {
  const { secret, ...rest } = input.configuration ?? {};
  const configuration = secret ? { ...rest, secret } : rest;
  return {
    name: input.name,
    url: input.url,
    events: [...input.events],
    active: input.active,
    ...(Object.keys(configuration).length > 0 ? { configuration } : {}),
    ...(input.credentials ? { credentials: input.credentials } : {}),
    ...(input.sslVerificationRequired === undefined ? {} : { sslVerificationRequired: input.sslVerificationRequired }),
  };
}

/** Repository webhooks need REPO_ADMIN; project webhooks (DC 8.9+) need PROJECT_ADMIN. */
export class WebhooksApi extends Endpoints {
  async *iterate(scope: ScopeRef, options: WebhookListOptions = {}): AsyncGenerator<Webhook, void, undefined> {
    yield* this.paged(this.#listSpec(scope, options), WebhookSchema, options);
  }

  async list(scope: ScopeRef, options: WebhookListOptions = {}): Promise<Webhook[]> {
    return this.listAll(this.#listSpec(scope, options), WebhookSchema, options);
  }

  async get(scope: ScopeRef, id: number, call?: CallOptions): Promise<Webhook> {
    return (await this.http.json(this.#spec(scope, "GET", id), WebhookSchema, call)).data;
  }

  /** Not retried on 5xx or network errors: a repeated POST would create a second webhook. */
  async create(scope: ScopeRef, input: WebhookInput, call?: CallOptions): Promise<Webhook> {
    const spec = { ...this.#spec(scope, "POST"), body: webhookBody(input), secrets: secretsOf(input) };
    return (await this.http.json(spec, WebhookSchema, call)).data;
  }

  async replace(scope: ScopeRef, id: number, input: WebhookInput, call?: CallOptions): Promise<Webhook> {
    const spec = { ...this.#spec(scope, "PUT", id), body: webhookBody(input), secrets: secretsOf(input) };
    return (await this.http.json(spec, WebhookSchema, call)).data;
  }

  /** False when the webhook was already gone. */
  async delete(scope: ScopeRef, id: number, call?: CallOptions): Promise<boolean> {
    return this.remove(this.#spec(scope, "DELETE", id), call);
  }

  #listSpec(scope: ScopeRef, options: WebhookListOptions): RequestSpec {
    return { ...this.#spec(scope, "GET"), query: { event: options.event } };
  }

  #spec(scope: ScopeRef, method: RequestSpec["method"], id?: number): RequestSpec {
    const suffix = id === undefined ? "" : `/${segment(String(id))}`;
    return {
      group: "webhooks",
      method,
      path: `${API}${scopePath(scope)}/webhooks${suffix}`,
      needs: scope.repository === undefined ? "PROJECT_ADMIN" : "REPO_ADMIN",
    };
  }
}

function secretsOf(input: WebhookInput): (string | undefined)[] {
  return [input.configuration?.secret, input.credentials?.password];
}
