// GitHub webhook delivery → Baton's neutral events, or a counted reason why nothing happens (the same reasons as
// Bitbucket's, events/classify.ts).
//
// | X-GitHub-Event · action                 | neutral event                                        |
// |-----------------------------------------|------------------------------------------------------|
// | pull_request · opened, reopened         | pull_request · opened                                |
// | pull_request · synchronize              | pull_request · updated (previousCommit = `before`)   |
// | pull_request · edited with a new base   | pull_request · retargeted                            |
// | pull_request · closed                   | pull_request_closed · merged or declined             |
// | push · branch or tag, not deleted       | push · created or updated                            |
// | issue_comment · created, on a PR, with a command | comment (after the PR is read, see below)   |
// | ping                                    | ping                                                 |
//
// An issue comment's payload names the pull request by number only: its head commit and branches are not in it.
// Classifying returns the comment as `pending`; `commentEvent` completes it from the pull request as the REST API
// returns it (the same object as in pull_request payloads), read when the comment arrives, so `/retest` builds the
// head as it is then. The intake hands it on as a draft (`draftCommentEvent`: a comment event with no head yet),
// which `GitHubProvider.completeEvent` completes with the Repository's credentials before anything keys on it.
//
// GitHub payloads carry no signed send time, so `deliveredAt` is when Baton received the delivery, and a replay
// is caught by its `X-GitHub-Delivery` id and content digest (events/dedupe.ts), not by its age.

import { type CommentCommand, parseComment } from "../../events/comments.ts";
import type {
  BatonEvent,
  CommentEvent,
  EventRepository,
  EventUser,
  PullRequestInfo,
  PushEvent,
} from "../../events/model.ts";
import { isZeroSha, refKind, shortRef } from "../bitbucket-datacenter/classify.ts";
import { type HeaderInput, type Ignored, normalizeHeaders } from "../delivery.ts";
import {
  type IssueCommentPayload,
  type ParsedPayload,
  type PullRequest,
  parsePayload,
  type Repository,
  type User,
} from "./payloads.ts";

export interface GitHubClassifyOptions {
  receivedAt: Date;
}

/** A command comment waiting for its pull request to be read. */
export interface PendingComment {
  repository: EventRepository;
  /** `owner/name` of the repository the pull request is in. */
  fullName: string;
  pullNumber: number;
  comment: { id: number; text: string; author: EventUser; command: CommentCommand };
  sender: EventUser;
  /** The fields every event of this delivery shares. */
  base: EventBase;
}

type EventBase = Pick<BatonEvent, "provider" | "eventKey" | "requestId" | "deliveredAt" | "headers" | "body">;

export interface GitHubClassifyResult {
  events: BatonEvent[];
  ignored: Ignored[];
  pending: PendingComment[];
}

export type GitHubClassifyDeliveryResult = ({ ok: true } & GitHubClassifyResult) | { ok: false; error: string };

/**
 * Parses and classifies one delivery. `event` is the `X-GitHub-Event` header, `body` the decoded JSON (its
 * signature already checked on the raw bytes). `ok: false` means a malformed request (answer 400).
 */
export function classifyGitHubDelivery(
  event: string,
  body: unknown,
  headers: HeaderInput,
  options: GitHubClassifyOptions,
): GitHubClassifyDeliveryResult {
  const parsed = parsePayload(event, body);
  if (!parsed.ok) return parsed;
  return { ok: true, ...classifyGitHub(parsed.value, body, headers, options) };
}

