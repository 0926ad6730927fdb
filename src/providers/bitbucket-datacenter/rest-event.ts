// A pull request read through REST (the Repository controller's catch-up) as the neutral pull_request event a
// webhook would have produced. Pure.
//
// The REST pull request has the webhook payload's shape (reference §4.1), so it is wrapped in a synthetic
// `pr:from_ref_updated` body and classified by the same code as a delivery: the two paths cannot drift apart, and
// CEL's `body.pullRequest.*` reads the same fields either way. The event has no request id, so only run keys
// deduplicate it: a pipeline that already ran (or is running) for this head is not started again.

import type { PullRequestEvent } from "../../events/model.ts";
import { classifyDelivery } from "./classify.ts";
import type { PullRequest as RestPullRequest } from "./index.ts";

export const catchUpEventKey = "pr:from_ref_updated";

/** Header telling pipelines (CEL `headers`) that the event was synthesised by catch-up, not delivered. */
export const catchUpHeader = "x-baton-catch-up";

export interface RestPullRequestOptions {
  /** The Repository's server base URL (spec.url's), so clone and browse URLs match the git Secret's scope. */
  serverUrl: string;
  /** When catch-up found it (the caller's clock). */
  receivedAt: Date;
  /** The head to build, when Bitbucket may not show it yet (a push it is still moving the pull request to). */
  head?: string;
  /** Who moved the head, as a payload's `actor` (a push's); by default the pull request's author. */
  actor?: unknown;
  /** Header telling pipelines how Baton came by the event (default `catchUpHeader`). */
  header?: string;
}

export type RestEventResult = { ok: true; event: PullRequestEvent } | { ok: false; error: string };

/** The pull_request event for an open pull request's current head. */
export function pullRequestEventFromRest(pr: RestPullRequest, options: RestPullRequestOptions): RestEventResult {
  if (pr.state !== "OPEN") {
    return { ok: false, error: `pull request #${pr.id} is ${pr.state.toLowerCase()}; only open ones are caught up` };
  }
  const body = {
    eventKey: catchUpEventKey,
    date: options.receivedAt.toISOString(),
    actor: options.actor ?? pr.author.user,
    pullRequest: options.head === undefined ? pr : { ...pr, fromRef: { ...pr.fromRef, latestCommit: options.head } },
  };
  const result = classifyDelivery(
    catchUpEventKey,
    body,
    { "x-event-key": catchUpEventKey, [options.header ?? catchUpHeader]: "true" },
    { receivedAt: options.receivedAt, serverUrl: options.serverUrl },
  );
  if (!result.ok) return result;
  const event = result.events[0];
  if (event?.type !== "pull_request") {
    return { ok: false, error: `pull request #${pr.id} did not read as a pull_request event` };
  }
  return { ok: true, event };
}
