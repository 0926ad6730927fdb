import assert from "node:assert/strict";
import { describe, test } from "node:test";
import {
  expiryDaysFor,
  expiryOf,
  issueBackoff,
  lifetimeChanged,
  policyOf,
  renewalTime,
  revisionOf,
  tokenName,
  tokenNamePrefix,
} from "./lifecycle.ts";

const h = 3_600_000;
const day = 24 * h;
const t0 = Date.parse("2026-01-01T00:00:00Z");

describe("renewalTime", () => {
  const cases = [
    { name: "renewBefore ahead of expiry", validity: 90 * day, renewBefore: 30 * day, expected: t0 + 60 * day },
    { name: "default third of a 90-day token", validity: 90 * day, renewBefore: 30 * day, expected: t0 + 60 * day },
    {
      name: "renewBefore as long as the validity falls back to a third",
      validity: 30 * day,
      renewBefore: 30 * day,
      expected: t0 + 20 * day,
    },
    {
      name: "renewBefore longer than a clamped validity",
      validity: 7 * day,
      renewBefore: 30 * day,
      expected: t0 + Math.floor((7 * day * 2) / 3 / 1000) * 1000,
    },
    { name: "zero renewBefore falls back to a third", validity: 3 * day, renewBefore: 0, expected: t0 + 2 * day },
  ];
  for (const c of cases) {
    test(c.name, () => assert.equal(renewalTime(t0, t0 + c.validity, c.renewBefore), c.expected));
  }

  test("is truncated to whole seconds", () => {
    // Expiry minus renewBefore is 333 ms before t0 + 8 days; truncation takes it to the second below.
    assert.equal(renewalTime(t0 + 123, t0 + 123 + 10 * day, 2 * day + 456), t0 + 8 * day - 1000);
  });
});

describe("policyOf", () => {
  test("defaults renewBefore to a third of the lifetime, in memory", () => {
    assert.deepEqual(policyOf({ lifetime: "2160h", revocationGracePeriod: "2h" }), {
      lifetime: 90 * day,
      renewBefore: 30 * day,
      revocationGracePeriod: 2 * h,
      revocationHoldLimit: 24 * h,
    });
  });
  test("honours an explicit renewBefore", () => {
    assert.equal(policyOf({ lifetime: "720h", renewBefore: "48h", revocationGracePeriod: "1h" }).renewBefore, 2 * day);
  });
});

describe("expiryDaysFor", () => {
  test("whole days of the lifetime", () =>
    assert.deepEqual(expiryDaysFor(90 * day), { expiryDays: 90, clamped: false }));
  test("rounds a partial day up", () => assert.deepEqual(expiryDaysFor(36 * h), { expiryDays: 2, clamped: false }));
  test("clamped to the server's maximum", () =>
    assert.deepEqual(expiryDaysFor(90 * day, 30), { expiryDays: 30, clamped: true }));
  test("a maximum above the lifetime changes nothing", () =>
    assert.deepEqual(expiryDaysFor(30 * day, 365), { expiryDays: 30, clamped: false }));
  test("expiry is creation plus whole days", () => assert.equal(expiryOf(t0, 30), t0 + 30 * day));
});

describe("token names", () => {
  const uid = "0a1b2c3d-4e5f-6789-abcd-ef0123456789";
  const owner = (namespace: string, name: string, id = uid) => ({ namespace, name, uid: id });
  test("name carries instance, namespace, object, its uid and revision", () =>
    assert.equal(tokenName("east", owner("team-a", "ci"), 3), "east/team-a/ci/0a1b2c3d/3"));

  test("namespaces and names with dashes cannot collide", () => {
    assert.notEqual(tokenName("baton", owner("team", "a-ci"), 1), tokenName("baton", owner("team-a", "ci"), 1));
    assert.equal(
      revisionOf(tokenName("baton", owner("team", "a-ci"), 1), tokenNamePrefix("baton", owner("team-a", "ci"))),
      undefined,
    );
  });

  test("another installation's, or an earlier object's of the same name, is not this object's", () => {
    const prefix = tokenNamePrefix("east", owner("ns", "ci"));
    assert.equal(revisionOf(tokenName("west", owner("ns", "ci"), 1), prefix), undefined);
    assert.equal(revisionOf(tokenName("east", owner("ns", "ci", "ffffffff-0000"), 1), prefix), undefined);
    assert.equal(revisionOf("baton/ns/ci/1", prefix), undefined, "a name from before BATON_INSTANCE");
  });

  const prefix = tokenNamePrefix("baton", owner("ns", "ci"));
  for (const [name, revision] of [
    ["baton/ns/ci/0a1b2c3d/7", 7],
    ["baton/ns/ci/0a1b2c3d/", undefined],
    ["baton/ns/ci/0a1b2c3d/7x", undefined],
    ["baton/ns/ci/0a1b2c3d/7/8", undefined],
    ["baton/ns/ci/7", undefined],
    ["baton/ns/ci-2/0a1b2c3d/7", undefined],
    ["someone-elses-token", undefined],
  ] as const) {
    test(`revisionOf(${name}) = ${revision}`, () => assert.equal(revisionOf(name, prefix), revision));
  }
});

test("issueBackoff doubles from 10 s and stops at 15 minutes", () => {
  assert.deepEqual([0, 1, 2, 3, 4, 7, 20].map(issueBackoff), [0, 10_000, 20_000, 40_000, 80_000, 640_000, 900_000]);
});

describe("lifetimeChanged", () => {
  const cases: [string, number | undefined, number, boolean][] = [
    ["the same lifetime", 30 * day, 30 * day, false],
    ["a longer lifetime", 30 * day, 90 * day, true],
    ["a shorter lifetime", 90 * day, 30 * day, true],
    ["written as other units, the same days", 720 * h, 30 * day, false],
    ["no record (a Secret written before Baton kept one): left alone", undefined, 30 * day, false],
  ];
  for (const [name, recorded, lifetime, expected] of cases)
    test(name, () => assert.equal(lifetimeChanged(recorded, lifetime), expected));
});
