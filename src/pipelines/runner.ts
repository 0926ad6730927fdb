// The pipeline runner: a neutral event for one Repository → trust → `.tekton` at the commit → matching → Tekton
// PipelineRuns with a per-run git Secret, an INPROGRESS build status, and what users need to hear when nothing
// runs. Also cancels runs (/cancel, closed pull requests), and registers the leader-only controller that starts
// pending runs when slots free up and prunes completed ones.
//
// Every decision comes from the pure modules (events/trust, events/dedupe, pipelines/load, match, build,
// comment-commands, gitsecret, tekton); this file orchestrates one event and hands the writes to the parts that own
// them: run-claims.ts (which runs this process may start), run-create.ts (admission, the PipelineRun, its Secret and
// status, in that order), run-secret.ts (the clone token and the git Secret), fork-head.ts (can a fork's head be
// built), feedback.ts (what the host hears), cancel.ts, and run-queue.ts (release and prune, leader only).

import { randomBytes } from "node:crypto";
import type { Repository } from "../api/repository.ts";
import { headRunKey, runKey, SeenSet } from "../events/dedupe.ts";
import type { BatonEvent } from "../events/model.ts";
import type { ProviderLookup, PullRequestSnapshot } from "../providers/provider.ts";
import { providerKindOf } from "../providers/registry.ts";
import { Repositories } from "../repositories/resource.ts";
import type { Clock } from "../runtime/clock.ts";
import type { ReconcileResult } from "../runtime/controller.ts";
import { mapped } from "../runtime/controller.ts";
import type { Informer } from "../runtime/informer.ts";
import type { KubeClient } from "../runtime/kube.ts";
import type { Logger } from "../runtime/logger.ts";
import type { Manager } from "../runtime/manager.ts";
import type { Metrics } from "../runtime/metrics.ts";
import type { GitHubAppCredentials } from "../tokens/github-app.ts";
import { Admission, repositoryIndex } from "./admission.ts";
import { labels, labelValue } from "./build.ts";
import { cancelRuns } from "./cancel.ts";
import { selectForComment } from "./comment-commands.ts";
import { DefinitionCache } from "./definitions.ts";
import type { DispatchResult, RepositoryEvents, StartingEvent } from "./dispatch.ts";
import { defaultEvaluationBudget, type EvaluationBudget } from "./evaluate-bounded.ts";
import { HostFeedback } from "./feedback.ts";
import { checkForkHead, forkCloneUrl, type RefWait } from "./fork-head.ts";
import type { PipelineRunDefinition } from "./load.ts";
import { approvalGranted, problemDescription } from "./notices.ts";
import { pipelinesFolder, repositoryParams, resolvePipelines } from "./resolve.ts";
import { RunClaims } from "./run-claims.ts";
import {
  type RunContext as Context,
  changedFilesOf,
  RepositoryNotReady,
  RunContexts,
  tektonSource,
} from "./run-context.ts";
import { alreadyExists, RunCreator, type RunIdentity } from "./run-create.ts";
import { RunQueue } from "./run-queue.ts";
import { RunSecrets } from "./run-secret.ts";
import { sharedWithPullRequests } from "./shared-run-lookup.ts";
import type { RunSigningKey } from "./signing-key.ts";
import { batonRunSelector, type PipelineRun, PipelineRuns, repositoryKeyOf, runsInformerOptions } from "./tekton.ts";

export type { DispatchOutcome, DispatchResult, RepositoryEvents } from "./dispatch.ts";
export { RepositoryNotReady };

