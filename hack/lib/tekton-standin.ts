// A STAND-IN FOR TEKTON'S CONTROLLER. No pods run in the test control plane or the demo, so nothing executes
// PipelineRuns; this sets their status the way Tekton's controller does (startTime, the Succeeded condition with
// Tekton's reasons, completionTime, child TaskRuns), so Baton's reactions to real runs can be shown and tested.
import type { KubeClient, KubeObject } from "../../src/runtime/kube.ts";
import { defineResource } from "../../src/runtime/kube.ts";

const PipelineRuns = defineResource<KubeObject>({
  apiVersion: "tekton.dev/v1",
  kind: "PipelineRun",
  plural: "pipelineruns",
});
const TaskRuns = defineResource<KubeObject>({ apiVersion: "tekton.dev/v1", kind: "TaskRun", plural: "taskruns" });

type Outcome = "Succeeded" | "Failed" | "Cancelled" | "PipelineRunTimeout";

const iso = (ms: number) => new Date(ms).toISOString().replace(/\.\d{3}Z$/, "Z");

export class TektonStandIn {
  readonly #kube: KubeClient;

  constructor(kube: KubeClient) {
    this.#kube = kube;
  }

  /** Tekton starts a run: startTime and Succeeded=Unknown/Running. Like Tekton, it refuses a run still Pending. */
  async start(namespace: string, name: string, at = Date.now()): Promise<void> {
    const run = (await this.#kube.get(PipelineRuns, { namespace, name })) as
      | (KubeObject & { spec?: { status?: string } })
      | undefined;
    if (run?.spec?.status === "PipelineRunPending")
      throw new Error(`${name} is Pending: Tekton does not start it until it is released`);
    await this.#status(namespace, name, {
      startTime: iso(at),
      conditions: [condition("Unknown", "Running", "Tasks Completed: 0 (Failed: 0, Cancelled 0), Skipped: 0", at)],
    });
  }

  /**
   * Tekton finishes a run. A failure gets a failed child TaskRun for `failedTask`, as Tekton leaves one behind, so
   * the failure reason can be read from it.
   */
  async finish(
    namespace: string,
    name: string,
    outcome: Outcome,
    options: { startedAt?: number; at?: number; failedTask?: string } = {},
  ): Promise<void> {
    const at = options.at ?? Date.now();
    const startedAt = options.startedAt ?? at - 1000;
    if (outcome === "Failed" && options.failedTask) {
      const taskRunName = `${name}-${options.failedTask}`.slice(0, 63);
      await this.#kube.create(TaskRuns, {
        apiVersion: "tekton.dev/v1",
        kind: "TaskRun",
        metadata: {
          name: taskRunName,
          namespace,
          labels: { "tekton.dev/pipelineRun": name, "tekton.dev/pipelineTask": options.failedTask },
        },
        spec: { taskSpec: { steps: [{ name: "run", image: "alpine", script: "exit 1" }] } },
      } as KubeObject);
      await this.#kube.patch(
        TaskRuns,
        { namespace, name: taskRunName },
        {
          status: {
            podName: `${taskRunName}-pod`,
            startTime: iso(startedAt),
            completionTime: iso(at),
            conditions: [condition("False", "Failed", '"step-run" exited with code 1', at)],
          },
        },
        { subresource: "status" },
      );
    }
    const messages: Record<Outcome, [string, string]> = {
      Succeeded: ["True", "Tasks Completed: 1 (Failed: 0, Cancelled 0), Skipped: 0"],
      Failed: ["False", "Tasks Completed: 1 (Failed: 1, Cancelled 0), Skipped: 0"],
      Cancelled: ["False", 'PipelineRun "' + name + '" was cancelled'],
      PipelineRunTimeout: ["False", `PipelineRun "${name}" failed to finish within "1h0m0s"`],
    };
    const [status, message] = messages[outcome];
    await this.#status(namespace, name, {
      startTime: iso(startedAt),
      completionTime: iso(at),
      conditions: [condition(status, outcome, message, at)],
    });
  }

  async #status(namespace: string, name: string, status: Record<string, unknown>): Promise<void> {
    await this.#kube.patch(PipelineRuns, { namespace, name }, { status }, { subresource: "status" });
  }
}

function condition(status: string, reason: string, message: string, at: number) {
  return { type: "Succeeded", status, reason, message, lastTransitionTime: iso(at) };
}
