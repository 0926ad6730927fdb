// What Bitbucket should show for a PipelineRun: state, key, description, duration. Pure, so the mapping is
// table-tested; the status controller only fetches runs and posts the result. Provider-neutral on purpose: a
// Bitbucket Cloud reporter maps the same BuildReport onto its own states.

import { createHash } from "node:crypto";
import { z } from "zod";
import type { BuildState as ProviderBuildState } from "../providers/provider.ts";

/** The Tekton PipelineRun fields this mapping reads. */
export const PipelineRunView = z.looseObject({
  metadata: z.looseObject({
    name: z.string(),
    namespace: z.string().optional(),
    uid: z.string().optional(),
    labels: z.record(z.string(), z.string()).optional(),
  }),
  spec: z.looseObject({ status: z.string().optional() }).optional(),
  status: z
    .looseObject({
      startTime: z.string().optional(),
      completionTime: z.string().optional(),
      conditions: z
        .array(
          z.looseObject({
            type: z.string(),
            status: z.string(),
            reason: z.string().optional(),
            message: z.string().optional(),
          }),
        )
        .optional(),
    })
    .optional(),
});
export type PipelineRunView = z.infer<typeof PipelineRunView>;

/** A TaskRun of the PipelineRun, for the one-line reason a run failed. */
export interface TaskRunView {
  pipelineTask: string;
  succeeded?: "True" | "False" | "Unknown";
  reason?: string;
  message?: string;
  completionTime?: string;
}

/** Provider-neutral build states; each provider maps them to its own words. */
export type BuildState = "queued" | "running" | "succeeded" | "failed" | "cancelled";

export function buildState(run: PipelineRunView): BuildState {
  const succeeded = run.status?.conditions?.find((c) => c.type === "Succeeded");
  if (isHeldPending(run)) return "queued";
  if (!succeeded || succeeded.status === "Unknown") return run.status?.startTime ? "running" : "queued";
  if (succeeded.status === "True") return "succeeded";
  return cancelledReasons.has(succeeded.reason ?? "") ? "cancelled" : "failed";
}

/** Asked to wait (spec.status PipelineRunPending), or Tekton says it is waiting for that reason. */
function isHeldPending(run: PipelineRunView | undefined): boolean {
  const succeeded = run?.status?.conditions?.find((c) => c.type === "Succeeded");
  return run?.spec?.status === "PipelineRunPending" || succeeded?.reason === "PipelineRunPending";
}

// Tekton's reasons for a run stopped on request (spec.status Cancelled / CancelledRunFinally / StoppedRunFinally).
const cancelledReasons = new Set(["Cancelled", "CancelledRunFinally", "StoppedRunFinally", "PipelineRunCancelled"]);

export function isFinal(state: BuildState): boolean {
  return state === "succeeded" || state === "failed" || state === "cancelled";
}

/** The provider's neutral state for a run's; CANCELLED only where the host accepts it (GitProvider.buildStates). */
export function providerState(state: BuildState, supportsCancelled: boolean): ProviderBuildState {
  switch (state) {
    case "queued":
    case "running":
      return "INPROGRESS";
    case "succeeded":
      return "SUCCESSFUL";
    case "cancelled":
      return supportsCancelled ? "CANCELLED" : "FAILED";
    case "failed":
      return "FAILED";
  }
}

const maxDescription = 255;

/** One line a developer reads on the pull request: for failures, the first failed task and why. */
export function describe(state: BuildState, taskRuns: readonly TaskRunView[] = [], run?: PipelineRunView): string {
  let text: string;
  switch (state) {
    case "queued":
      // Only Baton's concurrency limit creates a run Pending; any other run not started yet is Tekton's to start.
      text = isHeldPending(run)
        ? "queued: waiting for a free slot (concurrency limit)"
        : "queued: waiting for Tekton to start it";
      break;
    case "running":
      text = "running";
      break;
    case "succeeded":
      text = "succeeded";
      break;
    case "cancelled":
      text = "cancelled";
      break;
    case "failed": {
      const failed = [...taskRuns]
        .filter((t) => t.succeeded === "False")
        .sort((a, b) => (a.completionTime ?? "").localeCompare(b.completionTime ?? ""))[0];
      const condition = run?.status?.conditions?.find((c) => c.type === "Succeeded");
      // Tekton's reason Failed means a task failed: that task says why. Any other reason (PipelineRunTimeout,
      // CouldntGetPipeline, …) is the run's own, and its TaskRuns only show the consequence (on a timeout Tekton
      // cancels them: TaskRunCancelled).
      if (failed && (condition?.reason ?? "Failed") === "Failed")
        text = `failed: task ${failed.pipelineTask} ${failed.reason ?? "Failed"}${failed.message ? `: ${failed.message}` : ""}`;
      else text = `failed: ${condition?.reason ?? "Failed"}${condition?.message ? `: ${condition.message}` : ""}`;
    }
  }
  const line = text.replace(/\s+/g, " ").trim();
  return line.length > maxDescription ? `${line.slice(0, maxDescription - 1)}…` : line;
}

/** Milliseconds from start to completion, when both are known. */
export function durationOf(run: PipelineRunView): number | undefined {
  const start = Date.parse(run.status?.startTime ?? "");
  const end = Date.parse(run.status?.completionTime ?? "");
  return Number.isFinite(start) && Number.isFinite(end) && end >= start ? end - start : undefined;
}

// Bitbucket accepts keys up to 255 characters, but some clients document 40 (reference §5.1, UNCONFIRMED): stay
// within 40 so no server version truncates or refuses a key.
const maxKeyLength = 40;

/**
 * One key per (Repository, pipeline), stable across runs, so a re-run replaces the earlier status instead of
 * leaving a red one behind. The instance prefix keeps two clusters reporting on one repository apart.
 */
export function statusKey(instance: string, namespace: string, repository: string, pipeline: string): string {
  const readable = `${instance}-${pipeline}`.replace(/[^A-Za-z0-9._-]+/g, "-");
  const hash = createHash("sha256").update(`${namespace}/${repository}/${pipeline}`).digest("hex").slice(0, 8);
  const head = readable.slice(0, maxKeyLength - hash.length - 1);
  return `${head}-${hash}`;
}

/** Fills a console URL template's {{namespace}} and {{name}} (URL-encoded), the operator's consoleUrlTemplate. */
export function runUrl(template: string, namespace: string, name: string): string {
  const values: Record<string, string> = { namespace, name };
  return template.replace(/\{\{\s*(namespace|name)\s*\}\}/g, (_, key: string) => encodeURIComponent(values[key] ?? ""));
}
