// Is the repository reachable with the Repository's token? Answered from the project's shared listing
// (cache.ts RepositoryListings), so a project's Repositories cost one call between them, and told as TokenReady
// and Ready conditions.
import type { Repository, RepositoryStatus } from "../api/repository.ts";
import type { GitProvider } from "../providers/provider.ts";
import type { Clock } from "../runtime/clock.ts";
import type { ReconcileContext } from "../runtime/controller.ts";
import { keyOf } from "../runtime/kube.ts";
import type { ListingResult, RepositoryListings, ServerFeatures } from "./cache.ts";
import { type FailureKind, hostTerms, type RepositoryLocation, retryDelay } from "./decisions.ts";
import type { ConditionUpdate, Step } from "./status-write.ts";

export interface ReachabilityDeps {
  clock: Clock;
  driftInterval: number;
  listings: RepositoryListings;
  features: ServerFeatures;
  /** Counts one more consecutive failure of the Repository; returns the count (for the retry delay). */
  memberFailed(key: string): number;
}

/** Where the token came from, as conditions name it ("Secret ns/name"). */
export interface ResolvedToken {
  token: string;
  source: string;
}

/** One Repository's reconcile, as both checks see it: conditions are pushed onto `conditions`. */
export interface ReachabilityCheck {
  provider: GitProvider;
  repo: Repository;
  location: RepositoryLocation;
  resolved: ResolvedToken;
  status: RepositoryStatus;
  conditions: ConditionUpdate[];
  ctx: ReconcileContext;
}

/**
 * Pushes TokenReady (and, on failure, Ready and WebhookSynced) onto `conditions`. Returns the Step to end the
 * reconcile with when the repository is not reachable, undefined when it is.
 */
export async function checkReachability(
  deps: ReachabilityDeps,
  { provider, repo, location, resolved, status, conditions, ctx }: ReachabilityCheck,
): Promise<Step | undefined> {
  const key = keyOf(repo);
  const managed = repo.spec.webhook.managed;
  const where = `${location.project}/${location.slug}`;
  const asked = deps.clock.now();
  const listing = await deps.listings.lookup(provider, location, resolved.token, location.slug, ctx.signal);
  const notBitbucket = await notBitbucketReason(deps.features, provider, listing, location.slug, ctx);
  if (notBitbucket !== undefined) {
    const failures = deps.memberFailed(key);
    const message = `${location.server} does not answer as Bitbucket Data Center (${notBitbucket}); check that spec.url points at Bitbucket`;
    conditions.push(
      { type: "TokenReady", status: "False", reason: "NotBitbucket", message },
      { type: "Ready", status: "False", reason: "NotBitbucket", message },
    );
    if (managed)
      conditions.push({
        type: "WebhookSynced",
        status: "Unknown",
        reason: "NotBitbucket",
        message: "waiting until spec.url points at a Bitbucket server",
      });
    return { status, conditions, requeueAfter: retryDelay(failures, deps.driftInterval) };
  }
  if (!listing.ok) {
    const failures = deps.memberFailed(key);
    const { tokenReady, ready } = listingFailure(listing.kind, listing.detail, resolved.source, location, provider);
    conditions.push(tokenReady, ready);
    if (managed)
      conditions.push({
        type: "WebhookSynced",
        status: "Unknown",
        reason: ready.reason,
        message: "waiting until Baton can reach the repository",
      });
    return { status, conditions, requeueAfter: retryDelay(failures, deps.driftInterval) };
  }
  conditions.push({
    type: "TokenReady",
    status: "True",
    reason: "Valid",
    message: `${hostTerms(provider.kind).host} accepts the token from ${resolved.source}`,
  });
  if (!listing.slugs.has(location.slug)) {
    const message = `repository ${where} does not exist on ${location.server}, or the token from ${resolved.source} cannot read it (it needs ${hostTerms(provider.kind).readPermission})`;
    conditions.push({ type: "Ready", status: "False", reason: "RepositoryNotFound", message });
    if (managed) conditions.push({ type: "WebhookSynced", status: "False", reason: "RepositoryNotFound", message });
    // A listing from before this reconcile may predate the repository (just created in Bitbucket): look again
    // as soon as the project may be listed again; only a miss in a listing made for this look earns back-off.
    const requeueAfter =
      listing.fetchedAt < asked
        ? Math.max(1_000, deps.listings.relistAt(listing) - deps.clock.now())
        : retryDelay(deps.memberFailed(key), deps.driftInterval);
    return { status, conditions, requeueAfter };
  }
  return undefined;
}

