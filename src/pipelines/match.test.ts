import assert from "node:assert/strict";
import { describe, it } from "node:test";
import type { BatonEvent, ChangedFiles } from "../events/model.ts";
import { commentEvent, pullRequestEvent, pushEvent } from "../events/testdata.ts";
import { loadPipelineRuns, type PipelineRunDefinition } from "./load.ts";
import { branchMatches, matchPipelineRuns, needsChangedFiles, parseAnnotationList, withoutSucceeded } from "./match.ts";

/** One PipelineRun definition with the given PAC annotations (values quoted as users write them). */
function def(name: string, annotations: Record<string, string>): PipelineRunDefinition {
  const lines = Object.entries(annotations)
    .map(([k, v]) => `    pipelinesascode.tekton.dev/${k}: ${JSON.stringify(v)}`)
    .join("\n");
  const text = `apiVersion: tekton.dev/v1\nkind: PipelineRun\nmetadata:\n  name: ${name}\n  annotations:\n${lines || "    {}"}\nspec: {}\n`;
  const result = loadPipelineRuns({ [`.tekton/${name}.yaml`]: text }, { namespace: "ns" });
  assert.deepEqual(result.errors, []);
  return result.pipelineRuns[0] as PipelineRunDefinition;
}

const files = (all: string[]): ChangedFiles => ({ all, added: all, deleted: [], modified: [], renamed: [] });

// The events: PR #4 feature/test → main (same repo), a push of main, a push of tag v1.2.0.
const prToMain = pullRequestEvent();
const prToRelease = pullRequestEvent({ target: "release-1.4" });
const pushMain = pushEvent({ ref: "refs/heads/main" });
const pushTag = pushEvent({ ref: "refs/tags/v1.2.0" });
const closed: BatonEvent = { ...pullRequestEvent(), type: "pull_request_closed", action: "merged" };

function matches(d: PipelineRunDefinition, event: BatonEvent, changed?: ChangedFiles, params?: Record<string, string>) {
  const result = matchPipelineRuns([d], {
    event,
    ...(changed === undefined ? {} : { changedFiles: changed }),
    ...(params === undefined ? {} : { params }),
  });
  if (result.errors.length > 0) return `error: ${result.errors[0]?.message}`;
  return result.matched.length === 1 ? "match" : `no: ${result.unmatched[0]?.reason}`;
}

