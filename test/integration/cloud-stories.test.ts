// Bitbucket Cloud stories as a user lives them, against the Cloud simulator: a push builds the pushed commit and the
// commit's build status turns SUCCESSFUL when the run does; `/retest` after a failure re-runs the same head and
// replaces the FAILED status under its key; a fork the token cannot read gets a comment saying why instead of a run;
// an untrusted fork waits for `/ok-to-test` from a user listed (by account_id) in spec.policy.trustedUsers.
// What is asserted is read back from the simulator's REST or the API server, never from Baton's internals.
import assert from "node:assert/strict";
import { describe, test } from "node:test";
import type { KubeObject } from "../../src/runtime/kube.ts";
import { type CloudWorld, cloudRun, cloudRuns, cloudWorld } from "../support/cloud-world.ts";
import { waitFor } from "../support/wait.ts";

const branch = "fix/ünïcode-✓";
const withBranch = { ".tekton/build.yaml": cloudRun.replace("[main, feature]", `[main, feature, ${branch}]`) };

interface RestStatus {
  key: string;
  state: string;
  commit: { hash: string };
}

/** A commit's build statuses as Cloud's REST lists them to anyone holding the repository scope. */
async function restStatuses(w: CloudWorld, commit: string): Promise<RestStatus[]> {
  const res = await fetch(`${w.sim.apiUrl}/repositories/ws/app/commit/${commit}/statuses`, {
    headers: { authorization: `Bearer ${w.token.token}` },
  });
  assert.equal(res.status, 200);
  return ((await res.json()) as { values: RestStatus[] }).values;
}

/** A pull request's comments as Cloud's REST lists them. */
async function restComments(w: CloudWorld, id: number): Promise<string[]> {
  const res = await fetch(`${w.sim.apiUrl}/repositories/ws/app/pullrequests/${id}/comments`, {
    headers: { authorization: `Bearer ${w.token.token}` },
  });
  assert.equal(res.status, 200);
  return ((await res.json()) as { values: { content: { raw: string } }[] }).values.map((c) => c.content.raw);
}

function param(run: KubeObject | undefined, name: string): string | undefined {
  const params = (run?.spec as { params?: { name: string; value: string }[] } | undefined)?.params ?? [];
  return params.find((p) => p.name === name)?.value;
}

async function runsBeyond(w: CloudWorld, count: number): Promise<KubeObject[]> {
  return waitFor(
    async () => {
      const runs = await cloudRuns(w);
      return runs.length > count ? runs : undefined;
    },
    { message: `more than ${count} PipelineRun(s)` },
  );
}

async function statusIs(w: CloudWorld, commit: string, state: string): Promise<RestStatus[]> {
  return waitFor(
    async () => {
      const list = await restStatuses(w, commit);
      return list.length > 0 && list.every((s) => s.state === state) ? list : undefined;
    },
    { message: `${commit} ${state}` },
  );
}

/** An outsider's fork of ws/app in their own workspace, with one commit on `branch`, proposed to ws/app main. */
async function forkPullRequest(w: CloudWorld, fork: { workspace: string; repo: string }) {
  if (fork.workspace !== "ws")
    w.sim.createWorkspace({ slug: fork.workspace, owner: "outsider", members: ["outsider"], personal: true });
  await w.sim.fork({
    from: { workspace: "ws", repo: "app" },
    workspace: fork.workspace,
    slug: fork.repo,
    isPrivate: true,
  });
  const pushed = await w.sim.push({
    ...fork,
    branch,
    files: { "fix.txt": "ünïcode ✓\n" },
    as: "outsider",
  });
  const pr = (await w.sim.openPullRequest({
    workspace: "ws",
    repo: "app",
    title: "Fix ✓",
    sourceBranch: branch,
    sourceRepo: fork,
    author: "outsider",
  })) as { id: number };
  await w.sim.settled();
  return { head: pushed.commit, id: pr.id };
}

