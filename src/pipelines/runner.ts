// The pipeline runner: a neutral event for one Repository → trust → `.tekton` at the commit → matching → Tekton
// PipelineRuns with a per-run git Secret, an INPROGRESS build status, and what users need to hear when nothing
// runs. Also cancels runs (/cancel, closed pull requests), and, as a small leader-only controller, starts pending
// runs when slots free up and prunes completed ones.
//
// Every decision comes from the pure modules (events/trust, events/dedupe, pipelines/load, match, build,
// gitsecret, tekton); this file fetches, decides by calling them, and writes. Order of writes for a run: the
// PipelineRun first, named after its run key (naming.ts) so that the API server refuses a second create of it from
// any replica, and signed (provenance.ts); then its git Secret owned by it, so the Secret is garbage-collected with
// the run and never exists without one; then the build status, recorded on the run once Bitbucket took it (a
// process stopped before that leaves it to the status reporter). Only the process whose create succeeded writes the
// last two.
import { randomBytes } from "node:crypto";
import type { Repository } from "../api/repository.ts";
import { headRunKey, runKey, runKeyLabel, SeenSet } from "../events/dedupe.ts";
import type { BatonEvent, ChangedFiles, PullRequestEvent, PullRequestScopedEvent, PushEvent } from "../events/model.ts";
import { decideTrust } from "../events/trust.ts";
import type { GitProvider, ProviderLookup, PullRequestSnapshot, RepoRef } from "../providers/provider.ts";
import { providerKindOf } from "../providers/registry.ts";

import { issueManagedCloneToken, Repositories } from "../repositories/resource.ts";
import type { Clock } from "../runtime/clock.ts";
import type { ReconcileResult } from "../runtime/controller.ts";
import { mapped } from "../runtime/controller.ts";
import type { Informer } from "../runtime/informer.ts";
import { isAlreadyExists, isConflict, isNotFound, KubeApiError, type KubeClient, Secrets } from "../runtime/kube.ts";
import type { Logger } from "../runtime/logger.ts";
import type { Manager } from "../runtime/manager.ts";
import type { Metrics } from "../runtime/metrics.ts";
import { describe as describeState, PipelineRunView } from "../status/report.ts";
import { reportedAnnotation } from "../status/reporter.ts";
import { Admission, repositoryIndex } from "./admission.ts";
import {
  admit,
  labels,
  labelValue,
  type PipelineRunObject,
  pac,
  pruneCandidates,
  queuedAtAnnotation,
  releasable,
  siblingsAnnotation,
} from "./build.ts";
import { DefinitionCache } from "./definitions.ts";
import {
  buildPipelineRunBounded,
  defaultEvaluationBudget,
  type EvaluationBudget,
  matchPipelineRunsBounded,
} from "./evaluate-bounded.ts";
import { HostFeedback } from "./feedback.ts";
import { type FetchLike, waitForPullRequestRef } from "./forkref.ts";
import { bindGitAuthWorkspace, buildGitSecret, pipelineRunOwnerReference } from "./gitsecret.ts";
import { type CurrentCloneToken, currentCloneToken, gitSecretLabelsOf, refreshGitSecret } from "./held-tokens.ts";
import type { PipelineRunDefinition } from "./load.ts";
import { annotationKeys, type MatchedRun, needsChangedFiles, withoutSucceeded } from "./match.ts";
import {
  commentAnnotation,
  generationAnnotation,
  gitSecretName,
  nextGeneration,
  runDigest,
  startedByComment,
} from "./naming.ts";
import {
  approvalGranted,
  type DefinitionProblem,
  oneLine,
  problemDescription,
  staleRefDescription,
} from "./notices.ts";
import { namedAndSigned } from "./provenance.ts";
import { refusalMessage } from "./refusal.ts";
import { pipelinesFolder, repositoryParams, resolvePipelines } from "./resolve.ts";
import {
  type RunContext as Context,
  RepositoryNotReady,
  RunContexts,
  safeMessage,
  tektonSource,
} from "./run-context.ts";
import { mayMatchPullRequest, pullRequestForPush, sharedRuns } from "./shared-run.ts";

export { RepositoryNotReady };

import type { RunSigningKey } from "./signing-key.ts";
import {
  batonRunSelector,
  completionTimeOf,
  type PipelineRun,
  PipelineRuns,
  PipelineRunsV1beta1,
  pipelineOf,
  repositoryKeyOf,
  retestable,
  runPhase,
  runSucceeded,
  runsInformerOptions,
} from "./tekton.ts";

export type DispatchOutcome =
  | "created"
  | "duplicate"
  | "ignored"
  | "no-pipelines"
  | "no-match"
  | "untrusted"
  | "invalid"
  | "stale-ref"
  | "no-clone-token"
  | "cancelled";

