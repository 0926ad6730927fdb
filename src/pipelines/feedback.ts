// What the host hears about an event, and whether its author may run pipelines: trust lookups (write access, asked
// through the provider and cached briefly), the approval status and comment on an untrusted pull request (once per
// head), notices about invalid definitions, and the runner's build statuses and comments. All through GitProvider.

import type { SeenSet } from "../events/dedupe.ts";
import type { BatonEvent, CommentEvent, EventUser, PullRequestEvent, PullRequestScopedEvent } from "../events/model.ts";
import { resolveTrust, type TrustDecision } from "../events/trust.ts";
import type { Clock } from "../runtime/clock.ts";
import type { Logger } from "../runtime/logger.ts";
import { runUrl, statusKey } from "../status/report.ts";
import { defaultConsoleUrlTemplate } from "../status/reporter.ts";
import { labelValue } from "./build.ts";
import type { DefinitionCache } from "./definitions.ts";
import type { RepositoryEvents } from "./dispatch.ts";
import { type EvaluationBudget, matchPipelineRunsBounded } from "./evaluate-bounded.ts";
import { loadPipelineRunsBounded } from "./load-bounded.ts";
import {
  approvalComment,
  approvalDescription,
  approvalPipeline,
  type DefinitionProblem,
  definitionsComment,
  definitionsPipeline,
  oneLine,
  problemDescription,
  staleRefDescription,
} from "./notices.ts";
import { pipelinesFolder } from "./resolve.ts";
import { type RunContext as Context, safeMessage, tektonSource } from "./run-context.ts";

/** What events/trust.ts takes from a write-access lookup. */
type PermissionAnswer = { granted: boolean; refused?: string };

export interface HostFeedbackDeps {
  events: RepositoryEvents;
  clock: Clock;
  /** Prefix of build status keys. */
  instance: string;
  consoleUrlTemplate?: string | undefined;
  evaluationBudget?: EvaluationBudget;
  log: Logger;
  /** The runner's `.tekton` cache: the pipelines an untrusted pull request waits for are read from the target. */
  definitions: DefinitionCache;
  /** Notices already given per head, shared with the runner so that re-deliveries do not repeat them. */
  noticed: SeenSet;
}

export class HostFeedback {
  readonly #o: HostFeedbackDeps;
  readonly #permissions = new Map<string, { value: PermissionAnswer; at: number }>();

  constructor(deps: HostFeedbackDeps) {
    this.#o = deps;
  }

  async trust(ctx: Context, event: Exclude<BatonEvent, { type: "ping" }>): Promise<TrustDecision> {
    return resolveTrust(
      event,
      {
        hasWrite: (user) => this.hasWrite(ctx, user),
        // An earlier /ok-to-test would need the pull request's activities, which the client does not read; the
        // /ok-to-test comment itself starts the runs for the head it vouches for, so nothing is lost but a replay.
        okToTest: async () => null,
      },
      ctx.repository.spec.policy ?? {},
    );
  }

  async hasWrite(ctx: Context, user: EventUser): Promise<PermissionAnswer> {
    const who = user.slug ?? user.name;
    const cacheKey = `${ctx.identity}|${who.toLowerCase()}`;
    const cached = this.#permissions.get(cacheKey);
    const now = this.#o.clock.now();
    if (cached && now - cached.at < 30_000) return cached.value;
    const where = `${ctx.location.project}/${ctx.location.slug}`;
    const answer = await ctx.client.hasWriteAccess(ctx.ref, who, { auth: ctx.auth });
    // A host whose token cannot ask says so; that is a "no" the trust rule reports like a refused lookup.
    const value: PermissionAnswer =
      answer.kind === "cannot-ask"
        ? { granted: false, refused: answer.why }
        : { granted: answer.granted, ...(answer.refused === undefined ? {} : { refused: answer.refused }) };
    if (value.refused !== undefined) {
      this.#o.log.warn(
        { repository: `${ctx.namespace}/${ctx.name}`, user: who, bitbucket: where, refused: value.refused },
        `Bitbucket refused the REPO_WRITE lookup on ${where} (400); counting ${who} as without write access`,
      );
    }
    if (this.#permissions.size > 10_000) this.#permissions.clear();
    this.#permissions.set(cacheKey, { value, at: now });
    return value;
  }

