// Webhook delivery → neutral events, or a counted reason why nothing happens.
//
// One delivery gives zero or more events: a push can carry several ref changes (one push event each); deletions,
// unsupported refs, comments without a command and pull-request edits that do not move the target give an
// `ignored` entry with a stable `reason` the intake can use as a metric label.
import { type CommentCommand, parseComment } from "../../events/comments.ts";
import type {
  BatonEvent,
  EventRepository,
  EventUser,
  PullRequestInfo,
  PushEvent,
  RefKind,
} from "../../events/model.ts";
import { deliveryClassifier, type HeaderInput, type Ignored, normalizeHeaders } from "../delivery.ts";
import {
  type ParsedPayload,
  type PullRequest,
  type PullRequestRef,
  parseBitbucketDate,
  parsePayload,
  type Repository,
  type User,
} from "./payloads.ts";

export interface ClassifyResult {
  events: BatonEvent[];
  ignored: Ignored[];
}

export interface ClassifyOptions {
  /** When Baton received the delivery (the caller's clock). */
  receivedAt: Date;
  /**
   * The server's base URL as the Repository declares it (with any context path). When set, clone and browse URLs
   * are built from it rather than from the payload's links, so they match the `.gitconfig` section the run's git
   * Secret is scoped to, and are present even in old payloads that carry no links.
   */
  serverUrl?: string;
  /**
   * Ignore deliveries whose payload `date` is older than this, relative to `receivedAt`: a captured, validly signed
   * delivery replayed later would otherwise start runs again once its request id has left the dedupe window.
   * Bitbucket never retries, so genuine deliveries are seconds old; allow for clock skew.
   */
  maxAgeMs?: number;
}

/** Parses and classifies one delivery; `eventKey` is the `X-Event-Key` header. */
export const classifyDelivery = deliveryClassifier(parsePayload, classify);

