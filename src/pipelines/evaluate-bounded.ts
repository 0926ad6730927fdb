// Matching and templating under a budget. What can take unbounded time, CEL (`on-cel-expression` and `{{ body… }}`
// placeholders: comprehensions nest, lists come from the payload), runs in the bounded worker (bounded.ts), one
// pipeline per task, so a pipeline over its budget fails alone, with a problem naming it, and the event's other
// pipelines still run. What is linear, annotation matching (globs on RE2, see glob.ts) and plain `{{ name }}`
// substitution, stays on the calling thread: the common event pays no worker round trip.
import { boundedWorker } from "./bounded.ts";
import { type BuildInput, type BuildResult, buildPipelineRun } from "./build.ts";
import type { PipelineRunDefinition } from "./load.ts";
import { annotationKeys, type MatchContext, type MatchResult, matchPipelineRuns, selectedByCommand } from "./match.ts";
import { hasCelPlaceholder } from "./template.ts";

export interface EvaluationBudget {
  /** One pipeline's matching, or its templating, still running after this long is stopped. */
  timeoutMs: number;
  /** …and one that needs a larger heap than this. */
  maxHeapMiB: number;
}

export const defaultEvaluationBudget: EvaluationBudget = { timeoutMs: 2_000, maxHeapMiB: 64 };

function overrun(reason: "timeout" | "memory" | "failed", detail: string, budget: EvaluationBudget): string {
  if (reason === "timeout") return `took longer than ${budget.timeoutMs / 1000} s to evaluate`;
  if (reason === "memory") return `needed more than ${budget.maxHeapMiB} MiB to evaluate`;
  return `could not be evaluated (${detail})`;
}

const usesCel = (d: PipelineRunDefinition) => d.annotations[annotationKeys.onCelExpression] !== undefined;

/** matchPipelineRuns, with every on-cel-expression evaluated in the worker under `budget`. */
export async function matchPipelineRunsBounded(
  definitions: readonly PipelineRunDefinition[],
  ctx: MatchContext,
  budget: EvaluationBudget = defaultEvaluationBudget,
): Promise<MatchResult> {
  if (selectedByCommand(ctx.event) || !definitions.some(usesCel)) return matchPipelineRuns(definitions, ctx);

  const worker = boundedWorker(budget.maxHeapMiB);
  const parts = await Promise.all(
    definitions.map(async (definition): Promise<MatchResult> => {
      if (!usesCel(definition)) return matchPipelineRuns([definition], ctx);
      const outcome = await worker.run<MatchResult>(
        { kind: "match", definitions: [definition], ctx },
        budget.timeoutMs,
      );
      if (!outcome.ok) {
        const message =
          `${definition.file} (${definition.name}): its on-cel-expression ` +
          `${overrun(outcome.reason, outcome.detail, budget)}; it was stopped and this pipeline did not run`;
        return { matched: [], unmatched: [], errors: [{ definition, message }] };
      }
      // The worker's answer holds copies: hand back the caller's own definition.
      const r = outcome.value;
      return {
        matched: r.matched.map((m) => ({ ...m, definition })),
        unmatched: r.unmatched.map((u) => ({ ...u, definition })),
        errors: r.errors.map((e) => ({ ...e, definition })),
      };
    }),
  );
  return {
    matched: parts.flatMap((p) => p.matched),
    unmatched: parts.flatMap((p) => p.unmatched),
    errors: parts.flatMap((p) => p.errors),
  };
}

/** buildPipelineRun, with a definition that has CEL placeholders templated in the worker under `budget`. */
export async function buildPipelineRunBounded(
  input: BuildInput,
  budget: EvaluationBudget = defaultEvaluationBudget,
): Promise<BuildResult> {
  if (!hasCelPlaceholder(input.definition.pipelineRun)) return buildPipelineRun(input);
  const outcome = await boundedWorker(budget.maxHeapMiB).run<BuildResult>({ kind: "build", input }, budget.timeoutMs);
  if (outcome.ok) return outcome.value;
  const { file, name } = input.definition;
  return {
    ok: false,
    error:
      `${file} (${name}): its {{ body/headers/files }} placeholders ` +
      `${overrun(outcome.reason, outcome.detail, budget)}; they were stopped and this pipeline did not run`,
  };
}
