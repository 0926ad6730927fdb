import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { atLeast, featuresOf, parseVersion } from "./version.ts";

describe("versions", () => {
  const cases: [string, [number, number, number] | undefined][] = [
    ["7.11.2", [7, 11, 2]],
    ["8.9", [8, 9, 0]],
    ["10", [10, 0, 0]],
    ["9.4.0-SNAPSHOT", [9, 4, 0]],
    [" 8.19.1 ", [8, 19, 1]],
    ["unknown", undefined],
    ["", undefined],
  ];
  for (const [raw, expected] of cases) {
    test(`parse ${JSON.stringify(raw)}`, () => {
      const v = parseVersion(raw);
      assert.deepEqual(v && [v.major, v.minor, v.patch], expected);
    });
  }

  const features: [string, boolean, boolean, boolean][] = [
    // version, projectAccessTokens, buildStatusGetByKey, projectWebhooks
    ["7.11.2", false, false, false],
    ["7.14.0", false, true, false],
    ["7.17.0", true, true, false],
    ["8.8.9", true, true, false],
    ["8.9.0", true, true, true],
    ["8.10.0", true, true, true],
    ["10.0.1", true, true, true],
  ];
  for (const [raw, tokens, statusGet, projectHooks] of features) {
    test(`features of ${raw}`, () => {
      const v = parseVersion(raw);
      assert.ok(v);
      const f = featuresOf(v);
      assert.deepEqual(
        [f.projectAccessTokens, f.buildStatusGetByKey, f.projectWebhooks],
        [tokens, statusGet, projectHooks],
      );
    });
  }

  test("8.10 is newer than 8.9 (numeric, not lexical)", () => {
    const v = parseVersion("8.10.0");
    assert.ok(v && atLeast(v, "8.9"));
  });
});
