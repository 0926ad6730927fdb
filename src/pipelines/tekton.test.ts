// What the PipelineRun cache keeps of a run: every field read from the cache, none of the bulk.
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { reportedAnnotation } from "../status/reporter.ts";
import {
  cachedRun,
  completionTimeOf,
  type PipelineRun,
  pipelineOf,
  repositoryKeyOf,
  retestable,
  runPhase,
  runSucceeded,
} from "./tekton.ts";

const pipelineSpec = {
  tasks: [{ name: "test", taskSpec: { steps: [{ name: "unit", image: "node:24", script: "npm test" }] } }],
};

function tektonRun(overrides: { spec?: Record<string, unknown>; status?: Record<string, unknown> } = {}): PipelineRun {
  return {
    apiVersion: "tekton.dev/v1",
    kind: "PipelineRun",
    metadata: {
      name: "app-pull-request-x7k2p",
      namespace: "team",
      uid: "5f0c6a9e-0000-4000-8000-000000000001",
      resourceVersion: "4711",
      generation: 2,
      creationTimestamp: "2026-01-05T10:00:00Z",
      labels: {
        "app.kubernetes.io/managed-by": "baton",
        "baton.dev/repository": "app",
        "baton.dev/sha": "a".repeat(40),
        "baton.dev/pipeline": "pull-request",
        "baton.dev/pull-request": "12",
        "baton.dev/run-key": "k1",
        "pipelinesascode.tekton.dev/sender": "developer",
        "tekton.dev/pipeline": "app-pull-request-x7k2p",
      },
      annotations: {
        [reportedAnnotation]: "running",
        "pipelinesascode.tekton.dev/original-prname": "pull-request",
        "pipelinesascode.tekton.dev/max-keep-runs": "3",
        "pipelinesascode.tekton.dev/on-event": "[pull_request]",
        "kubectl.kubernetes.io/last-applied-configuration": "{}",
      },
      ownerReferences: [{ apiVersion: "v1", kind: "ConfigMap", name: "x", uid: "u" }],
      managedFields: [{ manager: "tekton", operation: "Update" }],
    },
    spec: {
      params: [{ name: "revision", value: "a".repeat(40) }],
      pipelineSpec,
      workspaces: [{ name: "source", emptyDir: {} }],
      ...overrides.spec,
    },
    status: {
      startTime: "2026-01-05T10:00:05Z",
      completionTime: "2026-01-05T10:01:40Z",
      conditions: [
        {
          type: "Succeeded",
          status: "False",
          reason: "Failed",
          message: "Tasks Completed: 1 (Failed: 1, Cancelled 0), Skipped: 0",
          lastTransitionTime: "2026-01-05T10:01:40Z",
        },
      ],
      pipelineSpec,
      childReferences: [{ apiVersion: "tekton.dev/v1", kind: "TaskRun", name: "t", pipelineTaskName: "test" }],
      provenance: { featureFlags: { enableAPIFields: "beta" } },
      ...overrides.status,
    },
  } as PipelineRun;
}

describe("cachedRun", () => {
  it("keeps identity, Baton's labels and annotations, the ones the runner reads, spec.status and the outcome", () => {
    assert.deepEqual(cachedRun(tektonRun({ spec: { status: "Cancelled" } })), {
      apiVersion: "tekton.dev/v1",
      kind: "PipelineRun",
      metadata: {
        name: "app-pull-request-x7k2p",
        namespace: "team",
        uid: "5f0c6a9e-0000-4000-8000-000000000001",
        resourceVersion: "4711",
        generation: 2,
        creationTimestamp: "2026-01-05T10:00:00Z",
        labels: {
          "app.kubernetes.io/managed-by": "baton",
          "baton.dev/repository": "app",
          "baton.dev/sha": "a".repeat(40),
          "baton.dev/pipeline": "pull-request",
          "baton.dev/pull-request": "12",
          "baton.dev/run-key": "k1",
        },
        annotations: {
          [reportedAnnotation]: "running",
          "pipelinesascode.tekton.dev/original-prname": "pull-request",
          "pipelinesascode.tekton.dev/max-keep-runs": "3",
        },
      },
      spec: { status: "Cancelled" },
      status: {
        startTime: "2026-01-05T10:00:05Z",
        completionTime: "2026-01-05T10:01:40Z",
        conditions: [
          { type: "Succeeded", status: "False", reason: "Failed", lastTransitionTime: "2026-01-05T10:01:40Z" },
        ],
      },
    });
  });

  it("answers every question the runner asks of a cached run as the whole run does", () => {
    const cases = [
      tektonRun(),
      tektonRun({ spec: { status: "PipelineRunPending" }, status: { conditions: [], completionTime: undefined } }),
      tektonRun({ spec: { status: "CancelledRunFinally" }, status: { completionTime: undefined, conditions: [] } }),
      tektonRun({
        status: { completionTime: undefined, conditions: [{ type: "Succeeded", status: "True", reason: "Ok" }] },
      }),
      { metadata: { name: "bare", namespace: "team" } } as PipelineRun,
    ];
    for (const run of cases) {
      const slim = cachedRun(run);
      assert.equal(runPhase(slim), runPhase(run));
      assert.equal(runSucceeded(slim), runSucceeded(run));
      assert.equal(pipelineOf(slim), pipelineOf(run));
      assert.equal(completionTimeOf(slim), completionTimeOf(run));
      assert.equal(repositoryKeyOf(slim), repositoryKeyOf(run));
      assert.deepEqual([...retestable([slim], ["pull-request"])], [...retestable([run], ["pull-request"])]);
    }
  });

  it("adds no empty fields and leaves the input alone", () => {
    const run = tektonRun();
    const before = JSON.stringify(run);
    cachedRun(run);
    assert.equal(JSON.stringify(run), before);
    assert.deepEqual(cachedRun({ metadata: { name: "bare", namespace: "team" } } as PipelineRun), {
      metadata: { name: "bare", namespace: "team" },
    });
  });
});
