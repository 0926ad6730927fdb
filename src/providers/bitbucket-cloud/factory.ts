// Bitbucket Cloud providers, one per web origin (bitbucket.org, or a simulator), all drawing on one request budget
// of their own: Cloud counts calls per hour per token (reference §6.6), so its budget is sized in calls per hour and
// never shares Data Center's per-second one.
import { type AllowedServers, serverRefusal } from "../http/allowed-servers.ts";
import type { Credential } from "../http/auth.ts";
import { RequestBudget } from "../http/budget.ts";
import type { ResponseEvent } from "../http/http.ts";
import type { WebhookIntake } from "../provider.ts";
import type { ProviderFactory } from "../registry.ts";
import { CloudProvider, createCloudIntake } from "./provider.ts";

/** `https://bitbucket.org` serves its API at `https://api.bitbucket.org/2.0`; anything else (a simulator) below `/2.0`. */
export function cloudApiBase(server: string): string {
  const url = new URL(server);
  if (url.hostname.toLowerCase().replace(/^www\./, "") === "bitbucket.org") return "https://api.bitbucket.org/2.0";
  return `${url.origin}${url.pathname.replace(/\/+$/, "")}/2.0`;
}

export interface CloudProvidersOptions {
  /** Calls per hour for all of Cloud (its documented limit for `/2.0/repositories/*` is 1,000 per hour per token). */
  requestsPerHour: number;
  allowed: AllowedServers;
  onResponse: (event: ResponseEvent) => void;
}

export class CloudProviders implements ProviderFactory {
  readonly intake: WebhookIntake = createCloudIntake();
  readonly #providers = new Map<string, CloudProvider>();
  readonly #budget: RequestBudget;
  readonly #options: CloudProvidersOptions;
  readonly #refusedListeners: ((auth: Credential) => void)[] = [];

  constructor(options: CloudProvidersOptions) {
    this.#options = options;
    // A tenth of the hour may go at once (a cold start lists every Repository's hooks), the rest spreads out.
    this.#budget = new RequestBudget({
      ratePerSecond: options.requestsPerHour / 3600,
      burst: Math.max(1, Math.ceil(options.requestsPerHour / 10)),
    });
  }

  /** Throws for a server not in BATON_ALLOWED_SERVERS, so no caller can send it a request or a token. */
  for(server: string): CloudProvider {
    const refusal = serverRefusal(this.#options.allowed, server);
    if (refusal !== undefined) throw Object.assign(new Error(refusal), { name: "ServerNotAllowed" });
    const base = server.replace(/\/+$/, "");
    let provider = this.#providers.get(base);
    if (!provider) {
      provider = new CloudProvider(
        {
          baseUrl: cloudApiBase(base),
          budget: this.#budget,
          onResponse: this.#options.onResponse,
          onUnauthorized: (auth) => {
            for (const listener of this.#refusedListeners) listener(auth);
          },
          userAgent: "baton",
        },
        this.intake,
      );
      this.#providers.set(base, provider);
    }
    return provider;
  }

  /** Hears of every 401 any Cloud call gets, with the credentials it was refused. */
  onRefused(listener: (auth: Credential) => void): void {
    this.#refusedListeners.push(listener);
  }

  async close(): Promise<void> {
    await Promise.all([...this.#providers.values()].map((p) => p.close()));
    this.#providers.clear();
  }
}
