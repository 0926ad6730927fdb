// What `resolve` and `lint` need to judge a `.tekton` folder as the operator would: the Repository's namespace,
// params, folder and the Secrets no run may name (read from the cluster with --repository, else given on the
// command line), and the folder's files read under the operator's own limits (definitions.ts).
import type { Repository } from "../api/repository.ts";
import type { BitbucketProjectToken } from "../api/token.ts";
import { headRunKey } from "../events/dedupe.ts";
import type { BatonEvent } from "../events/model.ts";
import type { BuildResult } from "../pipelines/build.ts";
import { DefinitionCache, type FetchedDefinitions } from "../pipelines/definitions.ts";
import { buildPipelineRunBounded } from "../pipelines/evaluate-bounded.ts";
import { bindGitAuthWorkspace } from "../pipelines/gitsecret.ts";
import type { PipelineRunDefinition } from "../pipelines/load.ts";
import { gitSecretName, runDigest } from "../pipelines/naming.ts";
import { forbiddenSecretNames, pipelinesFolder, repositoryParams } from "../pipelines/resolve.ts";
import { parseRepositoryUrl, type RepositoryLocation } from "../repositories/decisions.ts";
import { Repositories } from "../repositories/resource.ts";
import type { KubeClient } from "../runtime/kube.ts";
import { Tokens } from "../tokens/reconciler.ts";
import { CliError, exitCodes, type GlobalOptions } from "./common.ts";
import { cliKube, cliKubeConfig, cliNamespace } from "./kube.ts";
import { gitCommit, gitSource, workingTreeSource } from "./local-source.ts";

export interface PipelinesContext {
  /** The Repository's name (labels of the runs), or the slug offline. */
  name: string;
  namespace: string;
  spec: Pick<Repository["spec"], "pipelines" | "params">;
  params: Record<string, string>;
  forbiddenSecrets: string[];
  folder: string;
  location: RepositoryLocation;
  /** Where it came from, for the output. */
  from: "cluster" | "command line";
}

export const pipelinesOptions = {
  repository: { type: "string", short: "r" },
  dir: { type: "string" },
  path: { type: "string" },
  ref: { type: "string" },
  url: { type: "string" },
  param: { type: "string", multiple: true },
} as const;

export const pipelinesHelp = `Where the definitions and the Repository come from:
  -r, --repository NAME  read the Repository NAME (namespace, params, .tekton path, its Secrets) from the cluster
  --dir DIR              the checkout (default: the current directory)
  --path FOLDER          the definitions folder (default: the Repository's spec.pipelines.path, else .tekton)
  --ref REF              read the folder at this commit through git instead of the working tree
  --url URL              the repository's Bitbucket URL when offline (default: git's remote.origin.url)
  --param NAME=VALUE     a Repository param when offline (repeatable)`;

export interface PipelinesFlags {
  repository?: string | undefined;
  dir?: string | undefined;
  path?: string | undefined;
  ref?: string | undefined;
  url?: string | undefined;
  param?: string[] | undefined;
}

async function originUrl(dir: string): Promise<string | undefined> {
  const { execFile } = await import("node:child_process");
  return new Promise((resolve) => {
    execFile("git", ["-C", dir, "config", "--get", "remote.origin.url"], (error, stdout) =>
      resolve(error ? undefined : stdout.trim() || undefined),
    );
  });
}

/** A Repository and the BitbucketProjectToken its tokenRef names (undefined when none, or missing). */
export async function readRepository(
  kube: KubeClient,
  namespace: string,
  name: string,
): Promise<{ repository: Repository; token: BitbucketProjectToken | undefined }> {
  let repository: Repository | undefined;
  try {
    repository = await kube.get(Repositories, { namespace, name });
  } catch (error) {
    throw new CliError(`could not read Repository ${namespace}/${name}: ${(error as Error).message}`);
  }
  if (repository === undefined) throw new CliError(`Repository ${namespace}/${name} not found`);
  const tokenName = repository.spec.tokenRef?.name;
  const token = tokenName ? await kube.get(Tokens, { namespace, name: tokenName }) : undefined;
  return { repository, token };
}

