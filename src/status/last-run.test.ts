import assert from "node:assert/strict";
import { test } from "node:test";
import { lastRunPatch } from "./last-run.ts";

test("a run without times clears the previous run's in the merge patch", () => {
  assert.deepEqual(lastRunPatch({ name: "unit-b", pipeline: "unit", status: "Pending" }), {
    name: "unit-b",
    pipeline: "unit",
    sha: null,
    pullRequest: null,
    status: "Pending",
    startTime: null,
    completionTime: null,
  });
});
