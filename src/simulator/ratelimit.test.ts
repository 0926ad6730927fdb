import assert from "node:assert/strict";
import { describe, it, test } from "node:test";
import { RateLimiter, WindowLimiter } from "./ratelimit.ts";

test("a bucket allows its capacity, then answers with the wait until the next token", () => {
  let now = 0;
  const limiter = new RateLimiter({ enabled: true, capacity: 2, refillPerSecond: 0.5 }, () => now);
  assert.equal(limiter.take("u").allowed, true);
  assert.equal(limiter.take("u").allowed, true);
  assert.deepEqual(limiter.take("u"), { allowed: false, retryAfterSeconds: 2 });
  assert.equal(limiter.take("other").allowed, true, "buckets are per user");
  now += 2_000;
  assert.equal(limiter.take("u").allowed, true);
  assert.equal(limiter.take("u").allowed, false);
});

test("disabled limiters allow everything; reconfiguring resets buckets", () => {
  const limiter = new RateLimiter({ enabled: false, capacity: 1, refillPerSecond: 1 }, () => 0);
  for (let i = 0; i < 10; i++) assert.equal(limiter.take("u").allowed, true);
  limiter.configure({ enabled: true });
  assert.equal(limiter.take("u").allowed, true);
  assert.equal(limiter.take("u").allowed, false);
});

describe("WindowLimiter (a rolling hour)", () => {
  it("refuses the request over the limit until the oldest one leaves the window", () => {
    let now = 0;
    const limiter = new WindowLimiter(() => now, 3_600_000);
    for (let i = 0; i < 3; i++) {
      assert.equal(limiter.take("t", 3).allowed, true);
      now += 1000;
    }
    assert.equal(limiter.take("t", 3).allowed, false);
    assert.equal(limiter.take("other", 3).allowed, true);
    now = 3_600_001;
    assert.equal(limiter.take("t", 3).allowed, true);
    assert.equal(limiter.take("t", 3).allowed, false);
  });
});
