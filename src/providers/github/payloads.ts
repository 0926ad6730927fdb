// GitHub webhook payloads, as far as Baton reads them: `pull_request`, `push`, `issue_comment` and `ping`.
//
// GitHub's own description of these payloads is @octokit/webhooks-types; payload-types.ts checks at compile time
// that every payload it describes is accepted by these schemas and that every field named here exists there. The
// schemas stay narrow on purpose: objects strip unknown fields (the raw JSON is kept for CEL's `body`), and only
// what Baton reads is required, so a field GitHub adds or drops elsewhere in a payload cannot break intake.
//
// The pull request object is the same in webhook payloads and REST answers (`GET /repos/{o}/{r}/pulls/{n}`), so
// `PullRequest` also validates the REST answer an issue comment needs (comment payloads carry no head commit).
import { z } from "zod";

export const User = z.object({
  login: z.string().min(1),
  id: z.number(),
  /** `User`, `Bot` or `Organization`. */
  type: z.string().optional(),
  /** Display name; present in some payloads only. */
  name: z.string().optional(),
});
export type User = z.infer<typeof User>;

export const Repository = z.object({
  id: z.number(),
  /** The repository's name (`baton`), not its full name. */
  name: z.string().min(1),
  /** `owner/name`. */
  full_name: z.string().min(1),
  owner: User,
  private: z.boolean(),
  fork: z.boolean(),
  /** Browse URL (`https://github.com/owner/name`, or the GHES host's). */
  html_url: z.string(),
  /** HTTPS clone URL. */
  clone_url: z.string(),
  default_branch: z.string(),
  archived: z.boolean().optional(),
});
export type Repository = z.infer<typeof Repository>;

const Ref = z.object({
  /** Branch name, without `refs/heads/`. */
  ref: z.string().min(1),
  sha: z.string().min(1),
  user: User,
});

export const PullRequest = z.object({
  number: z.int().positive(),
  id: z.number(),
  state: z.enum(["open", "closed"]),
  title: z.string(),
  html_url: z.string(),
  user: User,
  draft: z.boolean().optional(),
  merged: z.boolean().nullable().optional(),
  merged_at: z.string().nullable(),
  updated_at: z.string(),
  /** `repo` is null when the fork the pull request came from was deleted. */
  head: Ref.extend({ repo: Repository.nullable() }),
  base: Ref.extend({ repo: Repository }),
});
export type PullRequest = z.infer<typeof PullRequest>;

const Installation = z.object({ id: z.number() });

export const PullRequestPayload = z.object({
  /** Every action is accepted here; classify.ts decides which ones start runs. */
  action: z.string().min(1),
  number: z.int().positive(),
  pull_request: PullRequest,
  repository: Repository,
  sender: User,
  installation: Installation.optional(),
  /** `synchronize`: the previous head. */
  before: z.string().optional(),
  /** `edited`: what changed; a new base branch is a retarget. */
  changes: z
    .object({
      base: z.object({ ref: z.object({ from: z.string() }), sha: z.object({ from: z.string() }) }).optional(),
    })
    .optional(),
});
export type PullRequestPayload = z.infer<typeof PullRequestPayload>;

const Commit = z.object({
  id: z.string().min(1),
  message: z.string(),
  timestamp: z.string(),
  added: z.array(z.string()).optional(),
  removed: z.array(z.string()).optional(),
  modified: z.array(z.string()).optional(),
});

export const PushPayload = z.object({
  /** Full ref: `refs/heads/main`, `refs/tags/v1`. */
  ref: z.string().min(1),
  before: z.string(),
  after: z.string(),
  created: z.boolean(),
  deleted: z.boolean(),
  forced: z.boolean(),
  /** At most 20 (GitHub's limit for a delivery); the compare API gives the whole range. */
  commits: z.array(Commit),
  /** For an annotated tag, the commit the tag points at (while `after` is the tag object). */
  head_commit: Commit.nullable(),
  repository: Repository,
  sender: User,
  installation: Installation.optional(),
});
export type PushPayload = z.infer<typeof PushPayload>;

export const IssueCommentPayload = z.object({
  action: z.string().min(1),
  issue: z.object({
    number: z.int().positive(),
    title: z.string(),
    /** Present only when the issue is a pull request. */
    pull_request: z.object({ html_url: z.string().optional() }).optional(),
  }),
  comment: z.object({ id: z.number(), body: z.string(), user: User, html_url: z.string() }),
  repository: Repository,
  sender: User,
  installation: Installation.optional(),
});
export type IssueCommentPayload = z.infer<typeof IssueCommentPayload>;

/** Sent when a hook is created (repository, organization or App hook); the App's carries `hook.app_id`. */
export const PingPayload = z.object({
  zen: z.string(),
  hook_id: z.number(),
  hook: z.object({ type: z.string(), id: z.number(), app_id: z.number().optional(), events: z.array(z.string()) }),
  repository: Repository.optional(),
  sender: User.optional(),
});
export type PingPayload = z.infer<typeof PingPayload>;

/** Payload schema per `X-GitHub-Event` value Baton acts on. */
export const payloadSchemas = {
  pull_request: PullRequestPayload,
  push: PushPayload,
  issue_comment: IssueCommentPayload,
  ping: PingPayload,
} as const;

export type GitHubEventName = keyof typeof payloadSchemas;

export type ParsedPayload =
  | { event: "pull_request"; payload: PullRequestPayload }
  | { event: "push"; payload: PushPayload }
  | { event: "issue_comment"; payload: IssueCommentPayload }
  | { event: "ping"; payload: PingPayload }
  | { event: string; other: true };

export function isKnownEvent(event: string): event is GitHubEventName {
  return Object.hasOwn(payloadSchemas, event);
}

/**
 * Validates a decoded body against the schema for `event` (the `X-GitHub-Event` header). Events Baton does not act
 * on pass as `other`; a known event whose body does not fit is an error naming the first offending field.
 */
export function parsePayload(
  event: string,
  body: unknown,
): { ok: true; value: ParsedPayload } | { ok: false; error: string } {
  if (!isKnownEvent(event)) return { ok: true, value: { event, other: true } };
  const result = payloadSchemas[event].safeParse(body);
  if (!result.success) {
    const issue = result.error.issues[0];
    const path = issue?.path.join(".") || "(body)";
    return {
      ok: false,
      error: `the ${event} payload is not what GitHub sends: ${path}: ${issue?.message ?? "invalid"}`,
    };
  }
  return { ok: true, value: { event, payload: result.data } as ParsedPayload };
}
