// Which `.tekton` PipelineRuns an event starts, following Pipelines-as-Code's annotations
// (pkg/matcher/annotation_matcher.go), with a reason for every PipelineRun that does not match.
//
// - `on-cel-expression`, when present, decides alone (on-event/on-target-branch are then ignored).
// - Otherwise both `on-event` and `on-target-branch` are required; then `on-path-change` (some changed file
//   matches) and `on-path-change-ignore` (no changed file matches) narrow it down.
// - Lists are PAC's: `[a, b]` or a bare word; `&#44;` stands for a comma inside an item.
// - Branches: a pull request's target branch, a push's full ref. `main` and `refs/heads/main` are the same;
//   `refs/tags/*` matches tags. Globs and paths use PAC's glob flavour (`*` also crosses `/`, see glob.ts).
// - Comments: `/test <name>` and `/retest <name>` select the PipelineRun of that name (or whose
//   `original-prname` annotation is that name) whatever its annotations say; `/test`, `/retest` and `/ok-to-test`
//   match as the pull request would; `/cancel` starts nothing.
// - A broken annotation or CEL expression is an error for that PipelineRun (naming its file), never an exception.
import type { BatonEvent, ChangedFiles } from "../events/model.ts";
import { CelContext } from "./cel.ts";
import { globMatcher } from "./glob.ts";
import { type PipelineRunDefinition, pacPrefix } from "./load.ts";
import { celVariables, pacBranches, triggerTarget } from "./template.ts";

export const annotationKeys = {
  onEvent: `${pacPrefix}on-event`,
  onTargetBranch: `${pacPrefix}on-target-branch`,
  onCelExpression: `${pacPrefix}on-cel-expression`,
  onPathChange: `${pacPrefix}on-path-change`,
  onPathChangeIgnore: `${pacPrefix}on-path-change-ignore`,
  maxKeepRuns: `${pacPrefix}max-keep-runs`,
  originalPrName: `${pacPrefix}original-prname`,
} as const;

export interface MatchContext {
  event: BatonEvent;
  /** Needed only when `needsChangedFiles` says so. */
  changedFiles?: ChangedFiles;
  /** The Repository's params, visible to CEL by name. */
  params?: Readonly<Record<string, string>>;
}

export interface MatchedRun {
  definition: PipelineRunDefinition;
  /** What selected it. */
  via: "annotations" | "cel" | "comment";
}

export interface Unmatched {
  definition: PipelineRunDefinition;
  reason: string;
}

export interface MatchError {
  definition: PipelineRunDefinition;
  /** For a build status or a comment: `invalid on-cel-expression in .tekton/pr.yaml (build): …`. */
  message: string;
  /** The definition filters on changed paths and the caller could not tell them: not the author's mistake. */
  filesUnknown?: boolean;
}

export interface MatchResult {
  matched: MatchedRun[];
  unmatched: Unmatched[];
  errors: MatchError[];
  /** `/test <name>` naming no PipelineRun: the name, for a reply. */
  unknownName?: string;
}

type ListResult = { ok: true; values: string[] } | { ok: false; error: string };

/** PAC's annotation list syntax: `[a, b]`, or a single word without brackets or spaces. */
export function parseAnnotationList(annotation: string): ListResult {
  const text = annotation.trim();
  const list = /^\[(.*)\]$/s.exec(text);
  if (list === null) {
    if (!/^[^[\]\s]*$/.test(text)) {
      return { ok: false, error: `${JSON.stringify(annotation)} is neither [a, b] nor a single value without spaces` };
    }
    if (text === "") return { ok: false, error: "the value is empty" };
    return { ok: true, values: [text.replaceAll("&#44;", ",")] };
  }
  const values = (list[1] as string).split(",").map((v) => v.trim().replaceAll("&#44;", ","));
  if (values[0] === "") return { ok: false, error: `${JSON.stringify(annotation)} has no values` };
  return { ok: true, values: values.filter((v) => v !== "") };
}

