import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { PrimaryRateLimit } from "./ratelimit.ts";

describe("GitHub primary rate limit", () => {
  it("counts an hourly window per caller from its first request, and refuses past the limit", () => {
    let now = Date.UTC(2026, 11, 3, 12, 0, 0, 500);
    const limit = new PrimaryRateLimit(2, () => now);
    const first = limit.take("installation:1");
    assert.deepEqual(first, {
      allowed: true,
      limit: 2,
      remaining: 1,
      used: 1,
      reset: Math.ceil((now + 3_600_000) / 1000),
    });
    assert.equal(limit.take("installation:1").remaining, 0);
    const refused = limit.take("installation:1");
    assert.equal(refused.allowed, false);
    assert.equal(refused.used, 2, "a refused request is not counted");
    assert.equal(limit.take("installation:2").allowed, true, "another caller has its own budget");
    now += 3_600_000;
    assert.deepEqual(limit.take("installation:1").remaining, 1);
  });

  it("peeks without counting", () => {
    const limit = new PrimaryRateLimit(5, () => 0);
    assert.equal(limit.peek("x").remaining, 5);
    limit.take("x");
    assert.equal(limit.peek("x").remaining, 4);
    assert.equal(limit.peek("x").remaining, 4);
  });
});
