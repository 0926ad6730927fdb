// The final PipelineRun object for one matched definition and one event, plus the pure concurrency and pruning
// decisions. No I/O: the caller creates the object (and the git Secret) in Kubernetes.
import { createHash } from "node:crypto";
import { durationPattern, parseDuration } from "../api/common.ts";
import type { RepositorySpec } from "../api/repository.ts";
import { runKeyLabel } from "../events/dedupe.ts";
import type { BatonEvent, ChangedFiles } from "../events/model.ts";
import { type PipelineRunDefinition, pacPrefix } from "./load.ts";
import { annotationKeys } from "./match.ts";
import { runName } from "./naming.ts";
import { secretProblems } from "./secret-refs.ts";
import { eventTypeOf, pacBranches, templateObject } from "./template.ts";

/** Baton's bookkeeping labels. The `baton.dev/` prefix is reserved: a `.tekton` file cannot set these keys. */
export const labels = {
  repository: "baton.dev/repository",
  sha: "baton.dev/sha",
  event: "baton.dev/event",
  pullRequest: "baton.dev/pull-request",
  pipeline: "baton.dev/pipeline",
  runKey: "baton.dev/run-key",
  managedBy: "app.kubernetes.io/managed-by",
} as const;

export const managedBy = "baton";
export const pendingStatus = "PipelineRunPending";
/**
 * When a pending run joined the queue, to the millisecond: creationTimestamp has whole seconds, and two runs queued
 * in the same second must still start in the order they came.
 */
export const queuedAtAnnotation = "baton.dev/queued-at";
/**
 * Every pipeline the event started, on each of its runs: an operator that stopped half way through an event leaves
 * runs that name the siblings still missing, and catch-up starts those.
 */
export const siblingsAnnotation = "baton.dev/pipelines";

/** Pipelines-as-Code's labels and annotations, which Baton sets on its runs too. */
export const pac = {
  managedBy: `${pacPrefix}managed-by`,
  repository: `${pacPrefix}repository`,
  sha: `${pacPrefix}sha`,
  eventType: `${pacPrefix}event-type`,
  pullRequest: `${pacPrefix}pull-request`,
  originalPrName: `${pacPrefix}original-prname`,
  state: `${pacPrefix}state`,
  urlOrg: `${pacPrefix}url-org`,
  urlRepository: `${pacPrefix}url-repository`,
  gitProvider: `${pacPrefix}git-provider`,
  sender: `${pacPrefix}sender`,
  branch: `${pacPrefix}branch`,
  sourceBranch: `${pacPrefix}source-branch`,
  repoUrl: `${pacPrefix}repo-url`,
  sourceRepoUrl: `${pacPrefix}source-repo-url`,
  shaUrl: `${pacPrefix}sha-url`,
  shaTitle: `${pacPrefix}sha-title`,
  gitAuthSecret: `${pacPrefix}git-auth-secret`,
} as const;

/**
 * A Kubernetes label value: at most 63 characters of `[A-Za-z0-9._-]`, starting and ending alphanumeric (or
 * empty). Other characters become `-`; a value cut to fit ends with 8 hex characters of the original's SHA-256 so
 * distinct long values stay distinct. The full value goes into an annotation where one matters.
 */
export function labelValue(value: string): string {
  let v = value.replace(/[^A-Za-z0-9._-]/g, "-");
  if (v.length > 63) {
    const hash = createHash("sha256").update(value).digest("hex").slice(0, 8);
    v = `${v.slice(0, 54).replace(/[^A-Za-z0-9]+$/, "")}-${hash}`;
  }
  return v.replace(/^[^A-Za-z0-9]+/, "").replace(/[^A-Za-z0-9]+$/, "");
}

export interface BuildInput {
  definition: PipelineRunDefinition;
  event: Exclude<BatonEvent, { type: "ping" }>;
  repository: {
    /** The Repository object's name. */
    name: string;
    namespace: string;
    spec: Pick<RepositorySpec, "pipelines" | "params">;
  };
  /** Name of the run's git credentials Secret (naming.ts). */
  gitAuthSecret: string;
  /** Digest of the run's identity (naming.ts `runDigest`): the run's name ends with it. */
  nameDigest: string;
  changedFiles?: ChangedFiles;
  /** The `repo_url` runs clone from when not the target repository (template.ts). */
  repoUrl?: string;
  /** `admit(...) === "pending"`: create it as PipelineRunPending. */
  pending?: boolean;
  /** The dedupe run key (events/dedupe.ts), stored hashed so a restarted intake can find this run. */
  runKey?: string;
  /** Baton's own Secrets, which no run may reference even when the Repository allows them. */
  forbiddenSecrets?: readonly string[];
}

