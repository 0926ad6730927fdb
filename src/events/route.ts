// Which Repository a delivery is for, read from the JSON body before anything else is trusted about it (the
// signature can only be checked once the Repository, and so its secret, is known). Pure.
//
// A payload names its repository by project key and slug, and its server only through links (`links.clone`,
// `links.self`), which payloads from old servers lack. Repositories are therefore indexed twice: by their full
// identity (server, project, slug) and by project and slug alone; a payload without links is routed by the second.
// Routing decides only whose secret is tried: a delivery reaches a Repository only if it is signed with that
// Repository's (or its project hook's) secret.

import { serverFromLinks } from "../providers/bitbucket-datacenter/classify.ts";
import type { Repository as PayloadRepository } from "../providers/bitbucket-datacenter/payloads.ts";
import { Repository } from "../providers/bitbucket-datacenter/payloads.ts";
import { type RepositoryLocation, repositoryIdentity } from "../repositories/decisions.ts";

export interface DeliveryTarget {
  /** Base URL from the payload's links, when it has any. */
  server?: string;
  project: string;
  slug: string;
}

/**
 * The repository a delivery is about: the pull request's target, the pushed (commented, forked) repository, or for
 * `repo:modified` the repository as it is now (`new`).
 */
export function deliveryTarget(body: unknown): DeliveryTarget | undefined {
  if (body === null || typeof body !== "object" || Array.isArray(body)) return undefined;
  const b = body as Record<string, unknown>;
  const pr = b.pullRequest as Record<string, unknown> | undefined;
  const candidate =
    pr !== null && typeof pr === "object"
      ? (pr.toRef as Record<string, unknown> | undefined)?.repository
      : (b.repository ?? b.new);
  const parsed = Repository.safeParse(candidate);
  if (!parsed.success) return undefined;
  const repo: PayloadRepository = parsed.data;
  const server = serverFromLinks(repo);
  return {
    ...(server === undefined ? {} : { server }),
    project: repo.project.key.toUpperCase(),
    slug: repo.slug.toLowerCase(),
  };
}

/** Index value of a repository without its server, for payloads that carry no links. */
export function looseIdentity(location: Pick<RepositoryLocation, "project" | "slug">): string {
  return `|${location.project.toUpperCase()}|${location.slug.toLowerCase()}`;
}

/** The index values a delivery target is looked up by, most specific first. */
export function targetIdentities(target: DeliveryTarget): string[] {
  const loose = looseIdentity(target);
  if (target.server === undefined) return [loose];
  return [
    repositoryIdentity({ server: target.server.replace(/\/+$/, ""), project: target.project, slug: target.slug }),
    loose,
  ];
}

/** A bounded label for `baton_webhook_events_total{event}`: known keys as they are, anything else `other`. */
export function eventLabel(eventKey: string, known: readonly string[]): string {
  return known.includes(eventKey) ? eventKey : eventKey === "" ? "none" : "other";
}
