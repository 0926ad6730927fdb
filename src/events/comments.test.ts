import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { type CommentCommand, commentEventType, parseComment } from "./comments.ts";

describe("parseComment", () => {
  const cases: [string, CommentCommand | undefined][] = [
    ["/test", { kind: "test" }],
    ["/test unit", { kind: "test", pipeline: "unit" }],
    ["/test   unit   ", { kind: "test", pipeline: "unit" }],
    ["/test unit extra=words", { kind: "test", pipeline: "unit" }],
    ["/retest", { kind: "retest" }],
    ["/retest e2e", { kind: "retest", pipeline: "e2e" }],
    ["/cancel", { kind: "cancel" }],
    ["/cancel e2e", { kind: "cancel", pipeline: "e2e" }],
    ["/ok-to-test", { kind: "ok-to-test" }],
    ["/ok-to-test 3980C2BE32A7", { kind: "ok-to-test", sha: "3980c2be32a7" }],
    // A line of its own, anywhere in the comment, with whitespace and CRLF tolerated.
    ["Looks good.\n/retest\nThanks", { kind: "retest" }],
    ["  /test  \r\n", { kind: "test" }],
    ["\t/ok-to-test", { kind: "ok-to-test" }],
    ["first line\r\n/cancel lint\r\nmore", { kind: "cancel", pipeline: "lint" }],
    // PAC's precedence, not line order: retest before test before ok-to-test before cancel.
    ["/cancel\n/test", { kind: "test" }],
    ["/test\n/retest", { kind: "retest" }],
    ["/ok-to-test\n/cancel", { kind: "ok-to-test" }],
    // Prose and near-misses are not commands.
    ["please /test this", undefined],
    ["/testing", undefined],
    ["/retest-all", undefined],
    ["/Test", undefined],
    ["/OK-TO-TEST", undefined],
    ["/ok-to-test now please", undefined],
    ["`/test`", undefined],
    ["", undefined],
    ["atlantis plan", undefined],
  ];
  for (const [text, expected] of cases) {
    it(JSON.stringify(text), () => assert.deepEqual(parseComment(text), expected));
  }

  it("does not scan beyond 64 KiB (a command buried after a huge paste is not read)", () => {
    assert.equal(parseComment(`${"x".repeat(70000)}\n/test`), undefined);
    assert.deepEqual(parseComment(`${"x".repeat(1000)}\n/test`), { kind: "test" });
  });
});

describe("commentEventType (PAC's event_type names)", () => {
  const cases: [CommentCommand, string][] = [
    [{ kind: "test" }, "test-all-comment"],
    [{ kind: "test", pipeline: "a" }, "test-comment"],
    [{ kind: "retest" }, "retest-all-comment"],
    [{ kind: "retest", pipeline: "a" }, "retest-comment"],
    [{ kind: "cancel" }, "cancel-all-comment"],
    [{ kind: "cancel", pipeline: "a" }, "cancel-comment"],
    [{ kind: "ok-to-test" }, "ok-to-test-comment"],
  ];
  for (const [command, type] of cases) {
    it(`${JSON.stringify(command)} → ${type}`, () => assert.equal(commentEventType(command), type));
  }
});