export function classifyGitHub(
  parsed: ParsedPayload,
  rawBody: unknown,
  headers: HeaderInput,
  options: GitHubClassifyOptions,
): GitHubClassifyResult {
  const hdrs = normalizeHeaders(headers);
  const deliveryId = hdrs["x-github-delivery"];
  const action = "payload" in parsed && "action" in parsed.payload ? parsed.payload.action : undefined;
  const eventKey = action === undefined ? parsed.event : `${parsed.event}.${action}`;
  const base: EventBase = {
    provider: "github",
    eventKey,
    ...(deliveryId === undefined || deliveryId === "" ? {} : { requestId: deliveryId }),
    deliveredAt: options.receivedAt.toISOString(),
    headers: hdrs,
    body: rawBody,
  };
  const none = { events: [], ignored: [], pending: [] };
  const ignore = (reason: Ignored["reason"], detail: string, ref?: string): GitHubClassifyResult => ({
    ...none,
    ignored: [{ eventKey, reason, detail, ...(ref === undefined ? {} : { ref }) }],
  });

  if ("other" in parsed) return ignore("unsupported-event", `Baton does not act on ${parsed.event || "this event"}`);

  switch (parsed.event) {
    case "ping":
      return { ...none, events: [{ ...base, type: "ping", action: "ping", sender: toUser(parsed.payload.sender) }] };

    case "push": {
      const p = parsed.payload;
      const kind = refKind(p.ref);
      if (kind === undefined) return ignore("unsupported-ref", `${p.ref} is neither a branch nor a tag`, p.ref);
      if (p.deleted || isZeroSha(p.after)) {
        return ignore(
          kind === "branch" ? "branch-deleted" : "tag-deleted",
          `${p.ref} was deleted; there is nothing to build`,
          p.ref,
        );
      }
      // For an annotated tag `after` is the tag object and `head_commit` the commit it points at.
      const sha = kind === "tag" && p.head_commit ? p.head_commit.id : p.after;
      const event: PushEvent = {
        ...base,
        type: "push",
        action: p.created || isZeroSha(p.before) ? "created" : "updated",
        repository: toRepository(p.repository),
        sender: toUser(p.sender),
        sha,
        shaMayBeTagObject: kind === "tag" && p.head_commit === null,
        ...(isZeroSha(p.before) ? {} : { previousSha: p.before }),
        ref: p.ref,
        refKind: kind,
        refName: shortRef(p.ref),
        ...(p.head_commit ? { commitTitle: p.head_commit.message.split("\n")[0] as string } : {}),
      };
      return { ...none, events: [event] };
    }

    case "pull_request": {
      const p = parsed.payload;
      const pullRequest = toPullRequest(p.pull_request);
      const common = {
        ...base,
        repository: toRepository(p.pull_request.base.repo),
        sender: toUser(p.sender),
        sha: pullRequest.latestCommit,
        pullRequest,
      };
      switch (p.action) {
        case "opened":
        case "reopened":
          return { ...none, events: [{ ...common, type: "pull_request", action: "opened" }] };
        case "synchronize":
          if (p.before !== undefined && !isZeroSha(p.before)) pullRequest.previousCommit = p.before;
          return { ...none, events: [{ ...common, type: "pull_request", action: "updated" }] };
        case "edited": {
          const previous = p.changes?.base?.ref.from;
          if (previous === undefined || previous === p.pull_request.base.ref) {
            return ignore(
              "pr-modified-without-retarget",
              `pull request #${p.number} was edited without changing its base branch`,
            );
          }
          pullRequest.previousTargetBranch = previous;
          return { ...none, events: [{ ...common, type: "pull_request", action: "retargeted" }] };
        }
        case "closed":
          return {
            ...none,
            events: [
              { ...common, type: "pull_request_closed", action: isMerged(p.pull_request) ? "merged" : "declined" },
            ],
          };
        default:
          return ignore("unsupported-event", `Baton does not act on pull_request.${p.action}`);
      }
    }

    case "issue_comment":
      return classifyComment(parsed.payload, base, ignore);
  }
}

function classifyComment(
  p: IssueCommentPayload,
  base: EventBase,
  ignore: (reason: Ignored["reason"], detail: string) => GitHubClassifyResult,
): GitHubClassifyResult {
  if (p.action !== "created") return ignore("unsupported-event", `Baton does not act on issue_comment.${p.action}`);
  if (p.issue.pull_request === undefined) {
    return ignore("unsupported-event", `comment ${p.comment.id} is on issue #${p.issue.number}, not a pull request`);
  }
  const command = parseComment(p.comment.body);
  if (command === undefined) {
    return ignore(
      "comment-without-command",
      `comment ${p.comment.id} on pull request #${p.issue.number} holds no /test, /retest, /cancel or /ok-to-test line`,
    );
  }
  return {
    events: [],
    ignored: [],
    pending: [
      {
        repository: toRepository(p.repository),
        fullName: p.repository.full_name,
        pullNumber: p.issue.number,
        comment: { id: p.comment.id, text: p.comment.body, author: toUser(p.comment.user), command },
        sender: toUser(p.sender),
        base,
      },
    ],
  };
}

