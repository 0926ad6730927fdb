import assert from "node:assert/strict";
import { after, describe, it } from "node:test";
import type { ChangedFiles, PullRequestEvent } from "../events/model.ts";
import { pullRequestEvent } from "../events/testdata.ts";
import { boundedWorker } from "./bounded.ts";
import { type BuildInput, buildPipelineRun } from "./build.ts";
import { buildPipelineRunBounded, defaultEvaluationBudget, matchPipelineRunsBounded } from "./evaluate-bounded.ts";
import { loadPipelineRuns, type PipelineRunDefinition } from "./load.ts";
import { type MatchResult, matchPipelineRuns } from "./match.ts";

// The hostile inputs of issue 12, each of which held the event loop for seconds to minutes before: nested
// comprehensions (13 s for four levels over 100 elements), a backtracking-prone regex against a crafted fork branch
// name (6 s at 30 characters, doubling per character; 40 here), and a glob that backtracks (81 s at 200 characters).
const hundred = `[${Array.from({ length: 100 }, (_, i) => i).join(",")}]`;
const nestedAll = `${hundred}.all(a, ${hundred}.all(b, ${hundred}.all(c, ${hundred}.all(d, a + b + c + d >= 0))))`;
const ten = `[${Array.from({ length: 10 }, (_, i) => i).join(",")}]`;
const nestedTemplate = `headers.size() >= 0 && ${[..."abcdefgh"].reduce((inner, v) => `${ten}.all(${v}, ${inner})`, "true")}`;
const branchRegex = "^feature/([a-z0-9]+-?)*$";
const craftedBranch = `feature/${"a".repeat(40)}!`;
const backtrackingGlob = "*a*a*a*a*a*b";
const longPath = "a".repeat(200);

function def(name: string, annotations: Record<string, string>, spec = "{}"): PipelineRunDefinition {
  const lines = Object.entries(annotations)
    .map(([k, v]) => `    pipelinesascode.tekton.dev/${k}: ${JSON.stringify(v)}`)
    .join("\n");
  const text = `apiVersion: tekton.dev/v1\nkind: PipelineRun\nmetadata:\n  name: ${name}\n  annotations:\n${lines}\nspec: ${spec}\n`;
  const result = loadPipelineRuns({ [`.tekton/${name}.yaml`]: text }, { namespace: "ns" });
  assert.deepEqual(result.errors, []);
  return result.pipelineRuns[0] as PipelineRunDefinition;
}

const plain = def("build", { "on-event": "[pull_request]", "on-target-branch": "[main]" });
const files = (all: string[]): ChangedFiles => ({ all, added: all, deleted: [], modified: [], renamed: [] });
const fromBranch = (branch: string): PullRequestEvent => {
  const event = pullRequestEvent({ fork: true });
  return { ...event, pullRequest: { ...event.pullRequest, sourceBranch: branch } };
};

function summary(result: MatchResult) {
  return {
    matched: result.matched.map((m) => m.definition.name),
    unmatched: result.unmatched.map((u) => `${u.definition.name}: ${u.reason}`),
    errors: result.errors.map((e) => e.message),
  };
}

/** Runs `work` and counts the turns the event loop made meanwhile (0 when `work` held it throughout). */
async function withTicks<T>(work: () => Promise<T>): Promise<{ value: T; ticks: number }> {
  let ticks = 0;
  const ticker = setInterval(() => ticks++, 5);
  try {
    return { value: await work(), ticks };
  } finally {
    clearInterval(ticker);
  }
}

after(() => boundedWorker(defaultEvaluationBudget.maxHeapMiB).close());