/** Classifies a payload already validated by `parsePayload`. `rawBody` becomes the events' `body`. */
export function classify(
  parsed: ParsedPayload,
  rawBody: unknown,
  headers: HeaderInput,
  options: ClassifyOptions,
): ClassifyResult {
  const hdrs = normalizeHeaders(headers);
  const eventKey = parsed.eventKey;
  const payloadDate = "date" in parsed.payload ? parsed.payload.date : undefined;
  const sentAt = payloadDate === undefined ? Number.NaN : parseBitbucketDate(payloadDate);
  const received = options.receivedAt.getTime();
  const deliveredAt = new Date(Number.isNaN(sentAt) ? received : sentAt).toISOString();
  if (options.maxAgeMs !== undefined && !Number.isNaN(sentAt) && received - sentAt > options.maxAgeMs) {
    return {
      events: [],
      ignored: [
        {
          eventKey,
          reason: "stale-delivery",
          detail: `the delivery is dated ${deliveredAt}, more than ${Math.round(options.maxAgeMs / 1000)}s before it was received; a replay is not run`,
        },
      ],
    };
  }

  const requestId = hdrs["x-request-id"];
  const base = {
    provider: "bitbucket-datacenter" as const,
    eventKey,
    ...(requestId === undefined ? {} : { requestId }),
    deliveredAt,
    headers: hdrs,
    body: rawBody,
  };
  const server = options.serverUrl === undefined ? undefined : trimSlash(options.serverUrl);

  if ("other" in parsed) {
    return {
      events: [],
      ignored: [{ eventKey, reason: "unsupported-event", detail: `Baton does not act on ${eventKey || "this event"}` }],
    };
  }

  switch (parsed.eventKey) {
    case "diagnostics:ping":
      return {
        events: [{ ...base, type: "ping", action: "ping", sender: { name: "" } }],
        ignored: [],
      };

    case "repo:refs_changed": {
      const p = parsed.payload;
      const repository = toRepository(p.repository, server);
      const sender = toUser(p.actor);
      const events: BatonEvent[] = [];
      const ignored: Ignored[] = [];
      if (p.changes.length === 0) {
        ignored.push({ eventKey, reason: "no-changes", detail: "the push carries no ref changes" });
      }
      for (const change of p.changes) {
        const ref = change.refId;
        const kind = refKind(ref);
        if (kind === undefined) {
          ignored.push({ eventKey, reason: "unsupported-ref", ref, detail: `${ref} is neither a branch nor a tag` });
          continue;
        }
        if (change.type === "DELETE" || isZeroSha(change.toHash)) {
          ignored.push({
            eventKey,
            reason: kind === "branch" ? "branch-deleted" : "tag-deleted",
            ref,
            detail: `${ref} was deleted; there is nothing to build`,
          });
          continue;
        }
        // An annotated tag's toHash is the tag object; `toCommit` is the peeled commit, but the payload says so
        // only for the first change, so it is trusted when it is the only one.
        const peeled = kind === "tag" && p.changes.length === 1 && p.toCommit ? p.toCommit.id : undefined;
        const sha = peeled ?? change.toHash;
        const message = [p.toCommit, ...(p.commits ?? [])].find((c) => c?.id === sha)?.message;
        const event: PushEvent = {
          ...base,
          type: "push",
          action: change.type === "ADD" || isZeroSha(change.fromHash) ? "created" : "updated",
          repository,
          sender,
          sha,
          shaMayBeTagObject: kind === "tag" && peeled === undefined,
          ...(isZeroSha(change.fromHash) ? {} : { previousSha: change.fromHash }),
          ref,
          refKind: kind,
          refName: shortRef(ref),
          ...(message === undefined ? {} : { commitTitle: message.split("\n")[0] as string }),
        };
        events.push(event);
      }
      return { events, ignored };
    }

    case "pr:opened":
    case "pr:from_ref_updated": {
      const p = parsed.payload;
      const pullRequest = toPullRequest(p.pullRequest, server);
      if (parsed.eventKey === "pr:from_ref_updated" && parsed.payload.previousFromHash) {
        pullRequest.previousCommit = parsed.payload.previousFromHash;
      }
      return {
        events: [
          {
            ...base,
            type: "pull_request",
            action: parsed.eventKey === "pr:opened" ? "opened" : "updated",
            repository: toRepository(p.pullRequest.toRef.repository, server),
            sender: toUser(p.actor),
            sha: pullRequest.latestCommit,
            pullRequest,
          },
        ],
        ignored: [],
      };
    }

    case "pr:modified": {
      const p = parsed.payload;
      const previous = p.previousTarget;
      if (previous === undefined || previous.id === p.pullRequest.toRef.id) {
        return {
          events: [],
          ignored: [
            {
              eventKey,
              reason: "pr-modified-without-retarget",
              detail: `pull request #${p.pullRequest.id} was edited without changing its target branch`,
            },
          ],
        };
      }
      const pullRequest = toPullRequest(p.pullRequest, server);
      pullRequest.previousTargetBranch = shortRef(previous.id);
      return {
        events: [
          {
            ...base,
            type: "pull_request",
            action: "retargeted",
            repository: toRepository(p.pullRequest.toRef.repository, server),
            sender: toUser(p.actor),
            sha: pullRequest.latestCommit,
            pullRequest,
          },
        ],
        ignored: [],
      };
    }

    case "pr:declined":
    case "pr:merged":
    case "pr:deleted": {
      const p = parsed.payload;
      const pullRequest = toPullRequest(p.pullRequest, server);
      const action =
        parsed.eventKey === "pr:merged" ? "merged" : parsed.eventKey === "pr:declined" ? "declined" : "deleted";
      return {
        events: [
          {
            ...base,
            type: "pull_request_closed",
            action,
            repository: toRepository(p.pullRequest.toRef.repository, server),
            sender: toUser(p.actor),
            sha: pullRequest.latestCommit,
            pullRequest,
          },
        ],
        ignored: [],
      };
    }

    case "pr:comment:added": {
      const p = parsed.payload;
      const command: CommentCommand | undefined = parseComment(p.comment.text);
      if (command === undefined) {
        return {
          events: [],
          ignored: [
            {
              eventKey,
              reason: "comment-without-command",
              detail: `comment ${p.comment.id} on pull request #${p.pullRequest.id} holds no /test, /retest, /cancel or /ok-to-test line`,
            },
          ],
        };
      }
      const pullRequest = toPullRequest(p.pullRequest, server);
      return {
        events: [
          {
            ...base,
            type: "comment",
            action: "created",
            repository: toRepository(p.pullRequest.toRef.repository, server),
            sender: toUser(p.actor),
            sha: pullRequest.latestCommit,
            pullRequest,
            comment: { id: p.comment.id, text: p.comment.text, author: toUser(p.comment.author), command },
          },
        ],
        ignored: [],
      };
    }
  }
}

export function isZeroSha(sha: string): boolean {
  return /^0+$/.test(sha);
}

export function refKind(ref: string): RefKind | undefined {
  if (ref.startsWith("refs/heads/")) return "branch";
  if (ref.startsWith("refs/tags/")) return "tag";
  return undefined;
}

/** `refs/heads/feature/x` → `feature/x`; `refs/tags/v1` → `v1`; anything else unchanged. */
export function shortRef(ref: string): string {
  if (ref.startsWith("refs/heads/")) return ref.slice("refs/heads/".length);
  if (ref.startsWith("refs/tags/")) return ref.slice("refs/tags/".length);
  return ref;
}

function trimSlash(url: string): string {
  return url.replace(/\/+$/, "");
}

