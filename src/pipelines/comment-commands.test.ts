// Which pipelines a comment command starts, from the head's runs as the API server has them.
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import type { CommentEvent } from "../events/model.ts";
import { selectForComment } from "./comment-commands.ts";
import type { MatchedRun } from "./match.ts";
import { commentAnnotation, generationAnnotation } from "./naming.ts";
import type { PipelineRun } from "./tekton.ts";

const matched = (...names: string[]): MatchedRun[] =>
  names.map((name) => ({
    definition: {
      file: `.tekton/${name}.yaml`,
      document: 0,
      name,
      apiVersion: "tekton.dev/v1",
      annotations: {},
      pipelineRun: {},
    },
    via: "comment",
  }));

const run = (
  pipeline: string,
  created: string,
  options: { generation?: number; comment?: number; succeeded?: "True" | "False" } = {},
): PipelineRun => ({
  metadata: {
    name: `${pipeline}-${created}`,
    creationTimestamp: created,
    annotations: {
      "pipelinesascode.tekton.dev/original-prname": pipeline,
      ...(options.generation === undefined ? {} : { [generationAnnotation]: String(options.generation) }),
      ...(options.comment === undefined ? {} : { [commentAnnotation]: String(options.comment) }),
    },
  },
  spec: {},
  ...(options.succeeded ? { status: { conditions: [{ type: "Succeeded", status: options.succeeded }] } } : {}),
});

const comment = (id: number, command: CommentEvent["comment"]["command"]): CommentEvent["comment"] => ({
  id,
  text: "",
  author: { name: "ana" },
  command,
});

const names = (m: readonly MatchedRun[]) => m.map((x) => x.definition.name);

describe("selectForComment", () => {
  it("starts each pipeline once per comment, however often it is delivered", () => {
    const head = [run("build", "2026-01-01T00:00:00Z", { comment: 7 })];
    const again = selectForComment(matched("build", "lint"), head, comment(7, { kind: "test" }));
    assert.deepEqual(names(again.matched), ["lint"]);
    assert.equal(again.alreadyStarted, 1);
    const other = selectForComment(matched("build", "lint"), head, comment(8, { kind: "test" }));
    assert.deepEqual(names(other.matched), ["build", "lint"]);
    assert.equal(other.alreadyStarted, 0);
  });

  it("numbers a new run after the newest generation of its pipeline on the head", () => {
    const head = [
      run("build", "2026-01-01T00:00:00Z"),
      run("build", "2026-01-01T00:01:00Z", { generation: 2 }),
      run("lint", "2026-01-01T00:00:00Z", { generation: 1 }),
    ];
    const { generations } = selectForComment(matched("build", "lint", "e2e"), head, comment(1, { kind: "test" }));
    assert.deepEqual(Object.fromEntries(generations), { build: 3, lint: 2, e2e: 0 });
  });

  it("/retest reruns failed and never-run pipelines, not succeeded or running ones", () => {
    const head = [
      run("build", "2026-01-01T00:00:00Z", { succeeded: "True" }),
      run("lint", "2026-01-01T00:00:00Z", { succeeded: "False" }),
      run("e2e", "2026-01-01T00:00:00Z"),
    ];
    const { matched: selected } = selectForComment(
      matched("build", "lint", "e2e", "docs"),
      head,
      comment(1, { kind: "retest" }),
    );
    assert.deepEqual(names(selected), ["lint", "docs"]);
  });

  it("/ok-to-test skips what already succeeded; /test reruns everything matched", () => {
    const head = [
      run("build", "2026-01-01T00:00:00Z", { succeeded: "True" }),
      run("lint", "2026-01-01T00:00:00Z", { succeeded: "False" }),
    ];
    const ok = selectForComment(matched("build", "lint"), head, comment(1, { kind: "ok-to-test" }));
    assert.deepEqual(names(ok.matched), ["lint"]);
    const test = selectForComment(matched("build", "lint"), head, comment(1, { kind: "test" }));
    assert.deepEqual(names(test.matched), ["build", "lint"]);
  });

  it("an empty head and an empty match select nothing and count nothing", () => {
    const none = selectForComment([], [], comment(1, { kind: "retest" }));
    assert.deepEqual(none, { matched: [], generations: new Map(), alreadyStarted: 0 });
  });
});