describe("on-event + on-target-branch", () => {
  const cases: [string, Record<string, string>, BatonEvent, string][] = [
    [
      "[pull_request] / [main] on a PR to main",
      { "on-event": "[pull_request]", "on-target-branch": "[main]" },
      prToMain,
      "match",
    ],
    ["bare strings", { "on-event": "pull_request", "on-target-branch": "main" }, prToMain, "match"],
    [
      "wrong event",
      { "on-event": "[push]", "on-target-branch": "[main]" },
      prToMain,
      "no: on-event [push] does not include pull_request",
    ],
    [
      "[pull_request, push] on a push of main",
      { "on-event": "[pull_request, push]", "on-target-branch": "[main]" },
      pushMain,
      "match",
    ],
    [
      "refs/heads/ prefix tolerated in the pattern",
      { "on-event": "[push]", "on-target-branch": "[refs/heads/main]" },
      pushMain,
      "match",
    ],
    [
      "refs/heads/ pattern against a PR's bare target",
      { "on-event": "[pull_request]", "on-target-branch": "refs/heads/main" },
      prToMain,
      "match",
    ],
    ["glob release-*", { "on-event": "[pull_request]", "on-target-branch": "[main, release-*]" }, prToRelease, "match"],
    [
      "glob not matching",
      { "on-event": "[pull_request]", "on-target-branch": "[release-*]" },
      prToMain,
      "no: on-target-branch [release-*] does not match main",
    ],
    ["refs/tags/* on a tag push", { "on-event": "[push]", "on-target-branch": "[refs/tags/*]" }, pushTag, "match"],
    [
      "a branch pattern does not match a tag",
      { "on-event": "[push]", "on-target-branch": "[v1.2.0]" },
      pushTag,
      "no: on-target-branch [v1.2.0] does not match refs/tags/v1.2.0",
    ],
    [
      "refs/tags/* does not match a branch push",
      { "on-event": "[push]", "on-target-branch": "[refs/tags/*]" },
      pushMain,
      "no: on-target-branch [refs/tags/*] does not match refs/heads/main",
    ],
    [
      "missing on-target-branch",
      { "on-event": "[pull_request]" },
      prToMain,
      "no: needs on-event and on-target-branch annotations, or on-cel-expression",
    ],
    [
      "no annotations at all",
      {},
      prToMain,
      "no: needs on-event and on-target-branch annotations, or on-cel-expression",
    ],
    [
      "/test (all) matches as the pull request",
      { "on-event": "[pull_request]", "on-target-branch": "[main]" },
      commentEvent("/test"),
      "match",
    ],
    [
      "a merged PR is not a pull_request event",
      { "on-event": "[pull_request]", "on-target-branch": "[main]" },
      closed,
      "no: on-event [pull_request] does not include pull_request_closed",
    ],
    [
      "malformed list",
      { "on-event": "pull request", "on-target-branch": "[main]" },
      prToMain,
      'error: invalid on-event in .tekton/x.yaml (x): "pull request" is neither [a, b] nor a single value without spaces',
    ],
    [
      "empty list",
      { "on-event": "[]", "on-target-branch": "[main]" },
      prToMain,
      'error: invalid on-event in .tekton/x.yaml (x): "[]" has no values',
    ],
  ];
  for (const [name, annotations, event, expected] of cases) {
    it(name, () => assert.equal(matches(def("x", annotations), event), expected));
  }
});

describe("on-cel-expression", () => {
  const cel = (expression: string) => def("x", { "on-cel-expression": expression });
  const cases: [string, string, BatonEvent, string, ChangedFiles?, Record<string, string>?][] = [
    ["event and target_branch", 'event == "pull_request" && target_branch == "main"', prToMain, "match"],
    ["source_branch", 'source_branch.startsWith("feature/")', prToMain, "match"],
    ["false", 'target_branch == "develop"', prToMain, "no: on-cel-expression is false for this event"],
    ["replaces on-event (which is ignored)", 'event == "push"', pushMain, "match"],
    ["body", 'body.pullRequest.id == 4 && body.actor.name != ""', prToMain, "match"],
    ["headers (lower-case names)", 'headers["x-event-key"] == "pr:from_ref_updated"', prToMain, "match"],
    [
      "event_type of a comment",
      'event == "pull_request" && event_type == "retest-all-comment"',
      commentEvent("/retest"),
      "match",
    ],
    ["event_title", 'event_title.contains("feature")', prToMain, "no: on-cel-expression is false for this event"],
    [
      "event_title of a push is its commit title",
      'event_title == "Fix the build"',
      { ...pushMain, commitTitle: "Fix the build" },
      "match",
    ],
    ["files.all", 'files.all.exists(f, f.endsWith(".go"))', prToMain, "match", files(["cmd/main.go"])],
    ["pathChanged()", '"docs/**".pathChanged()', prToMain, "match", files(["docs/a/b.md"])],
    [
      "pathChanged() false",
      '"docs/**".pathChanged()',
      prToMain,
      "no: on-cel-expression is false for this event",
      files(["src/x.ts"]),
    ],
    [
      "a push's target_branch compared to a bare name (PAC strips refs/heads/)",
      'event == "push" && target_branch == "main"',
      pushMain,
      "match",
    ],
    ["a push's target_branch compared to the full ref", 'target_branch == "refs/heads/main"', pushMain, "match"],
    [
      "a custom param by name",
      'environment == "staging" && event == "pull_request"',
      prToMain,
      "match",
      undefined,
      { environment: "staging" },
    ],
    [
      "syntax error",
      'event == "pull_request" &&',
      prToMain,
      "error: invalid on-cel-expression in .tekton/x.yaml (x): Unexpected token: EOF",
    ],
    [
      "unknown variable",
      'branch == "main"',
      prToMain,
      "error: invalid on-cel-expression in .tekton/x.yaml (x): Unknown variable: branch",
    ],
    [
      "missing body field",
      "body.nope == 1",
      prToMain,
      "error: invalid on-cel-expression in .tekton/x.yaml (x): No such key: nope",
    ],
    [
      "type error",
      'event + 1 == "x"',
      prToMain,
      "error: invalid on-cel-expression in .tekton/x.yaml (x): no such overload: string + int",
    ],
    [
      "not a bool",
      "target_branch",
      prToMain,
      'error: on-cel-expression in .tekton/x.yaml (x) must give true or false, not "main"',
    ],
    [
      "files without changed files known",
      '"docs/**".pathChanged()',
      prToMain,
      "error: on-cel-expression in .tekton/x.yaml (x) uses changed files, but they are not known for this event",
    ],
    [
      "absurdly long expression",
      `${"true && ".repeat(600)}true`,
      prToMain,
      "error: invalid on-cel-expression in .tekton/x.yaml (x): the expression is longer than 4096 characters",
    ],
  ];
  for (const [name, expression, event, expected, changed, params] of cases) {
    it(name, () => assert.equal(matches(cel(expression), event, changed, params), expected));
  }

  it("a broken expression in one file does not stop the others from matching", () => {
    const result = matchPipelineRuns(
      [
        def("broken", { "on-cel-expression": "((" }),
        def("good", { "on-event": "pull_request", "on-target-branch": "main" }),
      ],
      { event: prToMain },
    );
    assert.deepEqual(
      result.matched.map((m) => m.definition.name),
      ["good"],
    );
    assert.match(result.errors[0]?.message ?? "", /^invalid on-cel-expression in \.tekton\/broken\.yaml \(broken\): /);
  });
});

