import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { ManualClock, settle } from "./clock.ts";
import { Metrics, runtimeMetrics } from "./metrics.ts";
import { defaultControllerRateLimiter, ExponentialBackoff, TokenBucket, WorkQueue } from "./workqueue.ts";

function queue(clock = new ManualClock(0)) {
  const metrics = runtimeMetrics(new Metrics({ defaultMetrics: false }));
  const q = new WorkQueue<string>({ name: "test", clock, rateLimiter: new ExponentialBackoff(5, 1_000_000), metrics });
  return { q, clock, metrics };
}

/** Takes what is ready without waiting. */
async function drain(q: WorkQueue<string>): Promise<string[]> {
  const out: string[] = [];
  while (q.len() > 0) {
    const item = await q.get();
    if (item === undefined) break;
    out.push(item);
  }
  return out;
}

describe("WorkQueue de-duplication and processing", () => {
  it("queues a key once however often it is added, in first-added order", async () => {
    const { q } = queue();
    for (const k of ["a", "b", "a", "c", "b", "a"]) q.add(k);
    assert.equal(q.len(), 3);
    assert.deepEqual(await drain(q), ["a", "b", "c"]);
  });

  it("does not hand a key to a second worker while the first holds it", async () => {
    const { q } = queue();
    q.add("a");
    const first = await q.get();
    assert.equal(first, "a");
    q.add("a");
    assert.equal(q.len(), 0, "re-added while processing: not ready yet");
    let second: string | undefined;
    void q.get().then((k) => {
      second = k;
    });
    await settle();
    assert.equal(second, undefined, "a second worker waits");
    q.done("a");
    await settle();
    assert.equal(second, "a", "one more pass after done");
  });

  it("gives a key re-added many times during processing exactly one more pass", async () => {
    const { q } = queue();
    q.add("a");
    await q.get();
    for (let i = 0; i < 5; i++) q.add("a");
    q.done("a");
    assert.deepEqual(await drain(q), ["a"]);
    q.done("a");
    assert.equal(q.len(), 0);
  });

  it("wakes a waiting getter when a key arrives", async () => {
    const { q } = queue();
    const pending = q.get();
    q.add("x");
    assert.equal(await pending, "x");
  });

  it("reports its depth as a gauge", async () => {
    const { q, metrics } = queue();
    q.add("a");
    q.add("b");
    const depth = async () =>
      (await metrics.workqueueDepth.get()).values.find((v) => v.labels.controller === "test")?.value;
    assert.equal(await depth(), 2);
    await q.get();
    assert.equal(await depth(), 1);
  });
});

describe("back-off", () => {
  it("doubles from 5 ms and caps at 1000 s", () => {
    const limiter = new ExponentialBackoff<string>(5, 1_000_000);
    const delays = Array.from({ length: 30 }, () => limiter.when("k"));
    assert.deepEqual(delays.slice(0, 6), [5, 10, 20, 40, 80, 160]);
    assert.equal(delays[17], 655_360);
    assert.equal(delays[18], 1_000_000, "2^18·5 ms exceeds the cap");
    assert.ok(delays.slice(18).every((d) => d === 1_000_000));
    assert.equal(limiter.numRequeues("k"), 30);
    assert.equal(limiter.when("other"), 5, "keys back off independently");
    limiter.forget("k");
    assert.equal(limiter.numRequeues("k"), 0);
    assert.equal(limiter.when("k"), 5, "forget restarts at the base delay");
  });

  it("never overflows, however many failures", () => {
    const limiter = new ExponentialBackoff<string>(5, 1_000_000);
    let d = 0;
    for (let i = 0; i < 5000; i++) d = limiter.when("k");
    assert.equal(d, 1_000_000);
  });

  it("token bucket lets a burst through, then spaces retries at its rate", () => {
    const clock = new ManualClock(0);
    const bucket = new TokenBucket<string>(10, 3, clock);
    assert.deepEqual(
      [bucket.when("a"), bucket.when("b"), bucket.when("c"), bucket.when("d"), bucket.when("e")],
      [0, 0, 0, 100, 200],
    );
  });

  it("the controller default is the slower of per-key and overall limits", () => {
    const clock = new ManualClock(0);
    const limiter = defaultControllerRateLimiter<string>(clock);
    assert.equal(limiter.when("a"), 5);
    for (let i = 0; i < 200; i++) limiter.when(`k${i}`);
    assert.ok(limiter.when("b") > 5, "after a storm of failures the bucket slows everyone down");
  });

  it("addRateLimited makes the key ready only after its back-off", async () => {
    const { q, clock } = queue();
    q.addRateLimited("a");
    q.addRateLimited("a");
    assert.equal(q.len(), 0);
    await clock.advance(4);
    assert.equal(q.len(), 0);
    await clock.advance(1);
    assert.deepEqual(await drain(q), ["a"], "the earlier of 5 ms and 10 ms wins; the key comes once");
    q.done("a");
    await clock.advance(100);
    assert.equal(q.len(), 0, "the superseded 10 ms entry does not add it again");
    assert.equal(q.numRequeues("a"), 2);
  });
});