export interface DispatchResult {
  outcome: DispatchOutcome;
  /** Names of the PipelineRuns created (or cancelled, for closing events and /cancel). */
  runs: string[];
  /** One sentence for logs and the HTTP answer; never a secret. */
  detail: string;
}

/** Events on the Repository, so `kubectl describe` tells what happened to its events. */
export interface RepositoryEvents {
  normal(obj: Repository, reason: string, message: string): void;
  warning(obj: Repository, reason: string, message: string): void;
}

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
  refWait?: { delaysMs?: readonly number[]; fetch?: FetchLike };
  /** How long a resolved token is reused before it is read again (a rotation takes effect within this). */
  tokenCacheMs?: number;
  /** Time and heap one pipeline's CEL matching or templating may use (default: defaultEvaluationBudget). */
  evaluationBudget?: EvaluationBudget;
  /**
   * Whether this replica leads (default: always). Under a concurrency limit only the leader admits runs, so the
   * limit holds across replicas: the others create runs Pending and the leader's release controller starts them.
   */
  leads?: () => boolean;
}

const runIndex = "baton.dev/run-key";
/** #createRun's answer when the API server already has the run. */
const alreadyExists = Symbol("already exists");

export class PipelineRunner {
  readonly #o: PipelineRunnerOptions;
  readonly #log: Logger;
  readonly #cache = new DefinitionCache();
  /** Run keys started by this process (events/dedupe.ts); the runs' run-key label makes it survive restarts. */
  readonly #seen: SeenSet;
  /** Run keys being created right now → whether that attempt created its run. */
  readonly #inFlight = new Map<string, Promise<boolean>>();
  /** Notices already given (approval, invalid definitions) per head, so re-deliveries do not repeat them. */
  readonly #noticed: SeenSet;
  /** Trust, and what the host is told: build statuses, comments, approval notices. */
  readonly #feedback: HostFeedback;
  readonly #contexts: RunContexts;
  /** Runs created or released here that the informer has not shown yet, and one writer per repository. */
  readonly #admission: Admission;
  /** Repositories whose runs from before this process started were checked for their git Secret. */
  readonly #checkedSecrets = new Set<string>();
  readonly #startedAt: number;
  readonly #created;
  readonly #duplicates;

