// The Tekton catalog `git-clone` task's own program cloning what a Baton run names, with the run's git Secret.
// `git-init` is built from github.com/tektoncd/pipeline at v0.40.2, the release git-clone 0.9 pins as its
// gitInitImage (hack/git-init). The Secret is laid out by the kubelet's own Secret-volume code (`testenv
// secret-volume`: ..data link, timestamped directory, a link per key) and consumed as the task consumes its
// `basic-auth` workspace: `.gitconfig` and `.git-credentials` copied into $HOME and made read-only, the output
// directory marked safe, then git-init with the task's flags. Real git against the simulator's git over HTTP.
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { chmod, copyFile, lstat, mkdir, mkdtemp, readFile, readlink, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, test } from "node:test";
import { binDir } from "../../hack/lib/controlplane.ts";
import type { PipelineRun } from "../../src/pipelines/tekton.ts";
import { pullRequestFetchRefspec } from "../../src/providers/bitbucket-datacenter/provider.ts";
import { useCluster } from "../support/cluster.ts";
import { listRuns, openForkPullRequest, param, pipelinesWorld, type World } from "../support/pipelines-world.ts";
import { waitFor } from "../support/wait.ts";

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

/**
 * Does what the git-clone task's step does with a bound `basic-auth` workspace, then runs git-init with the run's
 * `url` and `revision` params (and `refspec` when given). Returns the checkout's HEAD and git-init's results.
 */
async function cloneLikeTheCatalogTask(
  t: { after(fn: () => Promise<void>): void },
  w: World,
  run: PipelineRun,
  refspec = "",
): Promise<{ head: string; results: { key: string; value: string }[]; log: string }> {
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
      `--namespace=${w.ns}`,
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
  assert.equal(cloned.code, 0, `git-init failed: ${log}`);
  const head = await exec("git", ["rev-parse", "HEAD"], env, output);
  assert.equal(head.code, 0, head.stderr);
  const results = JSON.parse(await readFile(termination, "utf8")) as { key: string; value: string }[];
  return { head: head.stdout.trim(), results, log };
}

async function onlyRun(w: World): Promise<PipelineRun> {
  const runs = await waitFor(async () => ((await listRuns(w)).length === 1 ? listRuns(w) : undefined), {
    message: "one PipelineRun",
  });
  return runs[0] as PipelineRun;
}

describe("the catalog git-clone task's git-init with a run's git Secret", () => {
  test("clones a same-repository pull request's head", async (t) => {
    const w = await pipelinesWorld(t);
    await w.sim.push({
      project: "PRJ",
      repo: "app",
      branch: "feature/ünïcode-✓",
      files: { "a.txt": "a\n" },
      as: "dev",
    });
    const pr = await w.sim.openPullRequest({
      project: "PRJ",
      repo: "app",
      from: { branch: "feature/ünïcode-✓" },
      title: "Add a",
      as: "dev",
    });
    await w.sim.settled();
    const run = await onlyRun(w);
    const sha = pr.fromRef.latestCommit;
    assert.equal(param(run, "revision"), sha);
    // A newer commit on main: the clone must be the PR's head, not whatever the default branch points at.
    await w.sim.push({ project: "PRJ", repo: "app", branch: "main", files: { "later.txt": "x\n" }, as: "dev" });

    const { head, results, log } = await cloneLikeTheCatalogTask(t, w, run);
    assert.equal(head, sha);
    assert.deepEqual(
      results.filter((r) => r.key === "commit").map((r) => r.value),
      [sha],
      "git-init reports the commit as the task's result",
    );
    assert.doesNotMatch(log, new RegExp(w.cloneToken), "the token never reaches git-init's output");
  });

  test("clones a fork pull request's head from the target's refs/pull-requests/<id>/from", async (t) => {
    const w = await pipelinesWorld(t);
    const pr = await openForkPullRequest(w, {
      user: "contrib",
      branch: "fix",
      files: { "fix.txt": "fix\n" },
      title: "Fix",
    });
    const run = await onlyRun(w);
    const sha = pr.fromRef.latestCommit;
    assert.equal(param(run, "revision"), sha);
    assert.equal(param(run, "url"), `${w.sim.url}/scm/prj/app.git`, "the target repository, which the token reads");

    const { head } = await cloneLikeTheCatalogTask(t, w, run, pullRequestFetchRefspec(pr.id));
    assert.equal(head, sha);
  });
});
