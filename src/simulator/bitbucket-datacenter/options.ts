import { z } from "zod";

/**
 * One switch per point the reference (docs/reference/bitbucket-data-center.md) marks UNCONFIRMED, plus a few
 * behaviours the simulator had to choose. docs/simulator.md has the table with the reasoning behind each default.
 */
export const switchesSchema = z.object({
  /** refs/pull-requests/<id>/{from,merge} lag behind the source head until the PR is viewed or refreshed (§10). */
  lazyPullRequestRefs: z.boolean().default(false),
  /** Accept Basic `x-token-auth:<token>` for every token kind (§2.2: which releases do is UNCONFIRMED). */
  acceptTokenAsBasicWithXTokenAuth: z.boolean().default(false),
  /** Token secrets start with `BBDC-` (§1.3: the release that added it is UNCONFIRMED). */
  tokenPrefix: z.boolean().default(true),
  /** Token JSON carries `expiryDate` (epoch ms) next to `expiryDays` (§1.3 UNCONFIRMED). */
  tokenExpiryDateField: z.boolean().default(false),
  /**
   * Token `createdDate` (and `expiryDate`) are date-time strings, as the 9.2 spec's `RestAccessToken` declares,
   * rather than the epoch ms clients parse (§1.3).
   */
  isoTokenDates: z.boolean().default(false),
  /** Expired tokens still appear in token listings (§1.4 UNCONFIRMED). */
  listExpiredTokens: z.boolean().default(true),
  /** `/rest/access-tokens/latest/admin` exists (8.3 docs list it, the 9.2 spec does not; §1.1 UNCONFIRMED). */
  accessTokenAdminApi: z.boolean().default(true),
  /** With a maximum expiry set, a create without `expiryDays` is refused (400) rather than given the maximum. */
  requireExpiryWhenMaximumSet: z.boolean().default(true),
  /** Status answered to a token calling the access-tokens API (§1.4: the spec lists 401; UNCONFIRMED). */
  tokenOnAccessTokensApiStatus: z.union([z.literal(401), z.literal(403)]).default(401),
  /** At most this many tokens per scope; the next create gets 400 (§1.1: "the maximum is not stated"). */
  maxTokensPerScope: z.number().int().positive().default(100),
  /** `type` of the system-generated user behind project/repository tokens (§2.3 UNCONFIRMED). */
  tokenUserType: z.enum(["SERVICE", "NORMAL"]).default("SERVICE"),
  /** That user's `displayName` is the token's name (§2.3 UNCONFIRMED); otherwise it equals the generated slug. */
  tokenUserDisplayNameIsTokenName: z.boolean().default(true),
  /** First version with project-level webhooks: "8.8" or "8.9" (§3.1 UNCONFIRMED). Below it those paths 404. */
  projectWebhooksSince: z.string().default("8.9"),
  /** Entity timestamps in webhook payloads are ISO-8601 strings, as in some DC 10.x captures (§11). */
  isoEntityTimestamps: z.boolean().default(false),
  /** `repo:refs_changed` carries `toCommit` and `commits[]` (§4.2: since when is UNCONFIRMED). */
  refsChangedCommits: z.boolean().default(true),
  /** Sign `diagnostics:ping` with the secret of the webhook named by `webhookId` (§4.4 UNCONFIRMED). */
  signDiagnosticsPing: z.boolean().default(true),
  /** `User-Agent` of deliveries (§3.3: DC's own is UNCONFIRMED); null sends none. `{version}`/`{build}` expand. */
  deliveryUserAgent: z
    .string()
    .nullable()
    .default("Atlassian HttpClient 4.2.0 / Bitbucket-{version} ({build}) / Default"),
  /** Maximum `key` length of a build status: 255 per the spec, 40 per Flux's code (§5.1 UNCONFIRMED). */
  buildStatusKeyMaxLength: z.number().int().positive().default(255),
  /** First version with the repository-scoped build-status POST (§5.1: believed 7.4, UNCONFIRMED). */
  buildStatusSince: z.string().default("7.4"),
  /**
   * Project and repository tokens may use the legacy `/rest/build-status/1.0/commits/{sha}`, which asks for the
   * global LICENSED permission their generated users are not known to hold (§1.4, §5.2: UNCONFIRMED).
   */
  legacyBuildStatusProjectTokens: z.boolean().default(false),
  /** 429 answers add `X-RateLimit-*` headers besides `Retry-After` (§7.4 UNCONFIRMED). */
  rateLimitExtraHeaders: z.boolean().default(false),
  /** Key used for "changes requested" in the accepted/advertised event list (§3.4 UNCONFIRMED rename). */
  changesRequestedEventKey: z
    .enum(["pr:reviewer:needs_work", "pr:reviewer:changes_requested"])
    .default("pr:reviewer:changes_requested"),
  /** Key of the project-modified event in the advertised list (§3.4: `proj:` vs `project:` UNCONFIRMED). */
  projectModifiedEventKey: z.enum(["project:modified", "proj:modified"]).default("project:modified"),
  /** Write `refs/pull-requests/<id>/merge` (a merge of from into the target) beside `/from` (§10). */
  pullRequestMergeRefs: z.boolean().default(true),
  /** Deleting a PR's source (or target) branch declines the open PR, as Bitbucket does. */
  declineOnBranchDelete: z.boolean().default(true),
});

