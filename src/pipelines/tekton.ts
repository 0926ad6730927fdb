// Tekton PipelineRuns as Baton reads them: the resource, and where a run is in its life. Pure apart from the
// resource definitions.
import type { InformerOptions } from "../runtime/informer.ts";
import { defineResource, type KubeObject } from "../runtime/kube.ts";
import type { ObjectMeta } from "../runtime/kube-types.ts";
import { labels, managedBy, pac, pendingStatus } from "./build.ts";
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

// The annotations a cached run keeps besides Baton's own (baton.dev/…): those the runner reads (pipelineOf,
// pruning). Everything else Pipelines-as-Code and users put there is dropped from the cache.
// The git Secret's name: a run that outlived the process creating it is checked for its Secret at start-up.
// The branches: the run's signature covers them (provenance.ts), and the reporter verifies cached runs too.
const cachedAnnotations = new Set<string>([
  annotationKeys.originalPrName,
  annotationKeys.maxKeepRuns,
  pac.gitAuthSecret,
  pac.sourceBranch,
  pac.branch,
]);

const cachedMetadata = [
  "name",
  "namespace",
  "uid",
  "resourceVersion",
  "generation",
  "creationTimestamp",
  "deletionTimestamp",
] as const;

function keep(record: Record<string, string> | undefined, wanted: (key: string) => boolean) {
  if (!record) return undefined;
  let out: Record<string, string> | undefined;
  for (const [k, v] of Object.entries(record)) {
    if (!wanted(k)) continue;
    out ??= {};
    out[k] = v;
  }
  return out;
}

/**
 * What the PipelineRun informer caches of a run: only what is read from the cache (phase, outcome, pipeline,
 * repository, dedupe key, times, the reported state). A run's inline pipeline, its status copy of it, params,
 * workspaces and child references are most of its size and nobody reads them from the cache; with 10,000 runs
 * they are the operator's memory. Whoever needs the whole run GETs it; writes are patches, never a cached
 * object sent back.
 */
export function cachedRun(run: PipelineRun): PipelineRun {
  const m: ObjectMeta = run.metadata ?? {};
  const metadata: ObjectMeta = {};
  for (const k of cachedMetadata) if (m[k] !== undefined) (metadata as Record<string, unknown>)[k] = m[k];
  const runLabels = keep(m.labels, (k) => k.startsWith("baton.dev/") || k === labels.managedBy);
  if (runLabels) metadata.labels = runLabels;
  const annotations = keep(m.annotations, (k) => k.startsWith("baton.dev/") || cachedAnnotations.has(k));
  if (annotations) metadata.annotations = annotations;
  const slim: PipelineRun = { metadata };
  if (run.apiVersion !== undefined) slim.apiVersion = run.apiVersion;
  if (run.kind !== undefined) slim.kind = run.kind;
  if (run.spec?.status !== undefined) slim.spec = { status: run.spec.status };
  const status = run.status;
  if (status) {
    const succeeded = status.conditions?.find((c) => c.type === "Succeeded");
    slim.status = {
      ...(status.startTime === undefined ? {} : { startTime: status.startTime }),
      ...(status.completionTime === undefined ? {} : { completionTime: status.completionTime }),
      // The message can be long (Tekton's failure text); the cache answers phase and outcome, not why.
      ...(succeeded
        ? {
            conditions: [
              {
                type: succeeded.type,
                status: succeeded.status,
                ...(succeeded.reason === undefined ? {} : { reason: succeeded.reason }),
                ...(succeeded.lastTransitionTime === undefined
                  ? {}
                  : { lastTransitionTime: succeeded.lastTransitionTime }),
              },
            ],
          }
        : {}),
    };
  }
  return slim;
}

/**
 * The one way to ask for the shared informer of Baton's runs: the manager shares an informer per kind and
 * selector, so every caller must pass the same transform.
 */
export const runsInformerOptions: Pick<InformerOptions<PipelineRun>, "labelSelector" | "transform"> = {
  labelSelector: batonRunSelector,
  transform: cachedRun,
};

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
