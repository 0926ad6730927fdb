// Events → PipelineRuns end to end: the simulator delivers signed webhooks over HTTP to Baton's intake, Baton
// creates PipelineRuns and their git Secrets in the real API server, and real git clones through the generated
// `.gitconfig` with nothing but a project token.
import assert from "node:assert/strict";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, test } from "node:test";
import { TektonStandIn } from "../../hack/lib/tekton-standin.ts";
import { labels } from "../../src/pipelines/build.ts";
import { PipelineRuns } from "../../src/pipelines/tekton.ts";
import { Repositories } from "../../src/repositories/resource.ts";
import { Events, Secrets } from "../../src/runtime/kube.ts";
import { startOperator } from "../support/operator.ts";
import {
  answers,
  gitWith,
  lintRun,
  listRuns,
  openFeaturePullRequest,
  param,
  pipelinesWorld,
  prRun,
  runGitconfig,
} from "../support/pipelines-world.ts";
import { waitFor } from "../support/wait.ts";

describe("pull request → PipelineRun", () => {
  test("a pull request creates the run with substituted params, its git Secret, and an INPROGRESS status", async (t) => {
    const w = await pipelinesWorld(t);
    const mark = w.sim.markRequests();
    const pr = await openFeaturePullRequest(w, { files: { "src.txt": "v1\n" }, title: "Add src" });
    const [answer] = answers(w, "pr:opened");
    assert.equal(answer?.status, 200, JSON.stringify(answer?.body));
    assert.equal(answer?.body.outcome, "accepted");

    const runs = await listRuns(w);
    assert.equal(runs.length, 1);
    const run = runs[0] as (typeof runs)[number];
    const head = pr.fromRef.latestCommit;
    assert.equal(param(run, "revision"), head);
    assert.equal(param(run, "url"), `${w.sim.url}/scm/prj/app.git`);
    assert.equal(param(run, "greeting"), "hello from the Repository");
    assert.equal(param(run, "pr"), String(pr.id));
    // Named after its run key (pipelines/naming.ts), so a second create of the same run is refused.
    assert.match(run.metadata?.name ?? "", /^build-[0-9a-f]{10}$/);
    assert.equal(run.metadata?.labels?.[labels.pullRequest], String(pr.id));
    assert.equal(run.metadata?.labels?.[labels.sha], head);
    assert.ok(
      run.metadata?.managedFields?.some((f) => f.manager === "baton"),
      "created by field manager baton",
    );

    // The basic-auth workspace is bound to the run's own git Secret, which the run owns.
    const secretName = run.metadata?.annotations?.["pipelinesascode.tekton.dev/git-auth-secret"] ?? "";
    assert.deepEqual(run.spec?.workspaces, [{ name: "basic-auth", secret: { secretName } }]);
    const secret = await w.kube.get(Secrets, { namespace: w.ns, name: secretName });
    assert.deepEqual(
      secret?.metadata?.ownerReferences?.map((r) => [r.kind, r.name, r.uid]),
      [["PipelineRun", run.metadata?.name, run.metadata?.uid]],
    );
    const gitconfig = await runGitconfig(w, run);
    assert.ok(gitconfig.includes(w.cloneToken), "the run gets the clone token");
    assert.ok(!gitconfig.includes(w.operatorToken), "never the operator's own token");

    // Real git clones with only that file, and checks out the event's commit.
    const dir = await mkdtemp(join(tmpdir(), "baton-clone-"));
    t.after(() => rm(dir, { recursive: true, force: true }));
    const clone = await gitWith(gitconfig, ["clone", "--quiet", `${w.sim.url}/scm/prj/app.git`, join(dir, "app")]);
    assert.equal(clone.code, 0, clone.stderr);
    const fetched = await gitWith(gitconfig, ["fetch", "--quiet", "origin", head], join(dir, "app"));
    assert.equal(fetched.code, 0, fetched.stderr);
    const without = await gitWith("", ["ls-remote", `${w.sim.url}/scm/prj/app.git`]);
    assert.notEqual(without.code, 0, "the clone works because of the .gitconfig, not anonymously");

    const [status] = w.sim.buildStatuses({ commit: head });
    assert.equal(status?.state, "INPROGRESS");
    assert.equal(status?.name, "build");

    // The push of the branch lists .tekton and reads the one file at its commit (no push pipeline matches); the
    // pull request for the same commit reuses both and posts one status. The status reporter, which reports
    // later states, does not post the state already reported.
    const calls = w.sim
      .requests({ since: mark })
      .filter(
        (r) => r.group === "content" || r.group === "users" || (r.group === "build-status" && r.method === "POST"),
      );
    assert.deepEqual(
      calls.map((r) => `${r.method} ${r.group}`),
      ["GET content", "GET content", "POST build-status"],
    );
    for (const line of w.op.logs) {
      assert.ok(!JSON.stringify(line).includes(w.cloneToken) && !JSON.stringify(line).includes(w.operatorToken));
    }

    // status.lastEvent tells when the Repository last heard from Bitbucket.
    const repo = await waitFor(
      async () => {
        const r = await w.kube.get(Repositories, { namespace: w.ns, name: "app" });
        return r?.status?.lastEvent?.type === "pr:opened" ? r : undefined;
      },
      { message: "status.lastEvent" },
    );
    assert.equal(repo.status?.lastEvent?.sha, head);
    assert.equal(repo.status?.lastEvent?.pullRequest, pr.id);
  });

  test("a new commit that leaves .tekton alone costs one folder listing and no file reads", async (t) => {
    const w = await pipelinesWorld(t, { files: { ".tekton/build.yaml": prRun, ".tekton/lint/lint.yaml": lintRun } });
    await openFeaturePullRequest(w, { files: { "a.txt": "1\n" } });
    assert.equal((await listRuns(w)).length, 2);

    const mark = w.sim.markRequests();
    const next = await w.sim.push({
      project: "PRJ",
      repo: "app",
      branch: "feature",
      files: { "a.txt": "2\n" },
      as: "dev",
    });
    await w.sim.settled();
    assert.deepEqual(
      (await listRuns(w, `${labels.sha}=${next.sha}`)).map((r) => r.metadata?.labels?.[labels.pipeline]).sort(),
      ["build", "lint"],
    );
    // The push and the pull-request update for the commit share one walk of the folder (.tekton and .tekton/lint);
    // both files are known by their blob ids from the first commit.
    const content = w.sim.requests({ since: mark, group: "content" }).map((r) => r.path.replace(/.*\/repos\/app/, ""));
    assert.deepEqual(content, ["/browse/.tekton", "/browse/.tekton/lint"]);
  });

  test("the git Secret is garbage-collected with its PipelineRun", async (t) => {
    const w = await pipelinesWorld(t);
    await openFeaturePullRequest(w);
    const [run] = await listRuns(w);
    assert.ok(run);
    const secretName = run.metadata?.annotations?.["pipelinesascode.tekton.dev/git-auth-secret"] ?? "";
    assert.ok(await w.kube.get(Secrets, { namespace: w.ns, name: secretName }));
    await w.kube.delete(PipelineRuns, { namespace: w.ns, name: run.metadata?.name ?? "" });
    await waitFor(async () => (await w.kube.get(Secrets, { namespace: w.ns, name: secretName })) === undefined, {
      message: "kube-controller-manager's garbage collector to delete the run's git Secret",
      timeout: 60_000,
    });
  });

  test("a run left without its git Secret by a stopped operator gets it back at the next start", async (t) => {
    const w = await pipelinesWorld(t);
    await openFeaturePullRequest(w);
    const [run] = await listRuns(w);
    assert.ok(run);
    const secretName = run.metadata?.annotations?.["pipelinesascode.tekton.dev/git-auth-secret"] ?? "";
    // As if the operator had stopped between creating the run and its Secret.
    await w.op.stop();
    await w.kube.delete(Secrets, { namespace: w.ns, name: secretName });
    await new Promise((r) => setTimeout(r, 1_100));

    await startOperator(t, w.ns, { catchUp: async () => ({ started: false, detail: "off" }) });
    const secret = await waitFor(() => w.kube.get(Secrets, { namespace: w.ns, name: secretName }), {
      message: "the run's git Secret restored",
    });
    assert.equal(secret.metadata?.ownerReferences?.[0]?.uid, run.metadata?.uid);
    assert.ok((await runGitconfig(w, run)).includes(`Authorization: Bearer ${w.cloneToken}`), "the clone token");
    const reasons = (await w.kube.list(Events, { namespace: w.ns })).items.map((e) => e.reason);
    assert.ok(reasons.includes("GitSecretRestored"), `Events: ${reasons}`);
  });

  test("/retest re-runs only failed pipelines, /cancel cancels what still runs, a decline cancels the rest", async (t) => {
    const w = await pipelinesWorld(t, { files: { ".tekton/build.yaml": prRun, ".tekton/lint.yaml": lintRun } });
    const pr = await openFeaturePullRequest(w);
    const first = await listRuns(w);
    assert.deepEqual(first.map((r) => r.metadata?.labels?.[labels.pipeline]).sort(), ["build", "lint"]);
    const byPipeline = (runs: typeof first, p: string) =>
      runs.filter((r) => r.metadata?.labels?.[labels.pipeline] === p);
    await new TektonStandIn(w.kube).finish(w.ns, byPipeline(first, "build")[0]?.metadata?.name ?? "", "Failed");
    await new TektonStandIn(w.kube).finish(w.ns, byPipeline(first, "lint")[0]?.metadata?.name ?? "", "Succeeded");

    // Wait until Baton's cache has seen both outcomes, then ask for a retest.
    await waitFor(async () => (await listRuns(w)).every((r) => r.status?.conditions?.[0]?.status !== undefined), {
      message: "finished runs",
    });
    await new Promise((r) => setTimeout(r, 300));
    w.sim.comment({ project: "PRJ", repo: "app", id: pr.id, text: "/retest", as: "dev" });
    await w.sim.settled();
    const second = await listRuns(w);
    assert.equal(second.length, 3, "one more run");
    assert.equal(byPipeline(second, "build").length, 2, "the failed pipeline ran again");
    assert.equal(byPipeline(second, "lint").length, 1, "the successful one did not");
    // Lists come back sorted by name, not by creation: pick the run that was not there before.
    const firstBuild = byPipeline(first, "build")[0]?.metadata?.name;
    const retest = byPipeline(second, "build").find((r) => r.metadata?.name !== firstBuild);
    assert.equal(retest?.metadata?.labels?.["pipelinesascode.tekton.dev/event-type"], "retest-all-comment");

    // A reader may not cancel; the author (or a writer) may.
    w.sim.comment({ project: "PRJ", repo: "app", id: pr.id, text: "/cancel", as: "outsider" });
    await w.sim.settled();
    assert.equal(
      (await w.kube.get(PipelineRuns, { namespace: w.ns, name: retest?.metadata?.name ?? "" }))?.spec?.status,
      undefined,
    );
    w.sim.comment({ project: "PRJ", repo: "app", id: pr.id, text: "/cancel build", as: "dev" });
    await w.sim.settled();
    const cancelled = await w.kube.get(PipelineRuns, { namespace: w.ns, name: retest?.metadata?.name ?? "" });
    assert.equal(cancelled?.spec?.status, "Cancelled");

    // A new head starts both again; declining the pull request cancels them.
    await w.sim.push({ project: "PRJ", repo: "app", branch: "feature", files: { "b.txt": "b\n" }, as: "dev" });
    await w.sim.settled();
    const third = await listRuns(w);
    assert.equal(third.length, 5);
    await w.sim.declinePullRequest({ project: "PRJ", repo: "app", id: pr.id, as: "dev" });
    await w.sim.settled();
    const after = await listRuns(w);
    const unfinished = after.filter((r) => r.status?.conditions === undefined);
    assert.ok(unfinished.length >= 2);
    for (const run of unfinished) assert.equal(run.spec?.status, "Cancelled", run.metadata?.name);
  });
});

