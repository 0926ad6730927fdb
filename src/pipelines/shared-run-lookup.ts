// What shared-run.ts decides from, asked of the host: the open pull requests from a pushed branch, and which of
// the push's pipelines each would match. Asked only when a matched pipeline that has not run yet could match a
// pull request; when the host cannot say, the push's own context is used, as before: nothing is lost.
import type { PullRequestEvent, PushEvent } from "../events/model.ts";
import { decideTrust } from "../events/trust.ts";
import type { Clock } from "../runtime/clock.ts";
import type { Logger } from "../runtime/logger.ts";
import { type EvaluationBudget, matchPipelineRunsBounded } from "./evaluate-bounded.ts";
import { type MatchedRun, needsChangedFiles } from "./match.ts";
import { changedFilesOf, type RunContext, safeMessage } from "./run-context.ts";
import { mayMatchPullRequest, pullRequestForPush, sharedRuns } from "./shared-run.ts";

export interface SharedRunLookupDeps {
  clock: Clock;
  log: Logger;
  evaluationBudget?: EvaluationBudget | undefined;
  /** Whether the push's run of this pipeline was started already (run-claims.ts). */
  started: (pipeline: string) => boolean;
}

/** The pipelines of a branch push to build as a same-repository pull request's (see shared-run.ts). */
export async function sharedWithPullRequests(
  deps: SharedRunLookupDeps,
  ctx: RunContext,
  push: PushEvent,
  matched: readonly MatchedRun[],
  params: Record<string, string>,
): Promise<Map<string, PullRequestEvent> | undefined> {
  const candidates = matched.map((m) => m.definition).filter((d) => !deps.started(d.name) && mayMatchPullRequest(d));
  if (push.refKind !== "branch" || candidates.length === 0) return undefined;
  try {
    const open = await ctx.client.listOpenPullRequests(ctx.ref, {
      fromRef: push.ref,
      auth: ctx.auth,
      maxItems: 25,
    });
    const events: { event: PullRequestEvent; matched: string[] }[] = [];
    const receivedAt = new Date(deps.clock.now());
    for (const pullRequest of open) {
      const event = pullRequestForPush(push, (o) => ctx.client.pullRequestEvent(pullRequest, o), {
        serverUrl: ctx.location.server,
        receivedAt,
      });
      if (event === undefined || !decideTrust(event, {}, ctx.repository.spec.policy ?? {}).trusted) continue;
      const changedFiles = needsChangedFiles(candidates, event) ? await changedFilesOf(ctx, event) : undefined;
      // CEL here is as hostile as anywhere else: the same budget, and an overrun only means "not shared".
      const match = await matchPipelineRunsBounded(
        candidates,
        { event, ...(changedFiles ? { changedFiles } : {}), params },
        deps.evaluationBudget,
      );
      events.push({ event, matched: match.matched.map((m) => m.definition.name) });
    }
    return sharedRuns(
      push,
      events,
      candidates.map((d) => d.name),
    );
  } catch (err) {
    deps.log.warn(
      { repository: `${ctx.namespace}/${ctx.name}`, sha: push.sha, err: safeMessage(err) },
      "could not list the pushed branch's pull requests; its runs get the push's context",
    );
    return undefined;
  }
}
