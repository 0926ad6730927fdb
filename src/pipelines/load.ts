// Reading the `.tekton/` folder: YAML text → PipelineRun definitions, with limits and errors a user can act on.
//
// The files come from the repository, so they are untrusted input to the operator itself: sizes, document counts
// and YAML aliases are bounded before anything is expanded (a "billion laughs" alias bomb fails on its aliases,
// not on memory). Each problem names the file (and document) so it can go into a build status or a comment.
//
// Decisions:
// - Only `tekton.dev/v1` and `tekton.dev/v1beta1` PipelineRuns are kept. Other documents (Pipelines, Tasks,
//   ConfigMaps…) are listed under `ignored` with the reason; in-repository Pipeline/Task resolution is not done.
// - `metadata.namespace` (and PAC's `target-namespace` annotation) naming another namespace is an error, not a
//   silent override: the author asked for something Baton will not do (runs are created in the Repository's
//   namespace, DESIGN §2), and should learn so rather than find the run elsewhere. Naming the Repository's own
//   namespace, or `{{ target_namespace }}`, is fine.
// - A PipelineRun that references a forbidden Secret (the operator's own token, admin credentials, webhook
//   secret…, passed in by the caller) anywhere (see secret-refs.ts) is an error here already, whether or not it
//   matches the event. build.ts decides the rest after templating, when names built from `{{ }}` placeholders and
//   the run's own git Secret are known: only that Secret and the Repository's allowed ones pass.
// - Unquoted placeholders (`value: {{ revision }}`) are valid in PAC, which substitutes in the text before parsing;
//   in YAML they are flow mappings. Such a node whose source is exactly `{{ … }}` is read back as that string.
import { type Document, isMap, isScalar, LineCounter, type Node, parseAllDocuments, Scalar, visit } from "yaml";
import { z } from "zod";
import { secretProblems } from "./secret-refs.ts";

export const pacPrefix = "pipelinesascode.tekton.dev/";

export const PipelineRunApiVersion = z.enum(["tekton.dev/v1", "tekton.dev/v1beta1"]);
export type PipelineRunApiVersion = z.infer<typeof PipelineRunApiVersion>;

export interface LoadLimits {
  /** YAML/YML files considered. */
  maxFiles: number;
  /** Bytes per file. */
  maxFileBytes: number;
  /** Bytes across all files. */
  maxTotalBytes: number;
  /** YAML documents per file (`---` separated). */
  maxDocumentsPerFile: number;
  /** YAML's own guard against alias expansion; small, since PipelineRuns rarely use anchors at all. */
  maxAliasCount: number;
}

export const defaultLoadLimits: LoadLimits = {
  maxFiles: 100,
  maxFileBytes: 256 * 1024,
  maxTotalBytes: 2 * 1024 * 1024,
  maxDocumentsPerFile: 32,
  maxAliasCount: 16,
};

export interface LoadOptions {
  /** The Repository's namespace: where runs are created. */
  namespace: string;
  /** Secret names a PipelineRun must not reference (the operator's token Secrets, admin credentials, …). */
  forbiddenSecrets?: readonly string[];
  limits?: Partial<LoadLimits>;
}

/** A PipelineRun as read from `.tekton/`, not yet templated. Plain JSON. */
export interface PipelineRunDefinition {
  /** Path as given by the caller (e.g. `.tekton/pull-request.yaml`). */
  file: string;
  /** 0-based index of the YAML document in the file. */
  document: number;
  /** `metadata.name`, or `metadata.generateName` without its trailing dash: PAC's original-prname. */
  name: string;
  apiVersion: PipelineRunApiVersion;
  /** `metadata.annotations` (values as strings). */
  annotations: Readonly<Record<string, string>>;
  /** The whole document as JSON, annotations and labels normalised to strings. */
  pipelineRun: Record<string, unknown>;
}

export interface LoadProblem {
  file: string;
  document?: number;
  name?: string;
  message: string;
}

export interface LoadResult {
  pipelineRuns: PipelineRunDefinition[];
  /** Files and documents deliberately skipped (not YAML, not a PipelineRun, empty). */
  ignored: LoadProblem[];
  /** Problems that keep a file or a PipelineRun from running; each is for the user to fix. */
  errors: LoadProblem[];
}

export type TektonFiles =
  | ReadonlyMap<string, string>
  | Readonly<Record<string, string>>
  | readonly { path: string; content: string }[];

function entries(files: TektonFiles): [string, string][] {
  if (Array.isArray(files)) return (files as { path: string; content: string }[]).map((f) => [f.path, f.content]);
  if (files instanceof Map) return [...files.entries()];
  return Object.entries(files as Record<string, string>);
}

const placeholderOnly = /^\{\{[^{}]+\}\}$/;