describe("matching under a budget", () => {
  it("stops an expression over its time, fails only that pipeline, and keeps the event loop turning", async () => {
    const hostile = def("hostile", { "on-cel-expression": nestedAll });
    const after = def("after", { "on-cel-expression": 'event == "pull_request"' });
    const { value, ticks } = await withTicks(() =>
      matchPipelineRunsBounded(
        [hostile, plain, after],
        { event: pullRequestEvent() },
        {
          ...defaultEvaluationBudget,
          timeoutMs: 300,
        },
      ),
    );
    assert.deepEqual(summary(value), {
      matched: ["build", "after"],
      unmatched: [],
      errors: [
        ".tekton/hostile.yaml (hostile): its on-cel-expression took longer than 0.3 s to evaluate; it was stopped " +
          "and this pipeline did not run",
      ],
    });
    assert.equal(value.errors[0]?.definition, hostile, "the problem names the caller's own definition");
    assert.ok(ticks > 0, "other work ran while the expression was evaluated");
  });

  it("evaluates matches() in linear time: a crafted fork branch name is simply not a match", async () => {
    const guarded = def("guarded", { "on-cel-expression": `source_branch.matches(${JSON.stringify(branchRegex)})` });
    const result = await matchPipelineRunsBounded(
      [guarded],
      { event: fromBranch(craftedBranch) },
      {
        ...defaultEvaluationBudget,
        timeoutMs: 10_000,
      },
    );
    assert.deepEqual(summary(result), {
      matched: [],
      unmatched: ["guarded: on-cel-expression is false for this event"],
      errors: [],
    });
    const ok = await matchPipelineRunsBounded([guarded], { event: fromBranch("feature/add-login-form") });
    assert.deepEqual(summary(ok).matched, ["guarded"]);
  });

  it("evaluates globs in linear time, in pathChanged() and in on-path-change", async () => {
    const viaCel = def("cel", { "on-cel-expression": `${JSON.stringify(backtrackingGlob)}.pathChanged()` });
    const viaAnnotation = def("annotation", {
      "on-event": "[pull_request]",
      "on-target-branch": "[main]",
      "on-path-change": `[${backtrackingGlob}]`,
    });
    const ctx = { event: pullRequestEvent(), changedFiles: files([longPath]) };
    const budget = { ...defaultEvaluationBudget, timeoutMs: 10_000 };
    assert.deepEqual(summary(await matchPipelineRunsBounded([viaCel], ctx, budget)), {
      matched: [],
      unmatched: ["cel: on-cel-expression is false for this event"],
      errors: [],
    });
    // Annotation matching stays on the calling thread; the worker here only watches that it ends.
    const watched = await boundedWorker(budget.maxHeapMiB).run<MatchResult>(
      { kind: "match", definitions: [viaAnnotation], ctx },
      budget.timeoutMs,
    );
    assert.ok(watched.ok, `annotation matching finished: ${watched.ok ? "" : watched.detail}`);
    assert.deepEqual(
      watched.value.unmatched[0]?.reason,
      `no changed file matches on-path-change [${backtrackingGlob}]`,
    );
  });

  it("answers what matchPipelineRuns answers for ordinary definitions, in the same order", async () => {
    const definitions = [
      def("cel-yes", { "on-cel-expression": 'event == "pull_request" && "docs/**".pathChanged()' }),
      plain,
      def("cel-no", { "on-cel-expression": 'target_branch == "release"' }),
      def("push", { "on-event": "[push]", "on-target-branch": "[main]" }),
      def("broken", { "on-cel-expression": "((" }),
    ];
    const ctx = { event: pullRequestEvent(), changedFiles: files(["docs/guide/intro.md"]) };
    assert.deepEqual(await matchPipelineRunsBounded(definitions, ctx), matchPipelineRuns(definitions, ctx));
  });
});

describe("templating under a budget", () => {
  const input = (definition: PipelineRunDefinition): BuildInput => ({
    definition,
    event: pullRequestEvent(),
    repository: { name: "app", namespace: "ns", spec: { pipelines: { path: ".tekton" } } },
    gitAuthSecret: "baton-git-abc",
    nameDigest: "0123456789abcdef",
  });

  it("stops a {{ }} placeholder over its time and fails only that pipeline, the event loop turning meanwhile", async () => {
    const hostile = def("hostile", {}, `{ params: [{ name: x, value: "{{ ${nestedTemplate} }}" }] }`);
    const { value, ticks } = await withTicks(() =>
      buildPipelineRunBounded(input(hostile), { ...defaultEvaluationBudget, timeoutMs: 300 }),
    );
    assert.deepEqual(value, {
      ok: false,
      error:
        ".tekton/hostile.yaml (hostile): its {{ body/headers/files }} placeholders took longer than 0.3 s to " +
        "evaluate; they were stopped and this pipeline did not run",
    });
    assert.ok(ticks > 0, "other work ran while the placeholder was evaluated");
  });

  it("gives what buildPipelineRun gives, with CEL placeholders (in the worker) and without", async () => {
    const withCel = def("cel", {}, '{ params: [{ name: id, value: "{{ body.pullRequest.id }} of {{ revision }}" }] }');
    const withoutCel = def("plain", {}, '{ params: [{ name: sha, value: "{{ revision }}" }] }');
    for (const d of [withCel, withoutCel]) {
      assert.deepEqual(await buildPipelineRunBounded(input(d)), buildPipelineRun(input(d)));
    }
  });
});
