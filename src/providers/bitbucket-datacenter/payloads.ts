// Bitbucket Data Center webhook payloads, as far as Baton reads them. Shapes follow
// docs/reference/bitbucket-data-center.md §4 and the real captures in test/fixtures/bitbucket-dc/webhook-*.json.
//
// Tolerance rules, because every Bitbucket release adds fields and 2017 payloads lack many:
// - objects strip unknown fields (the raw JSON is kept separately for CEL's `body` and `{{ body.* }}`);
// - only what Baton reads is required; links, ids and names that old versions omit are optional;
// - entity timestamps are epoch milliseconds up to DC 9.x and ISO-8601 strings in some DC 10.x captures: both
//   become epoch milliseconds, as in REST answers (TimestampSchema);
// - the top-level `date` has a colon-less offset (`2018-07-05T18:22:00+0000`), which is not RFC 3339.
import { z } from "zod";
import { TimestampSchema } from "./schemas.ts";

/**
 * Parses Bitbucket's payload `date` (`yyyy-MM-ddTHH:mm:ss±hhmm`) and RFC 3339 alike; returns epoch ms or NaN.
 * V8 happens to accept `+0000`, but that is not specified behaviour, so the colon is inserted first.
 */
export function parseBitbucketDate(text: string): number {
  const withColon = text.replace(/([+-]\d{2})(\d{2})$/, "$1:$2");
  return Date.parse(withColon);
}

/** The payload's top-level `date`, kept as sent; `parseBitbucketDate` reads it. */
export const PayloadDate = z.string().refine((s) => !Number.isNaN(parseBitbucketDate(s)), {
  message: "expected a date such as 2018-07-05T18:22:00+0000",
});

const Link = z.object({ href: z.string(), name: z.string().optional() });
// `links.self` is `[null]` on some entries, so null links are dropped rather than rejected.
const LinkList = z
  .array(Link.nullable())
  .transform((links) => links.filter((l): l is z.infer<typeof Link> => l !== null));
const Links = z.object({ self: LinkList.optional(), clone: LinkList.optional() });

export const User = z.object({
  name: z.string(),
  slug: z.string().optional(),
  id: z.number().optional(),
  displayName: z.string().optional(),
  emailAddress: z.string().optional(),
  active: z.boolean().optional(),
  type: z.string().optional(),
  links: Links.optional(),
});
export type User = z.infer<typeof User>;

export const Project = z.object({
  key: z.string().min(1),
  id: z.number().optional(),
  name: z.string().optional(),
  public: z.boolean().optional(),
  /** NORMAL, or PERSONAL for a user's `~slug` project (where personal forks live). */
  type: z.string().optional(),
  owner: User.optional(),
  links: Links.optional(),
});
export type Project = z.infer<typeof Project>;

const RepositoryBase = z.object({
  slug: z.string().min(1),
  id: z.number().optional(),
  name: z.string().optional(),
  project: Project,
  hierarchyId: z.string().optional(),
  scmId: z.string().optional(),
  state: z.string().optional(),
  forkable: z.boolean().optional(),
  public: z.boolean().optional(),
  archived: z.boolean().optional(),
  links: Links.optional(),
});
/** `origin` is set on forks and names the repository they were forked from. */
export const Repository = RepositoryBase.extend({ origin: RepositoryBase.optional() });
export type Repository = z.infer<typeof Repository>;

export const PullRequestRef = z.object({
  id: z.string().min(1),
  displayId: z.string(),
  latestCommit: z.string().min(1),
  /** BRANCH or TAG (a pull request can be opened from a tag on DC); absent before ~7.x. */
  type: z.string().optional(),
  repository: Repository,
});
export type PullRequestRef = z.infer<typeof PullRequestRef>;

const Participant = z.object({
  user: User,
  role: z.string().optional(),
  approved: z.boolean().optional(),
  status: z.string().optional(),
});

