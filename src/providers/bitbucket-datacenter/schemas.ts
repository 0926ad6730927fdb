import { z } from "zod";

// Response schemas for the Bitbucket DC endpoints Baton calls. Objects strip unknown fields (servers add fields
// every release) and require only what Baton reads. Shapes follow docs/reference/bitbucket-data-center.md and
// the captures in test/fixtures/bitbucket-dc.

/**
 * Optional fields: absent or null (some DC versions write explicit nulls) both read as undefined, so callers
 * check one thing.
 */
function opt<T extends z.ZodType>(schema: T) {
  return schema.nullish().transform((value) => value ?? undefined);
}

/**
 * Entity timestamps are epoch milliseconds up to DC 9.x and ISO-8601 strings in some DC 10.x responses;
 * both become epoch milliseconds.
 */
export const TimestampSchema = z.union([
  z.number(),
  z.string().transform((value, ctx) => {
    const ms = /^\d+$/.test(value) ? Number(value) : Date.parse(value);
    if (Number.isNaN(ms)) {
      ctx.addIssue({ code: "custom", message: "expected epoch milliseconds or an ISO-8601 date" });
      return z.NEVER;
    }
    return ms;
  }),
]);

const LinkSchema = z.object({ href: z.string(), name: opt(z.string()) });
// `links.self` is `[null]` on some change entries, so null links are dropped rather than rejected.
const LinkListSchema = z
  .array(LinkSchema.nullable())
  .transform((links) => links.filter((l): l is z.infer<typeof LinkSchema> => l !== null));
const LinksSchema = z.object({ self: opt(LinkListSchema), clone: opt(LinkListSchema) });

export const UserSchema = z.object({
  name: z.string(),
  slug: z.string(),
  id: opt(z.number()),
  displayName: opt(z.string()),
  emailAddress: opt(z.string()),
  active: opt(z.boolean()),
  type: opt(z.string()),
});
export type User = z.infer<typeof UserSchema>;

export const ProjectSchema = z.object({
  key: z.string(),
  id: z.number(),
  name: z.string(),
  description: opt(z.string()),
  public: opt(z.boolean()),
  type: opt(z.string()),
  links: opt(LinksSchema),
});
export type Project = z.infer<typeof ProjectSchema>;

const RepositoryBaseSchema = z.object({
  slug: z.string(),
  id: z.number(),
  name: z.string(),
  project: ProjectSchema,
  hierarchyId: opt(z.string()),
  scmId: opt(z.string()),
  state: opt(z.string()),
  forkable: opt(z.boolean()),
  public: opt(z.boolean()),
  archived: opt(z.boolean()),
  links: opt(LinksSchema),
});
/** `origin` is set on forks and names the repository it was forked from. */
export const RepositorySchema = RepositoryBaseSchema.extend({ origin: opt(RepositoryBaseSchema) });
export type Repository = z.infer<typeof RepositorySchema>;

export const RefSchema = z.object({
  id: z.string(),
  displayId: z.string(),
  latestCommit: z.string(),
  type: opt(z.string()),
  repository: RepositorySchema,
});
export type Ref = z.infer<typeof RefSchema>;

export const ParticipantSchema = z.object({
  user: UserSchema,
  role: z.string(),
  approved: opt(z.boolean()),
  status: opt(z.string()),
});

export const PullRequestStateSchema = z.enum(["OPEN", "MERGED", "DECLINED"]);

export const PullRequestSchema = z.object({
  id: z.number(),
  version: z.number(),
  title: z.string(),
  description: opt(z.string()),
  state: PullRequestStateSchema,
  open: z.boolean(),
  closed: z.boolean(),
  draft: opt(z.boolean()),
  locked: opt(z.boolean()),
  createdDate: TimestampSchema,
  updatedDate: TimestampSchema,
  closedDate: opt(TimestampSchema),
  fromRef: RefSchema,
  toRef: RefSchema,
  author: ParticipantSchema,
  reviewers: z.array(ParticipantSchema).default([]),
  participants: z.array(ParticipantSchema).default([]),
  links: opt(LinksSchema),
});
export type PullRequest = z.infer<typeof PullRequestSchema>;

const ChangePathSchema = z.object({
  components: z.array(z.string()),
  name: z.string(),
  parent: opt(z.string()),
  extension: opt(z.string()),
  toString: z.string(),
});

/** A directory's `browse`: its entries are a page nested under `children`; a file answers with `lines` instead. */
export const BrowseSchema = z.object({
  children: opt(
    z.object({
      values: z.array(
        z.object({
          path: ChangePathSchema,
          contentId: opt(z.string()),
          type: z.string(),
          size: opt(z.number()),
        }),
      ),
      isLastPage: z.boolean(),
      nextPageStart: z.number().nullish(),
    }),
  ),
});

