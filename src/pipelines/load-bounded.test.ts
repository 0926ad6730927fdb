import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { loadPipelineRuns } from "./load.ts";
import { defaultLoadBounds, loadPipelineRunsBounded } from "./load-bounded.ts";

const run = (name: string, padding = 0) => `apiVersion: tekton.dev/v1
kind: PipelineRun
metadata:
  name: ${name}
  annotations:
    pipelinesascode.tekton.dev/on-event: "[pull_request]"
    pipelinesascode.tekton.dev/on-target-branch: "[main]"
    note: "${"x".repeat(padding)}"
spec:
  pipelineRef:
    name: build
`;

describe("loadPipelineRunsBounded", () => {
  it("gives what loadPipelineRuns gives, for a small folder and for a large one parsed in a worker", async () => {
    for (const padding of [0, 100 * 1024]) {
      const files = { ".tekton/a.yaml": run("a", padding), ".tekton/b.yaml": run("b"), ".tekton/c.yaml": "kind: [" };
      const bounded = await loadPipelineRunsBounded(
        files,
        { namespace: "ns" },
        { ...defaultLoadBounds, timeoutMs: 30_000 },
      );
      assert.deepEqual(bounded, loadPipelineRuns(files, { namespace: "ns" }));
      assert.deepEqual(
        bounded.pipelineRuns.map((p) => p.name),
        ["a", "b"],
      );
    }
  });

  it("refuses a folder that parses too slowly, and the event loop keeps turning meanwhile", async () => {
    // Deeply nested flow sequences: linear in size to write, seconds to parse.
    const files = { ".tekton/deep.yaml": `spec: ${"[".repeat(60_000)}${"]".repeat(60_000)}\n` };
    let ticks = 0;
    const ticker = setInterval(() => ticks++, 10);
    try {
      const result = await loadPipelineRunsBounded(
        files,
        { namespace: "ns" },
        { ...defaultLoadBounds, inlineBytes: 1024, timeoutMs: 200 },
      );
      assert.deepEqual(result.pipelineRuns, []);
      assert.equal(result.errors.length, 1);
      assert.equal(result.errors[0]?.file, ".tekton");
      assert.match(result.errors[0]?.message ?? "", /took longer than 0\.2 s to parse \(120007 bytes of YAML\)/);
    } finally {
      clearInterval(ticker);
    }
    assert.ok(ticks > 0, "other work ran while the folder was being parsed");
  });
});
