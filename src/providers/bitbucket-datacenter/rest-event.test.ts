import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { runKey } from "../../events/dedupe.ts";
import { loadFixture } from "../../events/testdata.ts";
import { catchUpHeader, pullRequestEventFromRest } from "./rest-event.ts";
import { PullRequestSchema } from "./schemas.ts";

const receivedAt = new Date("2026-03-01T10:00:00Z");
const serverUrl = "https://bitbucket.example.com";

describe("pullRequestEventFromRest", () => {
  it("gives the pull_request event a delivery of the same pull request would give", () => {
    const pr = PullRequestSchema.parse(loadFixture("rest-pr-get.go-scm.json"));
    const result = pullRequestEventFromRest(pr, { serverUrl, receivedAt });
    assert.ok(result.ok, result.ok ? "" : result.error);
    const event = result.event;
    assert.equal(event.type, "pull_request");
    assert.equal(event.sha, pr.fromRef.latestCommit);
    assert.equal(event.pullRequest.number, pr.id);
    assert.equal(event.pullRequest.targetBranch, pr.toRef.displayId);
    assert.equal(event.requestId, undefined, "no request id: only run keys deduplicate catch-up");
    assert.equal(event.headers[catchUpHeader], "true");
    assert.equal(event.repository.cloneUrl?.startsWith(`${serverUrl}/scm/`), true);
    assert.equal(event.deliveredAt, receivedAt.toISOString());
    // The same run key as the webhook's pull_request event for that head: catch-up never runs a pipeline twice.
    assert.match(runKey(event, "build") ?? "", new RegExp(`\\|${pr.fromRef.latestCommit}\\|${pr.fromRef.id}\\|build$`));
  });

  it("marks a fork pull request as such", () => {
    const pr = PullRequestSchema.parse(loadFixture("rest-pr-get-fork.bbs-plugin.json"));
    const result = pullRequestEventFromRest({ ...pr, state: "OPEN" }, { serverUrl, receivedAt });
    assert.ok(result.ok);
    assert.equal(result.event.pullRequest.fromRepository.fork, true);
  });

  it("refuses a closed pull request", () => {
    const pr = PullRequestSchema.parse(loadFixture("rest-pr-get-merged.atlantis.json"));
    const result = pullRequestEventFromRest(pr, { serverUrl, receivedAt });
    assert.equal(result.ok, false);
  });
});
