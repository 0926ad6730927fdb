// GitHub servers, one provider each (github.com, and each Enterprise Server a Repository marks with
// `spec.provider: github`), all drawing on one request budget; servers outside BATON_ALLOWED_SERVERS are refused
// before anything is sent, and every 401 is heard (a refused installation token is dropped at once).

import type { Clock } from "../../runtime/clock.ts";
import { type AllowedServers, serverRefusal } from "../http/allowed-servers.ts";
import type { Credential } from "../http/auth.ts";
import { RequestBudget } from "../http/budget.ts";
import type { ResponseEvent } from "../http/http.ts";
import type { ProviderFactory } from "../registry.ts";
import { GitHubProvider, githubWebhookIntake } from "./provider.ts";
import { githubServer, isGitHubDotCom } from "./server.ts";

export interface GitHubProvidersOptions {
  requestsPerSecond: number;
  allowed: AllowedServers;
  clock: Clock;
  onResponse?: (event: ResponseEvent) => void;
}

export class GitHubProviders implements ProviderFactory {
  readonly intake = githubWebhookIntake;
  readonly #providers = new Map<string, GitHubProvider>();
  readonly #budget: RequestBudget;
  readonly #options: GitHubProvidersOptions;
  readonly #refusedListeners: ((auth: Credential) => void)[] = [];

  constructor(options: GitHubProvidersOptions) {
    this.#options = options;
    const rate = options.requestsPerSecond;
    this.#budget = new RequestBudget({ ratePerSecond: rate, burst: Math.max(1, Math.ceil(rate)) });
  }

  /**
   * The provider for a Repository's server: github.com, or any other host as an Enterprise Server (the registry
   * sends a host other than github.com here only when the Repository says `provider: github`).
   */
  for(server: string): GitHubProvider {
    const refusal = serverRefusal(this.#options.allowed, server);
    if (refusal !== undefined) throw Object.assign(new Error(refusal), { name: "ServerNotAllowed" });
    const resolved = githubServer(server, { enterprise: !isGitHubDotCom(server) });
    let provider = this.#providers.get(resolved.apiBase);
    if (!provider) {
      provider = new GitHubProvider({
        server: resolved,
        clock: this.#options.clock,
        budget: this.#budget,
        ...(this.#options.onResponse ? { onResponse: this.#options.onResponse } : {}),
        onUnauthorized: (auth) => {
          for (const listener of this.#refusedListeners) listener(auth);
        },
      });
      this.#providers.set(resolved.apiBase, provider);
    }
    return provider;
  }

  /** Hears of every 401 any GitHub call gets, with the credentials refused (kept in memory, never logged). */
  onRefused(listener: (auth: Credential) => void): void {
    this.#refusedListeners.push(listener);
  }

  async close(): Promise<void> {
    await Promise.all([...this.#providers.values()].map((p) => p.close()));
    this.#providers.clear();
  }
}