export type PipelineRunObject = Record<string, unknown> & {
  apiVersion: string;
  kind: "PipelineRun";
  metadata: {
    name: string;
    namespace: string;
    labels: Record<string, string>;
    annotations: Record<string, string>;
  };
  spec: Record<string, unknown>;
};

export type BuildResult = { ok: true; pipelineRun: PipelineRunObject } | { ok: false; error: string };

function record(value: unknown): Record<string, unknown> {
  return value !== null && typeof value === "object" && !Array.isArray(value) ? { ...(value as object) } : {};
}

function stringRecord(value: unknown): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(record(value))) if (typeof v === "string") out[k] = v;
  return out;
}

function withoutReserved(map: Record<string, string>): Record<string, string> {
  return Object.fromEntries(Object.entries(map).filter(([k]) => !k.startsWith("baton.dev/")));
}

function durationMs(value: unknown): number | undefined {
  return typeof value === "string" && durationPattern.test(value) ? parseDuration(value) : undefined;
}

/** The PipelineRun to create, or why it cannot be built (for a build status). */
export function buildPipelineRun(input: BuildInput): BuildResult {
  const { definition, event, repository } = input;
  const where = `${definition.file} (${definition.name})`;
  const templated = templateObject(definition.pipelineRun, {
    event,
    gitAuthSecret: input.gitAuthSecret,
    targetNamespace: repository.namespace,
    params: repository.spec.params ?? [],
    ...(input.changedFiles === undefined ? {} : { changedFiles: input.changedFiles }),
    ...(input.repoUrl === undefined ? {} : { repoUrl: input.repoUrl }),
  });

  const secrets = secretProblems(templated, {
    forbidden: input.forbiddenSecrets ?? [],
    gitAuthSecret: input.gitAuthSecret,
    allowed: repository.spec.pipelines?.allowedSecrets ?? [],
    repository: repository.name,
  });
  if (secrets.length > 0) return { ok: false, error: `${where} ${secrets.join("; ")}` };

  const metadata = record(templated.metadata);
  const name =
    (typeof metadata.name === "string" && metadata.name) ||
    (typeof metadata.generateName === "string" && metadata.generateName) ||
    definition.name;

  const pr = event.type === "push" ? undefined : event.pullRequest;
  const branches = pacBranches(event);
  const eventType = eventTypeOf(event);
  const owner = event.repository.project.replace(/^~/, "");
  const state = input.pending ? "queued" : "started";

  const runLabels: Record<string, string> = {
    ...withoutReserved(stringRecord(metadata.labels)),
    [pac.managedBy]: managedBy,
    [pac.repository]: labelValue(repository.name),
    [pac.sha]: labelValue(event.sha),
    [pac.eventType]: labelValue(eventType),
    [pac.originalPrName]: labelValue(definition.name),
    [pac.state]: state,
    [pac.urlOrg]: labelValue(owner),
    [pac.urlRepository]: labelValue(event.repository.slug),
    [pac.gitProvider]: event.provider,
    [labels.managedBy]: managedBy,
    [labels.repository]: labelValue(repository.name),
    [labels.sha]: labelValue(event.sha),
    [labels.event]: event.type,
    [labels.pipeline]: labelValue(definition.name),
  };
  if (pr !== undefined) {
    runLabels[pac.pullRequest] = String(pr.number);
    runLabels[labels.pullRequest] = String(pr.number);
  }
  if (input.runKey !== undefined) runLabels[labels.runKey] = runKeyLabel(input.runKey);

  const runAnnotations: Record<string, string> = {
    ...withoutReserved(stringRecord(metadata.annotations)),
    [pac.repository]: repository.name,
    [pac.sha]: event.sha,
    [pac.eventType]: eventType,
    [pac.originalPrName]: definition.name,
    [pac.state]: state,
    [pac.urlOrg]: owner,
    [pac.urlRepository]: event.repository.slug,
    [pac.gitProvider]: event.provider,
    [pac.sender]: event.sender.name,
    [pac.branch]: branches.target,
    [pac.sourceBranch]: branches.source,
    [pac.gitAuthSecret]: input.gitAuthSecret,
  };
  const browse = event.repository.browseUrl;
  if (browse !== undefined) {
    runAnnotations[pac.repoUrl] = browse;
    runAnnotations[pac.shaUrl] = `${browse}/commits/${event.sha}`;
  }
  const sourceBrowse = pr?.fromRepository.browseUrl ?? browse;
  if (sourceBrowse !== undefined) runAnnotations[pac.sourceRepoUrl] = sourceBrowse;
  if (pr !== undefined) {
    runAnnotations[pac.pullRequest] = String(pr.number);
    runAnnotations[pac.shaTitle] = pr.title;
  } else if (event.type === "push" && event.commitTitle !== undefined) {
    runAnnotations[pac.shaTitle] = event.commitTitle;
  }

  const spec = record(templated.spec);
  // The run's lifecycle state is Baton's (concurrency) and Tekton's, never the file's.
  delete spec.status;
  if (input.pending) spec.status = pendingStatus;

  const serviceAccount = repository.spec.pipelines?.serviceAccountName;
  if (serviceAccount !== undefined) {
    if (definition.apiVersion === "tekton.dev/v1") {
      const trt = record(spec.taskRunTemplate);
      if (trt.serviceAccountName === undefined) spec.taskRunTemplate = { ...trt, serviceAccountName: serviceAccount };
    } else if (spec.serviceAccountName === undefined) {
      spec.serviceAccountName = serviceAccount;
    }
  }

  const timeout = repository.spec.pipelines?.timeout;
  const timeoutMs = durationMs(timeout);
  if (timeout !== undefined && timeoutMs !== undefined) {
    const timeouts = record(spec.timeouts);
    const legacy = definition.apiVersion === "tekton.dev/v1beta1" && spec.timeout !== undefined;
    if (timeouts.pipeline === undefined && !legacy) {
      // Tekton rejects timeouts.tasks + timeouts.finally > timeouts.pipeline; such a file keeps Tekton's default.
      const inner = (durationMs(timeouts.tasks) ?? 0) + (durationMs(timeouts.finally) ?? 0);
      if (inner <= timeoutMs) spec.timeouts = { ...timeouts, pipeline: timeout };
    }
  }

  const pipelineRun: PipelineRunObject = {
    ...templated,
    apiVersion: definition.apiVersion,
    kind: "PipelineRun",
    metadata: {
      // Derived from the run key, not generated: a second create of the same run is refused (naming.ts).
      name: runName(name, input.nameDigest),
      namespace: repository.namespace,
      labels: runLabels,
      annotations: runAnnotations,
    },
    spec,
  };
  // Anything else in metadata (uid, ownerReferences, finalizers, name…) is not the file's to choose.
  return { ok: true, pipelineRun };
}