export interface PipelineRunnerOptions {
  kube: KubeClient;
  /** The git host serving a Repository's server (providers/registry.ts). */
  provider: ProviderLookup;
  events: RepositoryEvents;
  logger: Logger;
  metrics: Metrics;
  clock: Clock;
  /** Prefix of build status keys (operator option `instance`). */
  instance: string;
  /** Link of build statuses; {{namespace}} and {{name}} are the PipelineRun's. */
  consoleUrlTemplate?: string | undefined;
  /** Baton's PipelineRuns (label `app.kubernetes.io/managed-by=baton`). */
  runs: Informer<PipelineRun>;
  /** The key every run Baton creates is signed with, so the status reporter can tell them from forgeries. */
  signingKey: RunSigningKey;
  /** How the fork ref check reads git and waits (tests shorten it). */
  refWait?: RefWait;
  /** How long a resolved token is reused before it is read again (a rotation takes effect within this). */
  tokenCacheMs?: number;
  /** Repositories naming a GitHub App: its installation token for Baton's calls, a token minted per run for git. */
  githubApps?: GitHubAppCredentials | undefined;
  /** Time and heap one pipeline's CEL matching or templating may use (default: defaultEvaluationBudget). */
  evaluationBudget?: EvaluationBudget;
  /**
   * Whether this replica leads (default: always). Under a concurrency limit only the leader admits runs, so the
   * limit holds across replicas: the others create runs Pending and the leader's release controller starts them.
   */
  leads?: () => boolean;
}

/** A matched pipeline this event starts: its run key (when it has one), which run it is, and the event it gets. */
interface FreshRun {
  definition: PipelineRunDefinition;
  key: string | undefined;
  identity: RunIdentity;
  event: StartingEvent;
}

export class PipelineRunner {
  readonly #o: PipelineRunnerOptions;
  readonly #log: Logger;
  readonly #cache = new DefinitionCache();
  readonly #claims: RunClaims;
  /** Trust, and what the host is told: build statuses, comments, approval notices. */
  readonly #feedback: HostFeedback;
  readonly #contexts: RunContexts;
  /** Runs created or released here that the informer has not shown yet, and one writer per repository. */
  readonly #admission: Admission;
  readonly #secrets: RunSecrets;
  readonly #creator: RunCreator;
  readonly #queue: RunQueue;
  readonly #duplicates;

