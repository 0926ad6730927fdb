import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { test } from "node:test";
import { catchUpHeader, pullRequestEventFromRest } from "./rest-event.ts";
import { PullRequest } from "./schemas.ts";

const capture = (name: string) =>
  JSON.parse(readFileSync(new URL(`../../../test/fixtures/bitbucket-cloud/${name}`, import.meta.url), "utf8"));

const options = { serverUrl: "https://bitbucket.org", receivedAt: new Date("2026-12-01T00:00:00Z") };

test("an open pull request read through REST becomes the event its delivery would have been", () => {
  const pr = PullRequest.parse(capture("webhook-pullrequest-created.arol.json").pullrequest);
  const head = pr.source.commit.hash.padEnd(40, "7");
  const result = pullRequestEventFromRest(pr, { ...options, head });
  assert.ok(result.ok, result.ok ? "" : result.error);
  assert.equal(result.event.sha, head);
  assert.equal(result.event.pullRequest.number, pr.id);
  assert.equal(result.event.headers[catchUpHeader], "true");
  assert.equal(result.event.pullRequest.targetCommit, undefined, "an abbreviated target is dropped");
  assert.equal(result.event.sender.slug, pr.author.account_id ?? pr.author.uuid);
});

test("closed pull requests and heads that are not the pull request's full hash are refused", () => {
  const merged = PullRequest.parse(capture("webhook-pullrequest-fulfilled.arol.json").pullrequest);
  const closed = pullRequestEventFromRest(merged, { ...options, head: merged.source.commit.hash.padEnd(40, "0") });
  assert.equal(closed.ok, false);
  assert.match(closed.ok ? "" : closed.error, /is merged; only open ones/);
  const open = PullRequest.parse(capture("webhook-pullrequest-created.arol.json").pullrequest);
  for (const head of [open.source.commit.hash, "f".repeat(40)]) {
    const result = pullRequestEventFromRest(open, { ...options, head });
    assert.equal(result.ok, false);
    assert.match(result.ok ? "" : result.error, /not the full hash/);
  }
});