/** Whether a new run may start now under `spec.pipelines.concurrencyLimit`, or must wait Pending. */
export function admit(runningCount: number, limit: number | undefined): "run" | "pending" {
  return limit === undefined || runningCount < limit ? "run" : "pending";
}

/** Pending runs to start now, oldest first, so that at most `limit` run at once. */
export function releasable<T extends { name: string; createdAt: string | number }>(
  pending: readonly T[],
  runningCount: number,
  limit: number | undefined,
): T[] {
  const time = (t: string | number) => (typeof t === "number" ? t : Date.parse(t));
  const sorted = [...pending].sort((a, b) => time(a.createdAt) - time(b.createdAt) || (a.name < b.name ? -1 : 1));
  if (limit === undefined) return sorted;
  return sorted.slice(0, Math.max(0, limit - runningCount));
}

export interface CompletedRun {
  name: string;
  /** The pipeline (original-prname) it was built from. */
  pipeline: string;
  /** Completion time (RFC 3339 or epoch ms); runs still going are not candidates. */
  completionTime: string | number;
  /** The run's `max-keep-runs` annotation, if any. */
  maxKeepRuns?: string | number | undefined;
}

function keepCount(value: string | number | undefined): number | undefined {
  if (value === undefined) return undefined;
  const n = typeof value === "number" ? value : /^\s*\d+\s*$/.test(value) ? Number(value) : Number.NaN;
  return Number.isInteger(n) && n > 0 ? n : undefined;
}

/**
 * Completed runs to delete so that each pipeline keeps its newest N: N from the newest run's `max-keep-runs`
 * annotation (the current definition's wish), else `defaultMaxKeep` (spec.pipelines.maxKeepRuns), else keep all.
 */
export function pruneCandidates(completed: readonly CompletedRun[], defaultMaxKeep?: number): string[] {
  const time = (t: string | number) => (typeof t === "number" ? t : Date.parse(t));
  const byPipeline = new Map<string, CompletedRun[]>();
  for (const run of completed) {
    const list = byPipeline.get(run.pipeline) ?? [];
    list.push(run);
    byPipeline.set(run.pipeline, list);
  }
  const doomed: string[] = [];
  for (const runs of byPipeline.values()) {
    runs.sort((a, b) => time(b.completionTime) - time(a.completionTime) || (a.name < b.name ? 1 : -1));
    const keep = keepCount(runs[0]?.maxKeepRuns) ?? keepCount(defaultMaxKeep);
    if (keep === undefined) continue;
    doomed.push(...runs.slice(keep).map((r) => r.name));
  }
  return doomed;
}

/** The `max-keep-runs` annotation key, for callers reading it off existing runs. */
export const maxKeepRunsAnnotation = annotationKeys.maxKeepRuns;