  constructor(options: PipelineRunnerOptions) {
    this.#o = options;
    this.#log = options.logger.child({ part: "pipelines" });
    this.#contexts = new RunContexts(options);
    this.#admission = new Admission(options.runs);
    this.#claims = new RunClaims(options.runs);
    this.#feedback = new HostFeedback({
      ...options,
      log: this.#log,
      definitions: this.#cache,
      // Notices already given (approval, invalid definitions) per head, so re-deliveries do not repeat them.
      noticed: new SeenSet({ ttlMs: 24 * 3_600_000, maxSize: 20_000 }),
    });
    this.#secrets = new RunSecrets({ ...options, log: this.#log, contexts: this.#contexts });
    this.#creator = new RunCreator({
      ...options,
      log: this.#log,
      admission: this.#admission,
      secrets: this.#secrets,
      feedback: this.#feedback,
    });
    this.#queue = new RunQueue({ ...options, log: this.#log, admission: this.#admission, secrets: this.#secrets });
    this.#duplicates = options.metrics.counter({
      name: "baton_pipelineruns_deduplicated_total",
      help: "Pipelines not started because the same pipeline already started for the same commit and scope.",
      labelNames: ["event"],
    });
    options.runs.addIndex(repositoryIndex, (run) => {
      const key = repositoryKeyOf(run);
      return key ? [key] : [];
    });
    options.runs.addHandlers({
      add: (run) => this.#admission.forget(run),
      update: (_old, run) => this.#admission.forget(run),
    });
  }

  /** Runs one event for one Repository: creates runs, cancels runs, or says why nothing happens. */
  async handle(repository: Repository, delivered: BatonEvent): Promise<DispatchResult> {
    if (delivered.type === "ping") return { outcome: "ignored", runs: [], detail: "a ping starts nothing" };
    await this.#o.runs.waitForSync();
    const ctx = await this.#contexts.context(repository);
    // Before anything keys on its commits: a host's abbreviated hashes would neither dedupe against the push of the
    // same commit nor name a commit a status or a checkout can use. An outage throws (the host may deliver again).
    let event: Exclude<BatonEvent, { type: "ping" }> = delivered;
    if (ctx.client.completeEvent) {
      const completed = await ctx.client.completeEvent(delivered, { auth: ctx.auth });
      if (!completed.ok) return { outcome: "ignored", runs: [], detail: completed.error };
      if (completed.event.type === "ping") return { outcome: "ignored", runs: [], detail: "a ping starts nothing" };
      event = completed.event;
    }
    if (event.type === "pull_request_closed") {
      const runs = await this.#cancel(ctx, event.pullRequest.number);
      return {
        outcome: "cancelled",
        runs,
        detail: `pull request #${event.pullRequest.number} was ${event.action}; ${runs.length} unfinished run(s) cancelled`,
      };
    }
    if (event.type === "comment" && event.comment.command.kind === "cancel") {
      const decision = await this.#feedback.trust(ctx, event);
      if (!decision.trusted) {
        this.#o.events.normal(repository, "CancelRefused", decision.detail);
        return { outcome: "untrusted", runs: [], detail: decision.detail };
      }
      const runs = await this.#cancel(ctx, event.pullRequest.number, event.comment.command.pipeline);
      return { outcome: "cancelled", runs, detail: `/cancel: ${runs.length} unfinished run(s) cancelled` };
    }
    return this.#start(ctx, event);
  }

  /**
   * Catch-up for the Repository controller: an open pull request found through REST whose head has neither a run
   * nor a status goes through the same path as its lost delivery would have (dedupe included).
   */
  async catchUp(repository: Repository, pullRequest: PullRequestSnapshot): Promise<DispatchResult> {
    const location = this.#contexts.location(repository);
    const converted = this.#o.provider(location.server, providerKindOf(repository.spec)).pullRequestEvent(pullRequest, {
      serverUrl: location.server,
      receivedAt: new Date(this.#o.clock.now()),
    });
    if (!converted.ok) return { outcome: "ignored", runs: [], detail: converted.error };
    return this.handle(repository, converted.event);
  }

  /** Starts pending runs while slots are free, oldest first, and deletes completed runs beyond max-keep-runs. */
  releaseAndPrune(repositoryKey: string, repository: Repository | undefined): Promise<ReconcileResult> {
    return this.#queue.releaseAndPrune(repositoryKey, repository);
  }

  async #start(ctx: Context, event: StartingEvent): Promise<DispatchResult> {
    const decision = await this.#feedback.trust(ctx, event);
    if (!decision.trusted) {
      await this.#feedback.notifyUntrusted(ctx, event, decision);
      return { outcome: "untrusted", runs: [], detail: decision.detail };
    }
    const result = await this.#startTrusted(ctx, event);
    const granted = approvalGranted(event, decision, result.outcome === "created" ? result.runs.length : 0);
    if (granted !== undefined && event.type !== "push") await this.#feedback.settleApproval(ctx, event, granted);
    return result;
  }

  async #startTrusted(ctx: Context, event: StartingEvent): Promise<DispatchResult> {
    const folder = pipelinesFolder(ctx.repository.spec);
    const at = definitionsCommit(ctx, event);
    const fetched = await this.#cache.fetch(ctx.identity, folder, at, tektonSource(ctx));
    if (!fetched.folderExists) {
      return { outcome: "no-pipelines", runs: [], detail: `${folder}/ does not exist at ${at.slice(0, 11)}` };
    }
    const params = repositoryParams(ctx.repository.spec);
    const { match, problems, filesUnknown } = await resolvePipelines({
      fetched,
      namespace: ctx.namespace,
      forbiddenSecrets: ctx.forbiddenSecrets,
      event,
      params,
      changedFiles: () => changedFilesOf(ctx, event),
      budget: this.#o.evaluationBudget,
    });
    // Not the author's mistake: the host could not list the changed files (a push of more than it pages).
    for (const error of filesUnknown) {
      this.#log.info({ repository: ctx.name, pipeline: error.definition.name }, error.message);
    }

    let matched = match.matched;
    /** A comment command's run of each pipeline: which generation of the head's runs it is (naming.ts). */
    let generations = new Map<string, number>();
    let duplicates = 0;
    if (event.type === "comment") {
      if (match.unknownName !== undefined) {
        await this.#feedback.commentOnce(
          ctx,
          event,
          `unknown|${event.comment.id}`,
          `**Baton:** no PipelineRun in \`${folder}/\` is named \`${match.unknownName}\` at commit ${event.sha.slice(0, 11)}.`,
        );
      }
      // The API server, not the cache: a run that another event (on any replica) is creating for this head counts,
      // and whatever is decided here is decided again identically by a racing request, whose create then collides.
      const selection = selectForComment(matched, await this.#headRuns(ctx, event.sha), event.comment);
      ({ matched, generations } = selection);
      duplicates += selection.alreadyStarted;
    }

    // A pull request of the pushed branch shares the push's runs; those are built with its context (shared-run.ts).
    const shared =
      event.type === "push"
        ? await sharedWithPullRequests(
            {
              ...this.#o,
              log: this.#log,
              started: (pipeline) => {
                const key = runKey(event, pipeline);
                return key !== undefined && this.#claims.started(key);
              },
            },
            ctx,
            event,
            matched,
            params,
          )
        : undefined;

    const fresh: FreshRun[] = [];
    for (const m of matched) {
      const key = runKey(event, m.definition.name);
      const identity = {
        head: headRunKey(event, m.definition.name) ?? randomBytes(16).toString("hex"),
        generation: generations.get(m.definition.name) ?? 0,
      };
      if (key !== undefined && (await this.#claims.claim(key, `${m.definition.name} for ${event.sha}`)) !== "fresh") {
        duplicates++;
        this.#duplicates.inc({ event: event.type });
        continue;
      }
      fresh.push({ definition: m.definition, key, identity, event: shared?.get(m.definition.name) ?? event });
    }

    const siblings = matched
      .map((m) => m.definition.name)
      .sort()
      .join(",");
    const created: string[] = [];
    const succeeded = new Set<string>();
    const releaseAll = () => {
      for (const f of fresh) if (f.key && !succeeded.has(f.key)) this.#claims.release(f.key);
    };
    const settle = this.#claims.hold(fresh.flatMap((f) => (f.key ? [f.key] : [])));
    try {
      // A GitHub App Repository has no clone token: each run gets a token minted for it (run-secret.ts).
      if (fresh.length > 0 && ctx.cloneToken === undefined && ctx.runToken === undefined) {
        const missing = await this.#secrets.issueCloneToken(ctx);
        if (missing !== undefined) {
          releaseAll();
          await this.#feedback.refuseWithoutCloneToken(
            ctx,
            event,
            fresh.map((f) => f.definition.name),
            missing,
          );
          await this.#feedback.reportProblems(ctx, event, problems);
          return { outcome: "no-clone-token", runs: [], detail: missing };
        }
      }
      if (fresh.length > 0 && event.type !== "push" && event.pullRequest.fromRepository.fork) {
        const unbuildable = await checkForkHead(ctx, event, (await this.#secrets.gitTokenOf(ctx)).token, this.#o);
        if (unbuildable !== undefined) {
          releaseAll();
          await this.#feedback.refuseForkHead(
            ctx,
            event,
            fresh.map((f) => f.definition.name),
            unbuildable,
            forkCloneUrl(ctx.client, ctx.ref, event).repoUrl !== undefined,
          );
          await this.#feedback.reportProblems(ctx, event, problems);
          return { outcome: "stale-ref", runs: [], detail: unbuildable };
        }
      }
      for (const f of fresh) {
        const name = await this.#creator.create(ctx, f.event, f.definition, f.identity, problems, siblings);
        if (name === alreadyExists) {
          // Another replica or event created this very run: it exists, so this delivery is handled too.
          duplicates++;
          this.#duplicates.inc({ event: event.type });
          if (f.key) succeeded.add(f.key);
        } else if (name !== undefined) {
          created.push(name);
          if (f.key) succeeded.add(f.key);
        } else if (f.key) this.#claims.release(f.key);
      }
    } catch (err) {
      // Whatever was not created may be tried again by a re-delivery or catch-up.
      releaseAll();
      throw err;
    } finally {
      settle(succeeded);
    }
    await this.#feedback.reportProblems(ctx, event, problems);

    if (created.length > 0) {
      return { outcome: "created", runs: created, detail: `created ${created.join(", ")}` };
    }
    if (problems.length > 0) {
      return { outcome: "invalid", runs: [], detail: problems.map(problemDescription).join("; ").slice(0, 1000) };
    }
    if (duplicates > 0) {
      return { outcome: "duplicate", runs: [], detail: `${duplicates} pipeline(s) already started for this commit` };
    }
    return { outcome: "no-match", runs: [], detail: "no PipelineRun matches this event" };
  }

  #cancel(ctx: Context, pullRequest: number, pipeline?: string): Promise<string[]> {
    return cancelRuns({ ...this.#o, admission: this.#admission }, ctx, pullRequest, pipeline);
  }

  /** A head's runs as the API server has them now (a run created a moment ago included). */
  async #headRuns(ctx: Context, sha: string): Promise<PipelineRun[]> {
    const selector = [batonRunSelector, `${labels.repository}=${ctx.label}`, `${labels.sha}=${labelValue(sha)}`];
    const { items } = await this.#o.kube.list(PipelineRuns, {
      namespace: ctx.namespace,
      labelSelector: selector.join(","),
    });
    return items;
  }
}