  /** An untrusted pull request: one FAILED approval status and one comment per head, whatever is re-delivered. */
  async notifyUntrusted(
    ctx: Context,
    event: Exclude<BatonEvent, { type: "ping" | "pull_request_closed" }>,
    decision: Extract<TrustDecision, { trusted: false }>,
  ): Promise<void> {
    if (event.type === "push") return;
    this.#o.events.normal(ctx.repository, "WaitingForApproval", oneLine(decision.detail, 1000));
    if (event.type === "comment") {
      await this.commentOnce(
        ctx,
        event,
        `refused|${event.sha}|${decision.reason}`,
        `**Baton:** ${decision.whatIsNeeded}`,
      );
      return;
    }
    const noticeKey = `approval|${ctx.identity}|${event.pullRequest.number}|${event.sha}`;
    if (!this.#o.noticed.add(noticeKey)) return;
    try {
      const key = statusKey(this.#o.instance, ctx.namespace, ctx.label, approvalPipeline);
      const description = approvalDescription(decision.whatIsNeeded);
      // Durable "once per head": a status already there means an earlier process said it.
      const existing = await ctx.client.getBuildStatus(ctx.ref, event.sha, key, { auth: ctx.auth });
      // Any state: SUCCESSFUL means the head was approved since, and a re-delivery must not turn it red again.
      if (existing !== undefined) return;
      await this.postStatus(ctx, event, approvalPipeline, { state: "FAILED", description });
      const waiting = await this.waitingPipelines(ctx, event, decision);
      await this.comment(ctx, event, approvalComment(decision.whatIsNeeded, waiting));
    } catch (err) {
      this.#o.noticed.delete(noticeKey);
      throw err;
    }
  }

  /** Turns the head's FAILED approval status, if there is one, SUCCESSFUL: the merge check must not stay blocked. */
  async settleApproval(
    ctx: Context,
    event: Extract<BatonEvent, { type: "pull_request" | "comment" }>,
    description: string,
  ): Promise<void> {
    const key = statusKey(this.#o.instance, ctx.namespace, ctx.label, approvalPipeline);
    let existing: { state: string } | undefined;
    try {
      existing = await ctx.client.getBuildStatus(ctx.ref, event.sha, key, { auth: ctx.auth });
    } catch (err) {
      // The runs exist; a later command on the same head settles it again.
      this.#o.events.warning(
        ctx.repository,
        "BuildStatusFailed",
        `reading the ${approvalPipeline} status of ${event.sha.slice(0, 11)} failed: ${safeMessage(err)}`,
      );
      return;
    }
    if (existing?.state !== "FAILED") return;
    if (await this.postStatus(ctx, event, approvalPipeline, { state: "SUCCESSFUL", description })) {
      this.#o.events.normal(
        ctx.repository,
        "Approved",
        oneLine(`pull request #${event.pullRequest.number} at ${event.sha.slice(0, 11)}: ${description}`, 1000),
      );
    }
  }

  /** Names of the pipelines that would run, read from the target branch (never from the untrusted head). */
  async waitingPipelines(ctx: Context, event: PullRequestScopedEvent, decision: TrustDecision): Promise<string[]> {
    try {
      const folder = pipelinesFolder(ctx.repository.spec);
      const fetched = await this.#o.definitions.fetch(
        ctx.identity,
        folder,
        decision.definitionsFrom.at,
        tektonSource(ctx),
      );
      const loaded = await loadPipelineRunsBounded(fetched.files, { namespace: ctx.namespace });
      const match = await matchPipelineRunsBounded(loaded.pipelineRuns, { event }, this.#o.evaluationBudget);
      return match.matched.map((m) => m.definition.name);
    } catch (err) {
      this.#o.log.debug({ err: safeMessage(err) }, "could not list the waiting pipelines");
      return [];
    }
  }

  async reportProblems(
    ctx: Context,
    event: Exclude<BatonEvent, { type: "ping" | "pull_request_closed" }>,
    problems: readonly DefinitionProblem[],
  ): Promise<void> {
    if (problems.length === 0) return;
    const digest = problems.map(problemDescription).sort().join("\n");
    const noticeKey = `invalid|${ctx.identity}|${event.sha}|${digest}`;
    this.#o.events.warning(
      ctx.repository,
      "InvalidPipelineRun",
      oneLine(problems.map(problemDescription).join("; "), 1000),
    );
    // Statuses belong to the commit, comments to a pull request: the push that brought a commit is often followed
    // by the pull request that shows it, and that pull request still needs its comment.
    if (this.#o.noticed.add(noticeKey)) {
      const byPipeline = new Map<string, DefinitionProblem>();
      for (const p of problems) {
        const pipeline = p.name ?? definitionsPipeline;
        if (!byPipeline.has(pipeline)) byPipeline.set(pipeline, p);
      }
      for (const [pipeline, problem] of byPipeline) {
        await this.postStatus(ctx, event, pipeline, { state: "FAILED", description: problemDescription(problem) });
      }
    }
    if (event.type !== "push") {
      await this.commentOnce(ctx, event, noticeKey, definitionsComment(event.sha, problems));
    }
  }