/** Annotation and label values must be strings; YAML lets authors write numbers, booleans and lists. */
function stringMap(value: unknown): Record<string, string> | string {
  if (value === undefined || value === null) return {};
  if (typeof value !== "object" || Array.isArray(value)) return "must be a map of strings";
  const out: Record<string, string> = {};
  for (const [key, v] of Object.entries(value)) {
    if (typeof v === "string") out[key] = v;
    else if (typeof v === "number" || typeof v === "boolean") out[key] = String(v);
    // `on-event: [pull_request, push]` unquoted is a YAML list; PAC's own list syntax is the same text quoted.
    else if (Array.isArray(v) && v.every((i) => ["string", "number", "boolean"].includes(typeof i))) {
      out[key] = `[${v.join(", ")}]`;
    } else return `${key} must be a string`;
  }
  return out;
}

const Metadata = z.object({
  name: z.string().max(253).optional(),
  generateName: z.string().max(253).optional(),
  namespace: z.string().optional(),
});

function templatedNamespace(text: string): boolean {
  return /^\{\{\s*target_namespace\s*\}\}$/.test(text.trim());
}

/** Loads the PipelineRuns of a `.tekton/` folder. Never throws on content: every problem is in the result. */
export function loadPipelineRuns(files: TektonFiles, options: LoadOptions): LoadResult {
  const limits = { ...defaultLoadLimits, ...options.limits };
  const forbidden = options.forbiddenSecrets ?? [];
  const result: LoadResult = { pipelineRuns: [], ignored: [], errors: [] };
  const names = new Map<string, string>();
  let total = 0;
  let yamlFiles = 0;

  for (const [file, text] of entries(files).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))) {
    if (!/\.ya?ml$/i.test(file)) {
      result.ignored.push({ file, message: "not a .yaml or .yml file" });
      continue;
    }
    yamlFiles++;
    if (yamlFiles > limits.maxFiles) {
      result.errors.push({
        file,
        message: `more than ${limits.maxFiles} YAML files in the folder; this one and the rest were not read`,
      });
      break;
    }
    const bytes = Buffer.byteLength(text, "utf8");
    if (bytes > limits.maxFileBytes) {
      result.errors.push({
        file,
        message: `is ${bytes} bytes, more than the ${limits.maxFileBytes}-byte limit for a .tekton file`,
      });
      continue;
    }
    total += bytes;
    if (total > limits.maxTotalBytes) {
      result.errors.push({
        file,
        message: `the .tekton files exceed ${limits.maxTotalBytes} bytes together; this one and the rest were not read`,
      });
      break;
    }
    loadFile(file, text, limits, options.namespace, forbidden, names, result);
  }
  return result;
}

