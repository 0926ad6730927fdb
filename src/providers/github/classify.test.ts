// Contract tests: every pull_request, push, issue_comment and ping example GitHub publishes (for github.com and
// each GHES release in @octokit/webhooks-examples) is accepted by Baton's schemas, and the neutral event carries
// the example's own values.
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { BatonEvent } from "../../events/model.ts";
import { classifyGitHubDelivery, commentEvent, type GitHubClassifyResult } from "./classify.ts";
import { examplesOf, exampleVersions } from "./examples.ts";
import { PullRequest } from "./payloads.ts";

const receivedAt = new Date("2030-01-01T00:00:00Z");
const versions = exampleVersions();

function classifyOk(event: string, body: unknown, delivery = "72d3162e-cc78-11e3-81ab-4c9367dc0958") {
  const headers = {
    "X-GitHub-Event": event,
    "X-GitHub-Delivery": delivery,
    "X-Hub-Signature-256": "sha256=0000",
    "User-Agent": "GitHub-Hookshot/044aadd",
  };
  const result = classifyGitHubDelivery(event, body, headers, { receivedAt });
  assert.ok(result.ok, result.ok ? "" : result.error);
  for (const e of result.events) BatonEvent.parse(e);
  return result as GitHubClassifyResult;
}

function clone<T>(value: T): T {
  return structuredClone(value);
}

