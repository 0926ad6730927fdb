// Catch-up: Bitbucket never retries a failed delivery, so a lost pr:opened would mean a pull request never gets a
// build. At start-up (once the first reconcile pass has synchronised the webhooks) and then every interval, each
// Repository's open pull requests are listed; one whose head commit has neither a Baton PipelineRun nor a Baton
// build status is handed to the event pipeline as if its event had arrived. A lost delivery therefore only delays
// a build.
//
// Cost: one pull-request listing per Repository per interval, plus build-status look-ups only for heads without a
// run (and only for pipelines this Repository has run before) and for pipelines a head's runs name that have no run
// (pruned by max-keep-runs, whose status stays, or never created). Repositories are visited one at a time, so catch-up
// never holds more than one slot of the shared request budget, and periodic passes are spread over half the
// interval.
import { Repository } from "../api/repository.ts";
import { labels, labelValue, siblingsAnnotation } from "../pipelines/build.ts";
import { pacPrefix } from "../pipelines/load.ts";
import type { ProviderLookup, PullRequestSnapshot } from "../providers/provider.ts";
import { providerKindOf } from "../providers/registry.ts";
import type { Clock } from "../runtime/clock.ts";
import type { Informer } from "../runtime/informer.ts";
import { defineResource, isDeleting, isNotFound, type KubeClient, type KubeObject, keyOf } from "../runtime/kube.ts";
import type { Logger } from "../runtime/logger.ts";
import { statusKey } from "../status/report.ts";
import {
  jittered,
  parseRepositoryUrl,
  pullRequestsToCatchUp,
  type RepositoryLocation,
  type RunRecord,
  siblingsUnhandled,
  siblingsWithoutRun,
  updatedSince,
} from "./decisions.ts";
import { describeError, failureKind } from "./failures.ts";
import type { RepositoryMetrics } from "./metrics.ts";
import { operatorToken } from "./resource.ts";

/** Tekton PipelineRuns, only as far as catch-up reads them (labels and annotations). */
const PipelineRuns = defineResource<KubeObject>({
  apiVersion: "tekton.dev/v1",
  kind: "PipelineRun",
  plural: "pipelineruns",
});

/** Hands a pull request to the event pipeline as a pull_request event (the intake's REST → event path). */
/** Hands a pull request to the event pipeline; says whether it started runs, and what happened otherwise. */
/** Lost pull requests of one repository handed to the event pipeline at once. */
const dispatchConcurrency = 4;

export type CatchUpDispatch = (
  repository: Repository,
  pullRequest: PullRequestSnapshot,
) => Promise<{ started: boolean; detail: string }>;

export interface CatchUpDeps {
  kube: KubeClient;
  clock: Clock;
  log: Logger;
  metrics: RepositoryMetrics;
  provider: ProviderLookup;
  repositories: Informer<Repository>;
  /** Prefix of Baton's build-status keys (statusKey). */
  instance: string;
  interval: number;
  dispatch: CatchUpDispatch;
  /** True once the controller has nothing queued or running: the start-up pass waits for the webhooks first. */
  idle: () => boolean;
  /** Bitbucket refused a Repository's token or no longer knows the repository: reconcile it again. */
  unreachable: (repository: Repository, location: RepositoryLocation, token: string) => void;
  random?: () => number;
  /** Remembered pull-request heads already handed over, so each is dispatched at most once per process. */
  memory?: number;
}

export interface PassResult {
  repositories: number;
  openPullRequests: number;
  dispatched: number;
}

/** At most this many known pipelines are asked for a build status per head. */
const maxStatusKeys = 5;

export class CatchUp {
  readonly #deps: CatchUpDeps;
  readonly #dispatched = new Map<string, true>();
  readonly #memory: number;

  constructor(deps: CatchUpDeps) {
    this.#deps = deps;
    this.#memory = deps.memory ?? 20_000;
  }

