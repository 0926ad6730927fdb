// `kubectl baton status`: one Repository or all in a namespace, read from the cluster only — its conditions, the
// webhook, its token's expiry and renewal, the last run of each pipeline per pull request with the build status key
// the operator reports it under (status/report.ts), and what is wrong, one line each.
import type { Repository } from "../api/repository.ts";
import type { BitbucketProjectToken } from "../api/token.ts";
import { labels, labelValue } from "../pipelines/build.ts";
import { type PipelineRun, PipelineRuns, pipelineOf } from "../pipelines/tekton.ts";
import { Repositories } from "../repositories/resource.ts";
import { getCondition } from "../runtime/conditions.ts";
import { legacyInstance } from "../runtime/installation.ts";
import { buildState, describe, PipelineRunView, statusKey } from "../status/report.ts";
import { Tokens } from "../tokens/reconciler.ts";
import { CliError, exitCodes, globalHelp, type Io, parseCommand } from "./common.ts";
import { cliKube } from "./kube.ts";
import { age, emit, table } from "./output.ts";

export const statusHelp = `One Repository, or all in the namespace: ready or not, the webhook, the token's expiry and renewal, the last
run of each pipeline per pull request (and branch) with its Bitbucket build status key, and what is wrong.

Usage: kubectl baton status [NAME] [options]

  --instance NAME   the operator's BATON_INSTANCE, which prefixes build status keys (default: baton)
  --runs N          pull requests and branches shown per Repository (default 5)

${globalHelp}

Exit status: 0 when every Repository shown is healthy, 1 when something is wrong (one line each), 4 when NAME does
not exist or Kubernetes cannot be reached.

Examples:
  kubectl baton status -n ci
  kubectl baton status my-app -n ci -o yaml`;

const options = { instance: { type: "string" }, runs: { type: "string" } } as const;

export interface RunLine {
  pipeline: string;
  run: string;
  state: string;
  description: string;
  key: string;
  sha: string;
  created: string;
}

export interface RepositoryReport {
  name: string;
  namespace: string;
  url: string;
  ready: string;
  webhook: {
    synced: string;
    id?: number | string | undefined;
    scope?: string | undefined;
    lastSyncTime?: string | undefined;
  };
  token: {
    kind: "BitbucketProjectToken" | "Secret" | "none";
    name?: string | undefined;
    ready?: string | undefined;
    notAfter?: string | undefined;
    renewalTime?: string | undefined;
  };
  /** Pull request number (`#4`) or branch/tag → the last run of each of its pipelines. */
  heads: { head: string; runs: RunLine[] }[];
  problems: string[];
}

export function repositoryReport(
  repository: Repository,
  token: BitbucketProjectToken | undefined,
  runs: readonly PipelineRun[],
  options: { instance: string; heads: number },
): RepositoryReport {
  const ns = repository.metadata.namespace ?? "";
  const name = repository.metadata.name ?? "";
  const conditions = repository.status?.conditions;
  const problems: string[] = [];
  const generation = repository.metadata.generation;
  if (
    conditions === undefined ||
    (generation !== undefined && (repository.status?.observedGeneration ?? 0) < generation)
  ) {
    problems.push(
      "the operator has not acted on this Repository's current spec yet (is it running and watching this namespace?)",
    );
  }
  for (const c of conditions ?? []) {
    if (c.type === "CloneTokenWarning" ? c.status === "True" : c.status === "False") {
      problems.push(`${c.type} ${c.reason}: ${c.message}`);
    }
  }
  const ready = getCondition(conditions, "Ready");
  const synced = getCondition(conditions, "WebhookSynced");
  let tokenPart: RepositoryReport["token"] = { kind: "none" };
  if (repository.spec.tokenRef) {
    const tokenReady = getCondition(token?.status?.conditions, "Ready");
    tokenPart = {
      kind: "BitbucketProjectToken",
      name: repository.spec.tokenRef.name,
      ready: token === undefined ? "NotFound" : (tokenReady?.status ?? "Unknown"),
      notAfter: token?.status?.notAfter,
      renewalTime: token?.status?.renewalTime,
    };
    if (token === undefined) problems.push(`BitbucketProjectToken ${repository.spec.tokenRef.name} does not exist`);
    else if (tokenReady?.status === "False") {
      problems.push(`token ${repository.spec.tokenRef.name} ${tokenReady.reason}: ${tokenReady.message}`);
    }
  } else if (repository.spec.secretRef) {
    tokenPart = { kind: "Secret", name: repository.spec.secretRef.name };
  }

  // The newest run of each (head, pipeline); heads ordered by their newest run.
  const byHead = new Map<string, Map<string, PipelineRun>>();
  const newest = (r: PipelineRun) => String(r.metadata?.creationTimestamp ?? "");
  for (const run of [...runs].sort((a, b) => newest(b).localeCompare(newest(a)))) {
    const l = run.metadata?.labels ?? {};
    const head = l[labels.pullRequest]
      ? `#${l[labels.pullRequest]}`
      : (run.metadata?.annotations?.["pipelinesascode.tekton.dev/branch"] ?? l[labels.sha] ?? "?");
    const pipeline = pipelineOf(run) ?? "?";
    const perHead = byHead.get(head) ?? new Map<string, PipelineRun>();
    if (!perHead.has(pipeline)) perHead.set(pipeline, run);
    byHead.set(head, perHead);
  }
  const heads = [...byHead.entries()].slice(0, options.heads).map(([head, perHead]) => ({
    head,
    runs: [...perHead.entries()].map(([pipeline, run]): RunLine => {
      const view = PipelineRunView.safeParse(run);
      const state = view.success ? buildState(view.data) : "queued";
      const description = view.success ? describe(state, [], view.data) : "";
      const repoLabel = run.metadata?.labels?.[labels.repository] ?? labelValue(name);
      if (state === "failed") problems.push(`${pipeline} failed for ${head} (${run.metadata?.name}): ${description}`);
      return {
        pipeline,
        run: run.metadata?.name ?? "",
        state,
        description,
        key: statusKey(options.instance, ns, repoLabel, pipeline),
        sha: run.metadata?.labels?.[labels.sha] ?? "",
        created: newest(run),
      };
    }),
  }));
  return {
    name,
    namespace: ns,
    url: repository.spec.url,
    ready: ready ? `${ready.status === "True" ? "True" : `${ready.status} (${ready.reason})`}` : "Unknown",
    webhook: {
      synced: synced ? (synced.status === "True" ? "True" : `${synced.status} (${synced.reason})`) : "Unknown",
      id: repository.status?.webhook?.id,
      scope: repository.status?.webhook?.scope ?? repository.spec.webhook?.scope,
      lastSyncTime: repository.status?.webhook?.lastSyncTime,
    },
    token: tokenPart,
    heads,
    problems,
  };
}

