// Which repository a Repository's spec.url names, read by the parser of its provider kind (registry.ts
// providerKindOf). Each host spells repository URLs its own way, so each provider folder owns its parser; this
// table is where a kind's parser is found, and where a new kind adds its own.
import { parseCloudRepositoryUrl } from "./bitbucket-cloud/paths.ts";
import { parseDataCenterRepositoryUrl } from "./bitbucket-datacenter/url.ts";
import { parseGitHubRepositoryUrl } from "./github/server.ts";
import type { ProviderKind } from "./provider.ts";

/** The repository a URL names: `server` is the base URL the provider is built from, no trailing slash. */
export interface ParsedRepositoryUrl {
  server: string;
  owner: string;
  name: string;
}

/** Undefined when the URL names no repository in this host's forms. Pure. */
export type RepositoryUrlParser = (url: string) => ParsedRepositoryUrl | undefined;

const parsers = new Map<ProviderKind, RepositoryUrlParser>([
  ["bitbucket-datacenter", parseDataCenterRepositoryUrl],
  ["bitbucket-cloud", parseCloudRepositoryUrl],
  ["github", parseGitHubRepositoryUrl],
]);

/** Adds (or replaces) a kind's parser; the composition root calls it for each provider it registers. */
export function registerRepositoryUrlParser(kind: ProviderKind, parser: RepositoryUrlParser): void {
  parsers.set(kind, parser);
}

/** The parser of `kind`, undefined for a kind this build cannot read URLs of. */
export function repositoryUrlParser(kind: ProviderKind): RepositoryUrlParser | undefined {
  return parsers.get(kind);
}