describe("push → PipelineRun", () => {
  const pipeline = (name: string, annotations: string) => `apiVersion: tekton.dev/v1
kind: PipelineRun
metadata:
  name: ${name}
  annotations:
${annotations}
spec:
  pipelineSpec:
    tasks:
      - name: noop
        taskSpec:
          steps:
            - name: echo
              image: alpine
              script: echo ${name}
`;

  test("on-path-change and CEL's files see what the push changed, also across several commits", async (t) => {
    const w = await pipelinesWorld(t, {
      files: {
        ".tekton/backend.yaml": pipeline(
          "backend",
          `    pipelinesascode.tekton.dev/on-event: "[push]"
    pipelinesascode.tekton.dev/on-target-branch: "[main]"
    pipelinesascode.tekton.dev/on-path-change: "[src/**]"`,
        ),
        ".tekton/docs.yaml": pipeline(
          "docs",
          `    pipelinesascode.tekton.dev/on-cel-expression: >-
      event == "push" && target_branch == "main" && files.all.exists(f, f.startsWith("docs/"))`,
        ),
      },
    });
    const pipelinesRun = async (sha: string) =>
      (await listRuns(w, `${labels.sha}=${sha}`)).map((r) => r.metadata?.labels?.[labels.pipeline]).sort();

    const docs = await w.sim.push({ project: "PRJ", repo: "app", branch: "main", files: { "docs/a.md": "a\n" } });
    await w.sim.settled();
    assert.deepEqual(await pipelinesRun(docs.sha), ["docs"]);

    const code = await w.sim.push({ project: "PRJ", repo: "app", branch: "main", files: { "src/a.ts": "1\n" } });
    await w.sim.settled();
    assert.deepEqual(await pipelinesRun(code.sha), ["backend"]);

    // A merge brings two commits (src, then docs) in one push: the range, not only the head commit, decides.
    await w.sim.push({
      project: "PRJ",
      repo: "app",
      branch: "topic",
      files: { "src/b.ts": "2\n" },
      startPoint: "main",
    });
    const tip = await w.sim.push({ project: "PRJ", repo: "app", branch: "topic", files: { "docs/b.md": "b\n" } });
    const pr = await w.sim.openPullRequest({
      project: "PRJ",
      repo: "app",
      from: { branch: "topic" },
      title: "Topic",
      as: "dev",
    });
    const merged = await w.sim.mergePullRequest({ project: "PRJ", repo: "app", id: pr.id });
    await w.sim.settled();
    assert.ok(merged.mergeCommit && merged.mergeCommit !== tip.sha);
    assert.deepEqual(await pipelinesRun(merged.mergeCommit), ["backend", "docs"]);
  });
});