function toUser(user: User): EventUser {
  return {
    name: user.name,
    ...(user.slug === undefined ? {} : { slug: user.slug }),
    ...(user.displayName === undefined ? {} : { displayName: user.displayName }),
    ...(user.id === undefined ? {} : { id: user.id }),
  };
}

function isPersonal(repo: Repository): boolean {
  return repo.project.type === "PERSONAL" || repo.project.key.startsWith("~");
}

/**
 * The server base URL from a repository's links: the HTTP clone link up to `/scm/`, or the self link up to
 * `/projects/` or `/users/`. User info (`http://admin@host/...`) is dropped.
 */
export function serverFromLinks(repo: Repository): string | undefined {
  const clone = repo.links?.clone?.find((l) => l.name === "http" || /^https?:/.test(l.href));
  const fromClone = clone?.href.match(/^(https?:\/\/)(?:[^@/]*@)?([^/]+)(\/.*?)?\/scm\//);
  if (fromClone) return `${fromClone[1]}${fromClone[2]}${fromClone[3] ?? ""}`;
  const self = repo.links?.self?.[0]?.href;
  const fromSelf = self?.match(/^(https?:\/\/)(?:[^@/]*@)?([^/]+)(\/.*?)?\/(?:projects|users)\/[^/]+\/repos\//);
  if (fromSelf) return `${fromSelf[1]}${fromSelf[2]}${fromSelf[3] ?? ""}`;
  return undefined;
}

/** Repository URLs as Bitbucket DC builds them; `server` is the base URL without a trailing slash. */
export function repositoryUrls(
  server: string,
  projectKey: string,
  slug: string,
): { cloneUrl: string; browseUrl: string } {
  const personal = projectKey.startsWith("~");
  const browseUrl = personal
    ? `${server}/users/${encodeURIComponent(projectKey.slice(1).toLowerCase())}/repos/${encodeURIComponent(slug)}`
    : `${server}/projects/${encodeURIComponent(projectKey)}/repos/${encodeURIComponent(slug)}`;
  const cloneUrl = `${server}/scm/${encodeURIComponent(projectKey.toLowerCase()).replace("%7E", "~")}/${encodeURIComponent(slug)}.git`;
  return { cloneUrl, browseUrl };
}

function toRepository(repo: Repository, server: string | undefined): EventRepository {
  const base = server ?? serverFromLinks(repo);
  let cloneUrl: string | undefined;
  let browseUrl: string | undefined;
  if (base !== undefined) {
    ({ cloneUrl, browseUrl } = repositoryUrls(base, repo.project.key, repo.slug));
  } else {
    cloneUrl = repo.links?.clone?.find((l) => l.name === "http")?.href;
    browseUrl = repo.links?.self?.[0]?.href.replace(/\/browse\/?$/, "");
  }
  return {
    ...(base === undefined ? {} : { server: base }),
    project: repo.project.key,
    slug: repo.slug,
    ...(repo.name === undefined ? {} : { name: repo.name }),
    ...(repo.id === undefined ? {} : { id: repo.id }),
    personal: isPersonal(repo),
    ...(cloneUrl === undefined ? {} : { cloneUrl }),
    ...(browseUrl === undefined ? {} : { browseUrl }),
  };
}

function sameRepository(a: Repository, b: Repository): boolean {
  if (a.id !== undefined && b.id !== undefined) return a.id === b.id;
  return a.project.key.toLowerCase() === b.project.key.toLowerCase() && a.slug === b.slug;
}

function refKindOf(ref: PullRequestRef): RefKind {
  if (ref.type === "TAG" || ref.id.startsWith("refs/tags/")) return "tag";
  return "branch";
}

function toPullRequest(pr: PullRequest, server: string | undefined): PullRequestInfo {
  const target = toRepository(pr.toRef.repository, server);
  const from = toRepository(pr.fromRef.repository, server);
  const state = pr.state === "MERGED" ? "merged" : pr.state === "DECLINED" ? "declined" : "open";
  const url =
    pr.links?.self?.[0]?.href ??
    (target.browseUrl === undefined ? undefined : `${target.browseUrl}/pull-requests/${pr.id}`);
  return {
    number: pr.id,
    title: pr.title,
    state,
    ...(pr.draft === undefined ? {} : { draft: pr.draft }),
    ...(url === undefined ? {} : { url }),
    author: toUser(pr.author.user),
    latestCommit: pr.fromRef.latestCommit,
    targetCommit: pr.toRef.latestCommit,
    sourceRef: pr.fromRef.id,
    sourceBranch: pr.fromRef.displayId || shortRef(pr.fromRef.id),
    sourceKind: refKindOf(pr.fromRef),
    targetRef: pr.toRef.id,
    targetBranch: pr.toRef.displayId || shortRef(pr.toRef.id),
    fromRepository: { ...from, fork: !sameRepository(pr.fromRef.repository, pr.toRef.repository) },
  };
}
