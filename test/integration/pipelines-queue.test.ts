// Deduplication (re-deliveries, the push + pull-request pair Bitbucket sends for one `git push`, restarts) and
// concurrency (Pending runs started in order as others finish) with pruning of completed runs.
import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { TektonStandIn } from "../../hack/lib/tekton-standin.ts";
import { labels, pendingStatus } from "../../src/pipelines/build.ts";
import { PipelineRuns } from "../../src/pipelines/tekton.ts";
import { Secrets } from "../../src/runtime/kube.ts";
import { startOperator } from "../support/operator.ts";
import {
  answers,
  deliver,
  listRuns,
  openFeaturePullRequest,
  param,
  pipelinesWorld,
} from "../support/pipelines-world.ts";
import { waitFor } from "../support/wait.ts";

const bothRun = `apiVersion: tekton.dev/v1
kind: PipelineRun
metadata:
  name: both
  annotations:
    pipelinesascode.tekton.dev/on-event: "[push, pull_request]"
    pipelinesascode.tekton.dev/on-target-branch: "[main, feature]"
spec:
  pipelineSpec:
    tasks:
      - name: noop
        taskSpec:
          steps:
            - name: echo
              image: alpine
              script: echo both
`;

describe("deduplication", () => {
  test("the same delivery twice, the push + PR pair for one commit, and a restart each run a pipeline once", async (t) => {
    const w = await pipelinesWorld(t, { files: { ".tekton/both.yaml": bothRun } });
    const pr = await openFeaturePullRequest(w);
    // The push of `feature` and the pull request at the same commit: one run.
    assert.equal((await listRuns(w)).length, 1);
    // No concurrency limit: the run waits for nothing but Tekton, and the pull request says so.
    assert.deepEqual(
      w.sim.buildStatuses({ commit: pr.fromRef.latestCommit }).map((s) => [s.state, s.description]),
      [["INPROGRESS", "queued: waiting for Tekton to start it"]],
    );
    assert.deepEqual(
      answers(w, "pr:opened").map((a) => a.body.outcome),
      ["duplicate"],
    );

    // Pushing to the pull request's branch: repo:refs_changed and pr:from_ref_updated, one run.
    await w.sim.push({ project: "PRJ", repo: "app", branch: "feature", files: { "b.txt": "b\n" }, as: "dev" });
    await w.sim.settled();
    const head = w.sim.pullRequest({ project: "PRJ", repo: "app", id: pr.id }).fromRef.latestCommit;
    const forHead = await listRuns(w, `${labels.sha}=${head}`);
    assert.equal(forHead.length, 1);

    // The same X-Request-Id again (a proxy retry): dropped before anything is looked at.
    const delivery = w.sim.deliveries({ eventKey: "pr:from_ref_updated" })[0];
    assert.ok(delivery);
    const resend = await deliver(w, "pr:from_ref_updated", delivery.body, { requestId: delivery.requestId });
    assert.deepEqual([resend.status, resend.json.outcome], [200, "duplicate"]);
    assert.match(String(resend.json.detail), /already handled/);

    // After a restart the memory is gone; the run's run-key label still says it ran.
    await w.op.stop();
    const op2 = await startOperator(t, w.ns);
    const port = await waitFor(() => op2.intake.port, { message: "the new intake" });
    const again = await deliver(
      { intakeUrl: `http://127.0.0.1:${port}/hooks/bitbucket`, webhookSecret: w.webhookSecret },
      "pr:from_ref_updated",
      delivery.body,
      { requestId: "a-new-request-id" },
    );
    assert.equal(again.status, 200, JSON.stringify(again.json));
    assert.equal(again.json.outcome, "duplicate");
    assert.equal((await listRuns(w)).length, 2);
  });
});

