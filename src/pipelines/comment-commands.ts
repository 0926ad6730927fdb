// Which matched pipelines a comment command starts, given the head's runs as the API server has them: one comment
// starts each pipeline once (whichever replica its deliveries reach, however late); /retest reruns only what may be
// rerun (tekton.ts `retestable`); /ok-to-test skips what already succeeded. Each run it starts is the next
// generation of its pipeline's runs on the head (naming.ts), so a racing request decides identically and collides.
import type { CommentEvent } from "../events/model.ts";
import { type MatchedRun, withoutSucceeded } from "./match.ts";
import { nextGeneration, startedByComment } from "./naming.ts";
import { type PipelineRun, pipelineOf, retestable, runSucceeded } from "./tekton.ts";

export interface CommentSelection {
  /** The pipelines the comment starts. */
  matched: MatchedRun[];
  /** Pipeline → the generation of the head's runs its new run is. */
  generations: Map<string, number>;
  /** Pipelines this very comment already started. */
  alreadyStarted: number;
}

export function selectForComment(
  matched: readonly MatchedRun[],
  headRuns: readonly PipelineRun[],
  comment: CommentEvent["comment"],
): CommentSelection {
  const runsOf = (pipeline: string) => headRuns.filter((r) => pipelineOf(r) === pipeline);
  let selected = matched.filter((m) => !startedByComment(runsOf(m.definition.name), comment.id));
  const alreadyStarted = matched.length - selected.length;
  const generations = new Map<string, number>();
  for (const m of selected) generations.set(m.definition.name, nextGeneration(runsOf(m.definition.name)));
  if (comment.command.kind === "retest") {
    const allowed = retestable(
      headRuns,
      selected.map((m) => m.definition.name),
    );
    selected = selected.filter((m) => allowed.has(m.definition.name));
  } else if (comment.command.kind === "ok-to-test") {
    const succeeded = new Set(headRuns.filter((r) => runSucceeded(r) === true).map((r) => pipelineOf(r) ?? ""));
    selected = withoutSucceeded(selected, succeeded);
  }
  return { matched: selected, generations, alreadyStarted };
}