/** The context of a Repository read from the cluster (with its BitbucketProjectToken, when tokenRef names one). */
export function contextFromRepository(
  repository: Repository,
  token: BitbucketProjectToken | undefined,
  path?: string,
): PipelinesContext {
  const namespace = repository.metadata.namespace ?? "";
  const location = parseRepositoryUrl(repository.spec.url);
  if (location === undefined) {
    throw new CliError(
      `Repository ${namespace}/${repository.metadata.name}: spec.url ${repository.spec.url} is not a Bitbucket URL`,
    );
  }
  return {
    name: repository.metadata.name ?? "",
    namespace,
    spec: repository.spec,
    params: repositoryParams(repository.spec),
    forbiddenSecrets: forbiddenSecretNames(repository, token),
    folder: path ?? pipelinesFolder(repository.spec),
    location,
    from: "cluster",
  };
}

export async function pipelinesContext(
  flags: PipelinesFlags,
  global: GlobalOptions,
  dir: string,
): Promise<PipelinesContext> {
  if (flags.repository !== undefined) {
    const { kube, namespace } = cliKube(global);
    const { repository, token } = await readRepository(kube, namespace, flags.repository);
    return contextFromRepository(repository, token, flags.path);
  }
  const params = (flags.param ?? []).map((p) => {
    const at = p.indexOf("=");
    if (at <= 0) throw new CliError(`--param must be NAME=VALUE, not ${p}`, exitCodes.usage);
    return { name: p.slice(0, at), value: p.slice(at + 1) };
  });
  const url = flags.url ?? (await originUrl(dir));
  const location = (url === undefined ? undefined : parseRepositoryUrl(url)) ?? {
    // Offline and not a Bitbucket checkout: the URL only shows in {{ repo_url }} and the run's annotations.
    server: "https://bitbucket.invalid",
    project: "PROJECT",
    slug: "repository",
  };
  if (flags.url !== undefined && parseRepositoryUrl(flags.url) === undefined) {
    throw new CliError(`--url ${flags.url} is neither a Bitbucket browse URL nor an HTTP clone URL`, exitCodes.usage);
  }
  // The namespace decides the namespace refusals; kubectl's rules pick it, but offline no cluster is needed.
  let namespace = global.namespace;
  if (namespace === undefined) {
    try {
      namespace = cliNamespace(global, cliKubeConfig(global));
    } catch {
      namespace = "default";
    }
  }
  const spec = { params, pipelines: { path: flags.path ?? ".tekton" } } as PipelinesContext["spec"];
  return {
    name: location.slug,
    namespace,
    spec,
    params: repositoryParams(spec),
    forbiddenSecrets: [],
    folder: pipelinesFolder(spec),
    location,
    from: "command line",
  };
}

export interface Folder extends FetchedDefinitions {
  /** The commit read, or `working tree`. */
  at: string;
}

/** The folder's files, read from the working tree or (with `ref`) a commit, under the operator's limits. */
export async function readFolder(ctx: PipelinesContext, dir: string, ref: string | undefined): Promise<Folder> {
  if (ref !== undefined) {
    const commit = await gitCommit(dir, ref);
    if (commit === undefined) throw new CliError(`${ref} is not a commit in ${dir}`, exitCodes.usage);
    const fetched = await new DefinitionCache().fetch("local", ctx.folder, commit, gitSource(dir));
    return { ...fetched, at: commit };
  }
  const fetched = await new DefinitionCache().fetch("local", ctx.folder, "working-tree", workingTreeSource(dir));
  return { ...fetched, at: "working tree" };
}

/** The PipelineRun the operator would create for a matched definition (its first run for the head). */
export async function renderRun(
  ctx: PipelinesContext,
  definition: PipelineRunDefinition,
  event: Exclude<BatonEvent, { type: "ping" | "pull_request_closed" }>,
  changedFiles: Parameters<typeof buildPipelineRunBounded>[0]["changedFiles"],
): Promise<BuildResult> {
  const head = headRunKey(event, definition.name) ?? `${event.sha}|${definition.name}`;
  const digest = runDigest(head, 0);
  const secretName = gitSecretName(digest);
  const built = await buildPipelineRunBounded({
    definition,
    event,
    repository: { name: ctx.name, namespace: ctx.namespace, spec: ctx.spec },
    gitAuthSecret: secretName,
    nameDigest: digest,
    runKey: head,
    forbiddenSecrets: ctx.forbiddenSecrets,
    ...(changedFiles === undefined ? {} : { changedFiles }),
  });
  if (!built.ok) return built;
  return { ok: true, pipelineRun: bindGitAuthWorkspace(built.pipelineRun, secretName) };
}
