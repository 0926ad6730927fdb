import assert from "node:assert/strict";
import { describe as suite, test } from "node:test";
import {
  type BuildState,
  buildState,
  describe,
  durationOf,
  type PipelineRunView,
  providerState,
  runUrl,
  statusKey,
} from "./report.ts";

function run(status?: PipelineRunView["status"], specStatus?: string): PipelineRunView {
  return { metadata: { name: "pr-1-abc" }, spec: specStatus ? { status: specStatus } : {}, status };
}
const succeeded = (status: string, reason: string, message = "") => ({
  startTime: "2026-01-01T00:00:00Z",
  conditions: [{ type: "Succeeded", status, reason, message }],
});

suite("buildState", () => {
  const cases: [string, PipelineRunView, BuildState][] = [
    ["created Pending by the concurrency limit", run(undefined, "PipelineRunPending"), "queued"],
    [
      "pending condition",
      run({ conditions: [{ type: "Succeeded", status: "Unknown", reason: "PipelineRunPending" }] }),
      "queued",
    ],
    ["not started yet", run(), "queued"],
    ["running", run(succeeded("Unknown", "Running")), "running"],
    ["succeeded", run(succeeded("True", "Succeeded")), "succeeded"],
    ["completed with skipped tasks", run(succeeded("True", "Completed")), "succeeded"],
    ["failed", run(succeeded("False", "Failed")), "failed"],
    ["timed out", run(succeeded("False", "PipelineRunTimeout")), "failed"],
    ["cancelled", run(succeeded("False", "Cancelled")), "cancelled"],
    ["cancelled, finally tasks ran", run(succeeded("False", "CancelledRunFinally")), "cancelled"],
    ["stopped, finally tasks ran", run(succeeded("False", "StoppedRunFinally")), "cancelled"],
  ];
  for (const [name, input, expected] of cases) test(name, () => assert.equal(buildState(input), expected));
});

suite("providerState", () => {
  test("queued and running are INPROGRESS", () => {
    assert.equal(providerState("queued", true), "INPROGRESS");
    assert.equal(providerState("running", false), "INPROGRESS");
  });
  test("CANCELLED only where the server supports it", () => {
    assert.equal(providerState("cancelled", true), "CANCELLED");
    assert.equal(providerState("cancelled", false), "FAILED");
  });
  test("final states", () => {
    assert.equal(providerState("succeeded", false), "SUCCESSFUL");
    assert.equal(providerState("failed", true), "FAILED");
  });
});

suite("describe", () => {
  test("names the first failed task and its reason", () => {
    const text = describe("failed", [
      {
        pipelineTask: "lint",
        succeeded: "False",
        reason: "Failed",
        message: "exit 1",
        completionTime: "2026-01-01T00:02:00Z",
      },
      { pipelineTask: "unit", succeeded: "False", reason: "TaskRunTimeout", completionTime: "2026-01-01T00:01:00Z" },
      { pipelineTask: "build", succeeded: "True", completionTime: "2026-01-01T00:00:30Z" },
    ]);
    assert.equal(text, "failed: task unit TaskRunTimeout");
  });
  test("falls back to the run's own reason", () => {
    assert.equal(
      describe("failed", [], run(succeeded("False", "PipelineRunTimeout", "timed out after 1h"))),
      "failed: PipelineRunTimeout: timed out after 1h",
    );
  });
  test("a run that timed out says so, not that Tekton then cancelled its TaskRun", () => {
    const cancelledByTimeout = {
      pipelineTask: "unit",
      succeeded: "False" as const,
      reason: "TaskRunCancelled",
      message: "TaskRun cancelled as the PipelineRun it belongs to has timed out.",
    };
    assert.equal(
      describe(
        "failed",
        [cancelledByTimeout],
        run(succeeded("False", "PipelineRunTimeout", 'PipelineRun "pr-1-abc" failed to finish within "5s"')),
      ),
      'failed: PipelineRunTimeout: PipelineRun "pr-1-abc" failed to finish within "5s"',
    );
  });
  test("says cancelled, so a FAILED status on an old server still tells the truth", () => {
    assert.match(describe("cancelled"), /cancelled/);
  });
  test("queued by the concurrency limit says so", () => {
    assert.equal(
      describe("queued", [], run(undefined, "PipelineRunPending")),
      "queued: waiting for a free slot (concurrency limit)",
    );
    const pendingCondition = run({
      conditions: [{ type: "Succeeded", status: "Unknown", reason: "PipelineRunPending" }],
    });
    assert.match(describe("queued", [], pendingCondition), /concurrency limit/);
  });
  test("queued without being held blames no limit: Tekton has not started it yet", () => {
    assert.equal(describe("queued", [], run()), "queued: waiting for Tekton to start it");
    assert.equal(describe("queued"), "queued: waiting for Tekton to start it");
  });
  test("is one line of at most 255 characters", () => {
    const text = describe("failed", [
      { pipelineTask: "t", succeeded: "False", reason: "Failed", message: `a\nb ${"x".repeat(400)}` },
    ]);
    assert.ok(!text.includes("\n"));
    assert.equal(text.length, 255);
  });
});

test("duration from start to completion", () => {
  assert.equal(durationOf(run({ startTime: "2026-01-01T00:00:00Z", completionTime: "2026-01-01T00:01:30Z" })), 90_000);
  assert.equal(durationOf(run({ startTime: "2026-01-01T00:00:00Z" })), undefined);
});

suite("statusKey", () => {
  test("stable for the same repository and pipeline", () =>
    assert.equal(statusKey("baton", "ci", "api", "pull-request"), statusKey("baton", "ci", "api", "pull-request")));
  test("differs per pipeline and per Repository", () => {
    const keys = new Set([
      statusKey("baton", "ci", "api", "pull-request"),
      statusKey("baton", "ci", "api", "push"),
      statusKey("baton", "ci", "web", "pull-request"),
      statusKey("baton", "ci2", "api", "pull-request"),
    ]);
    assert.equal(keys.size, 4);
  });
  test("at most 40 characters, readable prefix kept", () => {
    const key = statusKey("baton", "ci", "api", "a-very-long-pipeline-name-that-goes-on-and-on");
    assert.ok(key.length <= 40, key);
    assert.match(key, /^baton-a-very-long/);
  });
});

test("runUrl fills the console template", () => {
  assert.equal(
    runUrl("https://tekton.example.com/#/namespaces/{{namespace}}/pipelineruns/{{ name }}", "ci", "pr-1 x"),
    "https://tekton.example.com/#/namespaces/ci/pipelineruns/pr-1%20x",
  );
});