export interface RegisterPipelineRunnerOptions {
  provider: ProviderLookup;
  instance: string;
  clock?: Clock;
  refWait?: PipelineRunnerOptions["refWait"];
  signingKey: RunSigningKey;
  githubApps?: GitHubAppCredentials | undefined;
}

/**
 * The runner, shared by the intake (every replica) and catch-up, plus the leader-only controller that starts
 * pending runs and prunes completed ones.
 */
export function registerPipelineRunner(manager: Manager, options: RegisterPipelineRunnerOptions): PipelineRunner {
  const runs = manager.informer(PipelineRuns, runsInformerOptions);
  const repositories = manager.informer(Repositories);
  const byLabel = "baton.dev/run-label";
  repositories.addIndex(byLabel, (r) => [`${r.metadata.namespace ?? ""}/${labelValue(r.metadata.name ?? "")}`]);
  const runner = new PipelineRunner({
    kube: manager.kube,
    provider: options.provider,
    events: manager.events,
    logger: manager.logger,
    metrics: manager.metrics,
    clock: options.clock ?? manager.clock,
    instance: options.instance,
    consoleUrlTemplate: manager.config.consoleUrlTemplate,
    runs,
    signingKey: options.signingKey,
    githubApps: options.githubApps,
    leads: () => manager.isLeader(),
    ...(options.refWait ? { refWait: options.refWait } : {}),
    evaluationBudget: { ...defaultEvaluationBudget, timeoutMs: manager.config.evaluationTimeout },
  });
  manager.addController({
    name: "pipelinerun-queue",
    sources: [
      mapped(runs, (run) => repositoryKeyOf(run)),
      mapped(repositories, (r) => `${r.metadata.namespace ?? ""}/${labelValue(r.metadata.name ?? "")}`),
    ],
    reconcile: async (key) => {
      const repositoryKey = `${key.namespace ?? ""}/${key.name}`;
      const [repository] = repositories.byIndex(byLabel, repositoryKey);
      return runner.releaseAndPrune(repositoryKey, repository);
    },
    workers: 2,
  });
  return runner;
}

/**
 * Where the definitions are read: the head, except for a fork pull request on a host that keeps no pull-request ref
 * in the target (Bitbucket Cloud), whose head lives only in the fork, which the Repository's token reads only if the
 * fork happens to be public or in its workspace; there the target branch's definitions are the ones Baton can read
 * (reference bitbucket-cloud.md §7), and the fork's readability is checked before the run is created.
 */
function definitionsCommit(ctx: Context, event: StartingEvent): string {
  if (event.type === "push" || !event.pullRequest.fromRepository.fork) return event.sha;
  const target = event.pullRequest.targetCommit;
  return target !== undefined && forkCloneUrl(ctx.client, ctx.ref, event).repoUrl !== undefined ? target : event.sha;
}