describe("on-path-change and on-path-change-ignore", () => {
  const base = { "on-event": "[pull_request]", "on-target-branch": "[main]" };
  const cases: [string, Record<string, string>, string[], string][] = [
    ["a changed file under docs/", { "on-path-change": "[docs/**]" }, ["docs/guide/intro.md"], "match"],
    ["PAC's * crosses directories", { "on-path-change": "[docs/*.md]" }, ["docs/guide/intro.md"], "match"],
    ["several globs", { "on-path-change": "[pkg/*, cli/*]" }, ["cli/main.go"], "match"],
    ["dotfiles", { "on-path-change": "[.tekton/**]" }, [".tekton/pr.yaml"], "match"],
    [
      "nothing under the glob",
      { "on-path-change": "[docs/**]" },
      ["src/a.ts"],
      "no: no changed file matches on-path-change [docs/**]",
    ],
    ["ignore: nothing ignored changed", { "on-path-change-ignore": "[docs/**]" }, ["src/a.ts"], "match"],
    [
      "ignore: an ignored file changed (PAC skips the run)",
      { "on-path-change-ignore": "[docs/**]" },
      ["src/a.ts", "docs/x.md"],
      "no: changed file docs/x.md matches on-path-change-ignore [docs/**]",
    ],
    [
      "both: docs changed but only generated ones",
      { "on-path-change": "[docs/**]", "on-path-change-ignore": "[docs/generated/**]" },
      ["docs/generated/api.md"],
      "no: changed file docs/generated/api.md matches on-path-change-ignore [docs/generated/**]",
    ],
  ];
  for (const [name, annotations, changed, expected] of cases) {
    it(name, () => assert.equal(matches(def("x", { ...base, ...annotations }), prToMain, files(changed)), expected));
  }

  it("without changed files a path filter is an error, not a silent match", () => {
    assert.equal(
      matches(def("x", { ...base, "on-path-change": "[docs/**]" }), prToMain),
      "error: .tekton/x.yaml (x) filters on changed paths, but they are not known for this event",
    );
  });

  it("needsChangedFiles: only when some definition filters on paths or uses files in CEL", () => {
    assert.equal(needsChangedFiles([def("a", base)], prToMain), false);
    assert.equal(needsChangedFiles([def("a", base), def("b", { ...base, "on-path-change": "[x]" })], prToMain), true);
    assert.equal(needsChangedFiles([def("c", { "on-cel-expression": '"x".pathChanged()' })], prToMain), true);
    assert.equal(needsChangedFiles([def("d", { "on-cel-expression": "files.all.size() > 0" })], prToMain), true);
    assert.equal(needsChangedFiles([def("e", { "on-cel-expression": 'event == "push"' })], prToMain), false);
    assert.equal(needsChangedFiles([def("b", { ...base, "on-path-change": "[x]" })], commentEvent("/cancel")), false);
  });
});

