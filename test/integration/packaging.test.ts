// What ships: the install manifests as an operator user applies them (`kubectl apply -k config/default`), and the
// image's JavaScript as its Dockerfile builds it.
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { mkdir, mkdtemp, readFile, rm } from "node:fs/promises";
import { join } from "node:path";
import { test } from "node:test";
import { promisify } from "node:util";
import { repoRoot } from "../../hack/lib/controlplane.ts";
import { kubectl } from "../support/cluster.ts";

const run = promisify(execFile);

test("kubectl apply -k config/default passes server-side dry run within the restricted Pod Security level", async () => {
  // Namespaced objects need their namespace to exist for a server-side dry run; create it for real first.
  const ns = await kubectl(["create", "namespace", "baton-system"]);
  assert.ok(ns.code === 0 || /AlreadyExists/.test(ns.stderr), ns.stderr);
  const result = await kubectl(["apply", "-k", "config/default", "--dry-run=server"]);
  assert.equal(result.code, 0, result.stderr);
  for (const kind of [
    "customresourcedefinition.apiextensions.k8s.io/bitbucketprojecttokens.baton.dev",
    "customresourcedefinition.apiextensions.k8s.io/repositories.baton.dev",
    "clusterrole.rbac.authorization.k8s.io/baton",
    "role.rbac.authorization.k8s.io/baton-leader-election",
    "deployment.apps/baton",
    "service/baton",
  ]) {
    assert.match(
      result.stdout,
      new RegExp(
        `${kind.replaceAll(".", "\\.")} (created|configured|unchanged|serverside-applied) \\(server dry run\\)`,
      ),
    );
  }
  // The namespace enforces the restricted Pod Security level; a Deployment breaking it draws this warning.
  assert.doesNotMatch(result.stderr, /would violate PodSecurity/);
});

test("the image's build step emits JavaScript whose every import resolves, and the entry point starts", async (t) => {
  const dockerfile = await readFile(join(repoRoot, "Dockerfile"), "utf8");
  assert.match(dockerfile, /tsc -p tsconfig\.build\.json/);
  assert.match(dockerfile, /ENTRYPOINT \["node", "dist\/main\.js"\]/);
  // Inside the repository, so the emitted modules find node_modules as they do in the image.
  await mkdir(join(repoRoot, ".cache"), { recursive: true });
  const out = await mkdtemp(join(repoRoot, ".cache", "build-"));
  t.after(() => rm(out, { recursive: true, force: true }));
  const tsc = join(repoRoot, "node_modules/typescript/bin/tsc");
  await run(process.execPath, [tsc, "-p", "tsconfig.build.json", "--outDir", out], { cwd: repoRoot });
  // A flag it does not know: the whole module graph loads, then configuration is refused with a clear message.
  const started = await run(process.execPath, [join(out, "main.js"), "--no-such-flag"], { cwd: repoRoot }).then(
    () => ({ code: 0, stderr: "" }),
    (err: { code?: number; stderr?: string }) => ({ code: err.code, stderr: err.stderr ?? "" }),
  );
  assert.notEqual(started.code, 0);
  assert.match(started.stderr, /invalid configuration[\s\S]*--no-such-flag/);
});