describe("Bitbucket Cloud stories", () => {
  test("a push to a non-ASCII branch builds the pushed commit; the commit turns SUCCESSFUL when the run does", async (t) => {
    const w = await cloudWorld(t, { files: { "README.md": "#\n", ...withBranch } });
    const pushed = await w.sim.push({ workspace: "ws", repo: "app", branch, files: { "a.txt": "1\n" }, as: "dev" });
    await w.sim.settled();
    const [run] = await runsBeyond(w, 0);
    assert.match(pushed.commit, /^[0-9a-f]{40}$/);
    assert.equal(param(run, "revision"), pushed.commit, "the full pushed hash");
    await statusIs(w, pushed.commit, "INPROGRESS");

    await w.tekton.finish(w.ns, run?.metadata?.name ?? "", "Succeeded");
    const [status, ...others] = await statusIs(w, pushed.commit, "SUCCESSFUL");
    assert.deepEqual(others, [], "one status for the one pipeline");
    assert.equal(status?.commit.hash, pushed.commit);
    assert.equal((await cloudRuns(w)).length, 1, "finishing starts nothing else");
  });

  test("/retest after a failed run builds the same head again and replaces FAILED under the same key", async (t) => {
    const w = await cloudWorld(t);
    const pushed = await w.sim.push({
      workspace: "ws",
      repo: "app",
      branch: "feature",
      files: { "src.txt": "1\n" },
      as: "dev",
    });
    const pr = (await w.sim.openPullRequest({
      workspace: "ws",
      repo: "app",
      title: "Feature ✓",
      sourceBranch: "feature",
      author: "dev",
    })) as { id: number };
    await w.sim.settled();
    const [first] = await runsBeyond(w, 0);
    await w.tekton.finish(w.ns, first?.metadata?.name ?? "", "Failed");
    const [failed] = await statusIs(w, pushed.commit, "FAILED");

    w.sim.comment({ workspace: "ws", repo: "app", id: pr.id, text: "/retest", as: "dev" });
    await w.sim.settled();
    const runs = await runsBeyond(w, 1);
    assert.equal(runs.length, 2);
    const second = runs.find((r) => r.metadata?.name !== first?.metadata?.name);
    assert.equal(param(second, "revision"), pushed.commit, "the same head");
    const [again, ...others] = await statusIs(w, pushed.commit, "INPROGRESS");
    assert.deepEqual(others, [], "replaced, not added");
    assert.equal(again?.key, failed?.key);

    await w.tekton.finish(w.ns, second?.metadata?.name ?? "", "Succeeded");
    const [done] = await statusIs(w, pushed.commit, "SUCCESSFUL");
    assert.equal(done?.key, failed?.key);
  });

  test("a fork the token cannot read gets no run and a comment on the pull request saying why", async (t) => {
    // Trusted by name, so the fork's readability is the only thing standing between the pull request and a run.
    const w = await cloudWorld(t, {
      users: ["outsider"],
      spec: (a) => ({ policy: { trustedUsers: [a.outsider?.accountId ?? ""] } }),
    });
    const pr = await forkPullRequest(w, { workspace: "outsider", repo: "app" });
    const comments = await waitFor(
      async () => {
        const list = await restComments(w, pr.id);
        return list.length > 0 ? list : undefined;
      },
      { message: "a comment" },
    );
    assert.equal(comments.length, 1);
    assert.match(comments[0] ?? "", /cannot read the fork outsider\/app/);
    assert.deepEqual(await cloudRuns(w), [], "no run");
  });

  test("an untrusted fork the token can read runs only after /ok-to-test from a user in spec.policy.trustedUsers", async (t) => {
    // None of them is a member of the workspace `ws`: only the list makes `lead` trusted. The fork lives in `ws`,
    // where the workspace token reads it.
    const w = await cloudWorld(t, {
      tokenKind: "workspace",
      users: ["lead", "outsider", "stranger"],
      spec: (a) => ({ policy: { trustedUsers: [a.lead?.accountId ?? ""] } }),
    });
    const pr = await forkPullRequest(w, { workspace: "ws", repo: "app-fork" });
    const asked = await waitFor(
      async () => {
        const list = await restComments(w, pr.id);
        return list.length > 0 ? list : undefined;
      },
      { message: "the ok-to-test request" },
    );
    assert.match(asked[0] ?? "", /\/ok-to-test/);
    assert.deepEqual(await cloudRuns(w), [], "no run for an untrusted author");

    w.sim.comment({ workspace: "ws", repo: "app", id: pr.id, text: "/ok-to-test", as: "stranger" });
    await w.sim.settled();
    assert.deepEqual(await cloudRuns(w), [], "a stranger's /ok-to-test counts for nothing");
    w.sim.comment({ workspace: "ws", repo: "app", id: pr.id, text: "/ok-to-test", as: "lead" });
    await w.sim.settled();
    const [run] = await runsBeyond(w, 0);
    assert.equal(param(run, "revision"), pr.head, "the fork's head");
  });
});
