// Bitbucket Cloud delivery → neutral events (src/events/model.ts, provider `bitbucket-cloud`), or a counted reason
// why nothing happens. Pure: what the payload cannot say is returned as work for the caller (resolve.ts).
//
// What Cloud payloads leave out, and what each event therefore carries as `needs`:
// - Pull-request bodies name commits by 12-hex abbreviations (reference §4.2). Statuses and checkouts need the full
//   hash, and deduplication against the `repo:push` of the same `git push` (which has 40 hex) needs it too, so every
//   abbreviation Baton uses is listed in `needs.commits` and `completeEvent` refuses to hand out an event with one
//   left. An abbreviation nobody needs (a same-repository pull request's target commit) is dropped instead.
// - No event carries changed files. A push names its old and new commit, so its files are the diffstat of that
//   range (`needs.changes`); `truncated: true` only says the payload's commit list is cut, never the range.
// - `pullrequest:updated` does not say what changed (a new source commit, a new destination, or only a title);
//   the caller says what it last saw (`ClassifyOptions.lastSeen`) and the difference decides.
// - A fork's source commit lives in another repository, often in another workspace, which a repository or
//   project token cannot read (§7): `needs.fork` names it so the caller can check before building.

import { type CommentCommand, parseComment } from "../../events/comments.ts";
import type { BatonEvent, EventRepository, EventUser, PullRequestInfo, PushEvent } from "../../events/model.ts";
import { deliveryClassifier, type HeaderInput, type Ignored, normalizeHeaders } from "../delivery.ts";
import type { CloudRepository } from "./paths.ts";
import { type ParsedPayload, type PushChange, parsePayload } from "./payloads.ts";
import type { Account, PullRequest, RepositoryRef } from "./schemas.ts";

export const defaultServer = "https://bitbucket.org";

export interface CommitToResolve {
  /** Which of the event's commit fields holds the abbreviation. */
  field: "head" | "target";
  abbreviated: string;
  /** Where the commit lives: a fork PR's head is in the fork, not in the destination. */
  repository: CloudRepository;
}

export type ChangesToFetch =
  | { kind: "pull-request"; repository: CloudRepository; number: number }
  /** `from` absent: a new ref, whose changes are its head commit's (diffstat of one commit is against its parent). */
  | { kind: "range"; repository: CloudRepository; from?: string; to: string };

export interface EventNeeds {
  commits: CommitToResolve[];
  changes?: ChangesToFetch;
  fork?: CloudRepository & { fullName: string; private?: boolean };
}

/** An event as the payload gives it, with what must be fetched before it is complete. */
export interface DraftEvent {
  event: BatonEvent;
  needs: EventNeeds;
}

export interface ClassifyResult {
  events: DraftEvent[];
  ignored: Ignored[];
}

export interface LastSeen {
  /** Full or abbreviated hash of the head the caller last acted on. */
  head: string;
  targetBranch: string;
}

export interface ClassifyOptions {
  receivedAt: Date;
  /** Where git and the web UI live (`https://bitbucket.org`, or the simulator's URL). */
  serverUrl?: string;
  /**
   * Pull-request events dated (`updated_on`, or the comment's `created_on`) longer ago than this are replays of a
   * captured delivery and start nothing. Cloud retries within seconds, so genuine ones are fresh.
   */
  maxAgeMs?: number;
  /** What the caller last saw of a pull request, to tell what a `pullrequest:updated` changed. */
  lastSeen?: (repository: CloudRepository, number: number) => LastSeen | undefined;
}

/** Parses and classifies one delivery. */
export const classifyDelivery = deliveryClassifier(parsePayload, classify);

