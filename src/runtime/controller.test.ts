import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { ManualClock, settle } from "./clock.ts";
import {
  Controller,
  type EventSource,
  type ReconcileContext,
  type ReconcileResult,
  specChanged,
} from "./controller.ts";
import type { KubeObject } from "./kube-types.ts";
import type { ObjectKey } from "./logger.ts";
import { Metrics, runtimeMetrics } from "./metrics.ts";
import { ExponentialBackoff } from "./workqueue.ts";

// The controller's scheduling semantics, with a hand-driven event source and clock (no cluster needed: the
// informer side is covered by the integration tests).

function manualSource() {
  let enqueue: ((key: string) => void) | undefined;
  const source: EventSource = {
    subscribe(e) {
      enqueue = e;
      return () => {
        enqueue = undefined;
      };
    },
    waitForSync: async () => true,
  };
  return { source, emit: (key: string) => enqueue?.(key), subscribed: () => enqueue !== undefined };
}

interface Call {
  key: string;
  at: number;
  attempt: number;
  signal: AbortSignal;
}

function harness(
  reconcile: (req: ObjectKey, ctx: ReconcileContext, call: Call) => Promise<ReconcileResult | undefined>,
  workers = 1,
) {
  const clock = new ManualClock(0);
  const metrics = runtimeMetrics(new Metrics({ defaultMetrics: false }));
  const { source, emit, subscribed } = manualSource();
  const calls: Call[] = [];
  const controller = new Controller({
    name: "test",
    sources: [source],
    workers,
    clock,
    metrics,
    rateLimiter: new ExponentialBackoff(5, 1_000_000),
    reconcile: async (req, ctx) => {
      const call = { key: `${req.namespace}/${req.name}`, at: clock.now(), attempt: ctx.attempt, signal: ctx.signal };
      calls.push(call);
      return reconcile(req, ctx, call);
    },
  });
  const results = async () =>
    Object.fromEntries(
      (await metrics.reconcileTotal.get()).values.map((v) => [String(v.labels.result), v.value] as const),
    );
  return { clock, controller, emit, calls, results, subscribed };
}

function deferred() {
  let resolve!: () => void;
  const promise = new Promise<void>((r) => {
    resolve = r;
  });
  return { promise, resolve };
}