  /** The runnable's body: wait for start-up to settle, then a pass now and one every interval. */
  async run(signal: AbortSignal): Promise<void> {
    const { clock, log, interval } = this.#deps;
    const startedAt = clock.now();
    // The first pass waits for the webhooks (they are what stops future losses) but not forever.
    while (!signal.aborted && !this.#deps.idle() && clock.now() - startedAt < interval) await clock.sleep(1000, signal);
    let pass = 0;
    while (!signal.aborted) {
      try {
        const result = await this.pass(signal, pass > 0);
        log.info(result, "catch-up pass done");
      } catch (error) {
        if (signal.aborted) break;
        log.warn({ err: describeError(error) }, "catch-up pass failed; trying again at the next interval");
      }
      pass++;
      await clock.sleep(jittered(interval, this.#deps.random), signal);
    }
  }

  /** One pass over every eligible Repository; `spread` paces it over half the interval. */
  async pass(signal?: AbortSignal, spread = false): Promise<PassResult> {
    const keys = this.#deps.repositories.keys().sort();
    const spacing = spread ? Math.min(30_000, (this.#deps.interval * 0.5) / Math.max(1, keys.length)) : 0;
    const result: PassResult = { repositories: 0, openPullRequests: 0, dispatched: 0 };
    for (const key of keys) {
      if (signal?.aborted) break;
      // Read when its turn comes: a long pass must not act on what the cache said at its start.
      const parsed = Repository.safeParse(this.#deps.repositories.getByKey(key));
      if (!parsed.success || !eligibleForCatchUp(parsed.data)) continue;
      const started = this.#deps.clock.now();
      try {
        const one = await this.repository(parsed.data, signal);
        result.repositories++;
        result.openPullRequests += one.openPullRequests;
        result.dispatched += one.dispatched;
      } catch (error) {
        this.#deps.log.warn({ repository: key, err: describeError(error) }, "catch-up failed for a Repository");
      }
      const wait = spacing - (this.#deps.clock.now() - started);
      if (wait > 0) await this.#deps.clock.sleep(wait, signal);
    }
    return result;
  }

  /** Catch-up for one Repository. */
  async repository(
    repository: Repository,
    signal?: AbortSignal,
  ): Promise<{ openPullRequests: number; dispatched: number }> {
    const { kube, metrics, log } = this.#deps;
    const location = parseRepositoryUrl(repository.spec.url, repository.spec.provider);
    if (!location) return { openPullRequests: 0, dispatched: 0 };
    const resolved = await operatorToken(kube, repository);
    if ("problem" in resolved) return { openPullRequests: 0, dispatched: 0 };
    const client = this.#deps.provider(location.server, providerKindOf(repository.spec));
    const auth = { kind: "bearer" as const, token: resolved.token };
    const ref = { owner: location.project, name: location.slug };
    const call = signal ? { auth, signal } : { auth };

    let open: PullRequestSnapshot[];
    try {
      open = await client.listOpenPullRequests(ref, { ...call, pageSize: 100 });
    } catch (error) {
      const kind = failureKind(error);
      if (kind === "unauthorized" || kind === "notFound") this.#deps.unreachable(repository, location, resolved.token);
      throw error;
    }
    const since = Date.parse(repository.metadata.creationTimestamp ?? "");
    const candidates = updatedSince(
      open.map((pr) => ({ id: pr.number, headSha: pr.latestCommit, updatedDate: pr.updatedAt, pr })),
      since,
    ).filter((c) => !this.#dispatched.has(rememberKey(repository, c.id, c.headSha)));
    if (candidates.length === 0) return { openPullRequests: open.length, dispatched: 0 };

    const runs = await this.#runs(repository, signal);
    const withoutRun = candidates.filter((c) => !runs.shas.has(c.headSha));
    // A build status is looked up only where no run exists (runs are pruned; statuses stay), and only for the
    // pipelines this Repository has run: their keys are what Baton would have posted.
    const withStatus = new Set<string>();
    const pipelines = [...runs.pipelines].sort().slice(0, maxStatusKeys);
    // Whether Baton's status for a pipeline is on a commit; unknown counts as yes: better a later pass than a
    // duplicate build now.
    const hasStatus = async (sha: string, pipeline: string): Promise<boolean> => {
      const key = statusKey(
        this.#deps.instance,
        repository.metadata.namespace ?? "",
        repository.metadata.name,
        pipeline,
      );
      metrics.statusCheck();
      try {
        return (await client.getBuildStatus(ref, sha, key, call)) !== undefined;
      } catch (error) {
        log.debug({ err: describeError(error) }, "build status unknown; leaving the pull request for the next pass");
        return true;
      }
    };
    for (const candidate of withoutRun) {
      for (const pipeline of pipelines) {
        if (await hasStatus(candidate.headSha, pipeline)) {
          withStatus.add(candidate.headSha);
          break;
        }
      }
    }
    // Heads whose event started pipelines that have no run now: pruned by max-keep-runs (their build status is on
    // the commit) or never created (an operator stopped half way); only the latter is run again.
    const siblingsMissing = siblingsWithoutRun(runs.records);
    const statuses = new Set<string>();
    for (const candidate of candidates) {
      for (const pipeline of siblingsMissing.get(candidate.headSha) ?? []) {
        if (await hasStatus(candidate.headSha, pipeline)) statuses.add(`${candidate.headSha}|${pipeline}`);
      }
    }
    const lost = pullRequestsToCatchUp(candidates, runs.shas, withStatus, siblingsUnhandled(siblingsMissing, statuses));
    let dispatched = 0;
    // A few at a time: after an outage a repository can have dozens of lost heads, each a few calls and writes, and
    // one after another they would keep builds waiting for minutes. The shared Bitbucket budget still paces them.
    const queue = [...lost];
    const dispatchNext = async (): Promise<void> => {
      for (let candidate = queue.shift(); candidate !== undefined; candidate = queue.shift()) {
        const pr = candidates.find((c) => c.id === candidate?.id)?.pr;
        if (!pr) continue;
        try {
          const outcome = await this.#deps.dispatch(repository, pr);
          this.#remember(rememberKey(repository, pr.number, candidate.headSha));
          const where = { repository: keyOf(repository), pullRequest: pr.number, sha: candidate.headSha };
          if (outcome.started) {
            metrics.catchUp("dispatched");
            dispatched++;
            log.info({ ...where, detail: outcome.detail }, "caught up a pull request whose event never arrived");
          } else {
            // Usually its delivery is being handled right now; otherwise the detail says why nothing runs.
            metrics.catchUp("handled");
            log.debug({ ...where, detail: outcome.detail }, "catch-up found nothing to start");
          }
        } catch (error) {
          metrics.catchUp("failed");
          log.warn(
            { repository: keyOf(repository), pullRequest: pr.number, err: describeError(error) },
            "catch-up dispatch failed",
          );
        }
      }
    };
    await Promise.all(Array.from({ length: Math.min(dispatchConcurrency, queue.length) }, dispatchNext));
    return { openPullRequests: open.length, dispatched };
  }

  async #runs(
    repository: Repository,
    signal?: AbortSignal,
  ): Promise<{ shas: Set<string>; pipelines: Set<string>; records: RunRecord[] }> {
    const shas = new Set<string>();
    const pipelines = new Set<string>();
    const records: RunRecord[] = [];
    try {
      const { items } = await this.#deps.kube.list(PipelineRuns, {
        namespace: repository.metadata.namespace,
        labelSelector: `${labels.repository}=${labelValue(repository.metadata.name)}`,
        signal,
      });
      for (const run of items) {
        const sha = run.metadata?.labels?.[labels.sha];
        if (sha) shas.add(sha);
        const pipeline =
          run.metadata?.annotations?.[`${pacPrefix}original-prname`] ?? run.metadata?.labels?.[labels.pipeline];
        if (pipeline) pipelines.add(pipeline);
        const siblings = run.metadata?.annotations?.[siblingsAnnotation]?.split(",").filter((n) => n !== "");
        records.push({ sha, pipeline, siblings });
      }
    } catch (error) {
      // Tekton not installed: no runs can exist, so only build statuses can tell.
      if (!isNotFound(error)) throw error;
    }
    return { shas, pipelines, records };
  }

  #remember(key: string): void {
    this.#dispatched.set(key, true);
    if (this.#dispatched.size > this.#memory) {
      const oldest = this.#dispatched.keys().next().value;
      if (oldest !== undefined) this.#dispatched.delete(oldest);
    }
  }
}

/** Repositories catch-up visits: valid, not being deleted, not a duplicate, with a token Bitbucket accepted. */
export function eligibleForCatchUp(repository: Repository): boolean {
  if (isDeleting(repository) || !parseRepositoryUrl(repository.spec.url, repository.spec.provider)) return false;
  const conditions = repository.status?.conditions ?? [];
  const ready = conditions.find((c) => c.type === "Ready");
  const token = conditions.find((c) => c.type === "TokenReady");
  return ready?.reason !== "Duplicate" && token?.status === "True";
}

function rememberKey(repository: Repository, id: number, sha: string): string {
  return `${keyOf(repository)}|${id}|${sha}`;
}