describe("the push + pull request pair shares one run, built as the pull request's", () => {
  const bothWithPr = bothRun.replace(
    "spec:\n  pipelineSpec:\n",
    `spec:
  params:
    - name: pr
      value: "{{ pull_request_number }}"
    - name: event
      value: "{{ event_type }}"
  pipelineSpec:
    params:
      - name: pr
      - name: event
`,
  );
  assert.match(bothWithPr, /pull_request_number/);
  for (const order of [
    ["repo:refs_changed", "pr:from_ref_updated"],
    ["pr:from_ref_updated", "repo:refs_changed"],
  ]) {
    test(`delivered ${order.join(" then ")}`, async (t) => {
      const w = await pipelinesWorld(t, { files: { ".tekton/both.yaml": bothWithPr } });
      const pr = await openFeaturePullRequest(w);
      // A push to the pull request's branch; its two deliveries are held and then handed to Baton in this order.
      const since = w.sim.deliveries().length;
      w.sim.dropNextDeliveries(2);
      await w.sim.push({ project: "PRJ", repo: "app", branch: "feature", files: { "b.txt": "b\n" }, as: "dev" });
      await w.sim.settled();
      const held = w.sim.deliveries().slice(since);
      assert.deepEqual(held.map((d) => d.eventKey).sort(), ["pr:from_ref_updated", "repo:refs_changed"]);
      for (const eventKey of order) {
        const delivery = held.find((d) => d.eventKey === eventKey);
        assert.ok(delivery);
        const answer = await deliver(w, eventKey, delivery.body, { requestId: delivery.requestId });
        assert.equal(answer.status, 200, JSON.stringify(answer.json));
      }
      const head = w.sim.pullRequest({ project: "PRJ", repo: "app", id: pr.id }).fromRef.latestCommit;
      const runs = await listRuns(w, `${labels.sha}=${head}`);
      assert.equal(runs.length, 1, "one run for the pair");
      const [run] = runs;
      assert.ok(run);
      assert.equal(param(run, "pr"), String(pr.id));
      assert.equal(param(run, "event"), "pull_request");
      assert.equal(run?.metadata?.labels?.[labels.pullRequest], String(pr.id));
    });
  }
});

describe("concurrency and pruning", () => {
  test("runs beyond concurrencyLimit wait Pending and start in order; completed runs beyond maxKeepRuns go", async (t) => {
    const w = await pipelinesWorld(t, {
      spec: { pipelines: { path: ".tekton", concurrencyLimit: 1, maxKeepRuns: 1 } },
    });
    const prs: Awaited<ReturnType<typeof w.sim.openPullRequest>>[] = [];
    for (const branch of ["one", "two", "three"]) {
      await w.sim.push({ project: "PRJ", repo: "app", branch, files: { [`${branch}.txt`]: `${branch}\n` }, as: "dev" });
      prs.push(
        await w.sim.openPullRequest({ project: "PRJ", repo: "app", from: { branch }, title: branch, as: "dev" }),
      );
      await w.sim.settled();
    }
    const byPr = async () => {
      const runs = await listRuns(w);
      return prs.map((pr) => runs.find((r) => r.metadata?.labels?.[labels.pullRequest] === String(pr.id)));
    };
    let [a, b, c] = await byPr();
    assert.ok(a && b && c);
    assert.equal(a.spec?.status, undefined, "the first runs");
    assert.equal(b.spec?.status, pendingStatus, "the second waits");
    assert.equal(c.spec?.status, pendingStatus, "the third waits");
    // What the pull requests show: only the runs the limit holds back blame the limit.
    const description = (i: number) =>
      w.sim.buildStatuses({ commit: prs[i]?.fromRef.latestCommit ?? "" }).map((s) => [s.state, s.description]);
    assert.deepEqual(description(0), [["INPROGRESS", "queued: waiting for Tekton to start it"]]);
    assert.deepEqual(description(1), [["INPROGRESS", "queued: waiting for a free slot (concurrency limit)"]]);

    const name = (run: typeof a) => run?.metadata?.name ?? "";
    // Finished a minute ago: the run finishing next is unambiguously the newer one when pruning compares them.
    await new TektonStandIn(w.kube).finish(w.ns, name(a), "Succeeded", { at: Date.now() - 60_000 });
    [a, b, c] = await waitFor(
      async () => {
        const now = await byPr();
        return now[1]?.spec?.status === undefined ? now : undefined;
      },
      { message: "the second run to start" },
    );
    assert.equal(c?.spec?.status, pendingStatus, "the third still waits: one slot");
    assert.ok(b?.metadata?.managedFields?.some((f) => f.manager === "baton" && f.operation === "Update"));

    // The second finishes: the third starts, and the first (older, same pipeline) is pruned with its Secret.
    const secretOfA = a?.metadata?.annotations?.["pipelinesascode.tekton.dev/git-auth-secret"] ?? "";
    await new TektonStandIn(w.kube).finish(w.ns, name(b), "Failed");
    await waitFor(
      async () => (await w.kube.get(PipelineRuns, { namespace: w.ns, name: name(c) }))?.spec?.status === undefined,
      {
        message: "the third run to start",
      },
    );
    await waitFor(async () => (await w.kube.get(PipelineRuns, { namespace: w.ns, name: name(a) })) === undefined, {
      message: "the older completed run to be pruned (maxKeepRuns 1)",
    });
    assert.ok(await w.kube.get(PipelineRuns, { namespace: w.ns, name: name(b) }), "the newest completed run stays");
    await waitFor(async () => (await w.kube.get(Secrets, { namespace: w.ns, name: secretOfA })) === undefined, {
      message: "the pruned run's git Secret to be garbage-collected",
      timeout: 60_000,
    });
  });
});
