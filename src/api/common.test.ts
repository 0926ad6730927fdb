import assert from "node:assert/strict";
import { test } from "node:test";
import { formatDuration, parseDuration, tryParseDuration } from "./common.ts";

const h = 3_600_000;
for (const [text, ms] of [
  ["2160h", 2160 * h],
  ["1h30m", 1.5 * h],
  ["90m", 1.5 * h],
  ["45s", 45_000],
  ["1.5h", 1.5 * h],
  ["250ms", 250],
] as const) {
  test(`parseDuration(${text})`, () => assert.equal(parseDuration(text), ms));
}

for (const bad of ["", "90d", "h", "1 h", "-1h"]) {
  test(`parseDuration rejects ${JSON.stringify(bad)}`, () =>
    assert.throws(() => parseDuration(bad), /invalid duration/));
}

test("formatDuration is the inverse for whole seconds", () => {
  for (const text of ["720h", "1h30m", "5m", "2h5s", "0s"]) {
    assert.equal(formatDuration(parseDuration(text)), text);
  }
});

// Settings and flags (runtime config) read durations leniently: undefined instead of an error.
for (const [input, expected] of [
  ["0", 0],
  ["500ms", 500],
  ["30s", 30_000],
  ["10m", 600_000],
  ["1h30m", 5_400_000],
  ["1.5s", 1500],
  ["10", undefined],
  ["ten minutes", undefined],
  ["5d", undefined],
  ["", undefined],
] as const) {
  test(`tryParseDuration(${JSON.stringify(input)}) → ${expected}`, () =>
    assert.equal(tryParseDuration(input), expected));
}
