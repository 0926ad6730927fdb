// Bitbucket Cloud 2.0 bodies, as far as Baton reads them: the entities webhooks and REST share, and the REST
// answers of the endpoints the client calls. Shapes follow shared/reference/bitbucket-cloud.md §2, §4–§6 and the
// captures in test/fixtures/bitbucket-cloud/.
//
// Tolerance rules, since the captures span 2017–2026 and Cloud adds fields freely:
// - objects strip unknown fields (the raw JSON is kept apart for CEL's `body`);
// - only what Baton reads is required. Accounts changed shape in 2018 and 2019 (`username` went, `account_id` and
//   `nickname` came), so every account field but `uuid` is optional;
// - timestamps stay ISO-8601 strings: Cloud sends three spellings (microseconds with `+00:00`, none, and
//   nanoseconds with `Z`), all of which `Date.parse` reads.
import { z } from "zod";

/** `{…}`-wrapped uuid as the API spells it; headers drop the braces (reference §3.1). */
export const Uuid = z.string().min(1);

const Href = z.object({ href: z.string() });

export const Account = z.object({
  /** `user`, `team` (a workspace, e.g. Pipelines' own statuses), `app_user` (UNCONFIRMED for access tokens). */
  type: z.string().optional(),
  uuid: Uuid,
  /** From 2018; absent on 2017 captures and on `team` accounts. */
  account_id: z.string().nullish(),
  nickname: z.string().optional(),
  /** Until April 2019 for users; still on `team` accounts (the workspace slug). */
  username: z.string().optional(),
  display_name: z.string().optional(),
});
export type Account = z.infer<typeof Account>;

/** A repository as every body names it: `full_name` is `<workspace>/<slug>`. */
export const RepositoryRef = z.object({
  type: z.string().optional(),
  full_name: z.string().regex(/^[^/]+\/[^/]+$/, "expected <workspace>/<slug>"),
  name: z.string().optional(),
  uuid: Uuid,
  links: z.object({ html: Href.optional() }).optional(),
});
export type RepositoryRef = z.infer<typeof RepositoryRef>;

export const Repository = RepositoryRef.extend({
  is_private: z.boolean().optional(),
  scm: z.string().optional(),
  project: z.object({ key: z.string(), uuid: Uuid.optional(), name: z.string().optional() }).optional(),
  workspace: z.object({ slug: z.string(), uuid: Uuid.optional(), name: z.string().optional() }).optional(),
  /** REST only (`GET /repositories/{ws}/{slug}`); webhooks carry no clone links. */
  mainbranch: z.object({ name: z.string() }).nullish(),
});
export type Repository = z.infer<typeof Repository>;

/** 12 hex in webhook and PR bodies, 40 in push targets and REST commit answers. */
export const CommitHash = z.string().regex(/^[0-9a-f]{7,40}$/, "expected a hex commit hash");

export const PullRequestEnd = z.object({
  branch: z.object({ name: z.string().min(1) }),
  commit: z.object({ hash: CommitHash }),
  repository: RepositoryRef,
});
export type PullRequestEnd = z.infer<typeof PullRequestEnd>;

export const PullRequestState = z.enum(["OPEN", "MERGED", "DECLINED", "SUPERSEDED"]);

export const PullRequest = z.object({
  id: z.int().positive(),
  title: z.string(),
  description: z.string().optional(),
  state: PullRequestState,
  /** 2026 captures only. */
  draft: z.boolean().optional(),
  author: Account,
  source: PullRequestEnd,
  destination: PullRequestEnd,
  close_source_branch: z.boolean().optional(),
  merge_commit: z.object({ hash: CommitHash }).nullish(),
  closed_by: Account.nullish(),
  created_on: z.string().optional(),
  updated_on: z.string().optional(),
  /** REST answers also carry `diffstat`: the PR's revspec, which names the fork for fork PRs (reference §4.2). */
  links: z.object({ html: Href.optional(), diffstat: Href.optional() }).optional(),
});
export type PullRequest = z.infer<typeof PullRequest>;

