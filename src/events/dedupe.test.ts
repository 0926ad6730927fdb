import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { deliveryKeys, headRunKey, runKey, runKeyLabel, SeenSet } from "./dedupe.ts";
import type { BatonEvent } from "./model.ts";
import { commentEvent, pullRequestEvent, pushEvent } from "./testdata.ts";

const head = "ae17c5f68ea2e503a8ee40931f4a2c90db2ebe8e";

/** A pr:modified retarget delivery: `date` is part of the signed payload, `requestId` is not. */
function retarget(requestId: string, date: string): BatonEvent {
  const event = pullRequestEvent({ sha: head, requestId });
  return { ...event, action: "retargeted", body: { ...(event.body as object), eventKey: "pr:modified", date } };
}

/**
 * What the intake does: drop a re-delivered request, then start each matched pipeline whose run key is new.
 * Returns the pipelines that start.
 */
function intake(seen: SeenSet, event: BatonEvent, matched: string[]): string[] {
  if (!seen.addAll(deliveryKeys(event))) return [];
  return matched.filter((pipeline) => {
    const key = runKey(event, pipeline);
    return key !== undefined && seen.add(key);
  });
}

describe("dedupe rule", () => {
  const cases: {
    name: string;
    deliveries: [BatonEvent, string[]][];
    started: string[][];
  }[] = [
    {
      name: "the same X-Request-Id twice runs once",
      deliveries: [
        [pullRequestEvent({ requestId: "r1" }), ["build"]],
        [pullRequestEvent({ requestId: "r1" }), ["build"]],
      ],
      started: [["build"], []],
    },
    {
      name: "the same signed retarget replayed under a new X-Request-Id runs once",
      deliveries: [
        [retarget("m1", "2026-12-03T10:00:00+0000"), ["build"]],
        [retarget("m2", "2026-12-03T10:00:00+0000"), ["build"]],
      ],
      started: [["build"], []],
    },
    {
      name: "a second retarget of the same head (another signed payload) runs again",
      deliveries: [
        [retarget("m1", "2026-12-03T10:00:00+0000"), ["build"]],
        [retarget("m2", "2026-12-03T10:05:00+0000"), ["build"]],
      ],
      started: [["build"], ["build"]],
    },
    {
      name: "push + pr:from_ref_updated for the same commit of the PR's branch: a pipeline matching both runs once",
      deliveries: [
        [pushEvent({ sha: head, requestId: "p" }), ["build"]],
        [pullRequestEvent({ sha: head, requestId: "q" }), ["build"]],
      ],
      started: [["build"], []],
    },
    {
      name: "the same pair in the other order",
      deliveries: [
        [pullRequestEvent({ sha: head, requestId: "q" }), ["build"]],
        [pushEvent({ sha: head, requestId: "p" }), ["build"]],
      ],
      started: [["build"], []],
    },
    {
      name: "push-only and PR-only pipelines of the pair both still run",
      deliveries: [
        [pushEvent({ sha: head, requestId: "p" }), ["build", "publish-snapshot"]],
        [pullRequestEvent({ sha: head, requestId: "q" }), ["build", "pr-lint"]],
      ],
      started: [["build", "publish-snapshot"], ["pr-lint"]],
    },
    {
      name: "a push of another branch at the same commit does not collapse with the PR",
      deliveries: [
        [pushEvent({ sha: head, ref: "refs/heads/release", requestId: "p" }), ["build"]],
        [pullRequestEvent({ sha: head, requestId: "q" }), ["build"]],
      ],
      started: [["build"], ["build"]],
    },
    {
      name: "a new head commit runs again",
      deliveries: [
        [pullRequestEvent({ sha: head, requestId: "a" }), ["build"]],
        [pullRequestEvent({ sha: "1".repeat(40), requestId: "b" }), ["build"]],
      ],
      started: [["build"], ["build"]],
    },
    {
      name: "a fork PR and a push of the target repository's branch of the same name do not collapse",
      deliveries: [
        [pushEvent({ sha: head, requestId: "p" }), ["build"]],
        [pullRequestEvent({ sha: head, fork: true, requestId: "q" }), ["build"]],
      ],
      started: [["build"], ["build"]],
    },
    {
      name: "/retest after the run re-runs; a re-delivered /retest does not",
      deliveries: [
        [pullRequestEvent({ requestId: "a" }), ["build"]],
        [commentEvent("/retest", { commentId: 7, requestId: "c1" }), ["build"]],
        [commentEvent("/retest", { commentId: 7, requestId: "c2" }), ["build"]],
        [commentEvent("/retest", { commentId: 8, requestId: "c3" }), ["build"]],
      ],
      started: [["build"], ["build"], [], ["build"]],
    },
  ];
  for (const c of cases) {
    it(c.name, () => {
      const seen = new SeenSet({ ttlMs: 3_600_000, maxSize: 1000, now: () => 0 });
      assert.deepEqual(
        c.deliveries.map(([event, matched]) => intake(seen, event, matched)),
        c.started,
      );
    });
  }

  it("closed pull requests and pings start nothing and have no run key", () => {
    assert.equal(runKey({ ...pullRequestEvent(), type: "pull_request_closed", action: "merged" }, "build"), undefined);
  });

  it("a comment command's runs are named in its pull request's head scope, so they collide with the head's own run", () => {
    for (const fork of [false, true]) {
      const pr = pullRequestEvent(fork ? { fork } : {});
      const comment = commentEvent("/retest", fork ? { fork } : {});
      assert.equal(comment.sha, pr.sha);
      assert.equal(headRunKey(comment, "build"), runKey(pr, "build"));
      assert.notEqual(runKey(comment, "build"), runKey(pr, "build"), "re-deliveries are still told apart in memory");
      assert.notEqual(headRunKey(comment, "lint"), headRunKey(pr, "build"));
    }
    const push = pushEvent({ sha: head });
    assert.equal(headRunKey(push, "build"), runKey(push, "build"));
  });

  it("run key labels are 40 hex characters and differ per key", () => {
    const a = runKeyLabel("run|x|build");
    assert.match(a, /^[0-9a-f]{40}$/);
    assert.notEqual(a, runKeyLabel("run|x|test"));
  });
});

