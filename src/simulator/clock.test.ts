import assert from "node:assert/strict";
import { test } from "node:test";
import { createClock, formatWebhookDate } from "./clock.ts";

test("a frozen clock moves only when told", () => {
  const clock = createClock({ start: 1_000, frozen: true });
  assert.equal(clock.now(), 1_000);
  clock.advance(500);
  assert.equal(clock.now(), 1_500);
  clock.set(10_000);
  assert.equal(clock.now(), 10_000);
  assert.throws(() => clock.set(5), RangeError);
  assert.throws(() => clock.advance(-1), RangeError);
});

test("a running clock follows real time plus the offset", () => {
  let real = 100;
  const clock = createClock({ start: 1_000 }, () => real);
  real = 150;
  assert.equal(clock.now(), 1_050);
  clock.advance(1_000);
  assert.equal(clock.now(), 2_050);
});

test("webhook dates have a colon-less offset and no milliseconds", () => {
  assert.equal(formatWebhookDate(Date.UTC(2018, 6, 5, 18, 22, 0, 999)), "2018-07-05T18:22:00+0000");
});
