// One `git push` to a pull request's branch reaches Baton twice: `repo:refs_changed` and `pr:from_ref_updated`,
// for the same commit. A pipeline matching both (`on-event: [push, pull_request]`) runs once for the pair, since both
// have the same run key (events/dedupe.ts), and the run gets the context of whichever event created it. The pull
// request's is the one users want there ({{ pull_request_number }}, its branches, the labels /cancel and a closed
// pull request act on), so that shared run is always built as the pull request's:
//
// - The pull request's delivery first: it creates the run; the push's finds the run key taken. Nothing to do.
// - The push's first: before creating its runs, Baton asks Bitbucket for the open pull requests whose source is the
//   pushed branch of this repository (one REST call, made only when a pipeline the push matched could match a pull
//   request too, and none of those has run yet). Bitbucket moves each of them to the pushed commit; that move is the
//   `pr:from_ref_updated` on its way. A pipeline that matches the push and also such a pull request is created with
//   the pull request's context, at the pushed commit, under the same run key, so the pull request's delivery then
//   finds it and creates nothing.
//
// Why not defer the push until the pull request's delivery comes? That holds every push run back on a guess, needs a
// timer that a restart forgets (losing the run: Bitbucket never re-delivers), and still has to give up at some point.
// Asking decides at once and durably (the run-key label). Bitbucket may answer before it has moved the pull request
// (it rescopes after the push), so the pull request's head is not compared with the pushed commit: the branch is what
// ties them. A pull request opened later at a commit a push already ran is a separate user action; that run stands.

import { repositoryKey, runKey } from "../events/dedupe.ts";
import type { PullRequestEvent, PushEvent } from "../events/model.ts";
import type { PullRequestEventOptions } from "../providers/provider.ts";
import type { PipelineRunDefinition } from "./load.ts";
import { annotationKeys, parseAnnotationList } from "./match.ts";

/** Header telling pipelines (CEL `headers`) that the pull request event was read through REST for a push. */
export const fromPushHeader = "x-baton-from-push";

/** Whether a definition could match a pull_request event at all (CEL decides alone, so it might). */
export function mayMatchPullRequest(definition: PipelineRunDefinition): boolean {
  if (definition.annotations[annotationKeys.onCelExpression] !== undefined) return true;
  const onEvent = definition.annotations[annotationKeys.onEvent];
  if (onEvent === undefined) return false;
  const events = parseAnnotationList(onEvent);
  return events.ok && events.values.includes("pull_request");
}

/**
 * The pull_request event that shares `push`'s runs, for an open pull request Bitbucket listed: its source must be
 * the pushed branch of the same repository (a fork's pull request has its own run keys). Undefined otherwise.
 */
export function pullRequestForPush(
  push: PushEvent,
  /** The provider's `pullRequestEvent` for one listed pull request. */
  toEvent: (options: PullRequestEventOptions) => { ok: true; event: PullRequestEvent } | { ok: false; error: string },
  options: { serverUrl: string; receivedAt: Date },
): PullRequestEvent | undefined {
  if (push.refKind !== "branch") return undefined;
  const actor = (push.body as { actor?: unknown } | undefined)?.actor;
  const converted = toEvent({
    ...options,
    head: push.sha,
    ...(actor === undefined ? {} : { actor }),
    header: fromPushHeader,
  });
  if (!converted.ok) return undefined;
  const event = converted.event;
  if (event.pullRequest.sourceRef !== push.ref || event.pullRequest.fromRepository.fork) return undefined;
  if (repositoryKey(event.repository) !== repositoryKey(push.repository)) return undefined;
  return event;
}

/**
 * Which pipelines of a push are built as a pull request's: each pipeline the push matched and the pull request's
 * event matches too, with the same run key (so it stays one run); the lowest pull request number wins when several
 * pull requests come from the branch.
 */
export function sharedRuns(
  push: PushEvent,
  candidates: readonly { event: PullRequestEvent; matched: readonly string[] }[],
  pushMatched: readonly string[],
): Map<string, PullRequestEvent> {
  const shared = new Map<string, PullRequestEvent>();
  const ordered = [...candidates].sort((a, b) => a.event.pullRequest.number - b.event.pullRequest.number);
  for (const { event, matched } of ordered) {
    for (const name of matched) {
      if (shared.has(name) || !pushMatched.includes(name)) continue;
      if (runKey(event, name) !== runKey(push, name)) continue;
      shared.set(name, event);
    }
  }
  return shared;
}