function loadFile(
  file: string,
  text: string,
  limits: LoadLimits,
  namespace: string,
  forbidden: readonly string[],
  names: Map<string, string>,
  result: LoadResult,
): void {
  const lineCounter = new LineCounter();
  const docs = parseAllDocuments(text, {
    // The library compares each key with every earlier one: a map of 25,000 keys (250 KiB) takes seconds of the
    // event loop. duplicateKey() below does the same check in linear time.
    uniqueKeys: false,
    lineCounter,
    prettyErrors: true,
    // `<<: *defaults` merge keys work in PAC (Go's YAML 1.1 parser); aliases stay bounded by maxAliasCount.
    merge: true,
    strict: true,
  });
  if (!Array.isArray(docs)) return; // an empty stream: nothing to load
  if (docs.length > limits.maxDocumentsPerFile) {
    result.errors.push({
      file,
      message: `holds ${docs.length} YAML documents, more than the limit of ${limits.maxDocumentsPerFile}`,
    });
    return;
  }
  docs.forEach((doc, index) => {
    const at = { file, document: index };
    const syntax = doc.errors[0];
    const duplicate = syntax ? undefined : duplicateKey(doc);
    if (duplicate !== undefined) {
      const { line, col } = lineCounter.linePos(duplicate);
      result.errors.push({
        ...at,
        message: `is not valid YAML: Map keys must be unique at line ${line}, column ${col}`,
      });
      return;
    }
    if (syntax) {
      const line = syntax.linePos?.[0]?.line;
      const sourceLine = line === undefined ? "" : (text.split("\n")[line - 1] ?? "");
      const hint = sourceLine.includes("{{")
        ? ` (a value starting with {{ and followed by more text must be quoted: "{{ name }}-suffix")`
        : "";
      result.errors.push({
        ...at,
        message: `is not valid YAML: ${(syntax.message.split("\n")[0] ?? "").replace(/:\s*$/, "")}${hint}`,
      });
      return;
    }
    // PAC substitutes before parsing, so `value: {{ revision }}` works there; read such a flow map as its text.
    visit(doc, {
      Map(_key, node) {
        if (!isMap(node) || !node.flow || !node.range) return undefined;
        const source = text.slice(node.range[0], node.range[1]).trim();
        return placeholderOnly.test(source) ? (new Scalar(source) as Node) : undefined;
      },
    });
    let value: unknown;
    try {
      value = doc.toJS({ maxAliasCount: limits.maxAliasCount });
    } catch (error) {
      const message = error instanceof Error ? error.message : String(error);
      result.errors.push({
        ...at,
        message: /alias/i.test(message)
          ? `uses YAML aliases too heavily (more than ${limits.maxAliasCount} expansions allowed): ${message}`
          : `could not be read: ${message}`,
      });
      return;
    }
    if (value === null || value === undefined) {
      result.ignored.push({ ...at, message: "empty YAML document" });
      return;
    }
    if (typeof value !== "object" || Array.isArray(value)) {
      result.ignored.push({ ...at, message: "not a Kubernetes object (not a YAML map)" });
      return;
    }
    const object = value as Record<string, unknown>;
    const kind = typeof object.kind === "string" ? object.kind : undefined;
    const apiVersion = typeof object.apiVersion === "string" ? object.apiVersion : undefined;
    if (kind !== "PipelineRun" || !apiVersion?.startsWith("tekton.dev/")) {
      result.ignored.push({
        ...at,
        message: `${kind ?? "an object without kind"}${apiVersion ? ` (${apiVersion})` : ""} is not a Tekton PipelineRun`,
      });
      return;
    }
    const version = PipelineRunApiVersion.safeParse(apiVersion);
    if (!version.success) {
      result.errors.push({
        ...at,
        message: `PipelineRun apiVersion ${apiVersion} is not supported; use tekton.dev/v1 (or tekton.dev/v1beta1)`,
      });
      return;
    }
    const meta = Metadata.safeParse(object.metadata ?? {});
    if (!meta.success) {
      result.errors.push({ ...at, message: "metadata.name, generateName and namespace must be strings" });
      return;
    }
    const name = (meta.data.name ?? meta.data.generateName?.replace(/-+$/, "") ?? "").trim();
    if (name === "") {
      result.errors.push({ ...at, message: "the PipelineRun has neither metadata.name nor metadata.generateName" });
      return;
    }
    const named = { ...at, name };
    const rawMeta = object.metadata as Record<string, unknown>;
    const annotations = stringMap(rawMeta.annotations);
    const labels = stringMap(rawMeta.labels);
    if (typeof annotations === "string" || typeof labels === "string") {
      const problem =
        typeof annotations === "string" ? `metadata.annotations: ${annotations}` : `metadata.labels: ${labels}`;
      result.errors.push({ ...named, message: problem });
      return;
    }
    if (object.spec === null || typeof object.spec !== "object" || Array.isArray(object.spec)) {
      result.errors.push({ ...named, message: "the PipelineRun has no spec" });
      return;
    }
    const ns = meta.data.namespace;
    if (ns !== undefined && ns !== namespace && !templatedNamespace(ns)) {
      result.errors.push({
        ...named,
        message: `sets metadata.namespace to ${ns}; runs are created in the Repository's namespace ${namespace}, remove the field`,
      });
      return;
    }
    const targetNamespace = annotations[`${pacPrefix}target-namespace`];
    if (targetNamespace !== undefined && targetNamespace !== namespace && !templatedNamespace(targetNamespace)) {
      result.errors.push({
        ...named,
        message: `asks for target-namespace ${targetNamespace}; runs are created in the Repository's namespace ${namespace}`,
      });
      return;
    }
    const secrets = secretProblems(object, { forbidden });
    if (secrets.length > 0) {
      result.errors.push({ ...named, message: secrets.join("; ") });
      return;
    }
    const earlier = names.get(name);
    if (earlier !== undefined) {
      result.errors.push({
        ...named,
        message: `another PipelineRun named ${name} is already defined in ${earlier}; names must be unique`,
      });
      return;
    }
    names.set(name, `${file}${index > 0 ? ` (document ${index + 1})` : ""}`);
    result.pipelineRuns.push({
      file,
      document: index,
      name,
      apiVersion: version.data,
      annotations,
      pipelineRun: { ...object, metadata: { ...rawMeta, annotations, labels } },
    });
  });
}

/**
 * The source offset of the first key that repeats an earlier key of the same map, as the yaml library's own
 * `uniqueKeys` check decides (the same node, or scalars with `===` values), or undefined.
 */
export function duplicateKey(doc: Document.Parsed): number | undefined {
  let first: number | undefined;
  visit(doc, {
    Map(_key, map) {
      const seen = new Set<unknown>();
      const nodes = new Set<unknown>();
      for (const pair of map.items) {
        const key = pair.key;
        const repeated = nodes.has(key) || (isScalar(key) && seen.has(key.value));
        nodes.add(key);
        if (isScalar(key)) seen.add(key.value);
        const offset = (key as { range?: [number, number, number] } | null)?.range?.[0];
        if (repeated && offset !== undefined && (first === undefined || offset < first)) first = offset;
      }
    },
  });
  return first;
}

/** Problems as Markdown for a pull-request comment: one row per PipelineRun or file. */
export function formatLoadErrors(errors: readonly LoadProblem[]): string {
  const cell = (s: string) => s.replaceAll("|", "\\|").replaceAll("\n", " ");
  const rows = errors.map((e) => {
    const where = `${e.file}${e.document ? ` (document ${e.document + 1})` : ""}${e.name ? ` — ${e.name}` : ""}`;
    return `| ${cell(where)} | ${cell(e.message)} |`;
  });
  return ["| .tekton file | Problem |", "|---|---|", ...rows].join("\n");
}
