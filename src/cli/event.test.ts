import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { CliError } from "./common.ts";
import { buildEvent, type EventRequest } from "./event.ts";

const base: Omit<EventRequest, "kind"> = {
  server: "https://bitbucket.example.com/bb",
  project: "PRJ",
  slug: "app",
  source: "feature/ünïcode-🚀",
  target: "main",
  sha: "a".repeat(40),
  sender: "Dev",
  pullRequestNumber: 12,
  title: "Add 🚀",
  now: new Date("2026-12-03T10:00:00Z"),
};

describe("the event resolve matches against, read by the operator's classifier", () => {
  it("a pull request carries its branches, number, URLs and sender as a delivery would", () => {
    const event = buildEvent({ ...base, kind: "pull_request" });
    assert.equal(event.type, "pull_request");
    if (event.type !== "pull_request") return;
    assert.equal(event.pullRequest.sourceBranch, "feature/ünïcode-🚀");
    assert.equal(event.pullRequest.targetBranch, "main");
    assert.equal(event.pullRequest.number, 12);
    assert.equal(event.sha, base.sha);
    assert.equal(event.repository.cloneUrl, "https://bitbucket.example.com/bb/scm/prj/app.git");
    assert.equal(event.repository.browseUrl, "https://bitbucket.example.com/bb/projects/PRJ/repos/app");
    assert.equal(event.headers["x-event-key"], "pr:opened");
    assert.equal((event.body as { pullRequest: { title: string } }).pullRequest.title, "Add 🚀");
  });

  it("a push of a tag is a tag push; a bare branch name is refs/heads/", () => {
    const tag = buildEvent({ ...base, kind: "push", source: "refs/tags/v1.2.0" });
    assert.equal(tag.type === "push" && `${tag.refKind} ${tag.ref}`, "tag refs/tags/v1.2.0");
    const branch = buildEvent({ ...base, kind: "push", source: "main" });
    assert.equal(branch.type === "push" && `${branch.refKind} ${branch.ref}`, "branch refs/heads/main");
  });

  it("a comment's command is parsed as the operator parses it; prose is refused", () => {
    const event = buildEvent({ ...base, kind: "comment", comment: "please\n/test lint\nthanks" });
    assert.deepEqual(event.type === "comment" && event.comment.command, { kind: "test", pipeline: "lint" });
    assert.throws(
      () => buildEvent({ ...base, kind: "comment", comment: "looks good" }),
      (e: unknown) => e instanceof CliError && e.code === 2 && /ignore/.test(e.message),
    );
  });
});
