import { existsSync, readFileSync } from "node:fs";
import { hostname } from "node:os";
import { parseArgs } from "node:util";
import { z } from "zod";
import { formatDuration, tryParseDuration } from "../api/common.ts";
import { allowedServersSchema } from "../providers/http/allowed-servers.ts";

// Operator configuration. Every setting can come from a flag or an environment variable (flags win), so the same
// image runs from a Deployment's env block or a developer's command line.

function duration(min: number, max: number) {
  return z.string().transform((text, ctx) => {
    const ms = tryParseDuration(text);
    if (ms === undefined) {
      ctx.addIssue({ code: "custom", message: `"${text}" is not a duration; write it like 30s, 10m or 1h30m` });
      return z.NEVER;
    }
    if (ms < min || ms > max) {
      ctx.addIssue({
        code: "custom",
        message: `${text} is out of range; use between ${formatDuration(min)} and ${formatDuration(max)}`,
      });
      return z.NEVER;
    }
    return ms;
  });
}

const port = z.coerce.number().int().min(0).max(65535);
const k8sName = z
  .string()
  .max(253)
  .regex(/^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$/, "must be a lowercase DNS name (letters, digits, '-' and '.')");

export const configSchema = z
  .object({
    /** Path of a kubeconfig file; when absent Baton uses the in-cluster service account. */
    kubeconfig: z.string().min(1).optional(),
    /** Namespace to watch; empty means every namespace. */
    watchNamespace: z.union([z.literal(""), k8sName]).prefault(""),
    /** Address the health/metrics server binds to. */
    metricsBindAddress: z.string().min(1).prefault("0.0.0.0"),
    /** Port of /healthz, /readyz and /metrics. */
    metricsPort: port.prefault(8080),
    /** Port of the webhook intake server. */
    intakePort: port.prefault(8090),
    /** The URL Bitbucket reaches the intake at (what webhooks are registered with). */
    intakeUrl: z.url({ protocol: /^https?$/, error: "must be an http(s) URL" }).optional(),
    /**
     * Bitbucket servers the operator may call (base URLs, comma- or space-separated), or `*` for any. Unset: none,
     * and every Repository and BitbucketProjectToken says ServerNotAllowed (see bitbucket/allowed-servers.ts).
     */
    allowedServers: allowedServersSchema.prefault(""),
    /**
     * Names this installation in Bitbucket (its token names and its webhook's name), so two clusters managing one
     * project keep apart. Unset: derived from this installation's own Secret (runtime/installation.ts).
     */
    instance: z
      .string()
      .max(40)
      .regex(/^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/, "must be lowercase letters, digits and '-', at most 40")
      .optional(),
    /** Budget of Bitbucket REST calls per second, shared by every reconciler. */
    bitbucketRequestsPerSecond: z.coerce.number().positive().max(1000).prefault(5),
    /**
     * Budget of Bitbucket Cloud REST calls per hour, for all Cloud Repositories together: Cloud counts per rolling
     * hour (1,000 per token on `/2.0/repositories/*`, scaled up for access tokens on paid plans).
     */
    cloudRequestsPerHour: z.coerce.number().positive().max(1_000_000).prefault(1000),
    /**
     * Budget of GitHub REST calls per second, for all GitHub Repositories together. GitHub's own limits (per App,
     * installation and token, read from its `x-ratelimit-*` headers) are kept besides this.
     */
    githubRequestsPerSecond: z.coerce.number().positive().max(1000).prefault(5),
    /**
     * How long one Repository or BitbucketProjectToken reconcile may wait on Bitbucket before it is abandoned and
     * retried with back-off, so a slow or silent server cannot hold the controller's workers from everyone else's.
     */
    reconcileTimeout: duration(1000, 600_000).prefault("1m"),
    /** How often managed webhooks are compared with what is declared, to repair drift. */
    driftInterval: duration(30_000, 24 * 3_600_000).prefault("10m"),
    /** Run controllers only in the replica holding the lease. */
    leaderElection: z.stringbool().prefault("true"),
    leaseNamespace: k8sName.optional(),
    leaseName: k8sName.prefault("baton-leader"),
    leaseDuration: duration(1000, 600_000).prefault("15s"),
    renewDeadline: duration(500, 600_000).prefault("10s"),
    retryPeriod: duration(100, 600_000).prefault("2s"),
    logLevel: z.enum(["fatal", "error", "warn", "info", "debug", "trace", "silent"]).prefault("info"),
    /** Link shown in Bitbucket build statuses; {{namespace}} and {{name}} are replaced with the PipelineRun's. */
    consoleUrlTemplate: z
      .string()
      .refine((t) => URL.canParse(t.replaceAll(/\{\{\s*[a-zA-Z.]+\s*\}\}/g, "x")), {
        message: "must be a URL once its {{placeholders}} are filled in",
      })
      .optional(),
    /** Identity of this replica: the pod name (or host name outside a cluster). */
    podName: z.string().min(1),
    podNamespace: k8sName.optional(),
    /** How long a graceful shutdown waits for in-flight reconciles. */
    shutdownTimeout: duration(0, 600_000).prefault("30s"),
    /** How long one pipeline's CEL matching or templating may run before it is stopped and that pipeline fails. */
    evaluationTimeout: duration(100, 60_000).prefault("2s"),
    /**
     * After SIGTERM, how long the replica keeps serving (unready) before it stops: Kubernetes removes a
     * terminating pod from the Service's endpoints asynchronously, and Bitbucket never retries a refused delivery.
     */
    shutdownDrain: duration(0, 600_000).prefault("10s"),
    /**
     * How long the status reporter leaves a new run's INPROGRESS to the process that created it, before posting it
     * itself (that process stopped between the create and the post). Longer than a Bitbucket call may take.
     */
    statusGrace: duration(0, 600_000).prefault("45s"),
  })
  .superRefine((c, ctx) => {
    if (c.leaderElection && !(c.leaseDuration > c.renewDeadline && c.renewDeadline > c.retryPeriod)) {
      ctx.addIssue({
        code: "custom",
        path: ["leaseDuration"],
        message: "leader election needs leaseDuration > renewDeadline > retryPeriod",
      });
    }
  })
  .transform((c) => ({ ...c, leaseNamespace: c.leaseNamespace ?? c.podNamespace ?? "default" }));

