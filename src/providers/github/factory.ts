// GitHub servers, one provider each (github.com, and each Enterprise Server a Repository marks with
// `spec.provider: github`), all drawing on one request budget; servers outside BATON_ALLOWED_SERVERS are refused
// before anything is sent, and every 401 is heard (a refused installation token is dropped at once).

import type { Clock } from "../../runtime/clock.ts";
import { type AllowedServers, serverRefusal } from "../http/allowed-servers.ts";
import type { Credential } from "../http/auth.ts";
import { RequestBudget } from "../http/budget.ts";
import type { ResponseEvent } from "../http/http.ts";
import type { ProviderFactory } from "../registry.ts";
import type { AppTokens } from "./app-tokens.ts";
import { GitHubApps } from "./apps.ts";
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
  /** The Apps Repositories name, their installation tokens minted through each server's own transport. */
  readonly #apps: GitHubApps;

  constructor(options: GitHubProvidersOptions) {
    this.#options = options;
    const rate = options.requestsPerSecond;
    this.#budget = new RequestBudget({ ratePerSecond: rate, burst: Math.max(1, Math.ceil(rate)) });
    this.#apps = new GitHubApps({
      clock: options.clock,
      transportFor: (apiBase) => {
        const provider = this.#providers.get(apiBase);
        if (provider === undefined) throw new Error(`no GitHub provider serves ${apiBase}`);
        return provider.transport.http;
      },
    });
    // A refused installation token is dropped at once: the next call mints a fresh one.
    this.onRefused((auth) => {
      if (auth.kind === "bearer") this.#apps.forget(auth.token);
    });
  }

  /**
   * The installation tokens of one GitHub App on `server` (allowed servers only): shared by every Repository
   * naming the App, so one installation costs one mint per renewal however many repositories use it.
   */
  appTokens(server: string, appId: string, privateKey: string | Uint8Array): AppTokens {
    const provider = this.for(server);
    return this.#apps.tokensFor({ apiBase: provider.baseUrl, appId, privateKey });
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
        grantsOf: (token) => this.#apps.grantsOf(token),
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
