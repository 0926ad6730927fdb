// `kubectl baton resolve`: which PipelineRuns of a local `.tekton` folder an event would start, why the others would
// not, and the runs rendered — the operator's own loading, matching, templating and refusals (pipelines/resolve.ts).

import { stringify } from "yaml";
import type { BatonEvent, ChangedFiles } from "../events/model.ts";
import { definitionProblem, type Resolution, resolvePipelines } from "../pipelines/resolve.ts";
import { changedFilesFromBitbucket } from "../providers/bitbucket-datacenter/changes.ts";
import { CliError, exitCodes, type Io, noPositionals, parseCommand } from "./common.ts";
import { buildEvent, EventKind, eventFromPayload } from "./event.ts";
import { gitBranch, gitChangedFiles, gitCommit } from "./local-source.ts";
import { type LocatedProblem, locate, problemLine } from "./locate.ts";
import { emit, table } from "./output.ts";
import {
  type Folder,
  type PipelinesContext,
  pipelinesContext,
  pipelinesHelp,
  pipelinesOptions,
  readFolder,
  renderRun,
} from "./pipelines-context.ts";

export const resolveHelp = `Which .tekton PipelineRuns an event would start, why the others would not, and the runs as Baton would
create them ({{ variables }} substituted). Exactly the operator's matching, templating, limits and refusals.

Usage: kubectl baton resolve [--event pull_request|push|comment] [options]

Event:
  --event KIND           pull_request (default), push or comment
  --source BRANCH        the pull request's source branch, or the pushed branch/tag (default: the checked-out branch)
  --target BRANCH        the pull request's target branch (default: main)
  --sha SHA              the head commit (default: the source branch's commit, else HEAD)
  --changed-file PATH    a changed file, for on-path-change and CEL's files (repeatable; default: git diff
                         target...source for a pull request)
  --comment TEXT         a comment event's text, e.g. "/test lint" (implies --event comment)
  --sender NAME          who sends the event (default: $USER)
  --pull-request N       the pull request's number (default: 1)
  --payload FILE         a captured Bitbucket delivery instead, with --event-key (e.g. pr:opened)
  --render               print the rendered PipelineRuns as YAML after the table

${pipelinesHelp}

Exit status: 0 when the folder has no problem for this event, 1 when it has (each would be a FAILED build status).

Examples:
  kubectl baton resolve --event pull_request --source feature/login --target main
  kubectl baton resolve --comment "/test lint" --render
  kubectl baton resolve --event push --source refs/tags/v1.2.0 -o yaml
  kubectl baton resolve -r my-app -n ci --changed-file docs/index.md`;

export const resolveOptions = {
  ...pipelinesOptions,
  event: { type: "string" },
  source: { type: "string" },
  target: { type: "string" },
  sha: { type: "string" },
  "changed-file": { type: "string", multiple: true },
  comment: { type: "string" },
  sender: { type: "string" },
  "pull-request": { type: "string" },
  payload: { type: "string" },
  "event-key": { type: "string" },
  render: { type: "boolean" },
} as const;

type Resolvable = Exclude<BatonEvent, { type: "ping" | "pull_request_closed" }>;

export interface PipelineVerdict {
  name: string;
  file: string;
  result: "runs" | "not run" | "error" | "skipped";
  reason: string;
}

export interface ResolveReport {
  event: { type: string; sha: string; source: string; target: string; command?: string };
  folder: string;
  at: string;
  namespace: string;
  pipelines: PipelineVerdict[];
  problems: LocatedProblem[];
  pipelineRuns: Record<string, unknown>[];
}

/** What the operator would do with `event` on this folder: verdicts, problems (load, match, build) and the runs. */
export async function resolveReport(
  ctx: PipelinesContext,
  folder: Folder,
  event: Resolvable,
  changedFiles: () => Promise<ChangedFiles | undefined>,
): Promise<ResolveReport> {
  const resolution: Resolution = await resolvePipelines({
    fetched: folder,
    namespace: ctx.namespace,
    forbiddenSecrets: ctx.forbiddenSecrets,
    event,
    params: ctx.params,
    changedFiles,
  });
  const { match, problems } = resolution;
  const pipelines: PipelineVerdict[] = [];
  const pipelineRuns: Record<string, unknown>[] = [];
  for (const m of match.matched) {
    const built = await renderRun(ctx, m.definition, event, resolution.changedFiles);
    if (built.ok) {
      pipelines.push({ name: m.definition.name, file: m.definition.file, result: "runs", reason: via(m.via) });
      pipelineRuns.push(built.pipelineRun);
    } else {
      problems.push(definitionProblem(m.definition, built.error));
      pipelines.push({ name: m.definition.name, file: m.definition.file, result: "error", reason: built.error });
    }
  }
  for (const u of match.unmatched) {
    pipelines.push({ name: u.definition.name, file: u.definition.file, result: "not run", reason: u.reason });
  }
  for (const e of match.errors) {
    pipelines.push({
      name: e.definition.name,
      file: e.definition.file,
      result: e.filesUnknown ? "skipped" : "error",
      reason: e.filesUnknown ? `${e.message} (pass --changed-file)` : e.message,
    });
  }
  pipelines.sort((a, b) => a.file.localeCompare(b.file) || a.name.localeCompare(b.name));
  const branches =
    event.type === "push"
      ? { source: event.ref, target: event.ref }
      : { source: event.pullRequest.sourceBranch, target: event.pullRequest.targetBranch };
  return {
    event: {
      type: event.type,
      sha: event.sha,
      ...branches,
      ...(event.type === "comment" ? { command: event.comment.text } : {}),
    },
    folder: ctx.folder,
    at: folder.at,
    namespace: ctx.namespace,
    pipelines,
    problems: problems.map((p) => locate(p, folder.files)),
    pipelineRuns,
  };
}

