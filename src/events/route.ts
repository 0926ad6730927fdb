// Which Repository a delivery is for, read from the JSON body before anything else is trusted about it (the
// signature can only be checked once the Repository, and so its secret, is known). Pure.
//
// The provider reads the repository from the body (WebhookIntake.target). A Data Center payload names its server
// only through links, which payloads from old servers lack. Repositories are therefore indexed twice: by their full
// identity (server, project, slug) and by project and slug alone; a payload without links is routed by the second.
// Routing decides only whose secret is tried: a delivery reaches a Repository only if it is signed with that
// Repository's (or its project hook's) secret.

import type { DeliveryTarget } from "../providers/provider.ts";
import { type RepositoryLocation, repositoryIdentity } from "../repositories/decisions.ts";

export type { DeliveryTarget };

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