  constructor(options: PipelineRunnerOptions) {
    this.#o = options;
    this.#log = options.logger.child({ part: "pipelines" });
    this.#contexts = new RunContexts(options);
    this.#admission = new Admission(options.runs);
    this.#seen = new SeenSet({ ttlMs: 6 * 3_600_000, maxSize: 50_000 });
    // Compared with the API server's creationTimestamps, so wall time, not the (possibly simulated) domain clock.
    this.#startedAt = Date.now();
    this.#noticed = new SeenSet({ ttlMs: 24 * 3_600_000, maxSize: 20_000 });
    this.#feedback = new HostFeedback({
      ...options,
      log: this.#log,
      definitions: this.#cache,
      noticed: this.#noticed,
    });
    this.#created = options.metrics.counter({
      name: "baton_pipelineruns_created_total",
      help: "PipelineRuns Baton created, by event type and whether they wait for a free slot.",
      labelNames: ["event", "pending"],
    });
    this.#duplicates = options.metrics.counter({
      name: "baton_pipelineruns_deduplicated_total",
      help: "Pipelines not started because the same pipeline already started for the same commit and scope.",
      labelNames: ["event"],
    });
    options.runs.addIndex(runIndex, (run) => {
      const key = run.metadata?.labels?.[labels.runKey];
      return key ? [key] : [];
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

  // ---- starting runs --------------------------------------------------------------------------------------------

  async #start(
    ctx: Context,
    event: Exclude<BatonEvent, { type: "ping" | "pull_request_closed" }>,
  ): Promise<DispatchResult> {
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

  async #startTrusted(
    ctx: Context,
    event: Exclude<BatonEvent, { type: "ping" | "pull_request_closed" }>,
  ): Promise<DispatchResult> {
    const folder = pipelinesFolder(ctx.repository.spec);
    const fetched = await this.#cache.fetch(ctx.identity, folder, event.sha, tektonSource(ctx));
    if (!fetched.folderExists) {
      return { outcome: "no-pipelines", runs: [], detail: `${folder}/ does not exist at ${event.sha.slice(0, 11)}` };
    }
    const params = repositoryParams(ctx.repository.spec);
    const { match, problems, filesUnknown } = await resolvePipelines({
      fetched,
      namespace: ctx.namespace,
      forbiddenSecrets: ctx.forbiddenSecrets,
      event,
      params,
      changedFiles: () => this.#changedFiles(ctx, event),
      budget: this.#o.evaluationBudget,
    });
    // Not the author's mistake: the host could not list the changed files (a push of more than it pages).
    for (const error of filesUnknown) {
      this.#log.info({ repository: ctx.name, pipeline: error.definition.name }, error.message);
    }

    let matched = match.matched;
    /** A comment command's run of each pipeline: which generation of the head's runs it is (naming.ts). */
    const generations = new Map<string, number>();
    let alreadyStarted = 0;
    if (event.type === "comment") {
      const command = event.comment.command;
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
      const forSha = await this.#headRuns(ctx, event.sha);
      const runsOf = (pipeline: string) => forSha.filter((r) => pipelineOf(r) === pipeline);
      const before = matched.length;
      // One comment starts each pipeline once, whichever replica its deliveries reach and however late.
      matched = matched.filter((m) => !startedByComment(runsOf(m.definition.name), event.comment.id));
      alreadyStarted += before - matched.length;
      for (const m of matched) generations.set(m.definition.name, nextGeneration(runsOf(m.definition.name)));
      if (command.kind === "retest" || command.kind === "ok-to-test") {
        if (command.kind === "retest") {
          const allowed = retestable(
            forSha,
            matched.map((m) => m.definition.name),
          );
          matched = matched.filter((m) => allowed.has(m.definition.name));
        } else {
          const succeeded = new Set(forSha.filter((r) => runSucceeded(r) === true).map((r) => pipelineOf(r) ?? ""));
          matched = withoutSucceeded(matched, succeeded);
        }
      }
    }

    // A pull request of the pushed branch shares the push's runs; those are built with its context (shared-run.ts).
    const shared = event.type === "push" ? await this.#sharedWithPullRequests(ctx, event, matched, params) : undefined;

    // Dedupe: in this process first (atomic), then against cached runs (earlier processes, other replicas); what
    // both miss (a run another replica is creating right now) the API server refuses by name (naming.ts).
    const fresh: {
      definition: PipelineRunDefinition;
      key: string | undefined;
      identity: { head: string; generation: number };
      event: Exclude<BatonEvent, { type: "ping" | "pull_request_closed" }>;
    }[] = [];
    let duplicates = alreadyStarted;
    for (const m of matched) {
      const key = runKey(event, m.definition.name);
      const identity = {
        head: headRunKey(event, m.definition.name) ?? randomBytes(16).toString("hex"),
        generation: generations.get(m.definition.name) ?? 0,
      };
      if (key !== undefined) {
        const existing = this.#o.runs.byIndex(runIndex, runKeyLabel(key)).length > 0;
        const pending = this.#inFlight.get(key);
        if (existing || pending || !this.#seen.add(key)) {
          // The same event is being handled right now (a re-delivery racing catch-up, say): answer only once its
          // run exists, so a 2xx never stands for a run that the other attempt then failed to create.
          if (!existing && pending && !(await pending)) {
            throw new Error(`a concurrent attempt to start ${m.definition.name} for ${event.sha} failed; try again`);
          }
          duplicates++;
          this.#duplicates.inc({ event: event.type });
          continue;
        }
      }
      fresh.push({ definition: m.definition, key, identity, event: shared?.get(m.definition.name) ?? event });
    }

    const siblings = matched
      .map((m) => m.definition.name)
      .sort()
      .join(",");
    const created: string[] = [];
    const done = new Map<string, (ok: boolean) => void>();
    const succeeded = new Set<string>();
    for (const f of fresh) {
      if (f.key) this.#inFlight.set(f.key, new Promise<boolean>((resolve) => done.set(f.key ?? "", resolve)));
    }
    try {
      if (fresh.length > 0 && ctx.cloneToken === undefined) {
        const missing = await this.#issueCloneToken(ctx);
        if (missing !== undefined) {
          for (const f of fresh) if (f.key) this.#seen.delete(f.key);
          await this.#refuseWithoutCloneToken(
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
        const stale = await this.#checkForkRef(ctx, event);
        if (stale !== undefined) {
          for (const f of fresh) {
            if (f.key) this.#seen.delete(f.key);
            await this.#feedback.postStatus(ctx, event, f.definition.name, {
              state: "FAILED",
              description: staleRefDescription(event.pullRequest.number, event.sha, stale),
            });
          }
          this.#o.events.warning(
            ctx.repository,
            "PullRequestRefStale",
            oneLine(`pull request #${event.pullRequest.number}: ${stale}; no run was created`, 1000),
          );
          // A head that lives only in the fork takes no status in the target repository, so the pull request hears it
          // as a comment (once per head).
          if (forkCloneUrl(ctx.client, ctx.ref, event).repoUrl !== undefined) {
            await this.#feedback.commentOnce(
              ctx,
              event,
              `fork|${event.sha}`,
              `Baton did not run the pipelines for commit ${event.sha.slice(0, 11)}: ${stale}.`,
            );
          }
          await this.#feedback.reportProblems(ctx, event, problems);
          return { outcome: "stale-ref", runs: [], detail: stale };
        }
      }
      for (const f of fresh) {
        const name = await this.#createRun(ctx, f.event, f.definition, f.identity, problems, siblings);
        if (name === alreadyExists) {
          // Another replica or event created this very run: it exists, so this delivery is handled too.
          duplicates++;
          this.#duplicates.inc({ event: event.type });
          if (f.key) succeeded.add(f.key);
        } else if (name !== undefined) {
          created.push(name);
          if (f.key) succeeded.add(f.key);
        } else if (f.key) this.#seen.delete(f.key);
      }
    } catch (err) {
      // Whatever was not created may be tried again by a re-delivery or catch-up.
      for (const f of fresh) if (f.key && !succeeded.has(f.key)) this.#seen.delete(f.key);
      throw err;
    } finally {
      for (const [key, resolve] of done) {
        this.#inFlight.delete(key);
        resolve(succeeded.has(key));
      }
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

  /**
   * The pipelines of a branch push to build as a same-repository pull request's (see shared-run.ts): asks Bitbucket
   * for the open pull requests from the pushed branch only when a matched pipeline that has not run yet could match
   * a pull request. When Bitbucket cannot say, the push's own context is used, as before: nothing is lost.
   */
  async #sharedWithPullRequests(
    ctx: Context,
    push: PushEvent,
    matched: readonly MatchedRun[],
    params: Record<string, string>,
  ): Promise<Map<string, PullRequestEvent> | undefined> {
    const candidates = matched
      .map((m) => m.definition)
      .filter((d) => {
        const key = runKey(push, d.name);
        const started =
          key !== undefined && (this.#seen.has(key) || this.#o.runs.byIndex(runIndex, runKeyLabel(key)).length > 0);
        return !started && mayMatchPullRequest(d);
      });
    if (push.refKind !== "branch" || candidates.length === 0) return undefined;
    try {
      const open = await ctx.client.listOpenPullRequests(ctx.ref, {
        fromRef: push.ref,
        auth: ctx.auth,
        maxItems: 25,
      });
      const events: { event: PullRequestEvent; matched: string[] }[] = [];
      const receivedAt = new Date(this.#o.clock.now());
      for (const pullRequest of open) {
        const event = pullRequestForPush(push, (o) => ctx.client.pullRequestEvent(pullRequest, o), {
          serverUrl: ctx.location.server,
          receivedAt,
        });
        if (event === undefined || !decideTrust(event, {}, ctx.repository.spec.policy ?? {}).trusted) continue;
        const changedFiles = needsChangedFiles(candidates, event) ? await this.#changedFiles(ctx, event) : undefined;
        // CEL here is as hostile as anywhere else: the same budget, and an overrun only means "not shared".
        const match = await matchPipelineRunsBounded(
          candidates,
          { event, ...(changedFiles ? { changedFiles } : {}), params },
          this.#o.evaluationBudget,
        );
        events.push({ event, matched: match.matched.map((m) => m.definition.name) });
      }
      return sharedRuns(
        push,
        events,
        candidates.map((d) => d.name),
      );
    } catch (err) {
      this.#log.warn(
        { repository: `${ctx.namespace}/${ctx.name}`, sha: push.sha, err: safeMessage(err) },
        "could not list the pushed branch's pull requests; its runs get the push's context",
      );
      return undefined;
    }
  }

  /**
   * The files an event changes, for on-path-change and CEL's `files`: a pull request's own changes, or for a push
   * the range it moved the ref over (a new branch: its head commit against its parent, as Bitbucket answers).
   * Undefined when Bitbucket cannot give them completely; those pipelines are then skipped and logged.
   */
  async #changedFiles(
    ctx: Context,
    event: Exclude<BatonEvent, { type: "ping" | "pull_request_closed" }>,
  ): Promise<ChangedFiles | undefined> {
    const range =
      event.type === "push"
        ? { from: event.previousSha && !/^0+$/.test(event.previousSha) ? event.previousSha : undefined, to: event.sha }
        : { pullRequest: event.pullRequest.number };
    const result = await ctx.client.changedFiles(ctx.ref, range, { auth: ctx.auth, maxItems: 5000 });
    return result.truncated ? undefined : result.files;
  }

  /**
   * Builds and creates one run, then its Secret and status. Undefined when it could not be built; `alreadyExists`
   * when the API server already has this run (created by another replica or a racing event).
   */
  async #createRun(
    ctx: Context,
    event: Exclude<BatonEvent, { type: "ping" | "pull_request_closed" }>,
    definition: PipelineRunDefinition,
    identity: { head: string; generation: number },
    problems: DefinitionProblem[],
    siblings: string,
  ): Promise<string | typeof alreadyExists | undefined> {
    const digest = runDigest(identity.head, identity.generation);
    const secretName = gitSecretName(digest);
    const limit = ctx.repository.spec.pipelines?.concurrencyLimit;
    // Admission (count, decide, create) is serialised per Repository only when there is a limit to keep; the
    // git Secret and the status are written outside, so one slow write never holds up the next event. Only the
    // leader admits (its release controller shares this lock and count), and only when nobody queues before it.
    // Read before the admission lock: the first call of a process may have to create the key.
    const signingKey = (await this.#o.signingKey.get()).secret;
    const admitAndCreate = async () => {
      const pending =
        limit !== undefined &&
        (!(this.#o.leads?.() ?? true) ||
          this.#admission.queued(`${ctx.namespace}/${ctx.label}`) ||
          admit(this.#admission.activeCount(`${ctx.namespace}/${ctx.label}`), limit) === "pending");
      const built = await buildPipelineRunBounded(
        {
          definition,
          event,
          repository: { name: ctx.name, namespace: ctx.namespace, spec: ctx.repository.spec },
          gitAuthSecret: secretName,
          nameDigest: digest,
          pending,
          runKey: identity.head,
          forbiddenSecrets: ctx.forbiddenSecrets,
          ...forkCloneUrl(ctx.client, ctx.ref, event),
        },
        this.#o.evaluationBudget,
      );
      if (!built.ok) {
        problems.push({ file: definition.file, name: definition.name, message: built.error });
        return undefined;
      }
      const object: PipelineRunObject = bindGitAuthWorkspace(built.pipelineRun, secretName);
      if (pending) object.metadata.annotations[queuedAtAnnotation] = new Date().toISOString();
      object.metadata.annotations[siblingsAnnotation] = siblings;
      object.metadata.annotations[generationAnnotation] = String(identity.generation);
      if (event.type === "comment") object.metadata.annotations[commentAnnotation] = String(event.comment.id);
      const resource = object.apiVersion === "tekton.dev/v1beta1" ? PipelineRunsV1beta1 : PipelineRuns;
      let run: PipelineRun;
      try {
        // The name is the run key's (naming.ts): signing leaves it as it is, and a second create is AlreadyExists.
        run = await this.#o.kube.create(resource, namedAndSigned(object, signingKey, randomBytes) as PipelineRun);
      } catch (err) {
        if (isAlreadyExists(err)) return alreadyExists;
        // The API server validates against Tekton's schema: an invalid run is the author's to fix.
        if (
          (err as { statusCode?: number }).statusCode === 422 ||
          (err as { statusCode?: number }).statusCode === 400
        ) {
          problems.push({
            file: definition.file,
            name: definition.name,
            message: refusalMessage(safeMessage(err), err instanceof KubeApiError ? err : undefined),
          });
          return undefined;
        }
        throw err;
      }
      const runName = run.metadata?.name ?? "";
      this.#admission.remember(`${ctx.namespace}/${ctx.label}`, runName, pending ? "pending" : "active");
      this.#created.inc({ event: event.type, pending: String(pending) });
      return { run, object, resource, runName, pending };
    };
    const created =
      limit === undefined
        ? await admitAndCreate()
        : await this.#admission.withLock(`${ctx.namespace}/${ctx.label}`, admitAndCreate);
    if (created === undefined || created === alreadyExists) return created;
    const { run, object, resource, runName, pending } = created;
    {
      const secret = buildGitSecret({
        name: secretName,
        namespace: ctx.namespace,
        serverUrl: ctx.location.server,
        token: this.#cloneTokenOf(ctx),
        tokenId: ctx.cloneTokenId,
        git: ctx.client.capabilities.git,
        owner: pipelineRunOwnerReference({
          apiVersion: run.apiVersion ?? object.apiVersion,
          name: runName,
          uid: run.metadata?.uid ?? "",
        }),
        labels: { [labels.repository]: ctx.label, [labels.sha]: labelValue(event.sha) },
      });
      const secretWrite = this.#createSecret(secret).catch(async (err: unknown) => {
        // Without its credentials the run cannot clone: remove it rather than leave a run that must fail.
        await this.#o.kube.delete(resource, { namespace: ctx.namespace, name: runName }).catch(() => undefined);
        throw new Error(
          `creating the git Secret of PipelineRun ${ctx.namespace}/${runName} failed: ${safeMessage(err)}`,
        );
      });
      const statusWrite = this.#feedback
        .postStatus(ctx, event, definition.name, {
          state: "INPROGRESS",
          description: describeState("queued", [], PipelineRunView.parse(run)),
          runName,
        })
        .then(async (posted) => {
          // Recorded only once Bitbucket took it, so a process stopped before the post leaves nothing recorded and the
          // status reporter posts it after its grace. Not posted: the reporter tries too.
          if (posted) await this.#recordQueued(resource, ctx.namespace, runName, run.metadata?.resourceVersion);
        });
      await Promise.all([secretWrite, statusWrite]);
      this.#log.info(
        {
          repository: `${ctx.namespace}/${ctx.name}`,
          pipelineRun: runName,
          pipeline: definition.name,
          sha: event.sha,
          event: event.type,
          pending,
        },
        "PipelineRun created",
      );
      return runName;
    }
  }

  /**
   * Records on the run that its queued state was reported, unless something already is: after the grace, the status
   * reporter may have reported it (or a later state) while this post was slow, and overwriting that record would
   * make it post again. The resourceVersion the run was read at is the precondition.
   */
  async #recordQueued(
    resource: typeof PipelineRuns | typeof PipelineRunsV1beta1,
    namespace: string,
    name: string,
    resourceVersion: string | undefined,
  ): Promise<void> {
    let version = resourceVersion;
    try {
      for (let attempt = 0; attempt < 3 && version !== undefined; attempt++) {
        try {
          await this.#o.kube.patch(
            resource,
            { namespace, name },
            { metadata: { resourceVersion: version, annotations: { [reportedAnnotation]: "queued" } } },
          );
          return;
        } catch (err) {
          if (!isConflict(err)) throw err;
          const current = await this.#o.kube.get(resource, { namespace, name });
          if (current?.metadata?.annotations?.[reportedAnnotation] !== undefined) return;
          version = current?.metadata?.resourceVersion;
        }
      }
    } catch (err) {
      if (isNotFound(err)) return;
      // Unrecorded, the status reporter posts the same state once more after its grace; Bitbucket keeps one.
      this.#log.warn(
        { pipelineRun: `${namespace}/${name}`, error: safeMessage(err) },
        "recording the reported state failed",
      );
    }
  }

  async #createSecret(secret: ReturnType<typeof buildGitSecret>): Promise<void> {
    let lastError: unknown;
    for (let attempt = 0; attempt < 3; attempt++) {
      try {
        await this.#o.kube.create(Secrets, secret);
        return;
      } catch (err) {
        lastError = err;
        if ((err as { statusCode?: number }).statusCode === 409) return;
        await this.#o.clock.sleep(100 * 2 ** attempt);
      }
    }
    throw lastError;
  }

  // ---- clone token ------------------------------------------------------------------------------------------------

  #cloneTokenOf(ctx: Context): string {
    if (ctx.cloneToken === undefined)
      throw new RepositoryNotReady(`Repository ${ctx.namespace}/${ctx.name} has no clone token`);
    return ctx.cloneToken;
  }

  /**
   * Issues the managed clone token on the first run that needs it (repositories/clonetoken.ts) and puts it in
   * ctx. Returns why no run can get a clone token, or undefined when ctx now has one.
   */
  async #issueCloneToken(ctx: Context): Promise<string | undefined> {
    const missing = ctx.cloneMissing;
    if (missing === undefined) return `Repository ${ctx.namespace}/${ctx.name} has no clone token`;
    if (missing.plan.kind !== "managed") return missing.problem;
    const issued = await issueManagedCloneToken(this.#o.kube, ctx.repository, missing.plan.parent, ctx.location);
    if ("problem" in issued) {
      if (issued.reason === "CloneTokenConflict") return issued.problem;
      // Still being issued (or Bitbucket is slow): a transient state, so the delivery is answered 503, not FAILED.
      throw new RepositoryNotReady(
        `Repository ${ctx.namespace}/${ctx.name}: the read-only clone token is not issued yet: ${issued.problem}`,
      );
    }
    ctx.cloneToken = issued.token;
    ctx.cloneTokenId = "tokenId" in issued ? issued.tokenId : undefined;
    this.#contexts.forget();
    this.#o.events.normal(
      ctx.repository,
      "CloneTokenIssued",
      `runs clone with the read-only token of BitbucketProjectToken ${missing.plan.name}, issued for this Repository`,
    );
    return undefined;
  }

  /** No run without a clone token: a FAILED status per pipeline that would have run and an Event, once per head. */
  async #refuseWithoutCloneToken(
    ctx: Context,
    event: Exclude<BatonEvent, { type: "ping" | "pull_request_closed" }>,
    pipelines: readonly string[],
    why: string,
  ): Promise<void> {
    const description = oneLine(
      `not run: no clone token for Repository ${ctx.namespace}/${ctx.name} (its CloneTokenReady condition says why); set spec.cloneTokenRef to a REPO_READ token`,
    );
    for (const pipeline of pipelines) {
      if (!this.#noticed.add(`clone|${ctx.identity}|${event.sha}|${pipeline}`)) continue;
      await this.#feedback.postStatus(ctx, event, pipeline, { state: "FAILED", description });
    }
    if (this.#noticed.add(`clone|${ctx.identity}|${event.sha}`)) {
      this.#o.events.warning(
        ctx.repository,
        "CloneTokenRequired",
        oneLine(`no run for ${event.sha.slice(0, 11)} (${pipelines.join(", ")}): ${why}`, 1000),
      );
    }
  }

  /** Undefined when the fork PR's ref points at the head; otherwise why not (for a status and an Event). */
  async #checkForkRef(ctx: Context, event: PullRequestScopedEvent): Promise<string | undefined> {
    const cloneUrl = event.repository.cloneUrl;
    if (cloneUrl === undefined) return "the target repository's clone URL is unknown";
    const head = ctx.client.forkHead(
      ctx.ref,
      event.pullRequest.number,
      event.pullRequest.fromRepository.cloneUrl ?? "",
    );
    if (head.kind === "fork") {
      // No pull-request ref in the target (Bitbucket Cloud): the run clones the fork itself, so the clone token must
      // read it, and its source branch must still be at the head the event names.
      const fork = `${event.pullRequest.fromRepository.project}/${event.pullRequest.fromRepository.slug}`;
      const result = await waitForPullRequestRef({
        cloneUrl: head.cloneUrl,
        token: this.#cloneTokenOf(ctx),
        git: ctx.client.capabilities.git,
        ref: event.pullRequest.sourceRef,
        sha: event.sha,
        refresh: async () => {},
        delaysMs: [],
        ...(this.#o.refWait?.fetch ? { fetch: this.#o.refWait.fetch } : {}),
      });
      if (result.ok) return undefined;
      return result.unreadable
        ? `the clone token cannot read the fork ${fork} (a repository or project token reaches no other workspace's repositories), so its head cannot be built; make the fork readable to that token, or push the branch to ${event.repository.project}/${event.repository.slug}`
        : `${result.message} in the fork ${fork}`;
    }
    const result = await waitForPullRequestRef({
      cloneUrl,
      token: this.#cloneTokenOf(ctx),
      git: ctx.client.capabilities.git,
      ref: head.ref,
      sha: event.sha,
      refresh: async () => {
        await ctx.client.getPullRequest(ctx.ref, event.pullRequest.number, { auth: ctx.auth });
      },
      ...(this.#o.refWait?.delaysMs ? { delaysMs: this.#o.refWait.delaysMs } : {}),
      ...(this.#o.refWait?.fetch ? { fetch: this.#o.refWait.fetch } : {}),
      sleep: (ms) => this.#o.clock.sleep(ms),
    });
    return result.ok ? undefined : result.message;
  }

  // ---- cancelling -----------------------------------------------------------------------------------------------

  async #cancel(ctx: Context, pullRequest: number, pipeline?: string): Promise<string[]> {
    const selector = [
      batonRunSelector,
      `${labels.repository}=${ctx.label}`,
      `${labels.pullRequest}=${pullRequest}`,
      ...(pipeline === undefined ? [] : [`${labels.pipeline}=${labelValue(pipeline)}`]),
    ].join(",");
    // A fresh list, not the cache: a run created a moment ago must be cancelled too.
    const { items } = await this.#o.kube.list(PipelineRuns, { namespace: ctx.namespace, labelSelector: selector });
    const cancelled: string[] = [];
    await this.#admission.withLock(`${ctx.namespace}/${ctx.label}`, async () => {
      for (const run of items) {
        const phase = runPhase(run);
        if (phase !== "pending" && phase !== "active") continue;
        const name = run.metadata?.name ?? "";
        try {
          await this.#o.kube.patch(PipelineRuns, { namespace: ctx.namespace, name }, { spec: { status: "Cancelled" } });
          cancelled.push(name);
        } catch (err) {
          if (!isNotFound(err)) throw err;
        }
      }
    });
    if (cancelled.length > 0) {
      this.#o.events.normal(
        ctx.repository,
        "PipelineRunsCancelled",
        oneLine(`pull request #${pullRequest}: cancelled ${cancelled.join(", ")}`, 1000),
      );
    }
    return cancelled;
  }

  // ---- concurrency and pruning (leader) -------------------------------------------------------------------------

  /** Starts pending runs while slots are free, oldest first, and deletes completed runs beyond max-keep-runs. */
  async releaseAndPrune(repositoryKey: string, repository: Repository | undefined): Promise<ReconcileResult> {
    const [namespace = ""] = repositoryKey.split("/", 1);
    return this.#admission.withLock(repositoryKey, async () => {
      const runs = this.#o.runs.byIndex(repositoryIndex, repositoryKey);
      if (repository === undefined) return {};
      if (!this.#checkedSecrets.has(repositoryKey)) {
        await this.#restoreGitSecrets(repository, runs);
        this.#checkedSecrets.add(repositoryKey);
      }
      const limit = repository.spec.pipelines?.concurrencyLimit;
      const pending = runs
        .filter((r) => runPhase(r) === "pending")
        .map((r) => ({
          name: r.metadata?.name ?? "",
          createdAt: r.metadata?.annotations?.[queuedAtAnnotation] ?? r.metadata?.creationTimestamp ?? 0,
        }));
      const active = this.#admission.activeCountOf(repositoryKey, runs);
      let current: Promise<CurrentCloneToken | undefined> | undefined;
      for (const run of releasable(pending, active, limit)) {
        try {
          // Queued before a rotation, its git Secret holds a token due for revocation: it starts with today's.
          current ??= currentCloneToken(this.#o.kube, repository);
          const fresh = await current;
          const queued = runs.find((r) => r.metadata?.name === run.name);
          if (fresh && queued) await refreshGitSecret(this.#o.kube, queued, fresh, gitSecretLabelsOf(queued));
          // A merge patch with null removes spec.status; Tekton then starts the run.
          await this.#o.kube.patch(PipelineRuns, { namespace, name: run.name }, { spec: { status: null } });
          this.#admission.remember(repositoryKey, run.name, "active");
          this.#log.info({ repository: repositoryKey, pipelineRun: run.name }, "pending PipelineRun started");
        } catch (err) {
          if (!isNotFound(err)) throw err;
        }
      }
      const completed = runs
        .filter((r) => runPhase(r) === "finished")
        .map((r) => ({
          name: r.metadata?.name ?? "",
          pipeline: pipelineOf(r) ?? "",
          completionTime: completionTimeOf(r) ?? r.metadata?.creationTimestamp ?? 0,
          maxKeepRuns: r.metadata?.annotations?.[annotationKeys.maxKeepRuns],
        }));
      for (const name of pruneCandidates(completed, repository.spec.pipelines?.maxKeepRuns)) {
        await this.#o.kube.delete(PipelineRuns, { namespace, name }, { propagationPolicy: "Background" });
        this.#log.info({ repository: repositoryKey, pipelineRun: name }, "completed PipelineRun pruned");
      }
      return {};
    });
  }

  /**
   * A process that stopped between creating a run and its git Secret left a run that cannot clone. Once per
   * Repository after start, each unfinished run from before this process gets its Secret back if it is missing.
   */
  async #restoreGitSecrets(repository: Repository, runs: readonly PipelineRun[]): Promise<void> {
    const orphans = runs.filter(
      (r) =>
        runPhase(r) !== "finished" &&
        r.metadata?.annotations?.[pac.gitAuthSecret] !== undefined &&
        // creationTimestamp has whole seconds: a second's margin keeps this process's own runs out.
        Date.parse(String(r.metadata?.creationTimestamp ?? "")) < this.#startedAt - 1_000,
    );
    if (orphans.length === 0) return;
    let ctx: Context | undefined;
    for (const run of orphans) {
      const namespace = run.metadata?.namespace ?? repository.metadata.namespace ?? "";
      const secretName = run.metadata?.annotations?.[pac.gitAuthSecret] ?? "";
      if (await this.#o.kube.get(Secrets, { namespace, name: secretName })) continue;
      ctx ??= await this.#contexts.context(repository);
      // No clone token any more (cloneTokenRef removed): the run cannot get one, and the operator's is not for it.
      if (ctx.cloneToken === undefined) return;
      await this.#createSecret(
        buildGitSecret({
          name: secretName,
          namespace,
          serverUrl: ctx.location.server,
          token: ctx.cloneToken,
          tokenId: ctx.cloneTokenId,
          git: ctx.client.capabilities.git,
          owner: pipelineRunOwnerReference({
            apiVersion: run.apiVersion ?? "tekton.dev/v1",
            name: run.metadata?.name ?? "",
            uid: run.metadata?.uid ?? "",
          }),
          labels: gitSecretLabelsOf(run),
        }),
      );
      this.#o.events.normal(
        repository,
        "GitSecretRestored",
        `PipelineRun ${run.metadata?.name} had no git Secret (the operator stopped while creating it); restored ${secretName}`,
      );
      this.#log.info({ pipelineRun: run.metadata?.name, secret: secretName }, "restored a missing git Secret");
    }
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

/** A fork pull request on a host that keeps no pull-request ref in the target is cloned from the fork. */
function forkCloneUrl(client: GitProvider, ref: RepoRef, event: BatonEvent): { repoUrl?: string } {
  if (event.type === "ping" || event.type === "push" || !event.pullRequest.fromRepository.fork) return {};
  const head = client.forkHead(ref, event.pullRequest.number, event.pullRequest.fromRepository.cloneUrl ?? "");
  return head.kind === "fork" && head.cloneUrl !== "" ? { repoUrl: head.cloneUrl } : {};
}
