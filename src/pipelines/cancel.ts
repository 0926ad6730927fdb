// Cancelling a pull request's unfinished runs (closed or declined, or `/cancel [pipeline]`): a fresh list from the
// API server, not the cache, so a run created a moment ago is cancelled too; under the Repository's admission lock,
// so a run being released cannot slip past.
import type { KubeClient } from "../runtime/kube.ts";
import { isNotFound } from "../runtime/kube.ts";
import type { Admission } from "./admission.ts";
import { labels, labelValue } from "./build.ts";
import type { RepositoryEvents } from "./dispatch.ts";
import { oneLine } from "./notices.ts";
import type { RunContext } from "./run-context.ts";
import { batonRunSelector, PipelineRuns, runPhase } from "./tekton.ts";

export interface CancelDeps {
  kube: KubeClient;
  admission: Admission;
  events: RepositoryEvents;
}

/** Cancels the pull request's pending and active runs (of one pipeline, when named); returns their names. */
export async function cancelRuns(
  deps: CancelDeps,
  ctx: RunContext,
  pullRequest: number,
  pipeline?: string,
): Promise<string[]> {
  const selector = [
    batonRunSelector,
    `${labels.repository}=${ctx.label}`,
    `${labels.pullRequest}=${pullRequest}`,
    ...(pipeline === undefined ? [] : [`${labels.pipeline}=${labelValue(pipeline)}`]),
  ].join(",");
  const { items } = await deps.kube.list(PipelineRuns, { namespace: ctx.namespace, labelSelector: selector });
  const cancelled: string[] = [];
  await deps.admission.withLock(`${ctx.namespace}/${ctx.label}`, async () => {
    for (const run of items) {
      const phase = runPhase(run);
      if (phase !== "pending" && phase !== "active") continue;
      const name = run.metadata?.name ?? "";
      try {
        await deps.kube.patch(PipelineRuns, { namespace: ctx.namespace, name }, { spec: { status: "Cancelled" } });
        cancelled.push(name);
      } catch (err) {
        if (!isNotFound(err)) throw err;
      }
    }
  });
  if (cancelled.length > 0) {
    deps.events.normal(
      ctx.repository,
      "PipelineRunsCancelled",
      oneLine(`pull request #${pullRequest}: cancelled ${cancelled.join(", ")}`, 1000),
    );
  }
  return cancelled;
}
