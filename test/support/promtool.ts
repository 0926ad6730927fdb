// Prometheus's own promtool (bin/promtool, built by `make bin/promtool` from hack/promtool/go.sum) as the judge of
// what Baton exports and alerts on.
import { spawn } from "node:child_process";
import { existsSync } from "node:fs";
import { join } from "node:path";

export const promtoolPath = join(import.meta.dirname, "../../bin/promtool");

export interface PromtoolResult {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** Runs bin/promtool with `args`, writing `input` to its standard input; never rejects on a non-zero exit. */
export function promtool(args: string[], options: { input?: string; cwd?: string } = {}): Promise<PromtoolResult> {
  if (!existsSync(promtoolPath)) {
    throw new Error(`${promtoolPath} is missing: build it with \`make bin/promtool\` (\`make test\` does)`);
  }
  return new Promise((resolve, reject) => {
    const child = spawn(promtoolPath, args, { cwd: options.cwd, stdio: ["pipe", "pipe", "pipe"] });
    let stdout = "";
    let stderr = "";
    child.stdout.on("data", (chunk) => (stdout += chunk));
    child.stderr.on("data", (chunk) => (stderr += chunk));
    child.on("error", reject);
    child.on("close", (code) => resolve({ code, stdout, stderr }));
    child.stdin.end(options.input ?? "");
  });
}