/** PAC's branchMatch: a bare name means `refs/heads/<name>`; `refs/tags/…` patterns match tags. */
export function branchMatches(pattern: string, branch: string): boolean {
  const qualify = (b: string) => (b.startsWith("refs/heads/") || b.startsWith("refs/tags/") ? b : `refs/heads/${b}`);
  if (pattern === branch) return true;
  const ref = qualify(branch);
  if (pattern.startsWith("refs/tags/")) return globMatcher(pattern)(branch) || globMatcher(pattern)(ref);
  return globMatcher(qualify(pattern))(ref);
}

/** Whether matching `definitions` against `event` needs the changed files (one more REST call). */
export function needsChangedFiles(definitions: readonly PipelineRunDefinition[], event: BatonEvent): boolean {
  if (event.type === "ping" || (event.type === "comment" && event.comment.command.kind === "cancel")) return false;
  return definitions.some((d) => {
    const cel = d.annotations[annotationKeys.onCelExpression];
    if (cel !== undefined) return /\bfiles\b|pathChanged/.test(cel);
    return (
      d.annotations[annotationKeys.onPathChange] !== undefined ||
      d.annotations[annotationKeys.onPathChangeIgnore] !== undefined
    );
  });
}

function where(d: PipelineRunDefinition): string {
  return `${d.file} (${d.name})`;
}

/**
 * PAC's quirk for pushes: its push `target_branch` is the full ref, and an expression comparing it to a bare
 * branch name (`target_branch == "main"`) would never match; PAC strips `refs/heads/` when a `&&`-clause mentions
 * the variable without `refs/heads/`. Reproduced so existing expressions behave the same.
 */
function pushBranchForCel(expression: string, variable: string, ref: string): string {
  const strip = expression.split("&&").some((clause) => clause.includes(variable) && !clause.includes("refs/heads/"));
  return strip && ref.startsWith("refs/heads/") ? ref.slice("refs/heads/".length) : ref;
}

/** Events that select pipelines by their command alone, evaluating no annotation: a ping, /cancel, /test <name>. */
export function selectedByCommand(event: BatonEvent): boolean {
  if (event.type === "ping") return true;
  if (event.type !== "comment") return false;
  const command = event.comment.command;
  return (
    command.kind === "cancel" ||
    ((command.kind === "test" || command.kind === "retest") && command.pipeline !== undefined)
  );
}

