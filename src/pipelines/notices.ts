// What Baton tells people on Bitbucket when it does not start a run: build-status descriptions and pull-request
// comments. Pure text; every message names what to do next and never carries a credential.
import type { BatonEvent } from "../events/model.ts";
import type { TrustDecision } from "../events/trust.ts";
import { formatLoadErrors, type LoadProblem } from "./load.ts";

/** Pseudo-pipeline whose build status says a fork pull request waits for /ok-to-test. */
export const approvalPipeline = "baton-approval";

/** Pseudo-pipeline for `.tekton` problems that belong to no single PipelineRun (a file that is not YAML…). */
export const definitionsPipeline = "baton-definitions";

const maxDescription = 255;

export function oneLine(text: string, max = maxDescription): string {
  const line = text.replace(/\s+/g, " ").trim();
  return line.length > max ? `${line.slice(0, max - 1)}…` : line;
}

/** The build status description of a pull request waiting for /ok-to-test. */
export function approvalDescription(whatIsNeeded: string): string {
  return oneLine(`waiting for approval: ${whatIsNeeded}`);
}

/**
 * What replaces a fork pull request's FAILED "waiting for approval" status once its head may run: a writer vouched
 * with a comment command, or runs started for another trusted reason. Undefined when the event says neither (the
 * status, if any, stays). Without this the approval status stays red on the commit after green runs, and a
 * "no failed builds" merge check keeps blocking the pull request.
 */
export function approvalGranted(
  event: BatonEvent,
  decision: Extract<TrustDecision, { trusted: true }>,
  runsStarted: number,
): string | undefined {
  if (event.type !== "pull_request" && event.type !== "comment") return undefined;
  if (!event.pullRequest.fromRepository.fork) return undefined;
  const vouched = decision.reason === "ok-to-test" || decision.reason === "commenter-has-write";
  if (event.type === "comment" && vouched && event.comment.command.kind !== "cancel") {
    const author = event.comment.author;
    return oneLine(`approved by ${author.slug ?? author.name} with /${event.comment.command.kind}`);
  }
  return runsStarted > 0 ? oneLine(`runs started: ${decision.detail}`) : undefined;
}

/** The comment on a pull request waiting for /ok-to-test. */
export function approvalComment(whatIsNeeded: string, waiting: readonly string[]): string {
  const pipelines =
    waiting.length === 0
      ? ""
      : `\n\nPipelines waiting: ${waiting
          .slice(0, 20)
          .map((p) => `\`${p}\``)
          .join(", ")}${waiting.length > 20 ? ` and ${waiting.length - 20} more` : ""}.`;
  return `**Baton did not start any pipeline.** ${whatIsNeeded}${pipelines}`;
}

export interface DefinitionProblem extends LoadProblem {
  /** The pipeline the problem belongs to, when it belongs to one. */
  name?: string;
}

/** The comment listing `.tekton` problems of a commit. */
export function definitionsComment(sha: string, problems: readonly DefinitionProblem[]): string {
  return [
    `**Baton could not run some pipelines for commit ${sha.slice(0, 11)}.** Fix these \`.tekton\` files and push again:`,
    "",
    formatLoadErrors(problems),
  ].join("\n");
}

/** Where a problem is, for a status description: `.tekton/pr.yaml (build): …`. */
export function problemDescription(problem: DefinitionProblem): string {
  const where = `${problem.file}${problem.name ? ` (${problem.name})` : ""}`;
  return oneLine(problem.message.startsWith(where) ? problem.message : `${where}: ${problem.message}`);
}

/** The status description when a fork pull request's ref never caught up with the event's head. */
export function staleRefDescription(number: number, sha: string, detail: string): string {
  return oneLine(
    `not started: refs/pull-requests/${number}/from does not point at ${sha.slice(0, 11)} yet (${detail}); ` +
      "comment /retest to try again",
  );
}