export type SimulatorSwitches = z.infer<typeof switchesSchema>;

export const optionsSchema = z.object({
  /** TCP port; 0 (default) picks a free one. */
  port: z.number().int().min(0).max(65535).default(0),
  host: z.string().default("127.0.0.1"),
  /** Where bare repositories live. Default: a fresh temp dir, removed on close(). */
  dataDir: z.string().optional(),
  /** Public base URL used in links and clone URLs (default `http://<host>:<port>`). */
  baseUrl: z.string().optional(),
  /** Emulated Bitbucket version: application-properties, version-gated features and payload fields. */
  version: z
    .string()
    .regex(/^\d+\.\d+(\.\d+)?$/)
    .default("9.4.0"),
  switches: switchesSchema.partial().default({}),
  paging: z
    .object({
      defaultLimit: z.number().int().positive().default(25),
      maxLimit: z.number().int().positive().default(1000),
    })
    .default({ defaultLimit: 25, maxLimit: 1000 }),
  /** Maximum number of entries a pull request `changes` page holds, whatever the `limit` (one page only). */
  maxChanges: z.number().int().positive().default(1000),
  /** Per-user token bucket (reference §7.4). Off by default; the documented default is 60 and 5/s. */
  rateLimit: z
    .object({
      enabled: z.boolean().default(false),
      capacity: z.number().positive().default(60),
      refillPerSecond: z.number().positive().default(5),
    })
    .default({ enabled: false, capacity: 60, refillPerSecond: 5 }),
  /** `GET /rest/api/latest/build/capabilities` → `{"buildStatus": [...]}`. Without `cancelledStatus`, CANCELLED is 400. */
  buildCapabilities: z.array(z.string()).default(["richBuildStatus", "cancelledStatus"]),
  clock: z.object({ start: z.number().optional(), frozen: z.boolean().optional() }).default({}),
  /** Per-delivery timeout; a delivery that times out is logged as an error and never retried. */
  deliveryTimeoutMs: z.number().int().positive().default(10_000),
  /** Serve the unauthenticated `/_sim/` control API. */
  controlApi: z.boolean().default(true),
  /** Log requests with pino (never credentials). */
  log: z.boolean().default(false),
});

export type SimulatorOptions = z.input<typeof optionsSchema>;
export type ResolvedOptions = Omit<z.infer<typeof optionsSchema>, "switches"> & { switches: SimulatorSwitches };

export function resolveOptions(options: SimulatorOptions = {}): ResolvedOptions {
  const parsed = optionsSchema.parse(options);
  return { ...parsed, switches: switchesSchema.parse(parsed.switches) };
}
