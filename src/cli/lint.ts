// `kubectl baton lint`: every problem the operator would report for a `.tekton` folder, whatever the event, as
// `file:line` messages and a non-zero exit, for a pre-commit hook or a pipeline step. The folder is put through
// the operator's own resolution for a pull request and a push to every branch its definitions name, and each
// definition is also built alone (as `/test <name>` would), so templating and Secret refusals are checked too.
import type { BatonEvent } from "../events/model.ts";
import { annotationKeys, parseAnnotationList } from "../pipelines/match.ts";
import { exitCodes, type Io, noPositionals, parseCommand } from "./common.ts";
import { buildEvent, type EventRequest } from "./event.ts";
import { gitCommit } from "./local-source.ts";
import type { LocatedProblem } from "./locate.ts";
import { problemLine } from "./locate.ts";
import { emit } from "./output.ts";
import {
  type Folder,
  type PipelinesContext,
  pipelinesContext,
  pipelinesHelp,
  pipelinesOptions,
  readFolder,
} from "./pipelines-context.ts";
import { resolveReport } from "./resolve.ts";

export const lintHelp = `Every problem Baton would report for a .tekton folder, as file:line messages: YAML errors, limits,
namespaces, Secrets a run may not name, broken annotations and CEL, templating — for any event.

Usage: kubectl baton lint [options]

  --target BRANCH        also try pull requests to and pushes of BRANCH (default: main and every branch the
                         definitions name)

${pipelinesHelp}

Exit status: 0 when the folder is clean, 1 when it has problems.

Examples:
  kubectl baton lint
  kubectl baton lint --dir ~/src/app --ref origin/main
  kubectl baton lint -r my-app -n ci -o json
  # .pre-commit-config.yaml: entry: kubectl-baton lint, language: system, pass_filenames: false`;

export const lintOptions = { ...pipelinesOptions, target: { type: "string", multiple: true } } as const;

const maxTargets = 20;

export interface LintReport {
  folder: string;
  at: string;
  namespace: string;
  pipelines: string[];
  problems: LocatedProblem[];
}

/** Branch names the definitions target literally (no glob), so each gets a pull request and a push to match. */
function namedTargets(folder: Folder): string[] {
  const names = new Set<string>();
  for (const text of folder.files.values()) {
    for (const m of text.matchAll(new RegExp(`${annotationKeys.onTargetBranch}["']?\\s*:\\s*(.+)$`, "gm"))) {
      const list = parseAnnotationList((m[1] as string).trim().replace(/^["']|["']$/g, ""));
      if (list.ok) for (const v of list.values) if (!/[*?[\]{}]/.test(v)) names.add(v);
    }
  }
  return [...names];
}

export async function lintReport(
  ctx: PipelinesContext,
  folder: Folder,
  base: Omit<EventRequest, "kind" | "source" | "target" | "comment">,
  targets: readonly string[],
): Promise<LintReport> {
  const seen = new Map<string, LocatedProblem>();
  const pipelines = new Set<string>();
  const noFiles = async () => ({ all: [], added: [], deleted: [], modified: [], renamed: [] });
  const add = (problems: readonly LocatedProblem[]) => {
    for (const p of problems) seen.set(`${p.file}|${p.name ?? ""}|${p.message}`, p);
  };
  const events: Exclude<BatonEvent, { type: "ping" | "pull_request_closed" }>[] = [];
  for (const target of [...new Set([...targets, ...namedTargets(folder)])].slice(0, maxTargets)) {
    const branch = target.replace(/^refs\/heads\//, "");
    events.push(buildEvent({ ...base, kind: "pull_request", source: "lint", target: branch }));
    events.push(buildEvent({ ...base, kind: "push", source: target, target }));
  }
  for (const event of events) {
    const report = await resolveReport(ctx, folder, event, noFiles);
    add(report.problems);
    for (const p of report.pipelines) pipelines.add(p.name);
  }
  // Each definition once as `/test <name>` starts it: built whatever its annotations say.
  for (const name of [...pipelines]) {
    const event = buildEvent({ ...base, kind: "comment", source: "lint", target: "main", comment: `/test ${name}` });
    add((await resolveReport(ctx, folder, event, noFiles)).problems);
  }
  const problems = [...seen.values()].sort(
    (a, b) => a.file.localeCompare(b.file) || (a.line ?? 0) - (b.line ?? 0) || a.message.localeCompare(b.message),
  );
  return { folder: ctx.folder, at: folder.at, namespace: ctx.namespace, pipelines: [...pipelines].sort(), problems };
}

export async function lintCommand(args: readonly string[], io: Io): Promise<number> {
  const { values: v, positionals, global } = parseCommand(args, lintOptions);
  noPositionals(positionals);
  const dir = v.dir ?? io.cwd;
  const ctx = await pipelinesContext(v, global, dir);
  const folder = await readFolder(ctx, dir, v.ref);
  if (!folder.folderExists) {
    io.err(`${ctx.folder}/ does not exist at ${folder.at} in ${dir}: nothing to lint\n`);
    return exitCodes.ok;
  }
  const sha = (await gitCommit(dir, v.ref ?? "HEAD")) ?? "0000000000000000000000000000000000000001";
  const report = await lintReport(
    ctx,
    folder,
    {
      server: ctx.location.server,
      project: ctx.location.project,
      slug: ctx.location.slug,
      sha,
      sender: "kubectl-baton",
      pullRequestNumber: 1,
      title: "lint",
      now: new Date(),
    },
    v.target ?? ["main"],
  );
  emit(io, global.output, report, () =>
    report.problems.length === 0
      ? `${report.folder}/: ${report.pipelines.length} PipelineRun(s), no problems`
      : [
          ...report.problems.map(problemLine),
          `${report.problems.length} problem(s) in ${new Set(report.problems.map((p) => p.file)).size} file(s)`,
        ].join("\n"),
  );
  return report.problems.length > 0 ? exitCodes.findings : exitCodes.ok;
}
