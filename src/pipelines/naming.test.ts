import assert from "node:assert/strict";
import { describe, it } from "node:test";
import {
  commentAnnotation,
  generationAnnotation,
  gitSecretName,
  nextGeneration,
  runDigest,
  runName,
  startedByComment,
} from "./naming.ts";
import type { PipelineRun } from "./tekton.ts";

const dns1123Label = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;

function run(annotations: Record<string, string> = {}): PipelineRun {
  return { metadata: { annotations } };
}

describe("run names", () => {
  const digest = runDigest("run|x|abc|refs/heads/main|build", 0);

  it("the same run key and generation give the same name on every replica; another key or generation another", () => {
    assert.equal(runDigest("run|x|abc|refs/heads/main|build", 0), digest);
    assert.notEqual(runDigest("run|x|abc|refs/heads/main|build", 1), digest);
    assert.notEqual(runDigest("run|x|abc|refs/heads/main|lint", 0), digest);
  });

  const names: [string, string][] = [
    ["pr-build", "pr-build-"],
    ["PR_Build", "pr-build-"],
    ["--", "run-"],
    ["a".repeat(80), `${"a".repeat(52)}-`],
    ["x.y/z", "x-y-z-"],
  ];
  for (const [readable, prefix] of names) {
    it(`${JSON.stringify(readable)}: a readable prefix and the digest, a DNS-1123 label of at most 63`, () => {
      const name = runName(readable, digest);
      assert.equal(name, `${prefix}${digest.slice(0, 10)}`);
      assert.ok(name.length <= 63);
      assert.match(name, dns1123Label);
    });
  }

  it("the git Secret is named from the same digest", () => {
    assert.equal(gitSecretName(digest), `baton-git-${digest.slice(0, 20)}`);
    assert.match(gitSecretName(digest), dns1123Label);
  });
});

describe("generations", () => {
  it("the first run of a pipeline at a commit is generation 0, a re-run one more than the highest so far", () => {
    assert.equal(nextGeneration([]), 0);
    // A run from before generations were recorded counts as 0.
    assert.equal(nextGeneration([run()]), 1);
    assert.equal(nextGeneration([run({ [generationAnnotation]: "0" }), run({ [generationAnnotation]: "3" })]), 4);
    // Pruning removed the older ones: the newest keeps the count going, never reusing a name that still exists.
    assert.equal(nextGeneration([run({ [generationAnnotation]: "3" })]), 4);
    assert.equal(nextGeneration([run({ [generationAnnotation]: "junk" })]), 1);
  });

  it("a comment's runs are recognised by its id", () => {
    const runs = [run({ [commentAnnotation]: "41" })];
    assert.equal(startedByComment(runs, 41), true);
    assert.equal(startedByComment(runs, 42), false);
  });
});
