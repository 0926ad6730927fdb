import assert from "node:assert/strict";
import { describe, it } from "node:test";
import type { ChangedFiles, PullRequestEvent } from "../events/model.ts";
import { pullRequestEvent } from "../events/testdata.ts";
import { CelContext } from "./cel.ts";
import { celVariables } from "./template.ts";

const files = (all: string[]): ChangedFiles => ({ all, added: all, deleted: [], modified: [], renamed: [] });

function pr(source: string, title: string): PullRequestEvent {
  const event = pullRequestEvent({ target: "release-1.4" });
  return { ...event, pullRequest: { ...event.pullRequest, sourceBranch: source, title } };
}

function evaluate(expression: string, event = pr("feat/login", "[WIP] Login form"), changed = files(["docs/a.md"])) {
  const outcome = new CelContext(celVariables(event, changed)).evaluate(expression);
  return outcome.ok ? outcome.value : `error: ${outcome.error}`;
}

describe("matches() has RE2 semantics, as in Pipelines-as-Code's cel-go", () => {
  const cases: [expression: string, expected: unknown][] = [
    // The shapes PAC's documentation uses.
    ['source_branch.matches("^feat/.*")', true],
    ['source_branch.matches("^fix/.*")', false],
    ['target_branch.matches("^release-[0-9]+\\\\.[0-9]+$")', true],
    ["!files.all.exists(x, x.matches('^docs/'))", false],
    // A match anywhere in the string, as RE2's PartialMatch.
    ['event_title.matches("Login")', true],
    // RE2 syntax JavaScript's RegExp does not take: inline flags and Unicode classes without a `u` flag.
    ['event_title.matches("(?i)^\\\\[wip\\\\]")', true],
    ['"Ünïcode".matches("^\\\\pL+$")', true],
    // …and syntax RE2 refuses because it cannot be matched in linear time.
    ['source_branch.matches("^(?=feat)")', 'error: invalid regular expression "^(?=feat)" for matches()'],
    ['source_branch.matches("(a)\\\\1")', 'error: invalid regular expression "(a)\\\\1" for matches()'],
    // Errors name the function the author wrote.
    ["source_branch.matches(1)", "error: found no matching overload for 'string.matches(int)'"],
    // A string that merely mentions matches( is left alone.
    ['"x.matches(y)" == source_branch', false],
  ];
  for (const [expression, expected] of cases) {
    it(expression, () => {
      const value = evaluate(expression);
      if (typeof expected === "string" && expected.startsWith("error: ")) {
        assert.equal(typeof value === "string" && value.startsWith(expected), true, String(value));
      } else {
        assert.equal(value, expected);
      }
    });
  }
});
