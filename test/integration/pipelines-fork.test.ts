// Pull requests from personal forks: trust without admin rights (user search with a permission filter),
// /ok-to-test, and building the fork's head from the target repository's refs/pull-requests/<id>/from with a
// project token that cannot read the fork, checked against the event's head even when Bitbucket lags (and read
// from real git's advertisement byte by byte, whatever the branch names). The approval status once the approved run
// succeeds is in tekton-real.test.ts, where Tekton's own controller runs it.
import assert from "node:assert/strict";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, test } from "node:test";
import { basicAuth, extraHeader, git } from "../../src/simulator/testing.ts";
import {
  answers,
  deliver,
  gitWith,
  listRuns,
  openForkPullRequest,
  param,
  pipelinesWorld,
  runGitconfig,
} from "../support/pipelines-world.ts";
import { waitFor } from "../support/wait.ts";

describe("fork pull requests", () => {
  test("an untrusted fork waits for /ok-to-test from a writer, then builds the fork's head", async (t) => {
    const w = await pipelinesWorld(t);
    const pr = await openForkPullRequest(w, {
      user: "outsider",
      branch: "fix",
      files: { "fix.txt": "fix\n" },
      title: "Fix",
    });
    const head = pr.fromRef.latestCommit;
    const [opened] = answers(w, "pr:opened");
    assert.equal(opened?.status, 200);
    assert.equal(opened?.body.outcome, "accepted");
    assert.deepEqual(await listRuns(w), [], "no run for an author without write access");

    const [approval] = w.sim.buildStatuses({ commit: head });
    assert.equal(approval?.state, "FAILED");
    assert.match(approval?.description ?? "", /ok-to-test/);
    const comments = () => w.sim.comments({ project: "PRJ", repo: "app", id: pr.id });
    assert.equal(comments().length, 1);
    assert.match(comments()[0]?.text ?? "", /\/ok-to-test/);
    assert.match(comments()[0]?.text ?? "", /`build`/, "names the pipeline waiting, read from the target branch");

    // Bitbucket sending the event again (a "Resend", a new request id) says nothing new.
    const delivery = w.sim.deliveries({ eventKey: "pr:opened" })[0];
    assert.ok(delivery);
    const again = await deliver(w, "pr:opened", delivery.body);
    assert.equal(again.status, 200);
    assert.equal(comments().length, 1);
    assert.equal(w.sim.buildStatuses({ commit: head }).length, 1);

    // Another reader's /ok-to-test counts for nothing; a writer's starts the run.
    w.sim.comment({ project: "PRJ", repo: "app", id: pr.id, text: "/ok-to-test", as: "outsider" });
    await w.sim.settled();
    assert.deepEqual(await listRuns(w), []);
    w.sim.comment({ project: "PRJ", repo: "app", id: pr.id, text: "/ok-to-test", as: "dev" });
    await w.sim.settled();
    const [run] = await listRuns(w);
    assert.ok(run, JSON.stringify(answers(w, "pr:comment:added")));
    assert.equal(param(run, "revision"), head);
    assert.equal(param(run, "url"), `${w.sim.url}/scm/prj/app.git`, "the target repository, not the fork");

    // The run's .gitconfig (project token only) cannot read the fork, but fetches its head from the target.
    const gitconfig = await runGitconfig(w, run);
    const fork = await gitWith(gitconfig, ["ls-remote", `${w.sim.url}/scm/~outsider/app.git`]);
    assert.notEqual(fork.code, 0, "a project token cannot read a personal fork");
    const dir = await mkdtemp(join(tmpdir(), "baton-fork-"));
    t.after(() => rm(dir, { recursive: true, force: true }));
    assert.equal((await gitWith(gitconfig, ["init", "--quiet", dir])).code, 0);
    const fetched = await gitWith(
      gitconfig,
      ["fetch", "--quiet", `${w.sim.url}/scm/prj/app.git`, `refs/pull-requests/${pr.id}/from`],
      dir,
    );
    assert.equal(fetched.code, 0, fetched.stderr);
    const fetchHead = await gitWith(gitconfig, ["rev-parse", "FETCH_HEAD"], dir);
    assert.equal(fetchHead.stdout.trim(), head);
  });

  test("a writer's fork runs at once; a lagging refs/pull-requests/<id>/from is caught up before the run", async (t) => {
    const w = await pipelinesWorld(t, { simulator: { switches: { lazyPullRequestRefs: true } } });
    const pr = await openForkPullRequest(w, {
      user: "contrib",
      branch: "feat",
      files: { "f.txt": "1\n" },
      title: "Feat",
    });
    assert.equal((await listRuns(w)).length, 1, "REPO_WRITE on the target: trusted without /ok-to-test");

    // A new commit on the fork: Bitbucket sends pr:from_ref_updated while refs/pull-requests/<id>/from still
    // points at the old head (lazy refs). Baton reads the pull request through REST to rescope it, then builds.
    const mark = w.sim.markRequests();
    await w.sim.push({
      project: "~CONTRIB",
      repo: "app",
      branch: "feat",
      files: { "f.txt": "2\n" },
      as: "contrib",
    });
    await w.sim.settled();
    const head = w.sim.pullRequest({ project: "PRJ", repo: "app", id: pr.id }).fromRef.latestCommit;
    const runs = await waitFor(
      async () => {
        const all = await listRuns(w);
        return all.length === 2 ? all : undefined;
      },
      { message: "a run for the new head" },
    );
    // Listed by name, and names are random: which run is the new one is told by its revision.
    assert.ok(
      runs.some((r) => param(r, "revision") === head),
      "the new run builds the fork's new head",
    );
    const rescoped = w.sim
      .requests({ since: mark })
      .some((r) => r.method === "GET" && r.path === `/rest/api/latest/projects/PRJ/repos/app/pull-requests/${pr.id}`);
    assert.ok(rescoped, "the lagging ref was noticed and the pull request read to rescope it");
    assert.equal(w.sim.pullRequest({ project: "PRJ", repo: "app", id: pr.id }).refsFrom, head);
  });
  test("branch names that are not ASCII in the target repository do not hide a fork's pull-request ref", async (t) => {
    const w = await pipelinesWorld(t);
    // A developer pushes branches named in German, with an emoji and in Chinese, with the real git client.
    const work = await mkdtemp(join(tmpdir(), "baton-unicode-"));
    t.after(() => rm(work, { recursive: true, force: true }));
    const auth = extraHeader(basicAuth("dev", "dev-password"));
    const url = `${w.sim.url}/scm/prj/app.git`;
    const cloned = await git([...auth, "clone", "--quiet", url, join(work, "app")], { home: work });
    assert.equal(cloned.code, 0, cloned.stderr);
    const branches = ["fix/ü", "launch/🚀", "文档/更新"];
    const pushed = await git([...auth, "push", "--quiet", "origin", ...branches.map((b) => `HEAD:refs/heads/${b}`)], {
      cwd: join(work, "app"),
      home: work,
    });
    assert.equal(pushed.code, 0, pushed.stderr);
    const listed = await git([...auth, "ls-remote", "--heads", url], { home: work });
    for (const b of branches) assert.ok(listed.stdout.includes(`\trefs/heads/${b}\n`), listed.stdout);

    const pr = await openForkPullRequest(w, {
      user: "contrib",
      branch: "feat",
      files: { "f.txt": "1\n" },
      title: "Feat",
    });
    const head = pr.fromRef.latestCommit;
    const [opened] = answers(w, "pr:opened");
    assert.deepEqual(
      (opened?.body.results as { outcome: string }[] | undefined)?.map((r) => r.outcome),
      ["created"],
      JSON.stringify(opened?.body),
    );
    const runs = await listRuns(w);
    assert.deepEqual(
      runs.map((r) => param(r, "revision")),
      [head],
    );
    assert.deepEqual(
      w.sim.buildStatuses({ commit: head }).map((s) => s.state),
      ["INPROGRESS"],
    );
  });
});
