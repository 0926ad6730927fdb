// The provider-neutral event every later stage works on (dedupe, trust, matching, templating, building).
// Every provider (src/providers/<kind>/) maps its payloads onto this shape; Data Center was the first.
// (On GitHub, `project` is the owner login and `slug` the repository name.)
//
// Branch names are short (`main`), refs are full (`refs/heads/main`); Pipelines-as-Code's quirks (a push's
// `target_branch` is the full ref) are applied where PAC semantics are needed (pipelines/match.ts,
// pipelines/template.ts), not here.
import { z } from "zod";
import { CommentCommand } from "./comments.ts";

export const Provider = z.enum(["bitbucket-datacenter", "bitbucket-cloud", "github"]);
export type Provider = z.infer<typeof Provider>;

export const EventUser = z.object({
  /** The login name (Bitbucket DC `name`); PAC's `{{ sender }}`. */
  name: z.string(),
  /** The URL-safe slug the user search and `~slug` projects use. */
  slug: z.string().optional(),
  displayName: z.string().optional(),
  id: z.number().optional(),
});
export type EventUser = z.infer<typeof EventUser>;

export const EventRepository = z.object({
  /** Base URL of the server including any context path, without a trailing slash (`https://host/bitbucket`). */
  server: z.string().optional(),
  /** Project key (`PRJ`, or `~USER` for a personal project). */
  project: z.string(),
  slug: z.string(),
  name: z.string().optional(),
  id: z.number().optional(),
  /** In a user's personal project (`~user`): where personal forks live; a project token cannot read those. */
  personal: z.boolean(),
  /** HTTP(S) clone URL. */
  cloneUrl: z.string().optional(),
  /** Browse URL without `/browse` (`https://host/projects/PRJ/repos/slug`); PAC's `repo_url`. */
  browseUrl: z.string().optional(),
});
export type EventRepository = z.infer<typeof EventRepository>;

export const RefKind = z.enum(["branch", "tag"]);
export type RefKind = z.infer<typeof RefKind>;

export const PullRequestInfo = z.object({
  number: z.int().positive(),
  title: z.string(),
  state: z.enum(["open", "merged", "declined"]),
  draft: z.boolean().optional(),
  url: z.string().optional(),
  author: EventUser,
  /** Head commit of the source ref: what runs build. */
  latestCommit: z.string(),
  /** Commit of the target branch when the event was sent. */
  targetCommit: z.string().optional(),
  sourceRef: z.string(),
  sourceBranch: z.string(),
  sourceKind: RefKind,
  targetRef: z.string(),
  targetBranch: z.string(),
  /** The repository the source ref lives in; `fork` when it is not the target repository. */
  fromRepository: EventRepository.extend({ fork: z.boolean() }),
  /** pr:from_ref_updated: the previous head. */
  previousCommit: z.string().optional(),
  /** pr:modified with a retarget: the previous target branch (short name). */
  previousTargetBranch: z.string().optional(),
});
export type PullRequestInfo = z.infer<typeof PullRequestInfo>;

/** Changed files, as PAC's `files.*` CEL variables. Not in webhook payloads: the caller fetches them if needed. */
export const ChangedFiles = z.object({
  all: z.array(z.string()),
  added: z.array(z.string()),
  deleted: z.array(z.string()),
  modified: z.array(z.string()),
  renamed: z.array(z.string()),
});
export type ChangedFiles = z.infer<typeof ChangedFiles>;

const common = {
  provider: Provider,
  /** The provider's own event name (`pr:opened`): for logs and counters. */
  eventKey: z.string(),
  /** `X-Request-Id`: one per delivery. */
  requestId: z.string().optional(),
  /** When the provider says it sent the event (payload `date`), else when Baton received it; RFC 3339. */
  deliveredAt: z.string(),
  sender: EventUser,
  /** Request headers with lower-case names, without credentials (Authorization, Cookie) or the signature. */
  headers: z.record(z.string(), z.string()),
  /** The payload as received, for CEL's `body` and `{{ body.* }}`. */
  body: z.unknown(),
  changedFiles: ChangedFiles.optional(),
};

export const PushEvent = z.object({
  ...common,
  type: z.literal("push"),
  action: z.enum(["created", "updated"]),
  repository: EventRepository,
  /** The commit to build (for an annotated tag, the peeled commit when the payload says it). */
  sha: z.string(),
  /** True when `sha` may be an annotated tag object rather than a commit (no `toCommit` to peel it). */
  shaMayBeTagObject: z.boolean(),
  previousSha: z.string().optional(),
  ref: z.string(),
  refKind: RefKind,
  /** Branch name for branch pushes, tag name for tags. */
  refName: z.string(),
  /** First line of the head commit's message, when the payload carries it (DC 8+ `toCommit`/`commits`). */
  commitTitle: z.string().optional(),
});
export type PushEvent = z.infer<typeof PushEvent>;

export const PullRequestEvent = z.object({
  ...common,
  type: z.literal("pull_request"),
  /** opened; updated (new head commit); retargeted (target branch changed). */
  action: z.enum(["opened", "updated", "retargeted"]),
  repository: EventRepository,
  sha: z.string(),
  pullRequest: PullRequestInfo,
});
export type PullRequestEvent = z.infer<typeof PullRequestEvent>;

export const CommentEvent = z.object({
  ...common,
  type: z.literal("comment"),
  action: z.literal("created"),
  repository: EventRepository,
  /** The pull request's head when the comment was made. */
  sha: z.string(),
  pullRequest: PullRequestInfo,
  comment: z.object({ id: z.number(), text: z.string(), author: EventUser, command: CommentCommand }),
});
export type CommentEvent = z.infer<typeof CommentEvent>;

export const PullRequestClosedEvent = z.object({
  ...common,
  type: z.literal("pull_request_closed"),
  action: z.enum(["merged", "declined", "deleted"]),
  repository: EventRepository,
  sha: z.string(),
  pullRequest: PullRequestInfo,
});
export type PullRequestClosedEvent = z.infer<typeof PullRequestClosedEvent>;

/** A "Test connection" from the webhook settings; carries no repository. */
export const PingEvent = z.object({ ...common, type: z.literal("ping"), action: z.literal("ping") });
export type PingEvent = z.infer<typeof PingEvent>;

export const BatonEvent = z.discriminatedUnion("type", [
  PushEvent,
  PullRequestEvent,
  CommentEvent,
  PullRequestClosedEvent,
  PingEvent,
]);
export type BatonEvent = z.infer<typeof BatonEvent>;
export type EventType = BatonEvent["type"];

/** Events tied to a pull request. */
export type PullRequestScopedEvent = PullRequestEvent | CommentEvent | PullRequestClosedEvent;

export function isPullRequestScoped(event: BatonEvent): event is PullRequestScopedEvent {
  return event.type === "pull_request" || event.type === "comment" || event.type === "pull_request_closed";
}