describe("GitOps comments", () => {
  const build = def("build", { "on-event": "[pull_request]", "on-target-branch": "[main]" });
  const nightly = def("nightly", { "on-event": "[push]", "on-target-branch": "[main]" });
  const e2e = def("e2e-x7", { "on-event": "[push]", "on-target-branch": "[release-*]", "original-prname": "e2e" });
  const all = [build, nightly, e2e];
  const names = (event: BatonEvent) => matchPipelineRuns(all, { event }).matched.map((m) => m.definition.name);

  it("/test <name> selects that PipelineRun whatever its annotations", () =>
    assert.deepEqual(names(commentEvent("/test nightly")), ["nightly"]));
  it("/retest <name> finds it by original-prname too", () =>
    assert.deepEqual(names(commentEvent("/retest e2e")), ["e2e-x7"]));
  it("/test runs what the pull request would", () => assert.deepEqual(names(commentEvent("/test")), ["build"]));
  it("/ok-to-test runs what the pull request would", () =>
    assert.deepEqual(names(commentEvent("/ok-to-test")), ["build"]));
  it("/cancel starts nothing", () => assert.deepEqual(names(commentEvent("/cancel")), []));
  it("/test <unknown> reports the unknown name", () => {
    const result = matchPipelineRuns(all, { event: commentEvent("/test nope") });
    assert.deepEqual(result.matched, []);
    assert.equal(result.unknownName, "nope");
  });
  it("/retest leaves out pipelines that already succeeded for the commit", () => {
    const result = matchPipelineRuns([build, def("lint", { "on-event": "pull_request", "on-target-branch": "main" })], {
      event: commentEvent("/retest"),
    });
    assert.deepEqual(
      withoutSucceeded(result.matched, new Set(["build"])).map((m) => m.definition.name),
      ["lint"],
    );
  });
});

describe("annotation helpers", () => {
  it("parseAnnotationList", () => {
    assert.deepEqual(parseAnnotationList("[main, release-*]"), { ok: true, values: ["main", "release-*"] });
    assert.deepEqual(parseAnnotationList(" main "), { ok: true, values: ["main"] });
    assert.deepEqual(parseAnnotationList("[a&#44;b, c]"), { ok: true, values: ["a,b", "c"] });
    assert.equal(parseAnnotationList("a b").ok, false);
  });
  it("branchMatches", () => {
    const table: [string, string, boolean][] = [
      ["main", "main", true],
      ["main", "refs/heads/main", true],
      ["refs/heads/main", "main", true],
      ["release-*", "release-1.0", true],
      ["release-*", "main", false],
      ["refs/tags/v*", "refs/tags/v2", true],
      ["feature/*", "feature/a/b", true],
      ["main", "maintenance", false],
    ];
    for (const [pattern, branch, expected] of table) {
      assert.equal(branchMatches(pattern, branch), expected, `${pattern} vs ${branch}`);
    }
  });
});
