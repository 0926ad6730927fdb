// Tekton PipelineRuns as Baton reads them: the resource, and where a run is in its life. Pure apart from the
// resource definitions.
import { defineResource, type KubeObject } from "../runtime/kube.ts";
import { labels, managedBy, pendingStatus } from "./build.ts";
import { annotationKeys } from "./match.ts";

export type PipelineRun = KubeObject & {
  spec?: Record<string, unknown> & { status?: string };
  status?: {
    startTime?: string;
    completionTime?: string;
    conditions?: { type: string; status: string; reason?: string; message?: string; lastTransitionTime?: string }[];
  };
};

export const PipelineRuns = defineResource<PipelineRun>({
  apiVersion: "tekton.dev/v1",
  kind: "PipelineRun",
  plural: "pipelineruns",
});

/** v1beta1 files are created through their own endpoint (the API server stores them as v1). */
export const PipelineRunsV1beta1 = defineResource<PipelineRun>({
  apiVersion: "tekton.dev/v1beta1",
  kind: "PipelineRun",
  plural: "pipelineruns",
});

/** Selects every PipelineRun Baton created. */
export const batonRunSelector = `${labels.managedBy}=${managedBy}`;

/** spec.status values that ask Tekton to stop a run. */
export const stopRequests = new Set(["Cancelled", "CancelledRunFinally", "StoppedRunFinally"]);

export type RunPhase =
  /** Waiting for a free slot (spec.status PipelineRunPending). */
  | "pending"
  /** Admitted: running, or about to be started by Tekton. Counts against the concurrency limit. */
  | "active"
  /** Asked to stop, not yet finished: no longer counts against the limit, not released, not pruned. */
  | "stopping"
  /** Succeeded condition True or False. */
  | "finished";

export function runPhase(run: PipelineRun): RunPhase {
  const succeeded = run.status?.conditions?.find((c) => c.type === "Succeeded");
  if (succeeded && (succeeded.status === "True" || succeeded.status === "False")) return "finished";
  const requested = run.spec?.status;
  if (requested === pendingStatus) return "pending";
  if (requested !== undefined && stopRequests.has(requested)) return "stopping";
  return "active";
}

/** The outcome of a finished run, for /retest: true succeeded, false failed or cancelled, undefined not finished. */
export function runSucceeded(run: PipelineRun): boolean | undefined {
  const succeeded = run.status?.conditions?.find((c) => c.type === "Succeeded");
  if (succeeded?.status === "True") return true;
  if (succeeded?.status === "False") return false;
  return undefined;
}

/** The pipeline (original-prname) a run was built from. */
export function pipelineOf(run: PipelineRun): string | undefined {
  return run.metadata?.annotations?.[annotationKeys.originalPrName] ?? run.metadata?.labels?.[labels.pipeline];
}

export function completionTimeOf(run: PipelineRun): string | undefined {
  if (run.status?.completionTime) return run.status.completionTime;
  const succeeded = run.status?.conditions?.find((c) => c.type === "Succeeded");
  return succeeded?.lastTransitionTime;
}

/** The Repository a run belongs to: `namespace/<repository label>`, the release controller's key. */
export function repositoryKeyOf(run: PipelineRun): string | undefined {
  const label = run.metadata?.labels?.[labels.repository];
  return label === undefined ? undefined : `${run.metadata?.namespace ?? ""}/${label}`;
}

/**
 * Per pipeline, whether its newest run for a commit may be run again by `/retest`: pipelines whose newest run
 * succeeded or is still going are left alone; failed, cancelled (or being cancelled) and never-run ones are retried.
 */
export function retestable(runs: readonly PipelineRun[], pipelines: readonly string[]): Set<string> {
  const newest = new Map<string, PipelineRun>();
  for (const run of runs) {
    const pipeline = pipelineOf(run);
    if (pipeline === undefined) continue;
    const seen = newest.get(pipeline);
    const t = Date.parse(run.metadata?.creationTimestamp ?? "") || 0;
    const ts = seen === undefined ? -1 : Date.parse(seen.metadata?.creationTimestamp ?? "") || 0;
    if (seen === undefined || t > ts || (t === ts && (run.metadata?.name ?? "") > (seen.metadata?.name ?? ""))) {
      newest.set(pipeline, run);
    }
  }
  const out = new Set<string>();
  for (const pipeline of pipelines) {
    const run = newest.get(pipeline);
    if (run === undefined) {
      out.add(pipeline);
      continue;
    }
    const phase = runPhase(run);
    // A run asked to stop ends cancelled: as retestable as a failed one.
    if (phase === "stopping" || (phase === "finished" && runSucceeded(run) === false)) out.add(pipeline);
  }
  return out;
}