/** Matches `definitions` against `ctx.event`. Pure: the caller supplies changed files and params. */
export function matchPipelineRuns(definitions: readonly PipelineRunDefinition[], ctx: MatchContext): MatchResult {
  const result: MatchResult = { matched: [], unmatched: [], errors: [] };
  const { event } = ctx;
  if (event.type === "ping") {
    for (const d of definitions) result.unmatched.push({ definition: d, reason: "a ping starts no runs" });
    return result;
  }

  if (event.type === "comment") {
    const command = event.comment.command;
    if (command.kind === "cancel") {
      for (const d of definitions) result.unmatched.push({ definition: d, reason: "/cancel starts no runs" });
      return result;
    }
    if ((command.kind === "test" || command.kind === "retest") && command.pipeline !== undefined) {
      const wanted = command.pipeline;
      for (const d of definitions) {
        if (d.name === wanted || d.annotations[annotationKeys.originalPrName] === wanted) {
          result.matched.push({ definition: d, via: "comment" });
        } else {
          result.unmatched.push({ definition: d, reason: `/${command.kind} names ${wanted}, not ${d.name}` });
        }
      }
      if (result.matched.length === 0) result.unknownName = wanted;
      return result;
    }
  }

  const target = triggerTarget(event);
  const branches = pacBranches(event);
  const files = ctx.changedFiles ?? event.changedFiles;
  let cel: CelContext | undefined;

  for (const d of definitions) {
    const a = d.annotations;
    const expression = a[annotationKeys.onCelExpression];
    if (expression !== undefined) {
      if (cel === undefined || event.type === "push") {
        const vars = celVariables(event, files);
        if (event.type === "push") {
          vars.target_branch = pushBranchForCel(expression, "target_branch", branches.target);
          vars.source_branch = pushBranchForCel(expression, "source_branch", branches.source);
        }
        cel = new CelContext(vars, ctx.params);
      }
      if (files === undefined && /\bfiles\b|pathChanged/.test(expression)) {
        result.errors.push({
          definition: d,
          message: `on-cel-expression in ${where(d)} uses changed files, but they are not known for this event`,
          filesUnknown: true,
        });
        continue;
      }
      const outcome = cel.evaluate(expression);
      if (!outcome.ok) {
        result.errors.push({ definition: d, message: `invalid on-cel-expression in ${where(d)}: ${outcome.error}` });
      } else if (typeof outcome.value !== "boolean") {
        result.errors.push({
          definition: d,
          message: `on-cel-expression in ${where(d)} must give true or false, not ${JSON.stringify(typeof outcome.value === "bigint" ? Number(outcome.value) : outcome.value)}`,
        });
      } else if (outcome.value) {
        result.matched.push({ definition: d, via: "cel" });
      } else {
        result.unmatched.push({ definition: d, reason: "on-cel-expression is false for this event" });
      }
      continue;
    }

    const onEvent = a[annotationKeys.onEvent];
    const onBranch = a[annotationKeys.onTargetBranch];
    if (onEvent === undefined || onBranch === undefined) {
      result.unmatched.push({
        definition: d,
        reason: "needs on-event and on-target-branch annotations, or on-cel-expression",
      });
      continue;
    }
    const events = parseAnnotationList(onEvent);
    if (!events.ok) {
      result.errors.push({ definition: d, message: `invalid on-event in ${where(d)}: ${events.error}` });
      continue;
    }
    const branchPatterns = parseAnnotationList(onBranch);
    if (!branchPatterns.ok) {
      result.errors.push({
        definition: d,
        message: `invalid on-target-branch in ${where(d)}: ${branchPatterns.error}`,
      });
      continue;
    }
    if (!events.values.includes(target)) {
      result.unmatched.push({ definition: d, reason: `on-event ${onEvent} does not include ${target}` });
      continue;
    }
    if (!branchPatterns.values.some((p) => branchMatches(p, branches.target))) {
      result.unmatched.push({
        definition: d,
        reason: `on-target-branch ${onBranch} does not match ${branches.target}`,
      });
      continue;
    }

    const onPath = a[annotationKeys.onPathChange];
    const onPathIgnore = a[annotationKeys.onPathChangeIgnore];
    if ((onPath !== undefined || onPathIgnore !== undefined) && files === undefined) {
      result.errors.push({
        definition: d,
        message: `${where(d)} filters on changed paths, but they are not known for this event`,
        filesUnknown: true,
      });
      continue;
    }
    if (onPath !== undefined && files !== undefined) {
      const globs = parseAnnotationList(onPath);
      if (!globs.ok) {
        result.errors.push({ definition: d, message: `invalid on-path-change in ${where(d)}: ${globs.error}` });
        continue;
      }
      const matchers = globs.values.map(globMatcher);
      if (!files.all.some((f) => matchers.some((m) => m(f)))) {
        result.unmatched.push({ definition: d, reason: `no changed file matches on-path-change ${onPath}` });
        continue;
      }
    }
    if (onPathIgnore !== undefined && files !== undefined) {
      const globs = parseAnnotationList(onPathIgnore);
      if (!globs.ok) {
        result.errors.push({ definition: d, message: `invalid on-path-change-ignore in ${where(d)}: ${globs.error}` });
        continue;
      }
      const matchers = globs.values.map(globMatcher);
      const ignored = files.all.find((f) => matchers.some((m) => m(f)));
      if (ignored !== undefined) {
        result.unmatched.push({
          definition: d,
          reason: `changed file ${ignored} matches on-path-change-ignore ${onPathIgnore}`,
        });
        continue;
      }
    }
    result.matched.push({ definition: d, via: "annotations" });
  }
  return result;
}

/**
 * For `/retest` and `/ok-to-test` (PAC's behaviour): leave out pipelines that already succeeded for this commit.
 * `succeeded` holds the names (original-prname) of pipelines with a successful run for the event's commit.
 */
export function withoutSucceeded(matched: readonly MatchedRun[], succeeded: ReadonlySet<string>): MatchedRun[] {
  return matched.filter((m) => !succeeded.has(m.definition.name));
}
