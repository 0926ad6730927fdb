import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { describe, test } from "node:test";
import { deliveryKeys as runDeliveryKeys, runScope } from "../../events/dedupe.ts";
import { classifyDelivery, completeEvent, type DraftEvent } from "./classify.ts";
import { parsePayload } from "./payloads.ts";

const read = (name: string) =>
  JSON.parse(readFileSync(new URL(`../../../test/fixtures/bitbucket-cloud/${name}`, import.meta.url), "utf8"));

const receivedAt = new Date("2026-12-01T00:00:00Z");
const created = read("webhook-pullrequest-created.arol.json");
const updated = read("webhook-pullrequest-updated-after-source-push.arol.json");
const push = read("webhook-repo-push-branch-update.arol.json");
const comment = read("webhook-pullrequest-comment_created.drone-go-scm.json");

function draftsOf(key: string, body: unknown, options: Partial<Parameters<typeof classifyDelivery>[3]> = {}) {
  const result = classifyDelivery(key, body, { "x-event-key": key }, { receivedAt, ...options });
  assert.ok(result.ok, result.ok ? "" : result.error);
  return result;
}

describe("a body cannot pass for another event family", () => {
  const cases: [string, unknown, RegExp][] = [
    ["repo:push", created, /body carries "pullrequest"/],
    ["pullrequest:created", push, /body carries "push"/],
    ["pullrequest:created", comment, /body carries "comment"/],
    ["pullrequest:comment_created", created, /comment: /],
    ["pullrequest:created", [1], /not a JSON object/],
    ["pullrequest:created", { ...created, pullrequest: { ...created.pullrequest, id: "seven" } }, /pullrequest\.id/],
  ];
  for (const [key, body, error] of cases) {
    test(`${key} refuses ${error}`, () => {
      const result = parsePayload(key, body);
      assert.equal(result.ok, false);
      if (!result.ok) assert.match(result.error, error);
    });
  }
});

describe("pullrequest:updated says nothing of what changed: the last seen head and target decide", () => {
  const pr = updated.pullrequest;
  const where = (full: string) => {
    const [workspace, slug] = full.split("/");
    return { workspace, slug };
  };
  const cases: { name: string; seen?: { head: string; targetBranch: string }; action?: string; ignored?: string }[] = [
    { name: "never seen: treated as a new head", action: "updated" },
    {
      name: "new source commit",
      seen: { head: "0123456789ab", targetBranch: pr.destination.branch.name },
      action: "updated",
    },
    {
      name: "same head (seen in full), new destination branch",
      seen: { head: `${pr.source.commit.hash}${"0".repeat(28)}`, targetBranch: "old-target" },
      action: "retargeted",
    },
    {
      name: "same head, same destination: a title or reviewer edit",
      seen: { head: pr.source.commit.hash, targetBranch: pr.destination.branch.name },
      ignored: "pr-modified-without-retarget",
    },
  ];
  for (const c of cases) {
    test(c.name, () => {
      const asked: unknown[] = [];
      const result = draftsOf("pullrequest:updated", updated, {
        lastSeen: (repo, number) => {
          asked.push([repo, number]);
          return c.seen;
        },
      });
      assert.deepEqual(asked, [[where(pr.destination.repository.full_name), pr.id]]);
      if (c.ignored) {
        assert.deepEqual(
          result.ignored.map((i) => i.reason),
          [c.ignored],
        );
        return;
      }
      const event = result.events[0]?.event;
      assert.ok(event?.type === "pull_request");
      assert.equal(event.action, c.action);
      if (c.action === "retargeted") assert.equal(event.pullRequest.previousTargetBranch, "old-target");
      if (c.seen && c.action === "updated") assert.equal(event.pullRequest.previousCommit, c.seen.head);
    });
  }
});

