import { z } from "zod";

/**
 * One switch per point shared/reference/bitbucket-cloud.md marks UNCONFIRMED (section in brackets), with the
 * default the reference leans to.
 */
export const cloudSwitchesSchema = z.object({
  /** `x-credential-type` of a project token (§1.2: only `repo_access_token` is confirmed). */
  projectTokenCredentialType: z.string().default("project_access_token"),
  /** `x-credential-type` of a workspace token (§1.2 UNCONFIRMED). */
  workspaceTokenCredentialType: z.string().default("workspace_access_token"),
  /** A workspace token holding `webhook` counts as a workspace owner for workspace hooks (§2.1 UNCONFIRMED). */
  workspaceTokenIsOwner: z.boolean().default(false),
  /** Git also accepts `Authorization: Bearer <token>` besides Basic `x-token-auth` (§1.4 UNCONFIRMED). */
  gitAcceptsBearer: z.boolean().default(false),
  /** Message of the 401 for an expired token (§1.3: the body is UNCONFIRMED). */
  expiredTokenMessage: z.string().default("Access token expired."),
  /** Status for a resource outside a token's reach (another repository, project or workspace; not documented). */
  outOfReachStatus: z.union([z.literal(403), z.literal(404)]).default(403),
  /** Status for overwriting another identity's build status (§5 UNCONFIRMED, "403 likely"). */
  foreignStatusOverwriteStatus: z.union([z.literal(403), z.literal(409)]).default(403),
  /** The statuses endpoints accept a 12-hex short hash (§5: "whether short hashes work is UNCONFIRMED"). */
  statusesAcceptShortHash: z.boolean().default(false),
  /** PR bodies carry `draft` and `queued` (only the 2026 capture has them; when they appeared is unknown). */
  pullRequestDraftFields: z.boolean().default(true),
  /** `X-Hook-UUID` keeps the braces of the hook's `uuid` (the 2017 capture has none). */
  hookUuidHeaderBraces: z.boolean().default(false),
  /** A retry carries the first attempt's `X-Request-UUID` (§3.1 UNCONFIRMED; a fresh one per attempt if false). */
  retryKeepsRequestUuid: z.boolean().default(true),
  /** PUT on a hook clears omitted `description`/`active`/`events` (§2.2 UNCONFIRMED; kept when false). */
  hookPutClearsOmitted: z.boolean().default(false),
  /** Each access token has its own hourly budget rather than one shared per workspace (§6.6 UNCONFIRMED). */
  rateLimitPerToken: z.boolean().default(true),
  /** A destination `pullrequest` token may read a fork PR's diffstat and commits (§7 UNCONFIRMED). */
  forkPullRequestEndpointsReadable: z.boolean().default(true),
});

export type CloudSwitches = z.infer<typeof cloudSwitchesSchema>;

export const cloudOptionsSchema = z.object({
  /** TCP port; 0 picks a free one. */
  port: z.number().int().min(0).max(65535).default(0),
  host: z.string().default("127.0.0.1"),
  /** Where bare repositories live. Default: a fresh temp dir, removed on close(). */
  dataDir: z.string().optional(),
  /** Public base URL: REST under `<base>/2.0`, git under `<base>/<workspace>/<slug>.git`. */
  baseUrl: z.string().optional(),
  switches: cloudSwitchesSchema.partial().default({}),
  paging: z
    .object({
      /** `pagelen` when the request has none (the documented examples use 10). */
      defaultPagelen: z.number().int().positive().default(10),
      /** "pagelen is globally 10–100" (§6.4). */
      maxPagelen: z.number().int().positive().default(100),
      /** Diffstat pages hold 500 (§6.2). */
      diffstatPagelen: z.number().int().positive().default(500),
    })
    .default({ defaultPagelen: 10, maxPagelen: 100, diffstatPagelen: 500 }),
  /** Rolling one-hour window per resource (§6.6); off by default. 429 answers carry no Retry-After. */
  rateLimit: z
    .object({
      enabled: z.boolean().default(false),
      /** `/2.0/repositories/*` (1,000, scaled to at most 10,000 for access tokens). */
      repositoriesPerHour: z.number().int().positive().default(1000),
      /** Webhook list/create/update. */
      webhooksPerHour: z.number().int().positive().default(1000),
      /** Git over HTTPS. */
      gitPerHour: z.number().int().positive().default(60_000),
    })
    .default({ enabled: false, repositoriesPerHour: 1000, webhooksPerHour: 1000, gitPerHour: 60_000 }),
  /** At most this many commits in a `repo:push` change; more sets `truncated: true` (every capture has ≤ 5). */
  pushCommitsLimit: z.number().int().positive().default(5),
  clock: z.object({ start: z.number().optional(), frozen: z.boolean().optional() }).default({}),
  /** Delivery timeout (§3.2: 10 s). */
  deliveryTimeoutMs: z.number().int().positive().default(10_000),
  controlApi: z.boolean().default(true),
  log: z.boolean().default(false),
});

export type CloudSimulatorOptions = z.input<typeof cloudOptionsSchema>;
export type CloudResolvedOptions = Omit<z.infer<typeof cloudOptionsSchema>, "switches"> & { switches: CloudSwitches };

export function resolveCloudOptions(options: CloudSimulatorOptions = {}): CloudResolvedOptions {
  const parsed = cloudOptionsSchema.parse(options);
  return { ...parsed, switches: cloudSwitchesSchema.parse(parsed.switches) };
}