describe("SeenSet", () => {
  it("remembers a key until its TTL passes, then forgets it", () => {
    let now = 1000;
    const seen = new SeenSet({ ttlMs: 60_000, maxSize: 10, now: () => now });
    assert.equal(seen.add("a"), true);
    assert.equal(seen.add("a"), false);
    now += 59_999;
    assert.equal(seen.has("a"), true);
    assert.equal(seen.add("a"), false, "re-adding does not extend the life");
    now += 1;
    assert.equal(seen.has("a"), false);
    assert.equal(seen.size, 0);
    assert.equal(seen.add("a"), true);
  });

  it("keeps at most maxSize keys, forgetting the oldest", () => {
    const seen = new SeenSet({ ttlMs: 60_000, maxSize: 3, now: () => 0 });
    for (const k of ["a", "b", "c", "d"]) assert.equal(seen.add(k), true);
    assert.equal(seen.size, 3);
    assert.equal(seen.has("a"), false);
    assert.equal(seen.has("d"), true);
  });

  it("expires in insertion order as time moves", () => {
    let now = 0;
    const seen = new SeenSet({ ttlMs: 100, maxSize: 10, now: () => now });
    seen.add("early");
    now = 50;
    seen.add("late");
    now = 100;
    assert.deepEqual([seen.has("early"), seen.has("late")], [false, true]);
    now = 150;
    assert.equal(seen.size, 0);
  });

  it("delete lets a failed attempt be retried", () => {
    const seen = new SeenSet({ ttlMs: 100, maxSize: 10, now: () => 0 });
    seen.add("k");
    assert.equal(seen.delete("k"), true);
    assert.equal(seen.add("k"), true);
  });

  it("rejects nonsensical limits", () => {
    assert.throws(() => new SeenSet({ ttlMs: 0, maxSize: 1 }), /ttlMs must be positive/);
    assert.throws(() => new SeenSet({ ttlMs: 1, maxSize: 0 }), /maxSize must be a positive integer/);
  });
});