describe("GitHub's published examples", () => {
  it("ship for github.com and at least one GHES release", () => {
    assert.ok(versions.includes("api.github.com"));
    assert.ok(versions.some((v) => v.startsWith("ghes-")));
  });

  for (const version of versions) {
    describe(version, () => {
      it("pull_request: each action maps to the event a user expects, with the example's values", () => {
        const examples = examplesOf(version, "pull_request");
        assert.ok(examples.length > 0);
        for (const example of examples) {
          const result = classifyOk("pull_request", example);
          const pr = example.pull_request;
          const label = `${version} pull_request.${example.action}`;
          if (["opened", "reopened", "synchronize", "closed"].includes(example.action)) {
            assert.equal(result.events.length, 1, label);
            const event = result.events[0];
            assert.ok(event && (event.type === "pull_request" || event.type === "pull_request_closed"), label);
            assert.equal(event.eventKey, `pull_request.${example.action}`);
            assert.equal(event.provider, "github");
            assert.equal(event.requestId, "72d3162e-cc78-11e3-81ab-4c9367dc0958");
            assert.equal(event.sha, pr.head.sha);
            assert.equal(event.sender.name, example.sender.login);
            assert.equal(event.repository.project, example.repository.owner.login);
            assert.equal(event.repository.slug, example.repository.name);
            assert.equal(event.repository.cloneUrl, example.repository.clone_url);
            assert.equal(event.repository.browseUrl, example.repository.html_url);
            assert.equal(event.pullRequest.number, example.number);
            assert.equal(event.pullRequest.title, pr.title);
            assert.equal(event.pullRequest.url, pr.html_url);
            assert.equal(event.pullRequest.author.name, pr.user.login);
            assert.equal(event.pullRequest.sourceBranch, pr.head.ref);
            assert.equal(event.pullRequest.sourceRef, `refs/heads/${pr.head.ref}`);
            assert.equal(event.pullRequest.targetBranch, pr.base.ref);
            assert.equal(event.pullRequest.targetCommit, pr.base.sha);
            assert.equal(event.pullRequest.fromRepository.fork, pr.head.repo?.id !== pr.base.repo.id);
            assert.equal(event.pullRequest.draft, pr.draft);
            if (example.action === "closed") {
              assert.equal(event.type, "pull_request_closed");
              assert.equal(event.action, pr.merged ? "merged" : "declined");
            } else {
              assert.equal(event.type, "pull_request");
              assert.equal(event.action, example.action === "synchronize" ? "updated" : "opened");
            }
            if (example.action === "synchronize") assert.equal(event.pullRequest.previousCommit, example.before);
          } else {
            assert.equal(result.events.length, 0, label);
            assert.deepEqual(
              result.ignored.map((i) => i.reason),
              ["unsupported-event"],
              label,
            );
          }
        }
      });

      it("push: branches and tags build the pushed commit; deletions build nothing", () => {
        const examples = examplesOf(version, "push");
        assert.ok(examples.length > 0);
        for (const example of examples) {
          const result = classifyOk("push", example);
          const tag = example.ref.startsWith("refs/tags/");
          if (example.deleted) {
            assert.deepEqual(result.events, []);
            assert.deepEqual(
              result.ignored.map((i) => [i.reason, i.ref]),
              [[tag ? "tag-deleted" : "branch-deleted", example.ref]],
            );
            continue;
          }
          assert.equal(result.events.length, 1);
          const event = result.events[0];
          assert.ok(event?.type === "push");
          assert.equal(event.ref, example.ref);
          assert.equal(event.refKind, tag ? "tag" : "branch");
          assert.equal(event.refName, example.ref.replace(/^refs\/(heads|tags)\//, ""));
          assert.equal(event.sha, tag && example.head_commit ? example.head_commit.id : example.after);
          assert.equal(event.action, example.created ? "created" : "updated");
          assert.equal(event.previousSha, /^0+$/.test(example.before) ? undefined : example.before);
          assert.equal(event.repository.slug, example.repository.name);
          assert.equal(event.commitTitle, example.head_commit?.message.split("\n")[0]);
        }
      });

      it("issue_comment: comments on issues, edits and deletions start nothing", () => {
        const examples = examplesOf(version, "issue_comment");
        assert.ok(examples.length > 0);
        for (const example of examples) {
          const result = classifyOk("issue_comment", example);
          assert.deepEqual(result.events, []);
          assert.deepEqual(result.pending, []);
          assert.equal(result.ignored.length, 1);
          const expected =
            example.action !== "created" || !example.issue.pull_request
              ? "unsupported-event"
              : "comment-without-command";
          assert.equal(result.ignored[0]?.reason, expected);
        }
      });

      it("ping: a ping event", () => {
        const examples = examplesOf(version, "ping");
        assert.ok(examples.length > 0);
        for (const example of examples) {
          const result = classifyOk("ping", example);
          assert.deepEqual(
            result.events.map((e) => [e.type, e.sender.name]),
            [["ping", example.sender?.login ?? ""]],
          );
        }
      });
    });
  }
});

describe("events the examples do not cover, made from them", () => {
  const opened = examplesOf("api.github.com", "pull_request").find((e) => e.action === "opened");
  const comment = examplesOf("api.github.com", "issue_comment").find((e) => e.action === "created");
  assert.ok(opened && comment);

  it("edited with a new base is a retarget; an edit of the title is not", () => {
    const retarget = {
      ...clone(opened),
      action: "edited",
      changes: { base: { ref: { from: "develop" }, sha: { from: "a".repeat(40) } } },
    };
    const result = classifyOk("pull_request", retarget);
    const event = result.events[0];
    assert.ok(event?.type === "pull_request");
    assert.equal(event.action, "retargeted");
    assert.equal(event.pullRequest.previousTargetBranch, "develop");
    assert.equal(event.pullRequest.targetBranch, opened.pull_request.base.ref);

    const retitled = { ...clone(opened), action: "edited", changes: { title: { from: "old" } } };
    assert.deepEqual(
      classifyOk("pull_request", retitled).ignored.map((i) => i.reason),
      ["pr-modified-without-retarget"],
    );
  });

  it("a merged pull request closes as merged", () => {
    const merged = clone(opened);
    merged.action = "opened";
    const body = {
      ...merged,
      action: "closed",
      pull_request: { ...merged.pull_request, state: "closed", merged: true, merged_at: "2030-01-01T00:00:00Z" },
    };
    const event = classifyOk("pull_request", body).events[0];
    assert.equal(event?.type === "pull_request_closed" && event.action, "merged");
  });

  it("a fork pull request (and one whose fork was deleted) is marked fork, with the fork's owner", () => {
    const fork = clone(opened);
    const head = fork.pull_request.head;
    assert.ok(head.repo);
    head.repo = {
      ...head.repo,
      id: head.repo.id + 1,
      name: "Hello-World",
      full_name: "forker/Hello-World",
      fork: true,
      owner: { ...head.repo.owner, login: "forker", id: 99 },
    };
    head.ref = "fix/🚀-émoji";
    const event = classifyOk("pull_request", fork).events[0];
    assert.ok(event?.type === "pull_request");
    assert.equal(event.pullRequest.fromRepository.fork, true);
    assert.equal(event.pullRequest.fromRepository.project, "forker");
    assert.equal(event.pullRequest.sourceBranch, "fix/🚀-émoji");
    assert.equal(event.repository.project, opened.repository.owner.login);

    const gone = clone(fork);
    gone.pull_request.head.repo = null;
    gone.pull_request.head.user = { ...gone.pull_request.head.user, login: "forker" };
    const goneEvent = classifyOk("pull_request", gone).events[0];
    assert.ok(goneEvent?.type === "pull_request");
    assert.equal(goneEvent.pullRequest.fromRepository.fork, true);
    assert.equal(goneEvent.pullRequest.fromRepository.project, "forker");
  });

  it("a command comment on a pull request waits for the pull request, then carries its head", () => {
    const onPr = clone(comment);
    onPr.issue.pull_request = { url: "u", html_url: "h", diff_url: "d", patch_url: "p" };
    onPr.comment.body = "Thanks!\r\n/retest unit-tests\r\n";
    const result = classifyOk("issue_comment", onPr, "d-1");
    assert.deepEqual(result.events, []);
    const pending = result.pending[0];
    assert.ok(pending);
    assert.equal(pending.pullNumber, comment.issue.number);
    assert.deepEqual(pending.comment.command, { kind: "retest", pipeline: "unit-tests" });

    const pr = PullRequest.parse({ ...opened.pull_request, number: comment.issue.number });
    const event = commentEvent(pending, pr);
    BatonEvent.parse(event);
    assert.equal(event.type, "comment");
    assert.equal(event.sha, opened.pull_request.head.sha);
    assert.equal(event.requestId, "d-1");
    assert.equal(event.comment.author.name, comment.comment.user.login);
    assert.equal(event.pullRequest.number, comment.issue.number);
    assert.throws(() => commentEvent(pending, { ...pr, number: pr.number + 1 }), /read for a comment on/);
  });

  it("a payload missing what Baton needs is a clear error; an unknown event is ignored", () => {
    const broken = clone(opened) as unknown as Record<string, unknown>;
    delete (broken.pull_request as Record<string, unknown>).head;
    const result = classifyGitHubDelivery("pull_request", broken, {}, { receivedAt });
    assert.equal(result.ok, false);
    assert.match(result.ok ? "" : result.error, /pull_request payload .*pull_request\.head/);

    const other = classifyGitHubDelivery("star", { action: "created" }, {}, { receivedAt });
    assert.ok(other.ok);
    assert.deepEqual(
      other.ignored.map((i) => i.reason),
      ["unsupported-event"],
    );
  });

  it("pushes to refs other than branches and tags are ignored", () => {
    const push = examplesOf("api.github.com", "push").find((e) => !e.deleted);
    assert.ok(push);
    const result = classifyOk("push", { ...clone(push), ref: "refs/notes/commits" });
    assert.deepEqual(
      result.ignored.map((i) => i.reason),
      ["unsupported-ref"],
    );
  });

  it("the signature never reaches the event's headers", () => {
    const event = classifyOk("pull_request", opened).events[0];
    assert.equal(event?.headers["x-hub-signature-256"], undefined);
    assert.equal(event?.headers["x-github-event"], "pull_request");
  });
});
