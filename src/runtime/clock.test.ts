import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { ManualClock } from "./clock.ts";

describe("ManualClock", () => {
  it("fires timers in due order, each seeing its own due time", async () => {
    const clock = new ManualClock(1000);
    const seen: Array<[string, number]> = [];
    clock.setTimeout(() => seen.push(["b", clock.now()]), 20);
    clock.setTimeout(() => seen.push(["a", clock.now()]), 10);
    clock.setTimeout(() => seen.push(["c", clock.now()]), 30);
    await clock.advance(25);
    assert.deepEqual(seen, [
      ["a", 1010],
      ["b", 1020],
    ]);
    assert.equal(clock.now(), 1025);
    assert.equal(clock.pending(), 1);
  });

  it("fires timers scheduled by timers within the same advance", async () => {
    const clock = new ManualClock(0);
    const seen: number[] = [];
    clock.setTimeout(() => {
      seen.push(clock.now());
      clock.setTimeout(() => seen.push(clock.now()), 5);
    }, 5);
    await clock.advance(10);
    assert.deepEqual(seen, [5, 10]);
  });

  it("does not fire cancelled timers", async () => {
    const clock = new ManualClock(0);
    let fired = false;
    const t = clock.setTimeout(() => {
      fired = true;
    }, 5);
    t.cancel();
    await clock.advance(10);
    assert.equal(fired, false);
    assert.equal(clock.pending(), 0);
  });

  it("resumes an awaited sleep only when time reaches it", async () => {
    const clock = new ManualClock(0);
    const steps: number[] = [];
    const loop = (async () => {
      for (let i = 0; i < 3; i++) {
        await clock.sleep(100);
        steps.push(clock.now());
      }
    })();
    await clock.advance(99);
    assert.deepEqual(steps, []);
    await clock.advance(250);
    await loop;
    assert.deepEqual(steps, [100, 200, 300]);
  });

  it("ends a sleep early when its signal aborts, without rejecting", async () => {
    const clock = new ManualClock(0);
    const ac = new AbortController();
    const sleeping = clock.sleep(10_000, ac.signal);
    ac.abort();
    await sleeping;
    assert.equal(clock.pending(), 0);
    assert.equal(clock.now(), 0);
  });

  it("set() moves to an absolute time, backwards without firing", async () => {
    const clock = new ManualClock(new Date("2030-01-01T00:00:00Z"));
    let fired = 0;
    clock.setTimeout(() => fired++, 60_000);
    await clock.set(new Date("2030-01-01T00:01:00Z"));
    assert.equal(fired, 1);
    await clock.set(0);
    assert.equal(clock.now(), 0);
  });
});