describe("Controller", () => {
  it("reconciles a key again once if it changed while being reconciled", async () => {
    const gate = deferred();
    const h = harness(async (_req, _ctx, call) => {
      if (h.calls.indexOf(call) === 0) await gate.promise;
      return undefined;
    });
    await h.controller.start();
    h.emit("ns/a");
    await settle();
    assert.equal(h.calls.length, 1);
    h.emit("ns/a");
    h.emit("ns/a");
    await settle();
    assert.equal(h.calls.length, 1, "not twice at once");
    gate.resolve();
    await settle();
    await settle();
    assert.equal(h.calls.length, 2, "exactly one more pass");
    await h.controller.stop();
  });

  it("retries a failing key with growing back-off and forgets it after success", async () => {
    let failuresLeft = 3;
    const h = harness(async () => {
      if (failuresLeft-- > 0) throw new Error("Bitbucket said 503");
      return undefined;
    });
    await h.controller.start();
    h.emit("ns/a");
    await h.clock.advance(1000);
    assert.deepEqual(
      h.calls.map((c) => [c.at, c.attempt]),
      [
        [0, 0],
        [5, 1],
        [15, 2],
        [35, 3],
      ],
      "5 ms, then 10, then 20",
    );
    assert.deepEqual(await h.results(), { success: 1, requeue_after: 0, requeue: 0, error: 3 });
    failuresLeft = 1;
    h.emit("ns/a");
    await h.clock.advance(1000);
    assert.equal(h.calls.at(-1)?.attempt, 1, "after success the back-off starts over");
    assert.equal(h.calls.at(-1)?.at, 1005);
    await h.controller.stop();
  });

  it("honours requeueAfter", async () => {
    const h = harness(async () => ({ requeueAfter: 60_000 }));
    await h.controller.start();
    h.emit("ns/token");
    await h.clock.advance(59_999);
    assert.equal(h.calls.length, 1);
    await h.clock.advance(1);
    assert.equal(h.calls.length, 2);
    assert.equal(h.calls[1]?.attempt, 0, "a requeue-after is not a failure");
    assert.deepEqual(await h.results(), { success: 0, requeue_after: 2, requeue: 0, error: 0 });
    await h.controller.stop();
  });

  it("runs different keys in parallel on several workers, never one key twice", async () => {
    const gates: Array<ReturnType<typeof deferred>> = [];
    const active = new Set<string>();
    let peak = 0;
    const h = harness(async (req) => {
      assert.ok(!active.has(req.name), `${req.name} reconciled twice at once`);
      active.add(req.name);
      peak = Math.max(peak, active.size);
      const gate = deferred();
      gates.push(gate);
      await gate.promise;
      active.delete(req.name);
      return undefined;
    }, 3);
    await h.controller.start();
    for (const k of ["ns/a", "ns/b", "ns/c", "ns/d", "ns/a"]) h.emit(k);
    await settle();
    assert.deepEqual([...active].sort(), ["a", "b", "c"], "three workers busy; d waits");
    while (h.calls.length < 5 || active.size > 0) {
      for (const g of gates.splice(0)) g.resolve();
      await settle();
    }
    assert.equal(peak, 3);
    assert.deepEqual(
      h.calls.map((c) => c.key).sort(),
      ["ns/a", "ns/a", "ns/b", "ns/c", "ns/d"],
      "a changed while it was reconciled, so it gets one more pass",
    );
    await h.controller.stop();
  });

  it("stops taking keys at stop, and aborts reconciles still running at the deadline", async () => {
    const h = harness(
      (_req, ctx) =>
        new Promise((resolve) => {
          ctx.signal.addEventListener("abort", () => resolve(undefined));
        }),
    );
    await h.controller.start();
    h.emit("ns/slow");
    h.emit("ns/queued");
    await settle();
    assert.equal(h.calls.length, 1);
    const stopping = h.controller.stop(10_000);
    await h.clock.advance(9_999);
    assert.equal(h.calls[0]?.signal.aborted, false, "in-flight work gets until the deadline");
    await h.clock.advance(1);
    await stopping;
    assert.equal(h.calls[0]?.signal.aborted, true);
    assert.equal(h.calls.length, 1, "queued keys are not started during shutdown");
    assert.equal(h.subscribed(), false);
    h.emit("ns/late");
    await h.clock.advance(1000);
    assert.equal(h.calls.length, 1);
  });

  it("can be started again after stopping (a replica that regains the lease)", async () => {
    const h = harness(async () => undefined);
    await h.controller.start();
    await h.controller.stop();
    await h.controller.start();
    h.emit("ns/a");
    await settle();
    assert.equal(h.calls.length, 1);
    await h.controller.stop();
  });
});

describe("specChanged", () => {
  const base = { metadata: { name: "a", generation: 1, labels: { x: "1" }, resourceVersion: "1" } };
  const table: Array<[string, KubeObject, boolean]> = [
    ["status-only update", { metadata: { ...base.metadata, resourceVersion: "2" }, status: { ok: true } }, false],
    ["spec update", { metadata: { ...base.metadata, generation: 2 } }, true],
    ["label change", { metadata: { ...base.metadata, labels: { x: "2" } } }, true],
    ["deletion", { metadata: { ...base.metadata, deletionTimestamp: "2030-01-01T00:00:00Z" } }, true],
    ["finalizer added", { metadata: { ...base.metadata, finalizers: ["baton.dev/cleanup"] } }, true],
  ];
  for (const [name, next, expected] of table) {
    it(name, () => assert.equal(specChanged.update?.(base, next), expected));
  }
  it("periodic resync (same object) passes", () => assert.equal(specChanged.update?.(base, base), true));
});
