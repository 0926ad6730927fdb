import assert from "node:assert/strict";
import { test } from "node:test";
import { refusalMessage } from "./refusal.ts";

const request = { method: "POST", target: "pipelineruns in team-a" };

test("Tekton's webhook denial keeps Tekton's reason, without the request line", () => {
  // As Tekton v1.15.1's webhook answered through the real API server (test/integration/tekton-real.test.ts).
  const message =
    'POST pipelineruns in team-a: 400 BadRequest: admission webhook "validation.webhook.pipeline.tekton.dev" ' +
    'denied the request: validation failed: non-existent variable in "echo $(params.nowhere)": spec.pipelineSpec';
  assert.equal(
    refusalMessage(message, request),
    'Tekton refused the PipelineRun: validation failed: non-existent variable in "echo $(params.nowhere)": spec.pipelineSpec',
  );
});

test("the API server's own schema refusal says Kubernetes", () => {
  const message = 'POST pipelineruns in team-a: 422 Invalid: PipelineRun.tekton.dev "x" is invalid: spec.params: bad';
  assert.equal(
    refusalMessage(message, request),
    'Kubernetes refused the PipelineRun: PipelineRun.tekton.dev "x" is invalid: spec.params: bad',
  );
});

test("another message is kept whole", () => {
  assert.equal(refusalMessage("socket hang up"), "Kubernetes refused the PipelineRun: socket hang up");
});