export const PullRequest = z.object({
  id: z.int().positive(),
  version: z.number().optional(),
  title: z.string(),
  description: z.string().optional(),
  state: z.string(),
  open: z.boolean().optional(),
  closed: z.boolean().optional(),
  draft: z.boolean().optional(),
  locked: z.boolean().optional(),
  createdDate: TimestampSchema.optional(),
  updatedDate: TimestampSchema.optional(),
  closedDate: TimestampSchema.optional(),
  fromRef: PullRequestRef,
  toRef: PullRequestRef,
  author: Participant,
  reviewers: z.array(Participant).optional(),
  participants: z.array(Participant).optional(),
  links: Links.optional(),
});
export type PullRequest = z.infer<typeof PullRequest>;

const Person = z.object({ name: z.string().optional(), emailAddress: z.string().optional() });

export const Commit = z.object({
  id: z.string().min(1),
  displayId: z.string().optional(),
  message: z.string().optional(),
  author: Person.optional(),
  authorTimestamp: TimestampSchema.optional(),
  committer: Person.optional(),
  committerTimestamp: TimestampSchema.optional(),
  parents: z.array(z.object({ id: z.string(), displayId: z.string().optional() })).optional(),
});
export type Commit = z.infer<typeof Commit>;

export const RefChange = z.object({
  /** Absent in some old payloads; `refId` is always there. */
  ref: z.object({ id: z.string(), displayId: z.string(), type: z.string().optional() }).optional(),
  refId: z.string().min(1),
  fromHash: z.string(),
  toHash: z.string(),
  /** ADD (fromHash zeros), UPDATE, DELETE (toHash zeros). */
  type: z.string(),
});
export type RefChange = z.infer<typeof RefChange>;

export const Comment = z.object({
  id: z.number(),
  version: z.number().optional(),
  text: z.string(),
  author: User,
  createdDate: TimestampSchema.optional(),
  updatedDate: TimestampSchema.optional(),
});
export type Comment = z.infer<typeof Comment>;

const Base = z.object({ date: PayloadDate, actor: User });

export const RefsChangedPayload = Base.extend({
  eventKey: z.literal("repo:refs_changed"),
  repository: Repository,
  changes: z.array(RefChange),
  /** DC 8.x+; at most a few commits; `toCommit` is the (peeled) head of the first change. */
  commits: z.array(Commit).optional(),
  toCommit: Commit.optional(),
});
export type RefsChangedPayload = z.infer<typeof RefsChangedPayload>;

const PullRequestBase = Base.extend({ pullRequest: PullRequest });

export const PullRequestOpenedPayload = PullRequestBase.extend({ eventKey: z.literal("pr:opened") });
export const PullRequestFromRefUpdatedPayload = PullRequestBase.extend({
  eventKey: z.literal("pr:from_ref_updated"),
  previousFromHash: z.string().optional(),
});
export const PullRequestModifiedPayload = PullRequestBase.extend({
  eventKey: z.literal("pr:modified"),
  previousTitle: z.string().optional(),
  previousDescription: z.string().nullish(),
  previousTarget: z
    .object({
      id: z.string(),
      displayId: z.string().optional(),
      type: z.string().optional(),
      latestCommit: z.string().optional(),
    })
    .optional(),
  previousDraft: z.boolean().optional(),
});
export const PullRequestClosedPayload = PullRequestBase.extend({
  eventKey: z.enum(["pr:declined", "pr:merged", "pr:deleted"]),
});
export const PullRequestCommentAddedPayload = PullRequestBase.extend({
  eventKey: z.literal("pr:comment:added"),
  comment: Comment,
  commentParentId: z.number().optional(),
});

/** `{"test": true}` per the one capture; unsigned and without eventKey, so nothing is required. */
export const PingPayload = z.object({ test: z.boolean().optional() });

/** Any other event (reviewers, comment edits, repository comments, forks…): read only for a clear "ignored". */
export const OtherPayload = z.object({
  eventKey: z.string().optional(),
  date: PayloadDate.optional(),
  actor: User.optional(),
});