export type Config = z.output<typeof configSchema>;
export type ConfigInput = z.input<typeof configSchema>;

interface Source {
  flag: string;
  env: string[];
}

// Where each setting is read from, in order of precedence after the flag.
const SOURCES: Record<keyof ConfigInput, Source> = {
  kubeconfig: { flag: "kubeconfig", env: ["BATON_KUBECONFIG", "KUBECONFIG"] },
  watchNamespace: { flag: "watch-namespace", env: ["BATON_WATCH_NAMESPACE"] },
  metricsBindAddress: { flag: "metrics-bind-address", env: ["BATON_METRICS_BIND_ADDRESS"] },
  metricsPort: { flag: "metrics-port", env: ["BATON_METRICS_PORT"] },
  intakePort: { flag: "intake-port", env: ["BATON_INTAKE_PORT"] },
  intakeUrl: { flag: "intake-url", env: ["BATON_INTAKE_URL"] },
  allowedServers: { flag: "allowed-servers", env: ["BATON_ALLOWED_SERVERS"] },
  instance: { flag: "instance", env: ["BATON_INSTANCE"] },
  bitbucketRequestsPerSecond: { flag: "bitbucket-rps", env: ["BATON_BITBUCKET_RPS"] },
  cloudRequestsPerHour: { flag: "cloud-requests-per-hour", env: ["BATON_CLOUD_REQUESTS_PER_HOUR"] },
  githubRequestsPerSecond: { flag: "github-rps", env: ["BATON_GITHUB_RPS"] },
  reconcileTimeout: { flag: "reconcile-timeout", env: ["BATON_RECONCILE_TIMEOUT"] },
  driftInterval: { flag: "drift-interval", env: ["BATON_DRIFT_INTERVAL"] },
  leaderElection: { flag: "leader-elect", env: ["BATON_LEADER_ELECT"] },
  leaseNamespace: { flag: "lease-namespace", env: ["BATON_LEASE_NAMESPACE"] },
  leaseName: { flag: "lease-name", env: ["BATON_LEASE_NAME"] },
  leaseDuration: { flag: "lease-duration", env: ["BATON_LEASE_DURATION"] },
  renewDeadline: { flag: "renew-deadline", env: ["BATON_RENEW_DEADLINE"] },
  retryPeriod: { flag: "retry-period", env: ["BATON_RETRY_PERIOD"] },
  logLevel: { flag: "log-level", env: ["BATON_LOG_LEVEL"] },
  consoleUrlTemplate: { flag: "console-url-template", env: ["BATON_CONSOLE_URL_TEMPLATE"] },
  podName: { flag: "pod-name", env: ["POD_NAME"] },
  podNamespace: { flag: "pod-namespace", env: ["POD_NAMESPACE"] },
  shutdownTimeout: { flag: "shutdown-timeout", env: ["BATON_SHUTDOWN_TIMEOUT"] },
  evaluationTimeout: { flag: "evaluation-timeout", env: ["BATON_EVALUATION_TIMEOUT"] },
  shutdownDrain: { flag: "shutdown-drain", env: ["BATON_SHUTDOWN_DRAIN"] },
  statusGrace: { flag: "status-grace", env: ["BATON_STATUS_GRACE"] },
};

