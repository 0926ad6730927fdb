// Least privilege by default: which token a PipelineRun gets for git. The real API server (with its garbage
// collector), Baton in-process, the Bitbucket simulator's token state, and real git judge it.
import assert from "node:assert/strict";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, test } from "node:test";
import type { Repository } from "../../src/api/repository.ts";
import { Repositories } from "../../src/repositories/resource.ts";
import { Events, Secrets } from "../../src/runtime/kube.ts";
import { Tokens } from "../../src/tokens/reconciler.ts";
import {
  answers,
  gitWith,
  listRuns,
  managedWorld,
  openFeaturePullRequest,
  pipelinesWorld,
  runGitconfig,
  type World,
} from "../support/pipelines-world.ts";
import { waitFor } from "../support/wait.ts";

const condition = (repo: Repository | undefined, type: string) =>
  repo?.status?.conditions?.find((c) => c.type === type);

async function waitForCondition(w: World, type: string, status: string, reason: string): Promise<Repository> {
  return waitFor(
    async () => {
      const repo = await w.kube.get(Repositories, { namespace: w.ns, name: "app" });
      const c = condition(repo, type);
      return c?.status === status && c.reason === reason ? repo : undefined;
    },
    { message: `${type}=${status} (${reason})`, timeout: 30_000 },
  );
}

async function repositoryEvents(w: World): Promise<{ type?: string; reason?: string; message?: string }[]> {
  const { items } = await w.kube.list(Events, { namespace: w.ns });
  return items.filter((e) => (e as { involvedObject?: { kind?: string } }).involvedObject?.kind === "Repository");
}

async function openPullRequest(w: World) {
  const pr = await openFeaturePullRequest(w, { files: { "src.txt": "v1\n" }, title: "Add src" });
  return pr;
}

async function secretToken(w: World, name: string): Promise<string> {
  const secret = await w.kube.get(Secrets, { namespace: w.ns, name });
  return Buffer.from(secret?.data?.token ?? "", "base64").toString();
}