/**
 * A webhook call answered 401: either a missing permission or a token Bitbucket no longer accepts. A fresh listing
 * with the same token (one call, only on this failure) tells which; returns the Step for the latter.
 */
export async function recheckToken(
  deps: ReachabilityDeps,
  { provider, repo, location, resolved, status, conditions, ctx }: ReachabilityCheck,
): Promise<Step | undefined> {
  deps.listings.invalidate(location.server, location.project, resolved.token);
  const again = await deps.listings.lookup(provider, location, resolved.token, location.slug, ctx.signal);
  if (again.ok || again.kind !== "unauthorized") return undefined;
  const failures = deps.memberFailed(keyOf(repo));
  const { tokenReady, ready } = listingFailure(again.kind, again.detail, resolved.source, location, provider);
  conditions.push(tokenReady, ready, {
    type: "WebhookSynced",
    status: "Unknown",
    reason: "TokenNotReady",
    message: "waiting for a token Bitbucket accepts",
  });
  return { status, conditions, requeueAfter: retryDelay(failures, deps.driftInterval) };
}

/**
 * Why the server is not Bitbucket, when the listing does not already prove it is. A listing naming the repository
 * was parsed as Bitbucket's repository objects; anything less (a 404, an empty or unreadable page) is what any
 * HTTP server could answer, and must not read as "Bitbucket accepts the token". An outage proves nothing.
 */
async function notBitbucketReason(
  features: ServerFeatures,
  provider: GitProvider,
  listing: ListingResult,
  slug: string,
  ctx: ReconcileContext,
): Promise<string | undefined> {
  if (listing.ok ? listing.slugs.has(slug) : listing.kind === "unavailable" || listing.kind === "rateLimited")
    return undefined;
  const identity = await features.identify(provider, ctx.signal).catch(() => undefined);
  return identity && !identity.host ? identity.reason : undefined;
}

function listingFailure(
  kind: FailureKind,
  detail: string,
  source: string,
  location: RepositoryLocation,
  provider: GitProvider,
) {
  const terms = hostTerms(provider.kind);
  const project = `${terms.owner} ${location.project} on ${location.server}`;
  switch (kind) {
    case "unauthorized": {
      const message = `${terms.host} refused the token from ${source} (401): it is invalid, expired or revoked, or may not see ${project}`;
      return {
        tokenReady: { type: "TokenReady", status: "False", reason: "Unauthorized", message } as ConditionUpdate,
        ready: { type: "Ready", status: "False", reason: "TokenNotReady", message } as ConditionUpdate,
      };
    }
    case "notFound": {
      const message = `${project} does not exist, or the token from ${source} cannot see it`;
      return {
        tokenReady: {
          type: "TokenReady",
          status: "True",
          reason: "Valid",
          message: `${terms.host} accepts the token from ${source}`,
        } as ConditionUpdate,
        ready: { type: "Ready", status: "False", reason: "ProjectNotFound", message } as ConditionUpdate,
      };
    }
    default: {
      const message = `could not reach ${terms.host} to check ${location.project}/${location.slug}; will retry: ${detail}`;
      const reason = kind === "rateLimited" ? "RateLimited" : "BitbucketUnavailable";
      return {
        tokenReady: { type: "TokenReady", status: "Unknown", reason, message } as ConditionUpdate,
        ready: { type: "Ready", status: "False", reason, message } as ConditionUpdate,
      };
    }
  }
}