export class ConfigError extends Error {
  readonly issues: string[];
  constructor(issues: string[]) {
    super(`invalid configuration:\n  ${issues.join("\n  ")}`);
    this.name = "ConfigError";
    this.issues = issues;
  }
}

export interface LoadConfigOptions {
  argv?: string[];
  env?: Record<string, string | undefined>;
  /** Where the in-cluster namespace file is read; overridable for tests. */
  serviceAccountNamespaceFile?: string;
}

const SA_NAMESPACE_FILE = "/var/run/secrets/kubernetes.io/serviceaccount/namespace";

/** Reads flags and environment, validates them, and returns the configuration or throws a ConfigError. */
export function loadConfig(options: LoadConfigOptions = {}): Config {
  const env = options.env ?? process.env;
  const argv = options.argv ?? process.argv.slice(2);
  const keys = Object.keys(SOURCES) as Array<keyof ConfigInput>;

  let flags: Record<string, string | undefined>;
  try {
    const parsed = parseArgs({
      args: argv,
      options: Object.fromEntries(keys.map((k) => [SOURCES[k].flag, { type: "string" as const }])),
      strict: true,
      allowPositionals: false,
    });
    flags = parsed.values as Record<string, string | undefined>;
  } catch (err) {
    throw new ConfigError([(err as Error).message]);
  }

  const raw: Record<string, string> = {};
  for (const key of keys) {
    const source = SOURCES[key];
    const fromFlag = flags[source.flag];
    const fromEnv = source.env.map((name) => env[name]).find((v) => v !== undefined && v !== "");
    const value = fromFlag ?? fromEnv;
    if (value !== undefined) raw[key] = value;
  }
  raw.podName ??= hostname();
  if (raw.podNamespace === undefined) {
    const file = options.serviceAccountNamespaceFile ?? SA_NAMESPACE_FILE;
    if (existsSync(file)) raw.podNamespace = readFileSync(file, "utf8").trim();
  }

  const result = configSchema.safeParse(raw);
  if (!result.success) {
    throw new ConfigError(
      result.error.issues.map((issue) => {
        const key = issue.path[0] as keyof ConfigInput | undefined;
        const source = key ? SOURCES[key] : undefined;
        const where = source ? `--${source.flag} (${source.env.join(" or ")})` : "configuration";
        return `${where}: ${issue.message}`;
      }),
    );
  }
  return result.data;
}