export function classify(
  parsed: ParsedPayload,
  rawBody: unknown,
  headers: HeaderInput,
  options: ClassifyOptions,
): ClassifyResult {
  const hdrs = normalizeHeaders(headers);
  const eventKey = parsed.eventKey;
  const server = (options.serverUrl ?? defaultServer).replace(/\/+$/, "");
  const requestId = hdrs["x-request-uuid"];
  const base = {
    provider: "bitbucket-cloud" as const,
    eventKey,
    ...(requestId === undefined ? {} : { requestId }),
    deliveredAt: options.receivedAt.toISOString(),
    headers: hdrs,
    body: rawBody,
  };
  const ignore = (reason: Ignored["reason"], detail: string, ref?: string): ClassifyResult => ({
    events: [],
    ignored: [{ eventKey, reason, detail, ...(ref === undefined ? {} : { ref }) }],
  });

  if ("other" in parsed) return ignore("unsupported-event", `Baton does not act on ${eventKey || "this event"}`);

  if (parsed.eventKey === "repo:push") {
    const p = parsed.payload;
    const repository = toRepository(p.repository, server);
    const result: ClassifyResult = { events: [], ignored: [] };
    if (p.push.changes.length === 0) {
      result.ignored.push({ eventKey, reason: "no-changes", detail: "the push carries no ref changes" });
    }
    for (const change of p.push.changes) {
      const outcome = pushEvent(change, { ...base, repository, sender: toUser(p.actor) });
      if ("reason" in outcome) result.ignored.push({ eventKey, ...outcome });
      else result.events.push(outcome);
    }
    return result;
  }

  const pr = parsed.payload.pullrequest;
  const dated = parsed.eventKey === "pullrequest:comment_created" ? parsed.payload.comment.created_on : pr.updated_on;
  const sentAt = dated === undefined ? Number.NaN : Date.parse(dated);
  if (options.maxAgeMs !== undefined && options.receivedAt.getTime() - sentAt > options.maxAgeMs) {
    return ignore(
      "stale-delivery",
      `the delivery is dated ${new Date(sentAt).toISOString()}, more than ${Math.round(options.maxAgeMs / 1000)}s before it was received; a replay is not run`,
    );
  }
  const destination = cloudRepository(pr.destination.repository);
  const repository = toRepository(parsed.payload.repository, server);
  const pullRequest = toPullRequest(pr, server);
  const common = { ...base, repository, sender: toUser(parsed.payload.actor), sha: pullRequest.latestCommit };

  switch (parsed.eventKey) {
    case "pullrequest:created":
      return one({ ...common, type: "pull_request", action: "opened", pullRequest });

    case "pullrequest:updated": {
      const seen = options.lastSeen?.(destination, pr.id);
      if (seen === undefined) return one({ ...common, type: "pull_request", action: "updated", pullRequest });
      const headMoved = !sameCommit(seen.head, pullRequest.latestCommit);
      if (headMoved) {
        pullRequest.previousCommit = seen.head;
        return one({ ...common, type: "pull_request", action: "updated", pullRequest });
      }
      if (seen.targetBranch !== pullRequest.targetBranch) {
        pullRequest.previousTargetBranch = seen.targetBranch;
        return one({ ...common, type: "pull_request", action: "retargeted", pullRequest });
      }
      return ignore(
        "pr-modified-without-retarget",
        `pull request #${pr.id} was updated without a new source commit or destination branch`,
      );
    }

    case "pullrequest:fulfilled":
    case "pullrequest:rejected": {
      const action = parsed.eventKey === "pullrequest:fulfilled" ? "merged" : "declined";
      return one({ ...common, type: "pull_request_closed", action, pullRequest });
    }

    case "pullrequest:comment_created": {
      const comment = parsed.payload.comment;
      const command: CommentCommand | undefined = comment.deleted ? undefined : parseComment(comment.content.raw);
      if (command === undefined) {
        return ignore(
          "comment-without-command",
          `comment ${comment.id} on pull request #${pr.id} holds no /test, /retest, /cancel or /ok-to-test line`,
        );
      }
      const text = comment.content.raw;
      return one({
        ...common,
        type: "comment",
        action: "created",
        pullRequest,
        comment: { id: comment.id, text, author: toUser(comment.user ?? parsed.payload.actor), command },
      });
    }
  }
}

function one(event: BatonEvent): ClassifyResult {
  return { events: [{ event, needs: needsOf(event) }], ignored: [] };
}

type PushBase = Omit<PushEvent, "type" | "action" | "sha" | "shaMayBeTagObject" | "ref" | "refKind" | "refName">;

function pushEvent(change: PushChange, base: PushBase): DraftEvent | Omit<Ignored, "eventKey"> {
  const state = change.new ?? change.old;
  if (state === null) return { reason: "no-changes", detail: "a push change names neither an old nor a new ref" };
  const kind = state.type === "branch" ? "branch" : state.type === "tag" ? "tag" : undefined;
  const ref = kind === "tag" ? `refs/tags/${state.name}` : `refs/heads/${state.name}`;
  if (kind === undefined) {
    return {
      reason: "unsupported-ref",
      ref: state.name,
      detail: `${state.name} is a ${state.type}, not a branch or tag`,
    };
  }
  if (change.new === null) {
    return {
      reason: kind === "branch" ? "branch-deleted" : "tag-deleted",
      ref,
      detail: `${ref} was deleted; there is nothing to build`,
    };
  }
  const sha = change.new.target.hash;
  const previousSha = change.old?.target.hash;
  const title = change.new.target.message?.split("\n")[0];
  const event: PushEvent = {
    ...base,
    type: "push",
    action: change.created || change.old === null ? "created" : "updated",
    // Cloud's tag target is already the peeled commit (reference §4.2).
    sha,
    shaMayBeTagObject: false,
    ...(previousSha === undefined ? {} : { previousSha }),
    ref,
    refKind: kind,
    refName: change.new.name,
    ...(title === undefined || title === "" ? {} : { commitTitle: title }),
  };
  return { event, needs: needsOf(event) };
}

/**
 * What must be fetched before `event` is complete, read from the neutral event alone: so an event that went through
 * the domain (the provider interface hands back only events) can be completed the same way as a fresh draft.
 */
