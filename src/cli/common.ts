// What every `kubectl baton` command shares: the options kubectl users expect (kubeconfig, context, namespace,
// output), exit codes that mean something, and one error type that carries its exit code.
import { parseArgs } from "node:util";
import { durationPattern, parseDuration } from "../api/common.ts";

/** Exit codes, the same for every command (documented in `kubectl baton --help`). */
export const exitCodes = {
  /** Done, nothing wrong. */
  ok: 0,
  /** The command ran and found something wrong (a lint problem, a broken link, a failed renewal…). */
  findings: 1,
  /** The command line is wrong. */
  usage: 2,
  /** `--wait` gave up before the outcome. */
  timeout: 3,
  /** The command could not do its job: the object does not exist, Kubernetes or Bitbucket could not be reached. */
  unavailable: 4,
} as const;

export class CliError extends Error {
  readonly code: number;
  constructor(message: string, code: number = exitCodes.unavailable) {
    super(message);
    this.name = "CliError";
    this.code = code;
  }
}

export const Output = ["table", "json", "yaml"] as const;
export type Output = (typeof Output)[number];

/** Where a command writes; tests pass their own to read it back. */
export interface Io {
  out(text: string): void;
  err(text: string): void;
  cwd: string;
}

export interface GlobalOptions {
  kubeconfig?: string;
  context?: string;
  namespace?: string;
  output: Output;
}

type OptionSpec = NonNullable<Parameters<typeof parseArgs>[0]>["options"];

const globalOptionSpec = {
  kubeconfig: { type: "string" },
  context: { type: "string" },
  namespace: { type: "string", short: "n" },
  output: { type: "string", short: "o" },
  help: { type: "boolean", short: "h" },
} as const;

export const globalHelp = `Global options:
  --kubeconfig PATH    kubeconfig file (default: $KUBECONFIG, then ~/.kube/config, then in-cluster)
  --context NAME       kubeconfig context to use (default: its current-context)
  -n, --namespace NS   namespace (default: the context's namespace, else "default")
  -o, --output FORMAT  table (default), json or yaml
  -h, --help           this help`;

export interface Parsed<V> {
  values: V;
  positionals: string[];
  global: GlobalOptions;
  help: boolean;
}

/** parseArgs with the global options added; an unknown option or a bad value is a usage error. */
export function parseCommand<const O extends OptionSpec>(
  args: readonly string[],
  options: O,
): Parsed<ReturnType<typeof parseArgs<{ options: O & typeof globalOptionSpec; allowPositionals: true }>>["values"]> {
  let parsed: ReturnType<typeof parseArgs>;
  try {
    parsed = parseArgs({
      args: [...args],
      options: { ...options, ...globalOptionSpec },
      allowPositionals: true,
      strict: true,
    });
  } catch (error) {
    throw new CliError((error as Error).message, exitCodes.usage);
  }
  const values = parsed.values as Record<string, unknown>;
  const output = (values.output as string | undefined) ?? "table";
  if (!(Output as readonly string[]).includes(output)) {
    throw new CliError(`--output must be table, json or yaml, not ${JSON.stringify(output)}`, exitCodes.usage);
  }
  const global: GlobalOptions = { output: output as Output };
  if (typeof values.kubeconfig === "string") global.kubeconfig = values.kubeconfig;
  if (typeof values.context === "string") global.context = values.context;
  if (typeof values.namespace === "string") global.namespace = values.namespace;
  return {
    // biome-ignore lint/suspicious/noExplicitAny: the precise type is in the signature
    values: parsed.values as any,
    positionals: parsed.positionals,
    global,
    help: values.help === true,
  };
}

/** No positional argument, else a usage error. */
export function noPositionals(positionals: readonly string[]): void {
  if (positionals.length > 0) {
    throw new CliError(`unexpected argument ${JSON.stringify(positionals[0])}`, exitCodes.usage);
  }
}

/** Exactly one positional argument (an object's name), else a usage error naming what is expected. */
export function onePositional(positionals: readonly string[], what: string): string {
  if (positionals.length !== 1 || positionals[0] === "") {
    throw new CliError(`expected exactly one ${what}, got ${positionals.length}`, exitCodes.usage);
  }
  return positionals[0] as string;
}

/** A Go duration such as `90s`, `5m` or `1h30m` (the CLI's --timeout), in milliseconds. */
export function parseTimeout(text: string): number {
  if (!durationPattern.test(text.trim())) {
    throw new CliError(`--timeout must be a duration such as 90s, 5m or 1h, not ${text}`, exitCodes.usage);
  }
  return parseDuration(text.trim());
}