export const ChangeSchema = z.object({
  path: ChangePathSchema,
  srcPath: opt(ChangePathSchema),
  type: z.string(),
  nodeType: opt(z.string()),
  contentId: opt(z.string()),
  fromContentId: opt(z.string()),
  executable: opt(z.boolean()),
});
export type Change = z.infer<typeof ChangeSchema>;

/** Pull-request and commit changes: one page with the compared hashes alongside. */
export const ChangesPageSchema = z.object({
  fromHash: z.string().nullish(),
  toHash: z.string().nullish(),
  values: z.array(ChangeSchema),
  isLastPage: z.boolean(),
  limit: opt(z.number()),
  nextPageStart: z.number().nullish(),
});

/** Commit authors need not be Bitbucket users, so only `name` is certain. */
const PersonSchema = z.object({ name: z.string(), emailAddress: opt(z.string()) });

export const CommitSchema = z.object({
  id: z.string(),
  displayId: z.string(),
  author: PersonSchema,
  authorTimestamp: TimestampSchema,
  committer: opt(PersonSchema),
  committerTimestamp: opt(TimestampSchema),
  message: z.string(),
  parents: z.array(z.object({ id: z.string(), displayId: opt(z.string()) })).default([]),
});
export type Commit = z.infer<typeof CommitSchema>;

export const CommentSchema = z.object({
  id: z.number(),
  version: z.number(),
  text: z.string(),
  author: opt(UserSchema),
  createdDate: opt(TimestampSchema),
});
export type Comment = z.infer<typeof CommentSchema>;

// `configuration` keeps unknown keys: PUT replaces the whole webhook, so a caller copying a webhook must be able
// to send back keys it does not know about (e.g. `createdBy`).
const WebhookConfigurationSchema = z.looseObject({ secret: opt(z.string()) });

export const WebhookSchema = z.object({
  id: z.number(),
  name: z.string(),
  url: z.string(),
  active: z.boolean(),
  events: z.array(z.string()),
  configuration: opt(WebhookConfigurationSchema),
  credentials: opt(z.object({ username: opt(z.string()) })),
  sslVerificationRequired: opt(z.boolean()),
  scopeType: opt(z.string()),
  createdDate: opt(TimestampSchema),
  updatedDate: opt(TimestampSchema),
});
export type Webhook = z.infer<typeof WebhookSchema>;

// Only id, name and createdDate are certain (reference §1.3); the rest appear on some versions.
export const AccessTokenSchema = z.object({
  id: z.union([z.string(), z.number().transform(String)]),
  name: z.string(),
  createdDate: TimestampSchema,
  permissions: opt(z.array(z.string())),
  expiryDays: opt(z.number()),
  expiryDate: opt(TimestampSchema),
  lastAuthenticated: opt(TimestampSchema),
  user: opt(UserSchema),
});
export type AccessToken = z.infer<typeof AccessTokenSchema>;

/** The create response is the only one carrying the secret. */
export const CreatedAccessTokenSchema = AccessTokenSchema.extend({ token: z.string() });
export type CreatedAccessToken = z.infer<typeof CreatedAccessTokenSchema>;

export const BuildStateSchema = z.enum(["INPROGRESS", "SUCCESSFUL", "FAILED", "CANCELLED", "UNKNOWN"]);
export type BuildState = z.infer<typeof BuildStateSchema>;

export const BuildStatusSchema = z.object({
  key: z.string(),
  state: BuildStateSchema,
  url: z.string(),
  name: opt(z.string()),
  description: opt(z.string()),
  buildNumber: opt(z.string()),
  ref: opt(z.string()),
  parent: opt(z.string()),
  duration: opt(z.number()),
  createdDate: opt(TimestampSchema),
  updatedDate: opt(TimestampSchema),
});
export type BuildStatus = z.infer<typeof BuildStatusSchema>;

export const BuildCapabilitiesSchema = z.object({ buildStatus: z.array(z.string()).default([]) });
export type BuildCapabilities = z.infer<typeof BuildCapabilitiesSchema>;

export const PathTypeSchema = z.object({ type: z.enum(["FILE", "DIRECTORY", "SUBMODULE"]) });

export const ApplicationPropertiesSchema = z.object({
  version: z.string(),
  buildNumber: opt(z.string()),
  displayName: opt(z.string()),
});
export type ApplicationProperties = z.infer<typeof ApplicationPropertiesSchema>;

export function pageOf<T extends z.ZodType>(item: T) {
  return z.object({
    values: z.array(item),
    isLastPage: z.boolean(),
    nextPageStart: z.number().nullish(),
    start: opt(z.number()),
    limit: opt(z.number()),
    size: opt(z.number()),
  });
}
