import assert from "node:assert/strict";
import { describe, it } from "node:test";
import {
  type Condition,
  conditionSchema,
  conditionsEqual,
  getCondition,
  isCurrent,
  isFalse,
  isTrue,
  isUnknown,
  removeCondition,
  setCondition,
  statusPatch,
} from "./conditions.ts";

const t0 = Date.parse("2030-01-01T00:00:00Z");
const t1 = Date.parse("2030-01-01T00:05:00.750Z");

const ready = (status: Condition["status"], reason: string, time = "2030-01-01T00:00:00Z"): Condition => ({
  type: "Ready",
  status,
  observedGeneration: 1,
  lastTransitionTime: time,
  reason,
  message: "",
});

describe("setCondition", () => {
  const table: Array<{
    name: string;
    before: Condition[] | undefined;
    update: Parameters<typeof setCondition>[1];
    expect: Partial<Condition>;
  }> = [
    {
      name: "adds a new condition stamped now (to the second)",
      before: undefined,
      update: { type: "Ready", status: "True", reason: "Issued", observedGeneration: 2 },
      expect: { status: "True", lastTransitionTime: "2030-01-01T00:05:00Z", observedGeneration: 2, message: "" },
    },
    {
      name: "keeps lastTransitionTime when only the reason changes",
      before: [ready("False", "Pending")],
      update: {
        type: "Ready",
        status: "False",
        reason: "Failing",
        message: "401 from Bitbucket",
        observedGeneration: 3,
      },
      expect: {
        lastTransitionTime: "2030-01-01T00:00:00Z",
        reason: "Failing",
        message: "401 from Bitbucket",
        observedGeneration: 3,
      },
    },
    {
      name: "moves lastTransitionTime when the status changes",
      before: [ready("False", "Pending")],
      update: { type: "Ready", status: "True", reason: "Issued" },
      expect: { lastTransitionTime: "2030-01-01T00:05:00Z", status: "True", observedGeneration: 1 },
    },
    {
      name: "scrubs credentials out of the message",
      before: undefined,
      update: { type: "Ready", status: "False", reason: "Unauthorized", message: "Authorization: Bearer Abc123456789" },
      expect: { message: "Authorization: Bearer [REDACTED]" },
    },
  ];
  for (const c of table) {
    it(c.name, () => {
      const before = structuredClone(c.before);
      const after = setCondition(c.before, c.update, t1);
      const got = getCondition(after, c.update.type);
      assert.ok(got);
      for (const [k, v] of Object.entries(c.expect)) assert.deepEqual(got[k as keyof Condition], v, k);
      assert.deepEqual(c.before, before, "the input list is not mutated");
      assert.equal(conditionSchema.safeParse(got).success, true, "the result is a valid metav1.Condition");
    });
  }

  it("leaves other conditions alone and in place", () => {
    const list = setCondition(
      [ready("True", "Issued"), { ...ready("False", "Waiting"), type: "Issuing" }],
      { type: "Issuing", status: "True", reason: "Renewing" },
      t0,
    );
    assert.deepEqual(
      list.map((c) => c.type),
      ["Ready", "Issuing"],
    );
    assert.equal(getCondition(list, "Ready")?.reason, "Issued");
  });
});

describe("condition queries", () => {
  const list = [ready("True", "Issued"), { ...ready("False", "Failing"), type: "WebhookSynced" }];
  const table: Array<[string, boolean, boolean]> = [
    ["Ready", true, false],
    ["WebhookSynced", false, true],
    ["Missing", false, false],
  ];
  for (const [type, t, f] of table) {
    it(type, () => {
      assert.equal(isTrue(list, type), t);
      assert.equal(isFalse(list, type), f);
      assert.equal(isUnknown(list, type), !t && !f);
    });
  }
  it("isCurrent compares observedGeneration", () => {
    assert.equal(isCurrent(list, "Ready", 1), true);
    assert.equal(isCurrent(list, "Ready", 2), false);
  });
  it("removeCondition drops only that type", () => {
    assert.deepEqual(
      removeCondition(list, "Ready").map((c) => c.type),
      ["WebhookSynced"],
    );
  });
});

describe("conditionsEqual", () => {
  it("ignores order", () => {
    const a = [ready("True", "X"), { ...ready("True", "Y"), type: "B" }];
    assert.equal(conditionsEqual(a, [...a].reverse()), true);
  });
  it("sees a changed message", () => {
    assert.equal(conditionsEqual([ready("True", "X")], [{ ...ready("True", "X"), message: "m" }]), false);
  });
  it("is true after a no-op set", () => {
    const a = [ready("True", "Issued")];
    assert.equal(
      conditionsEqual(a, setCondition(a, { type: "Ready", status: "True", reason: "Issued", message: "" }, t1)),
      true,
    );
  });
});

describe("conditionSchema", () => {
  const table: Array<[string, Partial<Condition>, boolean]> = [
    ["valid", {}, true],
    ["reason with spaces", { reason: "Not Ready" }, false],
    ["empty reason", { reason: "" }, false],
    ["bad status", { status: "Yes" as Condition["status"] }, false],
    ["domain-prefixed type", { type: "baton.dev/Synced" }, true],
    ["time without zone", { lastTransitionTime: "2030-01-01T00:00:00" }, false],
  ];
  for (const [name, patch, ok] of table) {
    it(name, () => assert.equal(conditionSchema.safeParse({ ...ready("True", "Issued"), ...patch }).success, ok));
  }
});

describe("statusPatch", () => {
  const now = Date.parse("2026-01-01T00:00:00Z");
  const ready = { type: "Ready", status: "True", reason: "Ok" } as const;
  type TokenLike = { tokenId: string; conditions?: Condition[] };

  it("is undefined when the status would not change, whatever the key order", () => {
    const status: TokenLike = { tokenId: "7" };
    const first = statusPatch({}, status, [ready], 2, now);
    assert.ok(first);
    const written = { observedGeneration: 2, conditions: first.conditions as Condition[], tokenId: "7" };
    assert.equal(statusPatch(written, { ...status, conditions: written.conditions }, [ready], 2, now), undefined);
  });

  it("sets observedGeneration on the status and its updated conditions, and nulls fields that went away", () => {
    const status: TokenLike = { tokenId: "8" };
    const patch = statusPatch({ tokenId: "7", previousToken: { id: "6" } }, status, [ready], 3, now);
    assert.ok(patch);
    assert.equal(patch.observedGeneration, 3);
    assert.equal(patch.previousToken, null);
    assert.deepEqual(
      (patch.conditions as Condition[]).map((c) => [c.type, c.observedGeneration]),
      [["Ready", 3]],
    );
  });
});
