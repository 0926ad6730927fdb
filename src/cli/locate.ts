// `file:line` for a problem, so an editor or a CI log can jump to it: the line YAML reported, else the line of the
// field the message names (an annotation, the namespace), else the line where the problem's document starts.
import { parseAllDocuments } from "yaml";
import { annotationKeys } from "../pipelines/match.ts";
import type { DefinitionProblem } from "../pipelines/notices.ts";

export interface LocatedProblem extends DefinitionProblem {
  line?: number;
}

/** Words a message names → the YAML key to point at. */
const fields: [RegExp, string][] = [
  ...Object.values(annotationKeys).map((key): [RegExp, string] => {
    const field = key.slice(key.indexOf("/") + 1);
    return [new RegExp(`\\b${field}\\b`), `${field}["']?`];
  }),
  [/\btarget-namespace\b/, `target-namespace["']?`],
  [/\bmetadata\.namespace\b/, "namespace"],
];

function documentRange(text: string, problem: DefinitionProblem): [number, number] {
  try {
    const docs = parseAllDocuments(text, { uniqueKeys: false });
    if (!Array.isArray(docs)) return [0, text.length];
    let doc = problem.document === undefined ? undefined : docs[problem.document];
    // Matching and building name the PipelineRun, not its document.
    doc ??= docs.find((d) => {
      const meta = (d.toJS({ maxAliasCount: 16 }) as { metadata?: { name?: unknown; generateName?: unknown } } | null)
        ?.metadata;
      const name = typeof meta?.name === "string" ? meta.name : String(meta?.generateName ?? "").replace(/-+$/, "");
      return name === problem.name;
    });
    if (doc?.range) return [doc.range[0], doc.range[2]];
  } catch {
    // Unparseable text: the whole file is the document.
  }
  return [0, text.length];
}

export function locate(problem: DefinitionProblem, files: ReadonlyMap<string, string>): LocatedProblem {
  const text = files.get(problem.file);
  if (text === undefined) return problem;
  const reported = /\bat line (\d+)/.exec(problem.message);
  if (reported) return { ...problem, line: Number(reported[1]) };
  const [start, end] = documentRange(text, problem);
  for (const [mentioned, key] of fields) {
    if (!mentioned.test(problem.message)) continue;
    const at = text.slice(start, end).search(new RegExp(`^\\s*["']?(?:[\\w.-]+/)?${key}\\s*:`, "m"));
    if (at >= 0) return { ...problem, line: lineOf(text, start + at + leadingNewlines(text, start + at)) };
  }
  return { ...problem, line: lineOf(text, start) };
}

function leadingNewlines(text: string, offset: number): number {
  let n = 0;
  while (text[offset + n] === "\n" || text[offset + n] === "\r") n++;
  return n;
}

function lineOf(text: string, offset: number): number {
  let line = 1;
  for (let i = 0; i < offset && i < text.length; i++) if (text.charCodeAt(i) === 10) line++;
  return line;
}

/** `file:line: message`, the form compilers and linters print. */
export function problemLine(problem: LocatedProblem): string {
  const where = problem.line === undefined ? problem.file : `${problem.file}:${problem.line}`;
  const name = problem.name && !problem.message.includes(`(${problem.name})`) ? ` (${problem.name})` : "";
  return `${where}:${name} ${problem.message}`;
}
