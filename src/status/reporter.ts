// Watches Baton's PipelineRuns and tells Bitbucket about them: INPROGRESS when created (queued or running), then
// SUCCESSFUL / FAILED / CANCELLED, for the runs Baton signed (pipelines/provenance.ts). What was reported is recorded
// on the PipelineRun itself, so each state is reported exactly once, also across operator restarts and leader
// changes. The first INPROGRESS of a run is posted by the process that created it, on the event's path, and recorded
// after Bitbucket took it; a queued run with nothing recorded once the grace has passed lost that post (its creator
// stopped in between), and is reported here.

import { labels } from "../pipelines/build.ts";
import { provenance } from "../pipelines/provenance.ts";
import type { RunSigningKey } from "../pipelines/signing-key.ts";
import { batonRunSelector, type PipelineRun, PipelineRuns } from "../pipelines/tekton.ts";
import type { CallOptions, GitProvider, ProviderLookup } from "../providers/provider.ts";
import { providerKindOf } from "../providers/registry.ts";
import { parseRepositoryUrl, type RepositoryLocation } from "../repositories/decisions.ts";
import { Repositories } from "../repositories/resource.ts";
import type { Clock } from "../runtime/clock.ts";
import type { ReconcileContext, ReconcileResult } from "../runtime/controller.ts";
import { defineResource, type KubeClient, type KubeObject } from "../runtime/kube.ts";
import { keyString, type ObjectKey } from "../runtime/logger.ts";
import type { Metrics } from "../runtime/metrics.ts";
import type { GitHubAppCredentials } from "../tokens/github-app.ts";
import { operatorCredential } from "../tokens/operator-credential.ts";
import {
  type BuildState,
  buildState,
  describe,
  durationOf,
  isFinal,
  PipelineRunView,
  providerState,
  runUrl,
  statusKey,
  type TaskRunView,
} from "./report.ts";

export const TaskRuns = defineResource<KubeObject>({
  apiVersion: "tekton.dev/v1",
  kind: "TaskRun",
  plural: "taskruns",
});

/** The build state last reported to Bitbucket for this run; absent until the first report. */
export const reportedAnnotation = "baton.dev/reported-state";

export const defaultConsoleUrlTemplate =
  "http://tekton-dashboard.tekton-pipelines.svc:9097/#/namespaces/{{namespace}}/pipelineruns/{{name}}";

export interface ReporterDeps {
  kube: KubeClient;
  clock: Clock;
  metrics: Metrics;
  provider: ProviderLookup;
  /** Repositories naming a GitHub App report with its installation token. */
  githubApps?: GitHubAppCredentials | undefined;
  instance: string;
  consoleUrlTemplate?: string | undefined;
  /** The key Baton's runs are signed with: runs without a valid signature are not reported. */
  signingKey: RunSigningKey;
  /** The informer's copy of a run (see cachedRun), when there is one. */
  cached?: (key: ObjectKey) => PipelineRun | undefined;
  /** Receives each run's summary for the Repository's status.lastRun (coalesced there, not written per run). */
  lastRun?: (repository: ObjectKey, summary: RunSummary, created: number) => void;
  /** How long a new queued run's first report is left to the process that created it (ms; default 45 s). */
  graceMs?: number;
}

export interface RunSummary {
  name: string;
  pipeline?: string | undefined;
  sha?: string | undefined;
  pullRequest?: number | undefined;
  status: "Pending" | "Running" | "Succeeded" | "Failed" | "Cancelled";
  startTime?: string | undefined;
  completionTime?: string | undefined;
}

const summaryStatus: Record<BuildState, RunSummary["status"]> = {
  queued: "Pending",
  running: "Running",
  succeeded: "Succeeded",
  failed: "Failed",
  cancelled: "Cancelled",
};

export class StatusReporter {
  readonly #deps: ReporterDeps;
  /** server → whether its build-status API accepts CANCELLED, learnt once per hour. */
  readonly #capabilities = new Map<string, { cancelled: boolean; at: number }>();
  /**
   * Run → the state Bitbucket accepted but the run's annotation does not record yet (the API server failed the
   * patch). The retry then only writes the annotation: without this, an API-server outage between the POST and the
   * patch would report the same state twice. Keyed by name and uid, so a new run of the same name starts afresh.
   */
  readonly #unrecorded = new Map<string, BuildState>();
  readonly #durations;
  readonly #reports;

