// `kubectl baton …` run the way a user runs it: the real kubectl finds `kubectl-baton` on PATH (a link to
// src/cli/main.ts, whose `#!/usr/bin/env node` finds the pinned Node first on PATH) and passes the arguments on.
// Exit code, stdout and stderr are judged from outside the process.
import { execFile } from "node:child_process";
import { mkdtemp, rm, symlink } from "node:fs/promises";
import { tmpdir } from "node:os";
import { delimiter, join } from "node:path";
import { kubectlPath } from "../../hack/lib/controlplane.ts";
import { useCluster } from "./cluster.ts";

const repoRoot = join(import.meta.dirname, "../..");

export interface CliResult {
  code: number;
  stdout: string;
  stderr: string;
}

interface HasAfter {
  after(fn: () => Promise<void> | void): void;
}

/** A directory holding only the plugin, as `npm install -g` would link it, removed after the test. */
export async function pluginDir(t: HasAfter): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), "kubectl-plugins-"));
  await symlink(join(repoRoot, "src/cli/main.ts"), join(dir, "kubectl-baton"));
  t.after(() => rm(dir, { recursive: true, force: true }));
  return dir;
}

/** Runs `kubectl <args>` with the plugin on PATH and the test cluster's kubeconfig in $KUBECONFIG. */
export async function kubectlWithPlugin(
  plugins: string,
  args: readonly string[],
  options: { cwd?: string; env?: Record<string, string> } = {},
): Promise<CliResult> {
  const { kubeconfigPath } = await useCluster();
  const env = {
    PATH: [plugins, join(repoRoot, "node_modules/.bin"), process.env.PATH ?? "/usr/bin:/bin"].join(delimiter),
    HOME: plugins,
    KUBECONFIG: kubeconfigPath,
    ...options.env,
  };
  return new Promise((resolve) => {
    execFile(
      kubectlPath,
      [...args],
      { cwd: options.cwd ?? repoRoot, env, maxBuffer: 16 * 1024 * 1024, timeout: 240_000 },
      (error, stdout, stderr) => {
        const code = error ? (typeof error.code === "number" ? error.code : 1) : 0;
        resolve({ code, stdout, stderr });
      },
    );
  });
}
