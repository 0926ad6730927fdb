// Which GitProvider serves a Repository: the kind from its spec, the instance from that kind's factory.
//
// The kind comes from spec.provider when set, else from spec.url's host: bitbucket.org is Cloud, github.com is
// GitHub, anything else is a Data Center server (self-hosted, so no host name says it). A GitHub Enterprise
// Server has its own host name, so it needs `spec.provider: github`. A kind whose implementation is not
// registered in this build is refused with `UnsupportedProviderError`, which the Repository controller reports
// in status instead of guessing.
import type { GitProvider, ProviderKind, WebhookIntake } from "./provider.ts";

const hostKinds: Readonly<Record<string, ProviderKind>> = {
  "bitbucket.org": "bitbucket-cloud",
  "github.com": "github",
};

/** The provider kind of a Repository spec (pure). An unparsable URL is Data Center's to reject, as before. */
export function providerKindOf(spec: { url: string; provider?: ProviderKind | undefined }): ProviderKind {
  if (spec.provider) return spec.provider;
  let host: string;
  try {
    host = new URL(spec.url).hostname.toLowerCase();
  } catch {
    return "bitbucket-datacenter";
  }
  return hostKinds[host.replace(/^www\./, "")] ?? "bitbucket-datacenter";
}

export class UnsupportedProviderError extends Error {
  override readonly name = "UnsupportedProviderError";
  readonly kind: ProviderKind;

  constructor(kind: ProviderKind) {
    super(`unsupported provider ${kind}: this Baton build has no ${kind} implementation`);
    this.kind = kind;
  }
}

/** One kind's providers: one per server, made on first use and closed on shutdown. */
export interface ProviderFactory {
  /** May throw for a server the installation does not allow (BATON_ALLOWED_SERVERS). */
  for(server: string): GitProvider;
  /** The kind's webhook intake, served whether or not any Repository uses the kind yet. */
  readonly intake: WebhookIntake;
  close(): Promise<void>;
}

/** The factories of the kinds this build supports. */
export class ProviderRegistry {
  readonly #factories = new Map<ProviderKind, ProviderFactory>();

  register(kind: ProviderKind, factory: ProviderFactory): void {
    this.#factories.set(kind, factory);
  }

  supports(kind: ProviderKind): boolean {
    return this.#factories.has(kind);
  }

  /** Throws UnsupportedProviderError for an unregistered kind; the factory may throw for a refused server. */
  for(server: string, kind: ProviderKind = "bitbucket-datacenter"): GitProvider {
    const factory = this.#factories.get(kind);
    if (!factory) throw new UnsupportedProviderError(kind);
    return factory.for(server);
  }

  /** Every registered intake, for the webhook server to serve each at its own path. */
  intakes(): WebhookIntake[] {
    return [...this.#factories.values()].map((f) => f.intake);
  }

  async close(): Promise<void> {
    await Promise.all([...this.#factories.values()].map((f) => f.close()));
  }
}
