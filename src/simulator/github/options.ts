import { z } from "zod";

/** Options of the GitHub personality. */
export const githubOptionsSchema = z.object({
  /** TCP port; 0 (default) picks a free one. */
  port: z.number().int().min(0).max(65535).default(0),
  host: z.string().default("127.0.0.1"),
  /** Where bare repositories live. Default: a fresh temp dir, removed on close(). */
  dataDir: z.string().optional(),
  /** Public base URL used in links and clone URLs (default `http://<host>:<port>`). */
  baseUrl: z.string().optional(),
  clock: z.object({ start: z.number().optional(), frozen: z.boolean().optional() }).default({}),
  /**
   * Primary rate limit: requests per hour per installation, App or user (GitHub: 5000 for installations and
   * PATs); 60 per hour for anonymous callers. Over it: 403 with `x-ratelimit-remaining: 0` (or 429, `status`).
   */
  rateLimit: z
    .object({
      limit: z.number().int().positive().default(5000),
      anonymousLimit: z.number().int().positive().default(60),
      status: z.union([z.literal(403), z.literal(429)]).default(403),
    })
    .default({ limit: 5000, anonymousLimit: 60, status: 403 }),
  /**
   * Secondary rate limit: a token bucket per caller (off by default). Over it: `status` with `retry-after`;
   * GitHub documents both 403 and 429 for it.
   */
  secondaryRateLimit: z
    .object({
      enabled: z.boolean().default(false),
      capacity: z.number().positive().default(100),
      refillPerSecond: z.number().positive().default(15),
      status: z.union([z.literal(403), z.literal(429)]).default(403),
    })
    .default({ enabled: false, capacity: 100, refillPerSecond: 15, status: 403 }),
  /** Per-delivery timeout; a delivery that times out is recorded with its error. */
  deliveryTimeoutMs: z.number().int().positive().default(10_000),
  /** Serve the unauthenticated `/_sim/` control API. */
  controlApi: z.boolean().default(true),
  /** Log requests with pino (never credentials). */
  log: z.boolean().default(false),
});

export type GitHubSimulatorOptions = z.input<typeof githubOptionsSchema>;
export type GitHubOptions = z.infer<typeof githubOptionsSchema>;