export function needsOf(event: BatonEvent): EventNeeds {
  if (event.type === "ping") return { commits: [] };
  const here = { workspace: event.repository.project, slug: event.repository.slug };
  if (event.type === "push") {
    const created = event.action === "created" || event.previousSha === undefined;
    return {
      commits: [],
      changes: { kind: "range", repository: here, to: event.sha, ...(created ? {} : { from: event.previousSha }) },
    };
  }
  // Closing cancels the pull request's runs, found by its number: no commit, file or fork is read.
  if (event.type === "pull_request_closed") return { commits: [] };
  const pr = event.pullRequest;
  const source = { workspace: pr.fromRepository.project, slug: pr.fromRepository.slug };
  const commits: CommitToResolve[] = [];
  if (!isFullHash(pr.latestCommit)) commits.push({ field: "head", abbreviated: pr.latestCommit, repository: source });
  // The target commit matters only where definitions are read from it: an untrusted fork's (events/trust.ts).
  if (pr.fromRepository.fork && pr.targetCommit !== undefined && !isFullHash(pr.targetCommit)) {
    commits.push({ field: "target", abbreviated: pr.targetCommit, repository: here });
  }
  const needs: EventNeeds = { commits, changes: { kind: "pull-request", repository: here, number: pr.number } };
  if (pr.fromRepository.fork) needs.fork = { ...source, fullName: `${source.workspace}/${source.slug}` };
  return needs;
}

export function isFullHash(hash: string): boolean {
  return /^[0-9a-f]{40}$/.test(hash);
}

function sameCommit(a: string, b: string): boolean {
  const [shorter, longer] = a.length <= b.length ? [a, b] : [b, a];
  return shorter.length > 0 && longer.startsWith(shorter);
}

/** Same-repository unless the uuids differ (`full_name` can be renamed; the uuid cannot). */
export function isFork(pr: PullRequest): boolean {
  return pr.source.repository.uuid !== pr.destination.repository.uuid;
}

export function cloudRepository(repo: Pick<RepositoryRef, "full_name">): CloudRepository {
  const [workspace, slug] = repo.full_name.split("/") as [string, string];
  return { workspace, slug };
}

/**
 * Users are keyed by `account_id` (2018+), else `uuid` (always there): what `spec.policy.trustedUsers` lists and
 * the workspace-members endpoint accepts. `name` is what people see; `nickname` is not unique (reference §4.2).
 */
export function toUser(account: Account): EventUser {
  const displayName = account.display_name;
  return {
    name: account.nickname ?? account.username ?? displayName ?? account.uuid,
    slug: account.account_id ?? account.uuid,
    ...(displayName === undefined ? {} : { displayName }),
  };
}

function toRepository(repo: RepositoryRef, server: string): EventRepository {
  const { workspace, slug } = cloudRepository(repo);
  return {
    server,
    project: workspace,
    slug,
    ...(repo.name === undefined ? {} : { name: repo.name }),
    personal: false,
    // Webhook bodies carry no clone link; this is the URL git and the Jenkins plugin use (reference §4.2).
    cloneUrl: `${server}/${repo.full_name}.git`,
    browseUrl: `${server}/${repo.full_name}`,
  };
}

function toPullRequest(pr: PullRequest, server: string): PullRequestInfo {
  const target = toRepository(pr.destination.repository, server);
  const from = toRepository(pr.source.repository, server);
  const state = pr.state === "MERGED" ? "merged" : pr.state === "DECLINED" ? "declined" : "open";
  return {
    number: pr.id,
    title: pr.title,
    state,
    ...(pr.draft === undefined ? {} : { draft: pr.draft }),
    url: pr.links?.html?.href ?? `${target.browseUrl}/pull-requests/${pr.id}`,
    author: toUser(pr.author),
    latestCommit: pr.source.commit.hash,
    ...(isFork(pr) || isFullHash(pr.destination.commit.hash) ? { targetCommit: pr.destination.commit.hash } : {}),
    sourceRef: `refs/heads/${pr.source.branch.name}`,
    sourceBranch: pr.source.branch.name,
    // Cloud pull requests are opened from branches only.
    sourceKind: "branch",
    targetRef: `refs/heads/${pr.destination.branch.name}`,
    targetBranch: pr.destination.branch.name,
    fromRepository: { ...from, fork: isFork(pr) },
  };
}

/**
 * The event with every abbreviated hash replaced by its full form from `resolved` (abbreviation → full hash).
 * Throws when one is missing: an event with a 12-hex head must never reach building or reporting.
 */
export function completeEvent(draft: DraftEvent, resolved: ReadonlyMap<string, string>): BatonEvent {
  const full = (abbreviated: string) => {
    const hash = resolved.get(abbreviated);
    if (hash === undefined || !hash.startsWith(abbreviated) || !isFullHash(hash)) {
      throw new Error(`commit ${abbreviated} of a Bitbucket Cloud ${draft.event.eventKey} was not resolved`);
    }
    return hash;
  };
  const event = structuredClone(draft.event);
  if (!("pullRequest" in event)) return event;
  for (const commit of draft.needs.commits) {
    if (commit.field === "head") {
      event.pullRequest.latestCommit = full(commit.abbreviated);
      event.sha = event.pullRequest.latestCommit;
    } else {
      event.pullRequest.targetCommit = full(commit.abbreviated);
    }
  }
  return event;
}
