import { z } from "zod";

// Response schemas for the Bitbucket DC endpoints Baton calls. Objects strip unknown fields (servers add fields
// every release) and require only what Baton reads. Shapes follow docs/reference/bitbucket-data-center.md and
// the captures in test/fixtures/bitbucket-dc.

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

const LinkSchema = z.object({ href: z.string(), name: z.string().optional() });
// `links.self` is `[null]` on some change entries, so null links are dropped rather than rejected.
const LinkListSchema = z
  .array(LinkSchema.nullable())
  .transform((links) => links.filter((l): l is z.infer<typeof LinkSchema> => l !== null));
const LinksSchema = z.object({ self: LinkListSchema.optional(), clone: LinkListSchema.optional() });

export const UserSchema = z.object({
  name: z.string(),
  slug: z.string(),
  id: z.number().optional(),
  displayName: z.string().optional(),
  emailAddress: z.string().optional(),
  active: z.boolean().optional(),
  type: z.string().optional(),
});
export type User = z.infer<typeof UserSchema>;

export const ProjectSchema = z.object({
  key: z.string(),
  id: z.number(),
  name: z.string(),
  description: z.string().optional(),
  public: z.boolean().optional(),
  type: z.string().optional(),
  links: LinksSchema.optional(),
});
export type Project = z.infer<typeof ProjectSchema>;

const RepositoryBaseSchema = z.object({
  slug: z.string(),
  id: z.number(),
  name: z.string(),
  project: ProjectSchema,
  hierarchyId: z.string().optional(),
  scmId: z.string().optional(),
  state: z.string().optional(),
  forkable: z.boolean().optional(),
  public: z.boolean().optional(),
  archived: z.boolean().optional(),
  links: LinksSchema.optional(),
});
/** `origin` is set on forks and names the repository it was forked from. */
export const RepositorySchema = RepositoryBaseSchema.extend({ origin: RepositoryBaseSchema.optional() });
export type Repository = z.infer<typeof RepositorySchema>;

export const RefSchema = z.object({
  id: z.string(),
  displayId: z.string(),
  latestCommit: z.string(),
  type: z.string().optional(),
  repository: RepositorySchema,
});
export type Ref = z.infer<typeof RefSchema>;

export const ParticipantSchema = z.object({
  user: UserSchema,
  role: z.string(),
  approved: z.boolean().optional(),
  status: z.string().optional(),
});

export const PullRequestStateSchema = z.enum(["OPEN", "MERGED", "DECLINED"]);

export const PullRequestSchema = z.object({
  id: z.number(),
  version: z.number(),
  title: z.string(),
  description: z.string().optional(),
  state: PullRequestStateSchema,
  open: z.boolean(),
  closed: z.boolean(),
  draft: z.boolean().optional(),
  locked: z.boolean().optional(),
  createdDate: TimestampSchema,
  updatedDate: TimestampSchema,
  closedDate: TimestampSchema.optional(),
  fromRef: RefSchema,
  toRef: RefSchema,
  author: ParticipantSchema,
  reviewers: z.array(ParticipantSchema).default([]),
  participants: z.array(ParticipantSchema).default([]),
  links: LinksSchema.optional(),
});
export type PullRequest = z.infer<typeof PullRequestSchema>;

const ChangePathSchema = z.object({
  components: z.array(z.string()),
  name: z.string(),
  parent: z.string().optional(),
  extension: z.string().optional(),
  toString: z.string(),
});

export const ChangeSchema = z.object({
  path: ChangePathSchema,
  srcPath: ChangePathSchema.optional(),
  type: z.string(),
  nodeType: z.string().optional(),
  contentId: z.string().optional(),
  fromContentId: z.string().optional(),
  executable: z.boolean().optional(),
});

