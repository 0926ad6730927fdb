import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { decideLease, type LeaseDecision, leaderIdentity, microTime } from "./leader.ts";

describe("decideLease", () => {
  const now = 100_000;
  const table: Array<{
    name: string;
    holder?: string | null;
    exists?: boolean;
    duration?: number;
    observedAt?: number;
    expect: LeaseDecision;
  }> = [
    { name: "no lease yet", exists: false, expect: "create" },
    { name: "held by me", holder: "me", observedAt: 0, expect: "renew" },
    { name: "released (empty holder)", holder: "", duration: 15, observedAt: now, expect: "take" },
    { name: "held by another, seen renewed just now", holder: "other", duration: 15, observedAt: now, expect: "wait" },
    {
      name: "held by another, unchanged for less than its duration",
      holder: "other",
      duration: 15,
      observedAt: now - 14_999,
      expect: "wait",
    },
    {
      name: "held by another, unchanged for its whole duration",
      holder: "other",
      duration: 15,
      observedAt: now - 15_000,
      expect: "take",
    },
    { name: "null holder", holder: null, duration: 15, observedAt: now, expect: "take" },
  ];
  for (const c of table) {
    it(c.name, () => {
      const decision = decideLease({
        identity: "me",
        exists: c.exists ?? true,
        spec: { holderIdentity: c.holder, leaseDurationSeconds: c.duration ?? 15 },
        observedAt: c.observedAt ?? 0,
        now,
      });
      assert.equal(decision, c.expect);
    });
  }
});

describe("lease formats", () => {
  it("writes MicroTime with six fractional digits", () => {
    assert.equal(microTime(Date.UTC(2030, 0, 2, 3, 4, 5, 678)), "2030-01-02T03:04:05.678000Z");
  });
  it("makes identities unique per process", () => {
    const a = leaderIdentity("baton-7d9f-x2x4q");
    assert.match(a, /^baton-7d9f-x2x4q_[0-9a-f]{8}$/);
    assert.notEqual(a, leaderIdentity("baton-7d9f-x2x4q"));
  });
});