/** The comment event for `pending`, from its pull request as read through the REST API. */
export function commentEvent(pending: PendingComment, pr: PullRequest): CommentEvent {
  if (pr.number !== pending.pullNumber) {
    throw new Error(`pull request #${pr.number} was read for a comment on #${pending.pullNumber}`);
  }
  const pullRequest = toPullRequest(pr);
  return {
    ...pending.base,
    type: "comment",
    action: "created",
    repository: pending.repository,
    sender: pending.sender,
    sha: pullRequest.latestCommit,
    pullRequest,
    comment: pending.comment,
  };
}

/**
 * The comment as an event whose pull request is not read yet: `sha` is empty, the pull request holds its number
 * only. It goes through the intake's dedupe (by delivery id and content, never by commit) to the runner, which
 * completes it (`pendingComment` + `commentEvent`) before trust, run keys or statuses read it.
 */
export function draftCommentEvent(pending: PendingComment): CommentEvent {
  return {
    ...pending.base,
    type: "comment",
    action: "created",
    repository: pending.repository,
    sender: pending.sender,
    sha: "",
    pullRequest: {
      number: pending.pullNumber,
      title: "",
      state: "open",
      author: { name: "" },
      latestCommit: "",
      sourceRef: "",
      sourceBranch: "",
      sourceKind: "branch",
      targetRef: "",
      targetBranch: "",
      fromRepository: { ...pending.repository, fork: false },
    },
    comment: pending.comment,
  };
}

/** The pending comment a draft stands for; undefined for an event that is complete. */
export function pendingComment(event: BatonEvent): PendingComment | undefined {
  if (event.provider !== "github" || event.type !== "comment" || event.sha !== "") return undefined;
  const { provider, eventKey, requestId, deliveredAt, headers, body } = event;
  return {
    repository: event.repository,
    fullName: `${event.repository.project}/${event.repository.slug}`,
    pullNumber: event.pullRequest.number,
    comment: event.comment,
    sender: event.sender,
    base: { provider, eventKey, ...(requestId === undefined ? {} : { requestId }), deliveredAt, headers, body },
  };
}

function isMerged(pr: PullRequest): boolean {
  return pr.merged === true || pr.merged_at !== null;
}

export function toUser(user: User | undefined): EventUser {
  if (user === undefined) return { name: "" };
  return {
    name: user.login,
    slug: user.login,
    id: user.id,
    ...(user.name === undefined ? {} : { displayName: user.name }),
  };
}

/** `https://github.com/o/r` → `https://github.com`; a GHES host keeps any path prefix before `/o/r`. */
export function serverOf(repo: Repository): string | undefined {
  const suffix = `/${repo.full_name}`;
  const url = repo.html_url.replace(/\/+$/, "");
  if (url.toLowerCase().endsWith(suffix.toLowerCase())) return url.slice(0, -suffix.length);
  return undefined;
}

export function toRepository(repo: Repository): EventRepository {
  const server = serverOf(repo);
  return {
    ...(server === undefined ? {} : { server }),
    project: repo.owner.login,
    slug: repo.name,
    name: repo.name,
    id: repo.id,
    // GitHub has no personal project; whether a token reaches a fork is decided by the installation, per run.
    personal: false,
    cloneUrl: repo.clone_url,
    browseUrl: repo.html_url.replace(/\/+$/, ""),
  };
}

export function toPullRequest(pr: PullRequest): PullRequestInfo {
  const target = toRepository(pr.base.repo);
  // A deleted fork leaves `head.repo` null; its commits stay reachable as refs/pull/N/head in the base repository.
  const from: EventRepository = pr.head.repo
    ? toRepository(pr.head.repo)
    : { ...target, project: pr.head.user.login, id: undefined, cloneUrl: undefined, browseUrl: undefined };
  const fork = pr.head.repo === null || pr.head.repo.id !== pr.base.repo.id;
  return {
    number: pr.number,
    title: pr.title,
    state: pr.state === "open" ? "open" : isMerged(pr) ? "merged" : "declined",
    ...(pr.draft === undefined ? {} : { draft: pr.draft }),
    url: pr.html_url,
    author: toUser(pr.user),
    latestCommit: pr.head.sha,
    targetCommit: pr.base.sha,
    sourceRef: `refs/heads/${pr.head.ref}`,
    sourceBranch: pr.head.ref,
    sourceKind: "branch",
    targetRef: `refs/heads/${pr.base.ref}`,
    targetBranch: pr.base.ref,
    fromRepository: { ...stripUndefined(from), fork },
  };
}

function stripUndefined<T extends object>(value: T): T {
  return Object.fromEntries(Object.entries(value).filter(([, v]) => v !== undefined)) as T;
}
