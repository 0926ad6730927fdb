// The Tekton catalog `git-clone` task's own program cloning what a Baton run names, with the run's git Secret.
// `git-init` is built from github.com/tektoncd/pipeline at v0.40.2, the release git-clone 0.9 pins as its
// gitInitImage (hack/git-init). The Secret is laid out by the kubelet's own Secret-volume code (`testenv
// secret-volume`: ..data link, timestamped directory, a link per key) and consumed as the task consumes its
// `basic-auth` workspace: `.gitconfig` and `.git-credentials` copied into $HOME and made read-only, the output
// directory marked safe, then git-init with the task's flags. Real git against a simulator's git over HTTP.
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { chmod, copyFile, lstat, mkdir, mkdtemp, readFile, readlink, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { binDir } from "../../hack/lib/controlplane.ts";
import type { PipelineRun } from "../../src/pipelines/tekton.ts";
import { useCluster } from "./cluster.ts";
import { param } from "./pipelines-world.ts";

interface Run {
  code: number;
  stdout: string;
  stderr: string;
}

function exec(file: string, args: string[], env: Record<string, string>, cwd?: string): Promise<Run> {
  return new Promise((resolve) => {
    execFile(file, args, { env, cwd, maxBuffer: 16 * 1024 * 1024 }, (error, stdout, stderr) =>
      resolve({
        code: error ? (typeof error.code === "number" ? error.code : 1) : 0,
        stdout: String(stdout),
        stderr: String(stderr),
      }),
    );
  });
}

/** The Secret a run's `basic-auth` workspace is bound to: what its Pod would mount. */
function basicAuthSecret(run: PipelineRun): string {
  const bindings = (run.spec?.workspaces ?? []) as { name: string; secret?: { secretName?: string } }[];
  const name = bindings.find((b) => b.name === "basic-auth")?.secret?.secretName;
  assert.ok(name, `the run binds basic-auth to a Secret: ${JSON.stringify(bindings)}`);
  return name;
}

export interface CatalogClone {
  /** git-init's exit code: 0 when it cloned. */
  code: number;
  /** The checkout's HEAD, when it cloned. */
  head: string;
  /** git-init's results (its termination message), when it cloned. */
  results: { key: string; value: string }[];
  log: string;
}

/**
 * Does what the git-clone task's step does with a bound `basic-auth` workspace, then runs git-init with the run's
 * `url` and `revision` params (and `refspec` when given). A failed clone is returned, not thrown, for tests that
 * expect one; `cloneLikeTheCatalogTask` asserts success.
 */
export async function tryCloneLikeTheCatalogTask(
  t: { after(fn: () => Promise<void>): void },
  namespace: string,
  run: PipelineRun,
  refspec = "",
): Promise<CatalogClone> {
  const root = await mkdtemp(join(tmpdir(), "baton-git-init-"));
  t.after(() => rm(root, { recursive: true, force: true }));
  const volume = join(root, "workspace", "basic-auth");
  const home = join(root, "home", "git");
  const output = join(root, "workspace", "output");
  await Promise.all([mkdir(home, { recursive: true }), mkdir(output, { recursive: true })]);

  const { kubeconfigPath } = await useCluster();
  const mounted = await exec(
    join(binDir, "testenv"),
    [
      "secret-volume",
      `--kubeconfig=${kubeconfigPath}`,
      `--namespace=${namespace}`,
      `--name=${basicAuthSecret(run)}`,
      `--dir=${volume}`,
    ],
    { PATH: process.env.PATH ?? "/usr/bin:/bin" },
  );
  assert.equal(mounted.code, 0, `testenv secret-volume: ${mounted.stderr}`);
  // The kubelet's layout, not plain files: each key is a link into the data directory `..data` points at.
  for (const key of [".gitconfig", ".git-credentials"]) {
    assert.ok((await lstat(join(volume, key))).isSymbolicLink(), `${key} is a link, as in a Secret volume`);
    assert.equal(await readlink(join(volume, key)), `..data/${key}`);
  }
  assert.match(await readlink(join(volume, "..data")), /^\.\.\d{4}_\d\d_\d\d_/);

  for (const key of [".git-credentials", ".gitconfig"]) {
    await copyFile(join(volume, key), join(home, key));
    await chmod(join(home, key), 0o400);
  }
  const env = {
    PATH: process.env.PATH ?? "/usr/bin:/bin",
    HOME: home,
    GIT_CONFIG_NOSYSTEM: "1",
    GIT_TERMINAL_PROMPT: "0",
    GIT_ASKPASS: "",
    LANG: "C",
  };
  const safe = await exec("git", ["config", "--global", "--add", "safe.directory", output], env);
  assert.equal(safe.code, 0, safe.stderr);
  const termination = join(root, "termination");
  const cloned = await exec(
    join(binDir, "git-init"),
    [
      `-url=${String(param(run, "url"))}`,
      `-revision=${String(param(run, "revision"))}`,
      `-refspec=${refspec}`,
      `-path=${output}`,
      "-sslVerify=true",
      "-submodules=true",
      "-depth=1",
      "-sparseCheckoutDirectories=",
      `-terminationMessagePath=${termination}`,
    ],
    env,
  );
  const log = `${cloned.stdout}${cloned.stderr}`;
  if (cloned.code !== 0) return { code: cloned.code, head: "", results: [], log };
  const head = await exec("git", ["rev-parse", "HEAD"], env, output);
  assert.equal(head.code, 0, head.stderr);
  const results = JSON.parse(await readFile(termination, "utf8")) as { key: string; value: string }[];
  return { code: 0, head: head.stdout.trim(), results, log };
}

/** `tryCloneLikeTheCatalogTask`, failing the test when git-init cannot clone. */
export async function cloneLikeTheCatalogTask(
  t: { after(fn: () => Promise<void>): void },
  namespace: string,
  run: PipelineRun,
  refspec = "",
): Promise<CatalogClone> {
  const clone = await tryCloneLikeTheCatalogTask(t, namespace, run, refspec);
  assert.equal(clone.code, 0, `git-init failed: ${clone.log}`);
  return clone;
}