/** Pull-request and commit changes: one page with the compared hashes alongside. */
export const ChangesPageSchema = z.object({
  fromHash: z.string().nullish(),
  toHash: z.string().nullish(),
  values: z.array(ChangeSchema),
  isLastPage: z.boolean(),
  limit: z.number().optional(),
  nextPageStart: z.number().nullish(),
});

/** Commit authors need not be Bitbucket users, so only `name` is certain. */
const PersonSchema = z.object({ name: z.string(), emailAddress: z.string().optional() });

export const CommitSchema = z.object({
  id: z.string(),
  displayId: z.string(),
  author: PersonSchema,
  authorTimestamp: TimestampSchema,
  committer: PersonSchema.optional(),
  committerTimestamp: TimestampSchema.optional(),
  message: z.string(),
  parents: z.array(z.object({ id: z.string(), displayId: z.string().optional() })).default([]),
});
export type Commit = z.infer<typeof CommitSchema>;

export const CommentSchema = z.object({
  id: z.number(),
  version: z.number(),
  text: z.string(),
  author: UserSchema.optional(),
  createdDate: TimestampSchema.optional(),
});
export type Comment = z.infer<typeof CommentSchema>;

// `configuration` keeps unknown keys: PUT replaces the whole webhook, so a caller copying a webhook must be able
// to send back keys it does not know about (e.g. `createdBy`).
const WebhookConfigurationSchema = z.looseObject({ secret: z.string().optional() });

export const WebhookSchema = z.object({
  id: z.number(),
  name: z.string(),
  url: z.string(),
  active: z.boolean(),
  events: z.array(z.string()),
  configuration: WebhookConfigurationSchema.optional(),
  credentials: z.object({ username: z.string().optional() }).optional(),
  sslVerificationRequired: z.boolean().optional(),
  scopeType: z.string().optional(),
  createdDate: TimestampSchema.optional(),
  updatedDate: TimestampSchema.optional(),
});
export type Webhook = z.infer<typeof WebhookSchema>;

// Only id, name and createdDate are certain (reference §1.3); the rest appear on some versions.
export const AccessTokenSchema = z.object({
  id: z.union([z.string(), z.number().transform(String)]),
  name: z.string(),
  createdDate: TimestampSchema,
  permissions: z.array(z.string()).optional(),
  expiryDays: z.number().optional(),
  expiryDate: TimestampSchema.optional(),
  lastAuthenticated: TimestampSchema.optional(),
  user: UserSchema.optional(),
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
  name: z.string().optional(),
  description: z.string().optional(),
  buildNumber: z.string().optional(),
  ref: z.string().optional(),
  parent: z.string().optional(),
  duration: z.number().optional(),
  createdDate: TimestampSchema.optional(),
  updatedDate: TimestampSchema.optional(),
});
export type BuildStatus = z.infer<typeof BuildStatusSchema>;

export const BuildCapabilitiesSchema = z.object({ buildStatus: z.array(z.string()).default([]) });
export type BuildCapabilities = z.infer<typeof BuildCapabilitiesSchema>;

export const PathTypeSchema = z.object({ type: z.enum(["FILE", "DIRECTORY", "SUBMODULE"]) });

export const ApplicationPropertiesSchema = z.object({
  version: z.string(),
  buildNumber: z.string().optional(),
  displayName: z.string().optional(),
});
export type ApplicationProperties = z.infer<typeof ApplicationPropertiesSchema>;

/** Bitbucket's error envelope; parsed leniently since it only feeds error messages. */
export const ErrorBodySchema = z.object({
  errors: z.array(
    z.object({
      message: z.string().nullish(),
      exceptionName: z.string().nullish(),
      context: z.string().nullish(),
    }),
  ),
});

export function pageOf<T extends z.ZodType>(item: T) {
  return z.object({
    values: z.array(item),
    isLastPage: z.boolean(),
    nextPageStart: z.number().nullish(),
    start: z.number().optional(),
    limit: z.number().optional(),
    size: z.number().optional(),
  });
}
