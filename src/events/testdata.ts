// Events for tests, built by classifying the real captures in test/fixtures/bitbucket-dc and adjusting the few
// fields a test is about. Only tests import this module.
import { readFileSync } from "node:fs";
import { classifyDelivery } from "../providers/bitbucket-datacenter/classify.ts";
import type { CommentEvent, PullRequestEvent, PushEvent } from "./model.ts";

const fixtures = new URL("../../test/fixtures/bitbucket-dc/", import.meta.url);

export function loadFixture(file: string): Record<string, unknown> {
  return JSON.parse(readFileSync(new URL(file, fixtures), "utf8")) as Record<string, unknown>;
}

const receivedAt = new Date("2023-04-18T19:35:30Z");
const serverUrl = "https://bitbucket.example.com";

function classifyOne(eventKey: string, body: Record<string, unknown>, requestId: string) {
  const result = classifyDelivery(
    eventKey,
    body,
    { "X-Request-Id": requestId, "X-Event-Key": eventKey },
    {
      receivedAt,
      serverUrl,
    },
  );
  if (!result.ok) throw new Error(result.error);
  const [event] = result.events;
  if (event === undefined) throw new Error(`${eventKey} fixture classified as ignored: ${result.ignored[0]?.reason}`);
  return event;
}

/** A push of `refs/heads/feature/test` to DSO/test-app (2023 capture); `sha`/`ref` adjustable. */
export function pushEvent(options: { sha?: string; ref?: string; requestId?: string } = {}): PushEvent {
  const body = loadFixture("webhook-refs-changed-branch-update.nttd.json");
  const changes = body.changes as Record<string, unknown>[];
  const change = { ...(changes[0] as Record<string, unknown>) };
  if (options.sha) change.toHash = options.sha;
  if (options.ref) {
    change.refId = options.ref;
    change.ref = {
      id: options.ref,
      displayId: options.ref.replace(/^refs\/(heads|tags)\//, ""),
      type: options.ref.startsWith("refs/tags/") ? "TAG" : "BRANCH",
    };
  }
  const event = classifyOne("repo:refs_changed", { ...body, changes: [change] }, options.requestId ?? "push-1");
  if (event.type !== "push") throw new Error("expected a push");
  return event;
}

/**
 * `pr:from_ref_updated` of PR #4 in DSO/test-app, source `feature/test` → target `main` (2023 capture).
 * `fork: true` moves the source to the personal fork `~JDOE/test-app-fork` of user jdoe.
 */
export function pullRequestEvent(
  options: {
    sha?: string;
    number?: number;
    target?: string;
    fork?: boolean;
    requestId?: string;
    eventKey?: "pr:opened" | "pr:from_ref_updated";
  } = {},
): PullRequestEvent {
  const body = loadFixture("webhook-pr-from-ref-updated.nttd.json");
  const pr = structuredClone(body.pullRequest) as Record<string, Record<string, unknown>>;
  const fromRef = pr.fromRef as Record<string, unknown>;
  const toRef = pr.toRef as Record<string, unknown>;
  if (options.sha) fromRef.latestCommit = options.sha;
  if (options.number) (pr as Record<string, unknown>).id = options.number;
  if (options.target) {
    toRef.id = `refs/heads/${options.target}`;
    toRef.displayId = options.target;
  }
  if (options.fork) {
    const jdoe = { name: "jdoe", slug: "jdoe", id: 77, displayName: "Jane Doe" };
    fromRef.repository = {
      slug: "test-app-fork",
      id: 99,
      name: "test-app-fork",
      project: { key: "~JDOE", type: "PERSONAL", owner: jdoe },
      origin: toRef.repository,
    };
    pr.author = { user: jdoe, role: "AUTHOR" };
  }
  const eventKey = options.eventKey ?? "pr:from_ref_updated";
  const event = classifyOne(eventKey, { ...body, eventKey, pullRequest: pr }, options.requestId ?? "pr-1");
  if (event.type !== "pull_request") throw new Error("expected a pull request");
  return event;
}

/** A comment with `text` on the pull request of `pullRequestEvent(options)`. */
export function commentEvent(
  text: string,
  options: { commentId?: number; author?: string; fork?: boolean; requestId?: string } = {},
): CommentEvent {
  const pr = loadFixture("webhook-pr-from-ref-updated.nttd.json");
  // The pull request (fork or not) is the one pullRequestEvent built: its body is the adjusted payload.
  const base = pullRequestEvent({ ...(options.fork ? { fork: true } : {}) });
  const comment = loadFixture("webhook-pr-comment-added.go-playground.json");
  const author = options.author ?? "reviewer";
  const body = {
    eventKey: "pr:comment:added",
    date: pr.date,
    actor: { name: author, slug: author, id: 5 },
    pullRequest: structuredClone((base.body as { pullRequest: unknown }).pullRequest),
    comment: {
      ...(comment.comment as Record<string, unknown>),
      id: options.commentId ?? 41,
      text,
      author: { name: author, slug: author, id: 5 },
    },
  };
  const event = classifyOne("pr:comment:added", body, options.requestId ?? "comment-1");
  if (event.type !== "comment") throw new Error("expected a comment");
  return event;
}
