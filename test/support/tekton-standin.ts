// A stand-in for Tekton's PipelineRun controller, which does not run in the test cluster: it writes a
// PipelineRun's status the way Tekton does (startTime, the Succeeded condition, completionTime) through the status
// subresource, so Baton sees runs start and finish. Named as such so no test mistakes it for Tekton.

import { type PipelineRun, PipelineRuns } from "../../src/pipelines/tekton.ts";
import type { KubeClient } from "../../src/runtime/kube.ts";

/** metav1.Time: RFC 3339 to the second, as Tekton writes it. */
const rfc3339 = (date: Date) => date.toISOString().replace(/\.\d{3}Z$/, "Z");
const now = () => rfc3339(new Date());

export type Outcome = "Succeeded" | "Failed" | "Cancelled";

/** Marks a run as started (Succeeded=Unknown, reason Running), as Tekton does when it picks it up. */
export async function tektonStartRun(kube: KubeClient, namespace: string, name: string): Promise<PipelineRun> {
  const time = now();
  return kube.patchStatus(
    PipelineRuns,
    { namespace, name },
    {
      startTime: time,
      conditions: [
        {
          type: "Succeeded",
          status: "Unknown",
          reason: "Running",
          message: "Tasks Completed: 0",
          lastTransitionTime: time,
        },
      ],
    },
  );
}

/**
 * Marks a run as finished with `outcome`, as Tekton's reconciler does at the end; `at` sets the completion time
 * (Tekton's has whole seconds, so runs finishing within one second tie unless a test says otherwise).
 */
export async function tektonFinishRun(
  kube: KubeClient,
  namespace: string,
  name: string,
  outcome: Outcome,
  at?: Date,
): Promise<PipelineRun> {
  const time = at ? rfc3339(at) : now();
  const condition =
    outcome === "Succeeded"
      ? {
          type: "Succeeded",
          status: "True",
          reason: "Succeeded",
          message: "Tasks Completed: 1 (Failed: 0, Cancelled 0), Skipped: 0",
        }
      : outcome === "Failed"
        ? {
            type: "Succeeded",
            status: "False",
            reason: "Failed",
            message: "Tasks Completed: 1 (Failed: 1, Cancelled 0), Skipped: 0",
          }
        : { type: "Succeeded", status: "False", reason: "Cancelled", message: "PipelineRun was cancelled" };
  return kube.patchStatus(
    PipelineRuns,
    { namespace, name },
    {
      startTime: time,
      completionTime: time,
      conditions: [{ ...condition, lastTransitionTime: time }],
    },
  );
}