describe("a push and the pullrequest:updated of the same git push run once", () => {
  test("after resolution their run scopes match; before it they could not", () => {
    // The arol captures are that pair: a push to PR #6's source branch and the update it caused a second later.
    const pushed = draftsOf("repo:push", push).events[0] as DraftEvent;
    const update = draftsOf("pullrequest:updated", updated).events[0] as DraftEvent;
    const fullHead = pushed.event.type === "push" ? pushed.event.sha : "";
    assert.ok(fullHead.startsWith(updated.pullrequest.source.commit.hash), "the captures are the same commit");
    assert.notEqual(runScope(update.event), runScope(pushed.event));
    const target = update.needs.commits.find((c) => c.field === "target")?.abbreviated ?? "";
    const resolved = new Map([
      [updated.pullrequest.source.commit.hash, fullHead],
      [target, target.padEnd(40, "f")],
    ]);
    assert.equal(runScope(completeEvent(update, resolved)), runScope(pushed.event));
  });
});

describe("replays and retries", () => {
  test("a pull-request event dated long before it arrived is stale", () => {
    const result = draftsOf("pullrequest:created", created, { maxAgeMs: 6 * 3_600_000 });
    assert.deepEqual(
      result.ignored.map((i) => i.reason),
      ["stale-delivery"],
    );
  });

  test("a fresh one is not", () => {
    const fresh = new Date(Date.parse(created.pullrequest.updated_on) + 5_000);
    const result = draftsOf("pullrequest:created", created, { maxAgeMs: 6 * 3_600_000, receivedAt: fresh });
    assert.equal(result.events.length, 1);
  });

  test("the request uuid is the event's request id, and the same body gives the same content key", () => {
    const a = classifyDelivery("repo:push", push, { "X-Request-UUID": "r-1", "X-Attempt-Number": "1" }, { receivedAt });
    const b = classifyDelivery("repo:push", push, { "X-Request-UUID": "r-1", "X-Attempt-Number": "2" }, { receivedAt });
    assert.ok(a.ok && b.ok);
    const [ea, eb] = [a.events[0]?.event, b.events[0]?.event];
    assert.ok(ea && eb);
    assert.equal(ea.requestId, "r-1");
    assert.deepEqual(runDeliveryKeys(ea), runDeliveryKeys(eb));
  });
});

describe("comments", () => {
  const withText = (raw: string, extra: object = {}) => ({
    ...comment,
    comment: { ...comment.comment, content: { ...comment.comment.content, raw }, ...extra },
  });

  test("a command line anywhere in the comment is read, emoji and all", () => {
    const result = draftsOf("pullrequest:comment_created", withText("Looks good 🎉\n/retest unit-tests\n"));
    const event = result.events[0]?.event;
    assert.ok(event?.type === "comment");
    assert.deepEqual(event.comment.command, { kind: "retest", pipeline: "unit-tests" });
    assert.equal(event.comment.author.slug, comment.comment.user.account_id);
  });

  test("a comment without a user (written by an access token) is the actor's", () => {
    const result = draftsOf("pullrequest:comment_created", withText("/test", { user: null }));
    const event = result.events[0]?.event;
    assert.ok(event?.type === "comment");
    assert.equal(event.comment.author.slug, comment.actor.account_id ?? comment.actor.uuid);
  });

  test("a deleted comment runs nothing, whatever it said", () => {
    const result = draftsOf("pullrequest:comment_created", withText("/test", { deleted: true }));
    assert.deepEqual(
      result.ignored.map((i) => i.reason),
      ["comment-without-command"],
    );
  });
});

describe("fork pull requests", () => {
  const fork = read("webhook-pullrequest-created-fork-2017.bbs-plugin.json");
  test("the head is resolved in the fork, the target in the destination", () => {
    const draft = draftsOf("pullrequest:created", fork).events[0] as DraftEvent;
    const head = draft.needs.commits.find((c) => c.field === "head");
    const target = draft.needs.commits.find((c) => c.field === "target");
    assert.equal(
      `${head?.repository.workspace}/${head?.repository.slug}`,
      fork.pullrequest.source.repository.full_name,
    );
    assert.equal(
      `${target?.repository.workspace}/${target?.repository.slug}`,
      fork.pullrequest.destination.repository.full_name,
    );
    assert.equal(draft.needs.fork?.fullName, fork.pullrequest.source.repository.full_name);
    assert.ok(draft.event.type === "pull_request" && draft.event.pullRequest.fromRepository.fork);
  });
});
