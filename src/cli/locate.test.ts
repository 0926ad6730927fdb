import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { loadPipelineRuns } from "../pipelines/load.ts";
import { locate, problemLine } from "./locate.ts";

const file = `apiVersion: tekton.dev/v1
kind: PipelineRun
metadata:
  name: first
spec: {}
---
apiVersion: tekton.dev/v1
kind: PipelineRun
metadata:
  name: second
  namespace: elsewhere
spec: {}
---
apiVersion: tekton.dev/v1
kind: PipelineRun
metadata:
  name: third
  annotations:
    pipelinesascode.tekton.dev/on-event: "[pull_request"
spec: {}
`;

describe("file:line for a problem", () => {
  const files = new Map([[".tekton/all.yaml", file]]);

  it("points at the field a load error names, in its own document", () => {
    const loaded = loadPipelineRuns(files, { namespace: "ci" });
    const [problem] = loaded.errors;
    assert.ok(problem);
    assert.equal(locate(problem, files).line, 11);
  });

  it("finds a match error's document by the PipelineRun's name", () => {
    const problem = {
      file: ".tekton/all.yaml",
      name: "third",
      message: "invalid on-event in .tekton/all.yaml (third): x",
    };
    const located = locate(problem, files);
    assert.equal(located.line, 19);
    assert.equal(problemLine(located), ".tekton/all.yaml:19: invalid on-event in .tekton/all.yaml (third): x");
  });

  it("takes the line YAML reported", () => {
    const broken = new Map([[".tekton/bad.yaml", "a: [\nb: c\n"]]);
    const loaded = loadPipelineRuns(broken, { namespace: "ci" });
    const [problem] = loaded.errors;
    assert.ok(problem);
    assert.match(problemLine(locate(problem, broken)), /^\.tekton\/bad\.yaml:\d+: is not valid YAML/);
  });
});