export async function statusCommand(args: readonly string[], io: Io): Promise<number> {
  const { values: v, positionals, global } = parseCommand(args, options);
  if (positionals.length > 1) throw new CliError("expected at most one Repository name", exitCodes.usage);
  const headsShown = v.runs === undefined ? 5 : Number(v.runs);
  if (!Number.isInteger(headsShown) || headsShown < 0)
    throw new CliError("--runs must be a whole number", exitCodes.usage);
  const { kube, namespace } = cliKube(global);
  const name = positionals[0];
  let repositories: Repository[];
  try {
    if (name !== undefined) {
      const one = await kube.get(Repositories, { namespace, name });
      if (one === undefined) throw new CliError(`Repository ${namespace}/${name} not found`);
      repositories = [one];
    } else repositories = (await kube.list(Repositories, { namespace })).items;
  } catch (error) {
    if (error instanceof CliError) throw error;
    throw new CliError(`could not read Repositories in ${namespace}: ${(error as Error).message}`);
  }
  const reports: RepositoryReport[] = [];
  for (const repository of repositories.sort((a, b) => (a.metadata.name ?? "").localeCompare(b.metadata.name ?? ""))) {
    const tokenName = repository.spec.tokenRef?.name;
    const token = tokenName ? await kube.get(Tokens, { namespace, name: tokenName }) : undefined;
    const { items: runs } = await kube.list(PipelineRuns, {
      namespace,
      labelSelector: `${labels.repository}=${labelValue(repository.metadata.name ?? "")}`,
    });
    reports.push(
      repositoryReport(repository, token, runs, { instance: v.instance ?? legacyInstance, heads: headsShown }),
    );
  }
  const now = Date.now();
  emit(io, global.output, name === undefined ? { namespace, repositories: reports } : reports[0], () => {
    if (reports.length === 0) return `No Repositories in ${namespace}.`;
    const blocks = [
      table(
        ["name", "ready", "webhook", "token", "expires", "renews"],
        reports.map((r) => [
          r.name,
          r.ready,
          r.webhook.synced + (r.webhook.id === undefined ? "" : ` id ${r.webhook.id}`),
          r.token.kind === "none" ? undefined : `${r.token.name}${r.token.ready ? ` (Ready ${r.token.ready})` : ""}`,
          age(r.token.notAfter, now),
          age(r.token.renewalTime, now),
        ]),
      ),
    ];
    for (const r of reports) {
      const rows = r.heads.flatMap((h) =>
        h.runs.map((run) => [
          h.head,
          run.pipeline,
          run.state,
          run.key,
          run.run,
          age(run.created, now),
          run.description,
        ]),
      );
      if (rows.length > 0) {
        blocks.push(
          `\n${r.name}: last runs\n${table(["head", "pipeline", "state", "build status key", "run", "created", "description"], rows)}`,
        );
      }
      if (r.problems.length > 0)
        blocks.push(`\n${r.name}: what is wrong\n${r.problems.map((p) => `  - ${p}`).join("\n")}`);
    }
    return blocks.join("\n");
  });
  return reports.some((r) => r.problems.length > 0) ? exitCodes.findings : exitCodes.ok;
}