function via(how: "annotations" | "cel" | "comment"): string {
  if (how === "cel") return "on-cel-expression is true";
  if (how === "comment") return "named by the comment";
  return "on-event and on-target-branch match";
}

export async function resolveCommand(args: readonly string[], io: Io): Promise<number> {
  const { values: v, positionals, global } = parseCommand(args, resolveOptions);
  noPositionals(positionals);
  const dir = v.dir ?? io.cwd;
  const ctx = await pipelinesContext(v, global, dir);
  const now = new Date();
  const kind = v.comment !== undefined ? "comment" : (v.event ?? "pull_request");
  if (!(EventKind as readonly string[]).includes(kind)) {
    throw new CliError(`--event must be pull_request, push or comment, not ${kind}`, exitCodes.usage);
  }
  if (kind === "comment" && v.comment === undefined) {
    throw new CliError("--event comment needs --comment, e.g. --comment '/test'", exitCodes.usage);
  }
  const source = v.source ?? (await gitBranch(dir)) ?? "HEAD";
  const target = v.target ?? "main";
  const sha =
    v.sha ??
    (await gitCommit(dir, source)) ??
    (await gitCommit(dir, v.ref ?? "HEAD")) ??
    "0000000000000000000000000000000000000001";
  let event: Resolvable;
  if (v.payload !== undefined) {
    if (v["event-key"] === undefined) throw new CliError("--payload needs --event-key", exitCodes.usage);
    event = await eventFromPayload(v.payload, v["event-key"], now);
  } else {
    event = buildEvent({
      kind: kind as EventKind,
      server: ctx.location.server,
      project: ctx.location.project,
      slug: ctx.location.slug,
      source,
      target,
      sha,
      ...(v.comment === undefined ? {} : { comment: v.comment }),
      sender: v.sender ?? process.env.USER ?? "kubectl-baton",
      pullRequestNumber: pullRequestNumber(v["pull-request"]),
      title: `${source} into ${target}`,
      now,
    });
  }
  const folder = await readFolder(ctx, dir, v.ref);
  if (!folder.folderExists) {
    io.err(`${ctx.folder}/ does not exist at ${folder.at} in ${dir}: Baton would start nothing\n`);
    return exitCodes.ok;
  }
  const changed = v["changed-file"];
  const report = await resolveReport(ctx, folder, event, async () => {
    if (changed !== undefined) return { all: changed, added: [], deleted: [], modified: changed, renamed: [] };
    // A push is compared with its parent, as the operator asks Bitbucket for a new branch's changes.
    const changes =
      event.type === "push"
        ? await gitChangedFiles(dir, `${event.sha}^`, event.sha)
        : await gitChangedFiles(dir, target, source);
    return changes === undefined ? undefined : changedFilesFromBitbucket(changes);
  });
  emit(io, global.output, report, () => humanReport(report, v.render === true));
  return report.problems.length > 0 ? exitCodes.findings : exitCodes.ok;
}

function pullRequestNumber(text: string | undefined): number {
  const n = Number(text ?? "1");
  if (!Number.isInteger(n) || n < 1)
    throw new CliError(`--pull-request must be a positive number, not ${text}`, exitCodes.usage);
  return n;
}

function humanReport(report: ResolveReport, render: boolean): string {
  const e = report.event;
  const head =
    e.type === "push"
      ? `push of ${e.source} at ${e.sha.slice(0, 11)}`
      : `${e.type === "comment" ? `comment ${JSON.stringify(e.command)} on ` : ""}pull request ${e.source} -> ${e.target} at ${e.sha.slice(0, 11)}`;
  const lines = [
    `${report.folder}/ (${report.at}), namespace ${report.namespace}, ${head}:`,
    "",
    report.pipelines.length === 0
      ? "No PipelineRun definitions."
      : table(
          ["pipeline", "file", "result", "why"],
          report.pipelines.map((p) => [p.name, p.file, p.result, p.reason]),
        ),
  ];
  if (report.problems.length > 0) {
    lines.push("", "Problems (each would be a FAILED build status and a pull-request comment):");
    for (const p of report.problems) lines.push(`  ${problemLine(p)}`);
  }
  if (render) for (const run of report.pipelineRuns) lines.push("---", stringify(run, { lineWidth: 0 }).trimEnd());
  return lines.join("\n");
}