describe("clone tokens", () => {
  test("a Repository with a managed token and no configuration: its runs clone with a REPO_READ repository token, revoked with the Repository", async (t) => {
    const w = await managedWorld(t);
    const before = await waitForCondition(w, "CloneTokenReady", "Unknown", "CloneTokenNotIssued");
    assert.match(condition(before, "CloneTokenReady")?.message ?? "", /app-clone/);
    assert.equal(w.sim.tokens().filter((tk) => tk.kind === "repository").length, 0, "nothing issued before a run");

    const pr = await openPullRequest(w);
    const [answer] = answers(w, "pr:opened");
    assert.equal(answer?.body.outcome, "accepted", JSON.stringify(answer?.body));
    const [run] = await listRuns(w);
    assert.ok(run, "the pull request got its run");

    // The child token: repository-scoped, REPO_READ only, owned by the Repository.
    const child = await w.kube.get(Tokens, { namespace: w.ns, name: "app-clone" });
    assert.ok(child, "Baton created the BitbucketProjectToken app-clone");
    const repository = await w.kube.get(Repositories, { namespace: w.ns, name: "app" });
    assert.deepEqual(
      (child.metadata as { ownerReferences?: { kind: string; uid: string }[] }).ownerReferences?.map((o) => [
        o.kind,
        o.uid,
      ]),
      [["Repository", repository?.metadata.uid]],
    );
    const issued = w.sim.tokens().find((tk) => tk.id === child.status?.tokenId);
    assert.ok(issued, "Bitbucket knows the clone token");
    assert.deepEqual(
      [issued.kind, issued.project, issued.repo, issued.permissions],
      ["repository", "PRJ", "app", ["REPO_READ"]],
    );
    const operatorId = (await w.kube.get(Tokens, { namespace: w.ns, name: "ci" }))?.status?.tokenId;
    assert.notEqual(issued.id, operatorId);

    // The run's git Secret holds the clone token, not the operator's.
    const gitconfig = await runGitconfig(w, run);
    const cloneValue = await secretToken(w, child.spec.secretName);
    const operatorValue = await secretToken(w, "ci-token");
    assert.ok(cloneValue && operatorValue);
    assert.ok(gitconfig.includes(cloneValue), "the run gets the managed clone token");
    assert.ok(!gitconfig.includes(operatorValue), "never the operator's own token");

    // Real git clones with it; Bitbucket refuses a push and a webhook change made with it.
    const dir = await mkdtemp(join(tmpdir(), "baton-clone-"));
    t.after(() => rm(dir, { recursive: true, force: true }));
    const work = join(dir, "app");
    const clone = await gitWith(gitconfig, ["clone", "--quiet", `${w.sim.url}/scm/prj/app.git`, work]);
    assert.equal(clone.code, 0, clone.stderr);
    const fetched = await gitWith(gitconfig, ["fetch", "--quiet", "origin", pr.fromRef.latestCommit], work);
    assert.equal(fetched.code, 0, fetched.stderr);
    const commit = await gitWith(
      gitconfig,
      ["-c", "user.name=x", "-c", "user.email=x@example.com", "commit", "--quiet", "--allow-empty", "-m", "sneaky"],
      work,
    );
    assert.equal(commit.code, 0, commit.stderr);
    const push = await gitWith(gitconfig, ["push", "--quiet", "origin", "HEAD:refs/heads/sneaky"], work);
    assert.notEqual(push.code, 0, "a push with the clone token is refused");
    const sneaky = await gitWith(gitconfig, ["ls-remote", "origin", "refs/heads/sneaky"], work);
    assert.equal(sneaky.code, 0, sneaky.stderr);
    assert.equal(sneaky.stdout, "", "no branch was created");
    const hook = await fetch(`${w.sim.url}/rest/api/latest/projects/PRJ/repos/app/webhooks`, {
      method: "POST",
      headers: { authorization: `Bearer ${cloneValue}`, "content-type": "application/json" },
      body: JSON.stringify({ name: "exfiltrate", url: "https://attacker.example.com/", events: ["repo:refs_changed"] }),
    });
    await hook.body?.cancel();
    assert.equal(hook.status, 401, "a webhook change with the clone token is refused");

    // The Repository says what its runs hold.
    await waitForCondition(w, "CloneTokenReady", "True", "Managed");
    const read = await waitForCondition(w, "CloneTokenWarning", "False", "ReadOnly");
    assert.match(condition(read, "CloneTokenWarning")?.message ?? "", /REPO_READ/);

    // Deleting the Repository deletes its clone token (garbage collection), whose finalizer revokes it.
    await w.kube.delete(Repositories, { namespace: w.ns, name: "app" });
    await waitFor(async () => (await w.kube.get(Tokens, { namespace: w.ns, name: "app-clone" })) === undefined, {
      message: "the clone token object is gone with its Repository",
      timeout: 60_000,
    });
    assert.equal(
      w.sim.tokens().find((tk) => tk.id === issued.id),
      undefined,
      "the clone token is revoked in Bitbucket",
    );
    assert.ok(
      w.sim.tokens().some((tk) => tk.id === operatorId),
      "the operator's token is not touched",
    );
  });

  test("a clone token with more than read access gets a warning; a plain Secret's permissions are said to be unknown", async (t) => {
    const w = await managedWorld(t);
    await w.kube.patch(
      Repositories,
      { namespace: w.ns, name: "app" },
      { spec: { cloneTokenRef: { kind: "BitbucketProjectToken", name: "ci" } } },
    );
    const repo = await waitForCondition(w, "CloneTokenWarning", "True", "ExcessPermissions");
    assert.match(condition(repo, "CloneTokenWarning")?.message ?? "", /REPO_ADMIN/);
    assert.equal(condition(repo, "CloneTokenReady")?.reason, "Referenced");
    await waitFor(
      async () => (await repositoryEvents(w)).some((e) => e.type === "Warning" && e.reason === "ExcessPermissions"),
      { message: "a Warning Event about the clone token's permissions" },
    );

    await w.kube.patch(
      Repositories,
      { namespace: w.ns, name: "app" },
      { spec: { cloneTokenRef: { kind: "Secret", name: "bb-clone", key: "token" } } },
    );
    await waitForCondition(w, "CloneTokenWarning", "Unknown", "PermissionsUnknown");
  });

  test("a plain-Secret Repository without cloneTokenRef creates no run, and says why on the Repository and the commit", async (t) => {
    const w = await pipelinesWorld(t, { spec: { cloneTokenRef: undefined } as Partial<Repository["spec"]> });
    const repo = await waitForCondition(w, "CloneTokenReady", "False", "CloneTokenRequired");
    assert.match(condition(repo, "CloneTokenReady")?.message ?? "", /spec\.cloneTokenRef/);

    const pr = await openPullRequest(w);
    const [answer] = answers(w, "pr:opened");
    assert.equal(answer?.body.outcome, "accepted", JSON.stringify(answer?.body));
    assert.equal(
      (answer?.body.results as { outcome: string }[] | undefined)?.[0]?.outcome,
      "no-clone-token",
      JSON.stringify(answer?.body),
    );
    assert.deepEqual(await listRuns(w), [], "no PipelineRun");
    const statuses = w.sim.buildStatuses({ commit: pr.fromRef.latestCommit });
    assert.equal(statuses.length, 1, JSON.stringify(statuses));
    assert.equal(statuses[0]?.state, "FAILED");
    assert.match(statuses[0]?.description ?? "", /no clone token .*cloneTokenRef/);
    assert.ok(!statuses[0]?.description?.includes(w.operatorToken));

    const events = await repositoryEvents(w);
    const required = events.filter((e) => e.reason === "CloneTokenRequired");
    assert.ok(required.length >= 1, JSON.stringify(events));
    assert.ok(required.every((e) => e.type === "Warning"));
    assert.ok(!JSON.stringify(events).includes(w.operatorToken));
  });

  test("the opt-in hands runs the operator's token, and warns while it is on", async (t) => {
    const w = await pipelinesWorld(t, {
      spec: {
        cloneTokenRef: undefined,
        pipelines: { path: ".tekton", cloneWithOperatorToken: true },
      } as Partial<Repository["spec"]>,
    });
    const repo = await waitForCondition(w, "CloneTokenWarning", "True", "OperatorToken");
    assert.match(condition(repo, "CloneTokenWarning")?.message ?? "", /cloneWithOperatorToken/);
    assert.equal(condition(repo, "CloneTokenReady")?.reason, "OperatorToken");
    await waitFor(
      async () => (await repositoryEvents(w)).some((e) => e.type === "Warning" && e.reason === "OperatorToken"),
      { message: "a Warning Event about the opt-in" },
    );

    await openPullRequest(w);
    const [run] = await listRuns(w);
    assert.ok(run, "the run is created");
    const gitconfig = await runGitconfig(w, run);
    assert.ok(gitconfig.includes(w.operatorToken), "the run holds the operator's token, as asked");

    // Turned off: the warning goes, and with no cloneTokenRef the Repository says a clone token is required.
    await w.kube.patch(
      Repositories,
      { namespace: w.ns, name: "app" },
      { spec: { pipelines: { cloneWithOperatorToken: false } } },
    );
    await waitForCondition(w, "CloneTokenWarning", "False", "NoCloneToken");
    await waitForCondition(w, "CloneTokenReady", "False", "CloneTokenRequired");
  });
});