  /** No run without a clone token: a FAILED status per pipeline that would have run and an Event, once per head. */
  async refuseWithoutCloneToken(
    ctx: Context,
    event: Exclude<BatonEvent, { type: "ping" | "pull_request_closed" }>,
    pipelines: readonly string[],
    why: string,
  ): Promise<void> {
    const description = oneLine(
      `not run: no clone token for Repository ${ctx.namespace}/${ctx.name} (its CloneTokenReady condition says why); set spec.cloneTokenRef to a token that can only read the repository`,
    );
    for (const pipeline of pipelines) {
      if (!this.#o.noticed.add(`clone|${ctx.identity}|${event.sha}|${pipeline}`)) continue;
      await this.postStatus(ctx, event, pipeline, { state: "FAILED", description });
    }
    if (this.#o.noticed.add(`clone|${ctx.identity}|${event.sha}`)) {
      this.#o.events.warning(
        ctx.repository,
        "CloneTokenRequired",
        oneLine(`no run for ${event.sha.slice(0, 11)} (${pipelines.join(", ")}): ${why}`, 1000),
      );
    }
  }

  /**
   * No run for a fork pull request's head the run could not build (fork-head.ts says why): a FAILED status per
   * pipeline and an Event; a head that lives only in the fork (`inForkOnly`) takes no status in the target
   * repository, so the pull request also hears it as a comment, once per head.
   */
  async refuseForkHead(
    ctx: Context,
    event: PullRequestEvent | CommentEvent,
    pipelines: readonly string[],
    why: string,
    inForkOnly: boolean,
  ): Promise<void> {
    for (const pipeline of pipelines) {
      await this.postStatus(ctx, event, pipeline, {
        state: "FAILED",
        description: staleRefDescription(event.pullRequest.number, event.sha, why),
      });
    }
    this.#o.events.warning(
      ctx.repository,
      "PullRequestRefStale",
      oneLine(`pull request #${event.pullRequest.number}: ${why}; no run was created`, 1000),
    );
    if (inForkOnly) {
      await this.commentOnce(
        ctx,
        event,
        `fork|${event.sha}`,
        `Baton did not run the pipelines for commit ${event.sha.slice(0, 11)}: ${why}.`,
      );
    }
  }

  async commentOnce(ctx: Context, event: PullRequestScopedEvent | CommentEvent, key: string, text: string) {
    if (!this.#o.noticed.add(`comment|${ctx.identity}|${event.pullRequest.number}|${key}`)) return;
    await this.comment(ctx, event, text);
  }

  async comment(ctx: Context, event: PullRequestScopedEvent, text: string): Promise<void> {
    try {
      await ctx.client.commentOnPullRequest(ctx.ref, event.pullRequest.number, text, { auth: ctx.auth });
    } catch (err) {
      this.#o.events.warning(
        ctx.repository,
        "CommentFailed",
        `commenting on pull request #${event.pullRequest.number} failed: ${safeMessage(err)}`,
      );
    }
  }

  async postStatus(
    ctx: Context,
    event: Exclude<BatonEvent, { type: "ping" | "pull_request_closed" }>,
    pipeline: string,
    status: { state: "INPROGRESS" | "SUCCESSFUL" | "FAILED"; description: string; runName?: string },
  ): Promise<boolean> {
    // Only old Data Center payloads lack the repository's links; Cloud's and GitHub's always carry them.
    const browse =
      event.repository.browseUrl ??
      `${ctx.location.server}/projects/${ctx.location.project}/repos/${ctx.location.slug}`;
    // The same key, name, link and ref as the status reporter's, so its later reports replace this one.
    const url =
      status.runName !== undefined
        ? runUrl(this.#o.consoleUrlTemplate ?? defaultConsoleUrlTemplate, ctx.namespace, status.runName)
        : event.type === "push"
          ? `${browse}/commits/${event.sha}`
          : (event.pullRequest.url ?? `${browse}/pull-requests/${event.pullRequest.number}`);
    const ref = event.type === "push" ? event.ref : event.pullRequest.sourceRef;
    try {
      await ctx.client.setBuildStatus(
        ctx.ref,
        event.sha,
        {
          key: statusKey(this.#o.instance, ctx.namespace, ctx.label, labelValue(pipeline)),
          state: status.state,
          url: url.slice(0, 450),
          name: labelValue(pipeline),
          description: status.description,
          ...(status.runName === undefined ? {} : { buildNumber: status.runName }),
          ...(ref === undefined ? {} : { ref }),
        },
        { auth: ctx.auth },
      );
      return true;
    } catch (err) {
      // The run exists: a status Bitbucket refused is reported, not a reason to fail the delivery.
      this.#o.events.warning(
        ctx.repository,
        "BuildStatusFailed",
        `posting the ${pipeline} status for ${event.sha.slice(0, 11)} failed: ${safeMessage(err)}`,
      );
      return false;
    }
  }
}