describe("addAfter", () => {
  const table: Array<{ name: string; delays: number[]; readyAt: number }> = [
    { name: "a later request does not postpone", delays: [100, 200], readyAt: 100 },
    { name: "an earlier request brings it forward", delays: [100, 50], readyAt: 50 },
    { name: "zero adds at once", delays: [100, 0], readyAt: 0 },
  ];
  for (const c of table) {
    it(c.name, async () => {
      const { q, clock } = queue();
      for (const d of c.delays) q.addAfter("a", d);
      if (c.readyAt > 0) {
        await clock.advance(c.readyAt - 1);
        assert.equal(q.len(), 0, "not before its time");
        await clock.advance(1);
      }
      assert.deepEqual(await drain(q), ["a"]);
      q.done("a");
      await clock.advance(1000);
      assert.equal(q.len(), 0, "added exactly once");
    });
  }

  it("a requeue-after for a key already ready changes nothing", async () => {
    const { q, clock } = queue();
    q.add("a");
    q.addAfter("a", 50);
    assert.deepEqual(await drain(q), ["a"]);
    q.done("a");
    await clock.advance(100);
    assert.equal(q.len(), 0);
  });

  it("a requeue-after asked for while the key is in flight still fires", async () => {
    const { q, clock } = queue();
    q.add("a");
    await q.get();
    q.addAfter("a", 50);
    q.done("a");
    assert.equal(q.len(), 0);
    await clock.advance(50);
    assert.deepEqual(await drain(q), ["a"]);
  });

  it("keeps many delayed keys in time order", async () => {
    const { q, clock } = queue();
    const delays = [50, 10, 40, 30, 20, 60, 5, 45];
    delays.forEach((d, i) => {
      q.addAfter(`k${i}`, d);
    });
    assert.equal(q.delayedLen(), delays.length);
    const order: string[] = [];
    for (let t = 0; t < 70; t += 5) {
      await clock.advance(5);
      order.push(...(await drain(q)));
    }
    const expected = delays
      .map((d, i) => [d, `k${i}`] as const)
      .sort((a, b) => a[0] - b[0])
      .map(([, k]) => k);
    assert.deepEqual(order, expected);
  });
});

describe("shutdown", () => {
  it("ignores new keys, wakes idle getters and cancels delayed keys", async () => {
    const { q, clock } = queue();
    const waiting = q.get();
    q.addAfter("later", 10);
    q.shutdown();
    assert.equal(await waiting, undefined);
    q.add("new");
    await clock.advance(100);
    assert.equal(q.len(), 0);
    assert.equal(await q.get(), undefined);
    assert.equal(clock.pending(), 0, "no timer left behind");
  });

  it("still hands out keys queued before shutdown", async () => {
    const { q } = queue();
    q.add("a");
    q.add("b");
    q.shutdown();
    assert.equal(await q.get(), "a");
    assert.equal(await q.get(), "b");
    assert.equal(await q.get(), undefined);
  });

  it("shutdownWithDrain resolves only when in-flight keys are done", async () => {
    const { q } = queue();
    q.add("a");
    const item = await q.get();
    let drained = false;
    const p = q.shutdownWithDrain().then(() => {
      drained = true;
    });
    await settle();
    assert.equal(drained, false);
    q.add("a");
    q.done(item ?? "");
    await p;
    assert.equal(drained, true);
    assert.equal(q.len(), 0, "a key added during shutdown is not queued again");
  });
});
