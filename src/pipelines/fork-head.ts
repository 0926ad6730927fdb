// Where a fork pull request's head is built from (the provider's `forkHead`), and whether the run can build it:
// a ref the host keeps in the target repository must point at the event's head (forkref.ts waits for it), and a
// fork the run clones itself must be readable with the clone token.
import type { BatonEvent, PullRequestScopedEvent } from "../events/model.ts";
import type { GitProvider, RepoRef } from "../providers/provider.ts";
import type { Clock } from "../runtime/clock.ts";
import { type FetchLike, waitForPullRequestRef } from "./forkref.ts";
import type { RunContext } from "./run-context.ts";

/** How the fork ref check reads git and waits (tests shorten it). */
export interface RefWait {
  delaysMs?: readonly number[];
  fetch?: FetchLike;
}

/** A fork pull request on a host that keeps no pull-request ref in the target is cloned from the fork. */
export function forkCloneUrl(client: GitProvider, ref: RepoRef, event: BatonEvent): { repoUrl?: string } {
  if (event.type === "ping" || event.type === "push" || !event.pullRequest.fromRepository.fork) return {};
  const head = client.forkHead(ref, event.pullRequest.number, event.pullRequest.fromRepository.cloneUrl ?? "");
  return head.kind === "fork" && head.cloneUrl !== "" ? { repoUrl: head.cloneUrl } : {};
}

/** Undefined when the fork pull request's head can be built; otherwise why not (for a status and an Event). */
export async function checkForkHead(
  ctx: RunContext,
  event: PullRequestScopedEvent,
  cloneToken: string,
  options: { clock: Clock; refWait?: RefWait | undefined },
): Promise<string | undefined> {
  const cloneUrl = event.repository.cloneUrl;
  if (cloneUrl === undefined) return "the target repository's clone URL is unknown";
  const head = ctx.client.forkHead(ctx.ref, event.pullRequest.number, event.pullRequest.fromRepository.cloneUrl ?? "");
  const fetch = options.refWait?.fetch ? { fetch: options.refWait.fetch } : {};
  if (head.kind === "fork") {
    // No pull-request ref in the target (Bitbucket Cloud): the run clones the fork itself, so the clone token must
    // read it, and its source branch must still be at the head the event names.
    const fork = `${event.pullRequest.fromRepository.project}/${event.pullRequest.fromRepository.slug}`;
    const result = await waitForPullRequestRef({
      cloneUrl: head.cloneUrl,
      token: cloneToken,
      git: ctx.client.capabilities.git,
      ref: event.pullRequest.sourceRef,
      sha: event.sha,
      refresh: async () => {},
      delaysMs: [],
      ...fetch,
    });
    if (result.ok) return undefined;
    return result.unreadable
      ? `the clone token cannot read the fork ${fork} (a repository or project token reaches no other workspace's repositories), so its head cannot be built; make the fork readable to that token, or push the branch to ${event.repository.project}/${event.repository.slug}`
      : `${result.message} in the fork ${fork}`;
  }
  const result = await waitForPullRequestRef({
    cloneUrl,
    token: cloneToken,
    git: ctx.client.capabilities.git,
    ref: head.ref,
    sha: event.sha,
    refresh: async () => {
      await ctx.client.getPullRequest(ctx.ref, event.pullRequest.number, { auth: ctx.auth });
    },
    ...(options.refWait?.delaysMs ? { delaysMs: options.refWait.delaysMs } : {}),
    ...fetch,
    sleep: (ms) => options.clock.sleep(ms),
  });
  return result.ok ? undefined : result.message;
}
