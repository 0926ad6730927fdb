import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { type BudgetClock, RequestBudget } from "./budget.ts";

/** A manual clock: timers fire only when the test advances time. */
class FakeClock implements BudgetClock {
  time = 0;
  #timers = new Map<number, { at: number; fn: () => void }>();
  #next = 0;
  now(): number {
    return this.time;
  }
  setTimeout(fn: () => void, ms: number): unknown {
    const id = ++this.#next;
    this.#timers.set(id, { at: this.time + ms, fn });
    return id;
  }
  clearTimeout(handle: unknown): void {
    this.#timers.delete(handle as number);
  }
  get pendingTimers(): number {
    return this.#timers.size;
  }
  /** Moves time forward, firing due timers in order and letting promise callbacks run after each. */
  async advance(ms: number): Promise<void> {
    const end = this.time + ms;
    for (;;) {
      const due = [...this.#timers.entries()].filter(([, t]) => t.at <= end).sort((a, b) => a[1].at - b[1].at)[0];
      if (!due) break;
      this.#timers.delete(due[0]);
      this.time = due[1].at;
      due[1].fn();
      await flush();
    }
    this.time = end;
    await flush();
  }
}

async function flush(): Promise<void> {
  for (let i = 0; i < 5; i++) await Promise.resolve();
}

function track(budget: RequestBudget, label: string, granted: string[], signal?: AbortSignal): Promise<void> {
  return budget.acquire(signal).then(() => {
    granted.push(label);
  });
}

describe("RequestBudget", () => {
  test("a burst is granted at once, then one request per 1/rate seconds", async () => {
    const clock = new FakeClock();
    const budget = new RequestBudget({ ratePerSecond: 5, burst: 2, clock });
    const granted: string[] = [];
    for (const label of ["a", "b", "c", "d", "e"]) void track(budget, label, granted);
    await flush();
    assert.deepEqual(granted, ["a", "b"]);
    await clock.advance(199);
    assert.deepEqual(granted, ["a", "b"]);
    await clock.advance(1);
    assert.deepEqual(granted, ["a", "b", "c"]);
    await clock.advance(400);
    assert.deepEqual(granted, ["a", "b", "c", "d", "e"]);
    assert.equal(budget.waiting, 0);
    assert.equal(clock.pendingTimers, 0);
  });

  test("sustained rate: 5/s with burst 5 grants 15 requests in the first 2 s", async () => {
    const clock = new FakeClock();
    const budget = new RequestBudget({ clock });
    const granted: string[] = [];
    for (let i = 0; i < 40; i++) void track(budget, String(i), granted);
    await clock.advance(2000);
    assert.equal(granted.length, 15);
    assert.equal(budget.waiting, 25);
  });

  test("waiters are served first come, first served, also when a newcomer arrives as tokens refill", async () => {
    const clock = new FakeClock();
    const budget = new RequestBudget({ ratePerSecond: 10, burst: 1, clock });
    const granted: string[] = [];
    void track(budget, "first", granted);
    void track(budget, "queued-1", granted);
    void track(budget, "queued-2", granted);
    await clock.advance(100);
    // A token is available again, but the queue comes first.
    void track(budget, "late", granted);
    await clock.advance(300);
    assert.deepEqual(granted, ["first", "queued-1", "queued-2", "late"]);
  });

  test("an aborted waiter leaves the queue with the abort reason; the others keep their turn", async () => {
    const clock = new FakeClock();
    const budget = new RequestBudget({ ratePerSecond: 10, burst: 1, clock });
    const granted: string[] = [];
    const controller = new AbortController();
    void track(budget, "a", granted);
    const b = track(budget, "b", granted, controller.signal);
    void track(budget, "c", granted);
    const reason = new Error("reconcile cancelled");
    controller.abort(reason);
    await assert.rejects(b, (err) => err === reason);
    assert.equal(budget.waiting, 1);
    await clock.advance(100);
    assert.deepEqual(granted, ["a", "c"]);
  });

  test("an already aborted signal rejects at once and takes no token", async () => {
    const clock = new FakeClock();
    const budget = new RequestBudget({ ratePerSecond: 1, burst: 1, clock });
    await assert.rejects(budget.acquire(AbortSignal.abort(new Error("gone"))), /gone/);
    await budget.acquire();
  });

  test("abandoning the last waiter cancels the timer", async () => {
    const clock = new FakeClock();
    const budget = new RequestBudget({ ratePerSecond: 1, burst: 1, clock });
    await budget.acquire();
    const controller = new AbortController();
    const waiting = budget.acquire(controller.signal);
    assert.equal(clock.pendingTimers, 1);
    controller.abort();
    await assert.rejects(waiting);
    assert.equal(clock.pendingTimers, 0);
  });

  test("tokens do not accumulate past the burst", async () => {
    const clock = new FakeClock();
    const budget = new RequestBudget({ ratePerSecond: 5, burst: 3, clock });
    await clock.advance(60_000);
    const granted: string[] = [];
    for (const label of ["a", "b", "c", "d"]) void track(budget, label, granted);
    await flush();
    assert.deepEqual(granted, ["a", "b", "c"]);
  });

  test("works with the real clock", async () => {
    const budget = new RequestBudget({ ratePerSecond: 100, burst: 1 });
    await Promise.all([budget.acquire(), budget.acquire(), budget.acquire()]);
  });

  test("invalid settings are refused", () => {
    assert.throws(() => new RequestBudget({ ratePerSecond: 0 }), RangeError);
    assert.throws(() => new RequestBudget({ ratePerSecond: Number.POSITIVE_INFINITY }), RangeError);
    assert.throws(() => new RequestBudget({ burst: 0.5 }), RangeError);
  });
});