export type PullRequestOpenedPayload = z.infer<typeof PullRequestOpenedPayload>;
export type PullRequestFromRefUpdatedPayload = z.infer<typeof PullRequestFromRefUpdatedPayload>;
export type PullRequestModifiedPayload = z.infer<typeof PullRequestModifiedPayload>;
export type PullRequestClosedPayload = z.infer<typeof PullRequestClosedPayload>;
export type PullRequestCommentAddedPayload = z.infer<typeof PullRequestCommentAddedPayload>;
export type PingPayload = z.infer<typeof PingPayload>;
export type OtherPayload = z.infer<typeof OtherPayload>;

/** The event keys Baton acts on, with the schema each body must satisfy. */
export const payloadSchemas = {
  "repo:refs_changed": RefsChangedPayload,
  "pr:opened": PullRequestOpenedPayload,
  "pr:from_ref_updated": PullRequestFromRefUpdatedPayload,
  "pr:modified": PullRequestModifiedPayload,
  "pr:declined": PullRequestClosedPayload,
  "pr:merged": PullRequestClosedPayload,
  "pr:deleted": PullRequestClosedPayload,
  "pr:comment:added": PullRequestCommentAddedPayload,
  "diagnostics:ping": PingPayload,
} as const;
export type KnownEventKey = keyof typeof payloadSchemas;

export function isKnownEventKey(key: string): key is KnownEventKey {
  return Object.hasOwn(payloadSchemas, key);
}

export type ParsedPayload =
  | { eventKey: "repo:refs_changed"; payload: RefsChangedPayload }
  | { eventKey: "pr:opened"; payload: PullRequestOpenedPayload }
  | { eventKey: "pr:from_ref_updated"; payload: PullRequestFromRefUpdatedPayload }
  | { eventKey: "pr:modified"; payload: PullRequestModifiedPayload }
  | { eventKey: "pr:declined" | "pr:merged" | "pr:deleted"; payload: PullRequestClosedPayload }
  | { eventKey: "pr:comment:added"; payload: PullRequestCommentAddedPayload }
  | { eventKey: "diagnostics:ping"; payload: PingPayload }
  | { eventKey: string; payload: OtherPayload; other: true };

export type ParsePayloadResult = { ok: true; value: ParsedPayload } | { ok: false; error: string };

/**
 * Validates `body` (already JSON-decoded) as the payload of `eventKey` (the `X-Event-Key` header).
 *
 * The header is not covered by the HMAC signature while the body is, so a body that names its own `eventKey` must
 * agree with the header: otherwise a signed comment body could be replayed as, say, `pr:opened`.
 */
export function parsePayload(eventKey: string, body: unknown): ParsePayloadResult {
  if (typeof body !== "object" || body === null || Array.isArray(body)) {
    return { ok: false, error: `the ${eventKey || "webhook"} body is not a JSON object` };
  }
  const bodyKey = (body as { eventKey?: unknown }).eventKey;
  if (bodyKey !== undefined && bodyKey !== eventKey) {
    return {
      ok: false,
      error: `the X-Event-Key header (${JSON.stringify(eventKey)}) does not match the body's eventKey (${JSON.stringify(bodyKey)})`,
    };
  }
  if (!isKnownEventKey(eventKey)) {
    const other = OtherPayload.safeParse(body);
    if (!other.success) return { ok: false, error: describe(eventKey, other.error) };
    return { ok: true, value: { eventKey, payload: other.data, other: true } };
  }
  const result = payloadSchemas[eventKey].safeParse(body);
  if (!result.success) return { ok: false, error: describe(eventKey, result.error) };
  return { ok: true, value: { eventKey, payload: result.data } as ParsedPayload };
}

/** One line naming the first few fields that failed, for a 400 response and a counter label. */
function describe(eventKey: string, error: z.ZodError): string {
  const problems = error.issues.slice(0, 3).map((i) => `${i.path.join(".") || "(body)"}: ${i.message}`);
  const more = error.issues.length > 3 ? ` (and ${error.issues.length - 3} more)` : "";
  return `invalid ${eventKey || "webhook"} payload: ${problems.join("; ")}${more}`;
}
