import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { graceLeft } from "./reporter.ts";

describe("graceLeft", () => {
  const created = "2026-01-01T00:00:00Z";
  const at = Date.parse(created);

  it("leaves a new run to its creator for the grace, plus the second creationTimestamp may have lost", () => {
    assert.equal(graceLeft(created, 45_000, at + 10_000), 36_000);
  });

  it("is over once the grace has passed", () => {
    assert.equal(graceLeft(created, 45_000, at + 46_000), 0);
    assert.equal(graceLeft(created, 45_000, at + 3_600_000), 0);
  });

  it("is none with a zero grace, or when the creation time is unknown", () => {
    assert.equal(graceLeft(created, 0, at + 1_000), 0);
    assert.equal(graceLeft(undefined, 45_000, at), 0);
    assert.equal(graceLeft("not a date", 45_000, at), 0);
  });
});
