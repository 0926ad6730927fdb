// From a fetched `.tekton` folder and one event to what runs and what is wrong: loading under its limits, matching
// under the evaluation budget, and the problems an author is told about. The runner acts on the answer; the
// `kubectl baton resolve` and `lint` commands print it, so what they predict is what the operator does.
import type { Repository } from "../api/repository.ts";
import type { BitbucketProjectToken } from "../api/token.ts";
import type { BatonEvent, ChangedFiles } from "../events/model.ts";
import { webhookSecretName } from "../repositories/resource.ts";
import type { FetchedDefinitions } from "./definitions.ts";
import { defaultEvaluationBudget, type EvaluationBudget, matchPipelineRunsBounded } from "./evaluate-bounded.ts";
import type { LoadResult, PipelineRunDefinition } from "./load.ts";
import { loadPipelineRunsBounded } from "./load-bounded.ts";
import { type MatchError, type MatchResult, needsChangedFiles } from "./match.ts";
import type { DefinitionProblem } from "./notices.ts";

/** The folder a Repository's definitions live in, without leading or trailing slashes. */
export function pipelinesFolder(spec: Pick<Repository["spec"], "pipelines">): string {
  return (spec.pipelines?.path ?? ".tekton").replace(/^\/+|\/+$/g, "");
}

/**
 * Baton's own Secrets, which no PipelineRun may name even when the Repository allows them: the webhook secret,
 * the operator's token Secret, the admin credentials of its BitbucketProjectToken (`token`, when tokenRef is set)
 * and a GitHub App's private key.
 */
export function forbiddenSecretNames(repository: Repository, token: BitbucketProjectToken | undefined): string[] {
  const spec = repository.spec;
  return [
    webhookSecretName(repository),
    spec.webhook?.secretRef?.name,
    spec.secretRef?.name,
    spec.githubApp?.privateKeyRef.name,
    token?.spec.secretName,
    token?.spec.adminCredentialsRef?.name,
  ].filter((n): n is string => typeof n === "string" && n !== "");
}

export interface ResolveInput {
  fetched: Pick<FetchedDefinitions, "files" | "problems">;
  /** The Repository's namespace: where runs are created. */
  namespace: string;
  forbiddenSecrets: readonly string[];
  event: Exclude<BatonEvent, { type: "ping" | "pull_request_closed" }>;
  /** The Repository's params, by name. */
  params: Readonly<Record<string, string>>;
  /** Asked only when a definition filters on changed files; undefined when they cannot be known completely. */
  changedFiles(): Promise<ChangedFiles | undefined>;
  budget?: EvaluationBudget;
}

export interface Resolution {
  loaded: LoadResult;
  match: MatchResult;
  changedFiles: ChangedFiles | undefined;
  /** The author's to fix: each becomes a FAILED build status and a line of the pull-request comment. */
  problems: DefinitionProblem[];
  /** Definitions skipped because the changed files could not be known: not the author's mistake, only logged. */
  filesUnknown: MatchError[];
}

/** Loads the folder's PipelineRuns and matches them against the event, as the runner does before it creates runs. */
export async function resolvePipelines(input: ResolveInput): Promise<Resolution> {
  const loaded = await loadPipelineRunsBounded(input.fetched.files, {
    namespace: input.namespace,
    forbiddenSecrets: [...input.forbiddenSecrets],
  });
  const problems: DefinitionProblem[] = [...input.fetched.problems, ...loaded.errors];
  const changedFiles = needsChangedFiles(loaded.pipelineRuns, input.event) ? await input.changedFiles() : undefined;
  const match = await matchPipelineRunsBounded(
    loaded.pipelineRuns,
    { event: input.event, ...(changedFiles ? { changedFiles } : {}), params: input.params },
    input.budget ?? defaultEvaluationBudget,
  );
  const filesUnknown: MatchError[] = [];
  for (const error of match.errors) {
    if (error.filesUnknown) filesUnknown.push(error);
    else problems.push(definitionProblem(error.definition, error.message));
  }
  return { loaded, match, changedFiles, problems, filesUnknown };
}

export function definitionProblem(definition: PipelineRunDefinition, message: string): DefinitionProblem {
  return { file: definition.file, name: definition.name, message };
}

/** The Repository's `spec.params` by name, as CEL sees them. */
export function repositoryParams(spec: Pick<Repository["spec"], "params">): Record<string, string> {
  return Object.fromEntries((spec.params ?? []).map((p) => [p.name, p.value]));
}
