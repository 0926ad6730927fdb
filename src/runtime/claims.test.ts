import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { oldestClaim } from "./claims.ts";

describe("oldestClaim", () => {
  const claimant = (namespace: string, name: string, creationTimestamp?: string) => ({
    metadata: { namespace, name, ...(creationTimestamp ? { creationTimestamp } : {}) },
  });
  const cases: [string, ReturnType<typeof claimant>[], string][] = [
    [
      "the oldest wins",
      [claimant("b", "x", "2030-01-01T00:00:02Z"), claimant("a", "y", "2030-01-01T00:00:01Z")],
      "a/y",
    ],
    [
      "same second: namespace/name decides",
      [claimant("b", "x", "2030-01-01T00:00:01Z"), claimant("a", "z", "2030-01-01T00:00:01Z")],
      "a/z",
    ],
    [
      "not yet created (no timestamp) loses",
      [claimant("a", "new"), claimant("z", "old", "2030-01-01T00:00:00Z")],
      "z/old",
    ],
    ["alone", [claimant("a", "only", "2030-01-01T00:00:00Z")], "a/only"],
  ];
  for (const [name, claimants, expected] of cases)
    test(name, () => {
      const winner = oldestClaim(claimants);
      assert.equal(`${winner?.metadata.namespace}/${winner?.metadata.name}`, expected);
    });
});
