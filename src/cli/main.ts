#!/usr/bin/env node
// kubectl-baton: the command-line companion of the Baton operator, also a kubectl plugin (`kubectl baton …` runs
// this file when it is on PATH as `kubectl-baton`). Every command reuses the operator's own code.
import { realpathSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { CliError, exitCodes, globalHelp, type Io } from "./common.ts";

type Command = (args: readonly string[], io: Io) => Promise<number>;

// Loaded on use: the Kubernetes client alone takes a second to import, which `--help` need not wait for.
const commands: Record<string, { summary: string; load: () => Promise<{ help: string; run: Command }> }> = {
  resolve: {
    summary: "which .tekton PipelineRuns an event would start, and why not the others",
    load: async () => {
      const m = await import("./resolve.ts");
      return { help: m.resolveHelp, run: m.resolveCommand };
    },
  },
  lint: {
    summary: "every problem Baton would report for a .tekton folder, as file:line",
    load: async () => {
      const m = await import("./lint.ts");
      return { help: m.lintHelp, run: m.lintCommand };
    },
  },
  renew: {
    summary: "issue a new token for a BitbucketProjectToken now, and wait for it",
    load: async () => {
      const m = await import("./renew.ts");
      return { help: m.renewHelp, run: m.renewCommand };
    },
  },
  "revoke-previous": {
    summary: "revoke a BitbucketProjectToken's previous token now, without its grace period",
    load: async () => {
      const m = await import("./renew.ts");
      return { help: m.revokePreviousHelp, run: m.revokePreviousCommand };
    },
  },
  status: {
    summary: "Repositories: webhook, token expiry, last runs per pull request, what is wrong",
    load: async () => {
      const m = await import("./status.ts");
      return { help: m.statusHelp, run: m.statusCommand };
    },
  },
  doctor: {
    summary: "check a Repository link by link and stop at the first broken one",
    load: async () => {
      const m = await import("./doctor.ts");
      return { help: m.doctorHelp, run: m.doctorCommand };
    },
  },
};

export const mainHelp = `kubectl baton: the command-line companion of the Baton operator.

Usage: kubectl baton COMMAND [options]   (or kubectl-baton COMMAND [options])

Commands:
${Object.entries(commands)
  .map(([name, c]) => `  ${name.padEnd(17)}${c.summary}`)
  .join("\n")}

${globalHelp}

Exit status (every command):
  0  done, nothing wrong
  1  the command found something wrong (lint problems, a broken link, a failed renewal, an unhealthy Repository)
  2  the command line is wrong
  3  --wait gave up before the outcome
  4  the command could not do its job (object not found, Kubernetes or Bitbucket unreachable)

Examples:
  kubectl baton lint
  kubectl baton resolve --event pull_request --source feature/x --target main
  kubectl baton renew ci-token -n ci --wait
  kubectl baton status -n ci
  kubectl baton doctor my-app -n ci

Run "kubectl baton COMMAND --help" for a command's options.`;

/** Runs one command line; never throws, answers an exit code. */
export async function main(argv: readonly string[], io: Io): Promise<number> {
  const [name, ...rest] = argv;
  if (name === undefined || name === "help" || name === "--help" || name === "-h") {
    io.out(`${mainHelp}\n`);
    return name === undefined ? exitCodes.usage : exitCodes.ok;
  }
  const command = commands[name];
  if (command === undefined) {
    io.err(`kubectl baton: unknown command ${JSON.stringify(name)}; run "kubectl baton --help"\n`);
    return exitCodes.usage;
  }
  try {
    const { help, run } = await command.load();
    if (rest.includes("--help") || rest.includes("-h")) {
      io.out(`${help}\n`);
      return exitCodes.ok;
    }
    return await run(rest, io);
  } catch (error) {
    const code = error instanceof CliError ? error.code : exitCodes.unavailable;
    io.err(`kubectl baton ${name}: ${error instanceof Error ? error.message : String(error)}\n`);
    if (code === exitCodes.usage) io.err(`Run "kubectl baton ${name} --help" for its options.\n`);
    return code;
  }
}

function invokedDirectly(): boolean {
  const script = process.argv[1];
  if (script === undefined) return false;
  try {
    return realpathSync(script) === realpathSync(fileURLToPath(import.meta.url));
  } catch {
    return false;
  }
}

if (invokedDirectly()) {
  const code = await main(process.argv.slice(2), {
    out: (text) => process.stdout.write(text),
    err: (text) => process.stderr.write(text),
    cwd: process.cwd(),
  });
  // Exit once stdout has drained (a pipe, a file): idle HTTP agents and the CEL worker would keep the process alive.
  process.stdout.write("", () => process.exit(code));
}