export const Comment = z.object({
  id: z.int(),
  content: z.object({ raw: z.string() }),
  /** Null when an access token wrote it (its actor shape is UNCONFIRMED, reference §1.4); the event's actor then. */
  user: Account.nullish(),
  deleted: z.boolean().optional(),
  /** Inline comments and replies; general comments have neither. */
  inline: z.object({ path: z.string() }).nullish(),
  parent: z.object({ id: z.int() }).nullish(),
  created_on: z.string().optional(),
  links: z.object({ html: Href.optional() }).optional(),
});
export type Comment = z.infer<typeof Comment>;

export const Commit = z.object({
  hash: CommitHash,
  message: z.string().optional(),
  date: z.string().optional(),
  parents: z.array(z.object({ hash: CommitHash })).optional(),
  author: z.object({ raw: z.string().optional(), user: Account.optional() }).optional(),
});
export type Commit = z.infer<typeof Commit>;

// ---------------------------------------------------------------------------------------------------------------
// REST answers

/** The paging envelope (§6.4): only `values` and `next` are promised, and the last page has no `next`. */
export function pageOf<T extends z.ZodType>(item: T) {
  return z.object({
    values: z.array(item),
    next: z.string().optional(),
    pagelen: z.number().optional(),
    size: z.number().optional(),
    page: z.number().optional(),
  });
}

/** `{"type": "error", "error": {"message": …}}`; `message` is always there (§6.4). */
export const ErrorBody = z.object({
  type: z.literal("error"),
  error: z.object({
    message: z.string(),
    detail: z.unknown().optional(),
    fields: z.record(z.string(), z.unknown()).optional(),
  }),
});

/** A `/src/{commit}/{dir}/` entry or a file's `?format=meta`. `path` is absolute from the repository root. */
export const SourceEntry = z.object({
  type: z.enum(["commit_file", "commit_directory"]),
  path: z.string(),
  size: z.number().optional(),
  attributes: z.array(z.string()).optional(),
  mimetype: z.string().nullish(),
  commit: z.object({ hash: CommitHash }).optional(),
});
export type SourceEntry = z.infer<typeof SourceEntry>;

const DiffstatFile = z.object({ path: z.string() });

export const Diffstat = z.object({
  status: z.string(),
  old: DiffstatFile.nullable(),
  new: DiffstatFile.nullable(),
  lines_added: z.number().optional(),
  lines_removed: z.number().optional(),
});
export type Diffstat = z.infer<typeof Diffstat>;

export const BuildState = z.enum(["INPROGRESS", "SUCCESSFUL", "FAILED", "STOPPED"]);
export type BuildState = z.infer<typeof BuildState>;

export const CommitStatus = z.object({
  key: z.string(),
  type: z.string().optional(),
  state: BuildState,
  name: z.string().nullish(),
  url: z.string().nullish(),
  description: z.string().nullish(),
  refname: z.string().nullish(),
  commit: z.object({ hash: CommitHash }).optional(),
  created_on: z.string().optional(),
  updated_on: z.string().optional(),
});
export type CommitStatus = z.infer<typeof CommitStatus>;

export const Webhook = z.object({
  uuid: Uuid,
  url: z.string(),
  description: z.string().nullish(),
  active: z.boolean(),
  events: z.array(z.string()),
  /** Absent before ~2020; the secret itself is never returned (§2.2). */
  secret_set: z.boolean().optional(),
  subject_type: z.enum(["repository", "workspace"]).optional(),
  subject: z.object({ type: z.string(), uuid: Uuid.optional(), full_name: z.string().optional() }).optional(),
  created_at: z.string().optional(),
});
export type Webhook = z.infer<typeof Webhook>;

export const WorkspaceMembership = z.object({
  user: Account,
  workspace: z.object({ slug: z.string(), uuid: Uuid.optional() }).optional(),
});
export type WorkspaceMembership = z.infer<typeof WorkspaceMembership>;