  constructor(deps: ReporterDeps) {
    this.#deps = deps;
    this.#durations = deps.metrics.histogram({
      name: "baton_pipelinerun_duration_seconds",
      help: "Duration of finished Baton PipelineRuns, by result.",
      labelNames: ["result"],
      buckets: [10, 30, 60, 120, 300, 600, 1200, 1800, 3600, 7200],
    });
    this.#reports = deps.metrics.counter({
      name: "baton_build_status_reports_total",
      help: "Build statuses sent to the git host, by state and result.",
      labelNames: ["state", "result"],
    });
  }

  readonly reconcile = async (key: ObjectKey, ctx: ReconcileContext): Promise<ReconcileResult> => {
    const { kube } = this.#deps;
    // A run whose final state was reported needs nothing more than the cache keeps; at start-up that is nearly
    // every run, and a GET of each would cost the API server and this process a full copy of every run.
    const cached = this.#deps.cached?.(key);
    const cachedReport = cached?.metadata?.annotations?.[reportedAnnotation];
    const run =
      cached && cachedReport !== undefined && isFinal(cachedReport as BuildState)
        ? cached
        : await kube.get(PipelineRuns, key, ctx.signal);
    if (!run) {
      for (const uid of this.#unrecorded.keys()) if (uid.startsWith(`${keyString(key)}/`)) this.#unrecorded.delete(uid);
      return {};
    }
    // Anyone who may create PipelineRuns can label one as Baton's: speak only for runs Baton signed.
    const origin = provenance(run, await this.#deps.signingKey.get());
    if (origin !== "signed" && origin !== "predates-signing") {
      ctx.log.warn(
        { origin },
        origin === "forged"
          ? "not reporting a PipelineRun whose Baton signature does not match its metadata (changed or copied)"
          : "not reporting a PipelineRun labelled as Baton's that Baton did not create",
      );
      return {};
    }
    const view = PipelineRunView.parse(run);
    const state = buildState(view);
    const runLabels = view.metadata.labels ?? {};
    const repositoryName = runLabels[labels.repository];
    const sha = runLabels[labels.sha];
    const pipeline = runLabels[labels.pipeline] ?? view.metadata.name;
    const namespace = key.namespace ?? "";
    if (!repositoryName || !sha) return {};
    this.#deps.lastRun?.(
      { namespace, name: repositoryName },
      {
        name: view.metadata.name,
        pipeline,
        sha,
        pullRequest: toNumber(runLabels[labels.pullRequest]),
        status: summaryStatus[state],
        startTime: view.status?.startTime,
        completionTime: view.status?.completionTime,
      },
      Date.parse(String(run.metadata?.creationTimestamp ?? "")) || 0,
    );

    const reported = run.metadata?.annotations?.[reportedAnnotation];
    if (reported === state || (reported !== undefined && isFinal(reported as BuildState))) return {};
    if (reported === undefined && state === "queued") {
      const wait = graceLeft(String(run.metadata?.creationTimestamp ?? ""), this.#deps.graceMs ?? 45_000, Date.now());
      if (wait > 0) return { requeueAfter: wait };
    }

    const repository = await kube.get(Repositories, { namespace, name: repositoryName }, ctx.signal);
    if (!repository) {
      ctx.log.info({ repository: repositoryName }, "the run's Repository is gone; nothing to report to");
      return {};
    }
    const location = parseRepositoryUrl(repository.spec.url, repository.spec.provider);
    if (!location) {
      throw new Error(`cannot report the status of ${view.metadata.name}: the Repository's URL is invalid`);
    }
    const operator = await operatorCredential(kube, repository, location, this.#deps.githubApps, ctx.signal);
    if ("problem" in operator) {
      // The Repository's own conditions say what is wrong; retry with back-off until it is fixed.
      throw new Error(`cannot report the status of ${view.metadata.name}: ${operator.problem}`);
    }
    const uid = `${keyString(key)}/${view.metadata.uid ?? ""}`;
    if (this.#unrecorded.get(uid) === state) {
      await this.#record(key, uid, state);
      return {};
    }
    const client = this.#deps.provider(location.server, providerKindOf(repository.spec));
    const auth = operator.credential;
    // Only a cancelled run needs to know (a capabilities call, once an hour per server).
    const cancelled = state === "cancelled" && (await this.#supportsCancelled(location, client, auth));
    const bbState = providerState(state, cancelled);
    const taskRuns = state === "failed" ? await this.#taskRuns(namespace, view.metadata.name) : [];
    const template = this.#deps.consoleUrlTemplate ?? defaultConsoleUrlTemplate;
    const duration = durationOf(view);
    try {
      await client.setBuildStatus(
        { owner: location.project, name: location.slug },
        sha,
        {
          key: statusKey(this.#deps.instance, namespace, repositoryName, pipeline),
          state: bbState,
          name: pipeline,
          url: runUrl(template, namespace, view.metadata.name),
          description: describe(state, taskRuns, view),
          buildNumber: view.metadata.name,
          ref: refOf(run),
          ...(duration === undefined ? {} : { duration }),
        },
        { auth, signal: ctx.signal },
      );
      this.#reports.inc({ state: bbState, result: "success" });
    } catch (error) {
      this.#reports.inc({ state: bbState, result: "failure" });
      throw error;
    }
    // Recorded after Bitbucket accepted it: a crash in between reports the same state again, which Bitbucket
    // absorbs (same key, same state) — the reverse order could lose a report.
    this.#unrecorded.set(uid, state);
    await this.#record(key, uid, state);
    if (isFinal(state) && duration !== undefined) this.#durations.observe({ result: state }, duration / 1000);
    ctx.log.info({ state: bbState, sha }, "reported the build status");
    return {};
  };

  async #record(key: ObjectKey, uid: string, state: BuildState): Promise<void> {
    await this.#deps.kube.patch(PipelineRuns, key, { metadata: { annotations: { [reportedAnnotation]: state } } });
    this.#unrecorded.delete(uid);
  }

  async #supportsCancelled(
    location: RepositoryLocation,
    client: GitProvider,
    auth: NonNullable<CallOptions["auth"]>,
  ): Promise<boolean> {
    const now = this.#deps.clock.now();
    const known = this.#capabilities.get(location.server);
    if (known && now - known.at < 3_600_000) return known.cancelled;
    const states = await client.buildStates({ auth }).catch(() => undefined);
    const cancelled = states?.includes("CANCELLED") ?? false;
    this.#capabilities.set(location.server, { cancelled, at: now });
    return cancelled;
  }

  async #taskRuns(namespace: string, pipelineRun: string): Promise<TaskRunView[]> {
    const list = await this.#deps.kube.list(TaskRuns, {
      namespace,
      labelSelector: `tekton.dev/pipelineRun=${pipelineRun}`,
    });
    return list.items.map((tr) => {
      const t = tr as KubeObject & {
        status?: {
          completionTime?: string;
          conditions?: { type: string; status: string; reason?: string; message?: string }[];
        };
      };
      const succeeded = t.status?.conditions?.find((c) => c.type === "Succeeded");
      return {
        pipelineTask: t.metadata?.labels?.["tekton.dev/pipelineTask"] ?? t.metadata?.name ?? "task",
        succeeded: succeeded?.status as TaskRunView["succeeded"],
        reason: succeeded?.reason,
        message: succeeded?.message,
        completionTime: t.status?.completionTime,
      };
    });
  }
}

/**
 * How long (ms) a run created at `createdAt` stays its creator's to report first. creationTimestamp has whole
 * seconds, compared with this process's wall clock: the second added keeps the grace from running short.
 */
export function graceLeft(createdAt: string | undefined, graceMs: number, now: number): number {
  const created = Date.parse(createdAt ?? "");
  if (!Number.isFinite(created)) return 0;
  return Math.max(0, created + 1_000 + graceMs - now);
}

function toNumber(value: string | undefined): number | undefined {
  const n = Number(value);
  return value !== undefined && Number.isInteger(n) ? n : undefined;
}

/** The ref Bitbucket shows the status under: the PR's source branch, or the pushed branch or tag. */
function refOf(run: KubeObject): string | undefined {
  const annotations = run.metadata?.annotations ?? {};
  const branch =
    annotations["pipelinesascode.tekton.dev/source-branch"] ?? annotations["pipelinesascode.tekton.dev/branch"];
  if (!branch) return undefined;
  return branch.startsWith("refs/") ? branch : `refs/heads/${branch}`;
}

export { batonRunSelector, PipelineRuns };
