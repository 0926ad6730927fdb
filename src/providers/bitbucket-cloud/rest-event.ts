// A pull request read through REST (the Repository controller's catch-up) as the neutral pull_request event a
// delivery would have produced. Pure.
//
// A REST pull request has the webhook payload's shape, so it is wrapped in a synthetic `pullrequest:updated` body
// and classified by the same code as a delivery: the two paths cannot drift apart, and CEL's `body.pullrequest.*`
// reads the same fields either way. REST names commits by 12-hex abbreviations too, so the caller passes the head's
// full hash (`head`), resolved beforehand; an abbreviated target commit is dropped (trust then names the target
// branch), never handed on.
import type { PullRequestEvent } from "../../events/model.ts";
import { classifyDelivery, isFullHash } from "./classify.ts";
import type { PullRequest } from "./schemas.ts";

export const catchUpEventKey = "pullrequest:updated";

/** Header telling pipelines (CEL `headers`) that the event was synthesised by catch-up, not delivered. */
export const catchUpHeader = "x-baton-catch-up";

export interface RestPullRequestOptions {
  serverUrl: string;
  receivedAt: Date;
  /** The head's full hash. */
  head: string;
  /** Who moved the head, as a payload's `actor`; by default the pull request's author. */
  actor?: unknown;
  header?: string;
}

export type RestEventResult = { ok: true; event: PullRequestEvent } | { ok: false; error: string };

export function pullRequestEventFromRest(pr: PullRequest, options: RestPullRequestOptions): RestEventResult {
  if (pr.state !== "OPEN") {
    return { ok: false, error: `pull request #${pr.id} is ${pr.state.toLowerCase()}; only open ones are caught up` };
  }
  if (!isFullHash(options.head) || !options.head.startsWith(pr.source.commit.hash)) {
    return { ok: false, error: `pull request #${pr.id}: ${options.head} is not the full hash of its head` };
  }
  const body = {
    actor: options.actor ?? pr.author,
    repository: pr.destination.repository,
    pullrequest: { ...pr, source: { ...pr.source, commit: { ...pr.source.commit, hash: options.head } } },
  };
  const result = classifyDelivery(
    catchUpEventKey,
    body,
    { "x-event-key": catchUpEventKey, [options.header ?? catchUpHeader]: "true" },
    { receivedAt: options.receivedAt, serverUrl: options.serverUrl },
  );
  if (!result.ok) return result;
  const event = result.events[0]?.event;
  if (event?.type !== "pull_request") {
    return { ok: false, error: `pull request #${pr.id} did not read as a pull_request event` };
  }
  if (event.pullRequest.targetCommit !== undefined && !isFullHash(event.pullRequest.targetCommit)) {
    delete event.pullRequest.targetCommit;
  }
  return { ok: true, event };
}
