import assert from "node:assert/strict";
import { test } from "node:test";
import { ManualClock } from "../runtime/clock.ts";
import { silentLogger } from "../runtime/logger.ts";
import { LastRunRecorder, lastRunPatch } from "./last-run.ts";

test("a run without times clears the previous run's in the merge patch", () => {
  assert.deepEqual(lastRunPatch({ name: "unit-b", pipeline: "unit", status: "Pending" }), {
    name: "unit-b",
    pipeline: "unit",
    sha: null,
    pullRequest: null,
    status: "Pending",
    startTime: null,
    completionTime: null,
  });
});

/** A Repository status endpoint that records what was written and can be made to fail. */
function world(interval = 100) {
  const clock = new ManualClock();
  const written: Record<string, unknown>[] = [];
  const kube = {
    fail: undefined as Error | undefined,
    async patch(_resource: unknown, _key: unknown, body: unknown) {
      if (kube.fail) throw kube.fail;
      written.push((body as { status: { lastRun: Record<string, unknown> } }).status.lastRun);
      return {};
    },
  };
  const recorder = new LastRunRecorder(kube as never, clock, silentLogger(), interval);
  const shown = () => written.at(-1);
  return { clock, kube, recorder, written, shown };
}

const repo = { namespace: "team", name: "api" };
const t0 = Date.UTC(2030, 0, 1);

test("a new queued run replaces a finished one still waiting to be written, though it has no start time", async () => {
  const w = world();
  w.recorder.record(repo, { name: "unit-a", status: "Succeeded", startTime: "2030-01-01T00:00:00Z" }, t0);
  w.recorder.record(repo, { name: "unit-b", status: "Pending" }, t0 + 60_000);
  await w.clock.advance(100);
  assert.equal(w.shown()?.name, "unit-b");
  assert.equal(w.shown()?.status, "Pending");
  assert.equal(w.written.length, 1, "coalesced into one write");
});

test("a late transition of an older run does not replace the newer run already shown", async () => {
  const w = world();
  w.recorder.record(repo, { name: "unit-b", status: "Pending" }, t0 + 60_000);
  await w.clock.advance(100);
  w.recorder.record(repo, { name: "unit-a", status: "Succeeded", startTime: "2030-01-01T00:00:00Z" }, t0);
  await w.clock.advance(100);
  assert.equal(w.shown()?.name, "unit-b");
  assert.equal(w.written.length, 1);
});

test("a write the API server refuses is retried, and a newer summary meanwhile wins", async () => {
  const w = world();
  w.kube.fail = new Error("connection reset");
  w.recorder.record(repo, { name: "unit-a", status: "Running", startTime: "2030-01-01T00:00:00Z" }, t0);
  await w.clock.advance(100);
  assert.equal(w.written.length, 0);
  w.kube.fail = undefined;
  await w.clock.advance(100);
  assert.deepEqual([w.shown()?.name, w.shown()?.status], ["unit-a", "Running"], "retried after a failure");

  w.kube.fail = new Error("connection reset");
  w.recorder.record(repo, { name: "unit-a", status: "Succeeded", startTime: "2030-01-01T00:00:00Z" }, t0);
  await w.clock.advance(100);
  w.recorder.record(repo, { name: "unit-b", status: "Pending" }, t0 + 1_000);
  w.kube.fail = undefined;
  await w.clock.advance(100);
  assert.deepEqual([w.shown()?.name, w.shown()?.status], ["unit-b", "Pending"]);
  assert.equal(w.clock.pending(), 0, "nothing left to retry");
});

test("an unchanged summary is not written again", async () => {
  const w = world();
  const summary = { name: "unit-a", status: "Succeeded" as const, startTime: "2030-01-01T00:00:00Z" };
  w.recorder.record(repo, summary, t0);
  await w.clock.advance(100);
  w.recorder.record(repo, { ...summary }, t0);
  await w.clock.advance(100);
  assert.equal(w.written.length, 1);
});
