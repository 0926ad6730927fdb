// CEL as Pipelines-as-Code offers it: `on-cel-expression` matching and `{{ body.* }}` / `{{ headers[...] }}` /
// `{{ files.* }}` placeholders. One real CEL implementation (@marcbachmann/cel-js), with parse-time limits, and
// errors returned as values: a broken expression in a `.tekton` file must never throw out of the matcher.
//
// `matches()` runs on RE2 (re2js), as in PAC's cel-go: cel-js's own uses JavaScript's backtracking RegExp, and a
// pattern from the target branch against a fork's branch name (`^feature/([a-z0-9]+-?)*$`) took seconds per
// character. Evaluation time as a whole (comprehensions nest) is bounded by running it in a worker: bounded.ts.
import { Environment } from "@marcbachmann/cel-js";
import { RE2JS } from "re2js";
import type { ChangedFiles } from "../events/model.ts";
import { globMatcher } from "./glob.ts";

/** Longest expression accepted; PAC expressions are a line or two. */
export const maxExpressionLength = 4096;

/** Variables every expression may use, besides custom params. */
export interface CelVariables {
  event: string;
  event_type: string;
  event_title: string;
  target_branch: string;
  source_branch: string;
  target_url: string;
  source_url: string;
  body: unknown;
  headers: Record<string, string>;
  files: ChangedFiles;
}

const builtIn = [
  "event",
  "event_type",
  "event_title",
  "target_branch",
  "source_branch",
  "target_url",
  "source_url",
  "body",
  "headers",
  "files",
] as const;

const identifier = /^[A-Za-z_][A-Za-z0-9_]*$/;
/** CEL reserved words and the names of built-in functions and types, which a param cannot shadow. */
const reserved = new Set([
  ...builtIn,
  "true",
  "false",
  "null",
  "in",
  "as",
  "break",
  "const",
  "continue",
  "else",
  "for",
  "function",
  "if",
  "import",
  "let",
  "loop",
  "package",
  "namespace",
  "return",
  "var",
  "void",
  "while",
  "has",
  "size",
  "int",
  "uint",
  "double",
  "string",
  "bytes",
  "bool",
  "list",
  "map",
  "type",
  "dyn",
  "timestamp",
  "duration",
  "matches",
  "cel",
]);

/** cel-js cannot replace a built-in overload, so `x.matches(re)` calls are renamed to this RE2 one before checking. */
const re2Matches = "matchesRE2";

const regexes = new Map<string, RE2JS>();
const maxRegexes = 256;

/** CEL's `matches`: RE2 syntax, true when the pattern matches anywhere in the string. */
function matchesRE2(text: string, pattern: string): boolean {
  let re = regexes.get(pattern);
  if (re === undefined) {
    try {
      re = RE2JS.compile(pattern);
    } catch (error) {
      throw new Error(
        `invalid regular expression ${JSON.stringify(pattern)} for matches(): ${firstLine(String(error))}`,
      );
    }
    if (regexes.size >= maxRegexes) regexes.delete(regexes.keys().next().value as string);
    regexes.set(pattern, re);
  }
  return re.test(text);
}

type Ast = { op: string; args: unknown };

function useRE2(node: unknown): void {
  if (Array.isArray(node)) {
    for (const child of node) useRE2(child);
  } else if (node !== null && typeof node === "object" && "op" in node) {
    const ast = node as Ast;
    if (ast.op === "rcall" && Array.isArray(ast.args) && ast.args[0] === "matches") ast.args[0] = re2Matches;
    useRE2(ast.args);
  }
}

let base: Environment | undefined;

function baseEnvironment(): Environment {
  if (base === undefined) {
    base = new Environment({
      limits: { maxAstNodes: 2000, maxDepth: 64, maxListElements: 256, maxMapEntries: 256, maxCallArguments: 16 },
    })
      .registerVariable("event", "string")
      .registerVariable("event_type", "string")
      .registerVariable("event_title", "string")
      .registerVariable("target_branch", "string")
      .registerVariable("source_branch", "string")
      .registerVariable("target_url", "string")
      .registerVariable("source_url", "string")
      .registerVariable("body", "map")
      .registerVariable("headers", "map")
      .registerVariable("files", "map")
      .registerFunction(`string.${re2Matches}(string): bool`, matchesRE2);
  }
  return base;
}

export type CelOutcome = { ok: true; value: unknown } | { ok: false; error: string };

/** An environment for one event: its changed files (for `"glob".pathChanged()`) and its custom params. */
export class CelContext {
  readonly #env: Environment;
  readonly #values: Record<string, unknown>;
  readonly #cache = new Map<string, ReturnType<Environment["parse"]> | string>();

  constructor(variables: CelVariables, params: Readonly<Record<string, string>> = {}) {
    const env = baseEnvironment().clone();
    const files = variables.files.all;
    env.registerFunction({
      name: "pathChanged",
      receiverType: "string",
      returnType: "bool",
      params: [],
      handler: (glob: string) => {
        const match = globMatcher(glob);
        return files.some(match);
      },
    });
    const values: Record<string, unknown> = { ...variables };
    for (const [name, value] of Object.entries(params)) {
      if (!identifier.test(name) || reserved.has(name)) continue;
      env.registerVariable(name, "string");
      values[name] = value;
    }
    this.#env = env;
    this.#values = values;
  }

  /** Parses, type-checks and evaluates `expression`; any failure is a message, never an exception. */
  evaluate(expression: string): CelOutcome {
    if (expression.length > maxExpressionLength) {
      return { ok: false, error: `the expression is longer than ${maxExpressionLength} characters` };
    }
    let program = this.#cache.get(expression);
    if (program === undefined) {
      try {
        const parsed = this.#env.parse(expression);
        useRE2(parsed.ast);
        const checked = parsed.check();
        program = checked.valid ? parsed : firstLine(checked.error?.message ?? "invalid expression");
      } catch (error) {
        program = firstLine(error instanceof Error ? error.message : String(error));
      }
      this.#cache.set(expression, program);
    }
    if (typeof program === "string") return { ok: false, error: program };
    try {
      return { ok: true, value: program(this.#values) };
    } catch (error) {
      return { ok: false, error: firstLine(error instanceof Error ? error.message : String(error)) };
    }
  }
}

function firstLine(message: string): string {
  return (message.split("\n")[0] ?? message).replaceAll(re2Matches, "matches");
}

/** A CEL value as text, the way PAC renders `{{ body.* }}`: strings as-is, everything else as JSON. */
export function celValueToString(value: unknown): string {
  if (typeof value === "string") return value;
  return JSON.stringify(value, (_key, v: unknown) => {
    if (typeof v === "bigint") return Number(v);
    if (v instanceof Map) return Object.fromEntries(v);
    if (v instanceof Uint8Array) return Buffer.from(v).toString("base64");
    if (v instanceof Date) return v.toISOString();
    return v;
  });
}
