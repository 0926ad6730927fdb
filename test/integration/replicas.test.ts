// Two operator processes, as the shipped Deployment runs them: leader election on, both serving the intake, one
// API server between them. Bitbucket's signed deliveries are captured from the simulator and then handed to the
// replicas the way a load balancer, a "Resend" and a busy pull request do: the same delivery to both at once, the
// push + pull request pair split across them, a `/retest` racing the `pr:opened` of its head (on one replica and on
// two). What users see must not depend on it: every head has exactly one run per pipeline, with one git Secret and
// one INPROGRESS status each, a `/retest` of a finished run runs once more, and `concurrencyLimit` holds across
// replicas in every state the API server stored, releasing the queue in the order runs joined it.
import assert from "node:assert/strict";
import { test } from "node:test";
import { TektonStandIn } from "../../hack/lib/tekton-standin.ts";
import type { Repository } from "../../src/api/repository.ts";
import { labels, queuedAtAnnotation } from "../../src/pipelines/build.ts";
import { type PipelineRun, PipelineRuns, runPhase } from "../../src/pipelines/tekton.ts";
import { Repositories } from "../../src/repositories/resource.ts";
import { realClock } from "../../src/runtime/clock.ts";
import { Secrets } from "../../src/runtime/kube.ts";
import type { DeliveryRecord } from "../../src/simulator/deliveries.ts";
import type { createNamespace } from "../support/cluster.ts";
import { simulatorClock, startOperator, type testKube, type useSimulator } from "../support/operator.ts";
import { deliver, hookTo, lintRun, prRun, repositorySide } from "../support/pipelines-world.ts";
import { waitFor } from "../support/wait.ts";

/** Runs for pushes and pull requests alike: the push + pull request pair of one commit shares its run. */
const bothRun = `apiVersion: tekton.dev/v1
kind: PipelineRun
metadata:
  name: both
  annotations:
    pipelinesascode.tekton.dev/on-event: "[push, pull_request]"
    pipelinesascode.tekton.dev/on-target-branch: "[main, feature-*]"
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

type Sent = { status: number; json: Record<string, unknown> };

async function twoReplicas(
  t: Parameters<typeof createNamespace>[0],
  spec: Partial<Repository["spec"]>,
  pipelines: Record<string, string>,
) {
  const side = await repositorySide(t, {
    files: pipelines,
    spec: { params: [{ name: "greeting", value: "two replicas" }], ...spec },
  });
  const { ns, sim, kube, webhookSecret } = side;
  // The deliveries are captured, never sent: the test hands them to the replicas itself.
  hookTo(side, "http://127.0.0.1:9/unused");
  sim.dropNextDeliveries(1_000_000);
  const replica = (name: string) =>
    startOperator(t, ns, {
      domainClock: simulatorClock(sim, realClock),
      // The intake is under test: catch-up would race it for the same heads.
      catchUp: async () => ({ started: false, detail: "catch-up is off in this test" }),
      config: {
        leaderElection: "true",
        podName: `baton-${name}`,
        // The operator's Role for Leases is in its own namespace (config/rbac); one Lease per test.
        leaseNamespace: "baton-system",
        leaseName: `baton-${ns}`,
        bitbucketRequestsPerSecond: "200",
      },
    });
  const replicas = [await replica("a"), await replica("b")];
  const urls = await Promise.all(
    replicas.map(async (op) => {
      const port = await waitFor(() => op.intake.port, { message: "the intake to listen" });
      return `http://127.0.0.1:${port}/hooks/bitbucket`;
    }),
  );
  await waitFor(() => replicas.filter((op) => op.manager.isLeader()).length === 1, { message: "one leader" });
  await waitFor(
    async () =>
      (await kube.get(Repositories, { namespace: ns, name: "app" }))?.status?.conditions?.some(
        (c) => c.type === "Ready" && c.status === "True",
      ),
    { message: "the Repository Ready", timeout: 30_000 },
  );
  /** Hands a captured delivery to one replica, exactly as Bitbucket signed and identified it. */
  const send = (to: number, d: DeliveryRecord): Promise<Sent> =>
    deliver({ intakeUrl: urls[to] ?? "", webhookSecret }, d.eventKey, d.body, { requestId: d.requestId });
  const leader = replicas.findIndex((op) => op.manager.isLeader());
  return { ns, sim, kube, replicas, send, leader, standby: 1 - leader };
}

/** The deliveries the simulator recorded while `act` ran. */
async function captured(sim: Awaited<ReturnType<typeof useSimulator>>, act: () => Promise<void>) {
  const since = sim.deliveries().length;
  await act();
  await sim.settled();
  return sim.deliveries().slice(since);
}

function only(deliveries: DeliveryRecord[], eventKey: string): DeliveryRecord {
  const found = deliveries.filter((d) => d.eventKey === eventKey);
  assert.equal(found.length, 1, `one ${eventKey} in ${deliveries.map((d) => d.eventKey).join(", ")}`);
  return found[0] as DeliveryRecord;
}

function assertHandled(answers: Sent[]): void {
  for (const a of answers) assert.equal(a.status, 200, JSON.stringify(a.json));
}

test("two replicas: duplicated, split and racing deliveries give every head exactly one run per pipeline", async (t) => {
  const w = await twoReplicas(
    t,
    {},
    { ".tekton/build.yaml": prRun, ".tekton/lint.yaml": lintRun, ".tekton/both.yaml": bothRun },
  );
  const heads = 10;
  const captures: { s0: string; s1: string; prId: number; deliveries: DeliveryRecord[] }[] = [];
  for (let i = 0; i < heads; i++) {
    const branch = `feature-${i}`;
    let prId = 0;
    const deliveries = await captured(w.sim, async () => {
      await w.sim.push({
        project: "PRJ",
        repo: "app",
        branch,
        files: { [`${branch}.txt`]: "1\n" },
        startPoint: "main",
        as: "dev",
      });
      prId = (await w.sim.openPullRequest({ project: "PRJ", repo: "app", from: { branch }, title: branch, as: "dev" }))
        .id;
      w.sim.comment({ project: "PRJ", repo: "app", id: prId, text: "/retest", as: "dev" });
      await w.sim.settled();
      await w.sim.push({ project: "PRJ", repo: "app", branch, files: { "more.txt": "2\n" }, as: "dev" });
    });
    const opened = JSON.parse(only(deliveries, "pr:opened").body) as {
      pullRequest: { fromRef: { latestCommit: string } };
    };
    const s1 = w.sim.pullRequest({ project: "PRJ", repo: "app", id: prId }).fromRef.latestCommit;
    captures.push({ s0: opened.pullRequest.fromRef.latestCommit, s1, prId, deliveries });
  }

  const answers = await Promise.all(
    captures.map(async ({ deliveries }, i) => {
      const a = i % 2;
      const b = 1 - a;
      const pushes = deliveries.filter((d) => d.eventKey === "repo:refs_changed");
      assert.equal(pushes.length, 2);
      const [push0, push1] = pushes as [DeliveryRecord, DeliveryRecord];
      const opened = only(deliveries, "pr:opened");
      const retest = only(deliveries, "pr:comment:added");
      const updated = only(deliveries, "pr:from_ref_updated");
      // The first commit: pr:opened to both replicas at once (a resend through the load balancer), its push to one,
      // and the /retest racing them on the other replica; every third head has it all on one replica, where the
      // /retest races only the pr:opened.
      const first = await Promise.all(
        i % 3 === 0
          ? [w.send(a, opened), w.send(a, push0), w.send(a, retest)]
          : [w.send(a, opened), w.send(b, opened), w.send(a, push0), w.send(b, retest)],
      );
      // The second commit: the push + pull request pair split across the replicas; every fourth head gets both
      // deliveries on both replicas.
      const second = await Promise.all([
        w.send(a, push1),
        w.send(b, updated),
        ...(i % 4 === 0 ? [w.send(b, push1), w.send(a, updated)] : []),
      ]);
      return [...first, ...second];
    }),
  );
  assertHandled(answers.flat());

  const { items: runs } = await w.kube.listAll(PipelineRuns, { namespace: w.ns });
  const count = (sha: string, pipeline: string) =>
    runs.filter((r) => r.metadata?.labels?.[labels.sha] === sha && r.metadata?.labels?.[labels.pipeline] === pipeline)
      .length;
  const wrong: string[] = [];
  for (const [i, { s0, s1 }] of captures.entries()) {
    for (const sha of [s0, s1]) {
      for (const pipeline of ["build", "lint", "both"]) {
        const n = count(sha, pipeline);
        if (n !== 1) wrong.push(`head ${i} ${sha.slice(0, 8)} ${pipeline}: ${n} runs`);
      }
    }
  }
  assert.deepEqual(wrong, [], "every head has exactly one run per pipeline");
  assert.equal(runs.length, heads * 6);

  // One git Secret per run (a losing create wrote none), and the run's own.
  const gitSecrets = (await w.kube.listAll(Secrets, { namespace: w.ns, labelSelector: "baton.dev/git-auth=true" }))
    .items;
  assert.deepEqual(
    gitSecrets.map((s) => s.metadata?.name).sort(),
    runs.map((r) => r.metadata?.annotations?.["pipelinesascode.tekton.dev/git-auth-secret"]).sort(),
  );
  // One status POST per run: the INPROGRESS of the process that created it (runs wait for Tekton, nothing later).
  const posts = (sha: string) =>
    w.sim.requests({ group: "build-status", method: "POST" }).filter((r) => r.path.includes(sha)).length;
  for (const { s0, s1 } of captures) {
    assert.equal(posts(s0), 3, `status posts for ${s0.slice(0, 8)}`);
    assert.equal(posts(s1), 3, `status posts for ${s1.slice(0, 8)}`);
  }

  // A /retest after the run failed runs once more, even sent to both replicas at once; its re-delivery does not.
  const head = captures[0];
  assert.ok(head);
  const failed = runs.find(
    (r) => r.metadata?.labels?.[labels.sha] === head.s1 && r.metadata?.labels?.[labels.pipeline] === "build",
  );
  await new TektonStandIn(w.kube).finish(w.ns, failed?.metadata?.name ?? "", "Failed");
  const [retest] = await captured(w.sim, async () => {
    w.sim.comment({ project: "PRJ", repo: "app", id: head.prId, text: "/retest build", as: "dev" });
  });
  assert.ok(retest);
  assertHandled(await Promise.all([w.send(0, retest), w.send(1, retest)]));
  const buildRuns = async () =>
    (
      await w.kube.list(PipelineRuns, {
        namespace: w.ns,
        labelSelector: `${labels.sha}=${head.s1},${labels.pipeline}=build`,
      })
    ).items;
  assert.equal((await buildRuns()).length, 2, "the failed run and one re-run");
  assertHandled([await w.send(w.standby, { ...retest, requestId: "a-later-redelivery" })]);
  assert.equal((await buildRuns()).length, 2, "a comment starts its pipeline once");
});

/** Every state of the namespace's runs the API server stored, in order, as a watch reports them. */
async function recordRuns(t: { after(fn: () => void): void }, kube: Awaited<ReturnType<typeof testKube>>, ns: string) {
  const { resourceVersion } = await kube.list(PipelineRuns, { namespace: ns });
  const states: Map<string, PipelineRun>[] = [];
  const current = new Map<string, PipelineRun>();
  const abort = new AbortController();
  t.after(() => abort.abort());
  let failure: unknown;
  void (async () => {
    for await (const event of kube.watch(PipelineRuns, {
      namespace: ns,
      resourceVersion,
      signal: abort.signal,
    })) {
      if (event.type === "ERROR") throw new Error(`the watch failed: ${JSON.stringify(event.object)}`);
      if (event.type === "BOOKMARK") continue;
      const run = event.object as PipelineRun;
      if (event.type === "DELETED") current.delete(run.metadata?.name ?? "");
      else current.set(run.metadata?.name ?? "", run);
      states.push(new Map(current));
    }
  })().catch((err: unknown) => {
    if (!abort.signal.aborted) failure = err;
  });
  return {
    states,
    check() {
      if (failure) throw failure;
    },
  };
}

test("two replicas: concurrencyLimit holds in every stored state and the queue starts in the order it formed", async (t) => {
  // Two pipelines per pull request; none prunes (max-keep-runs), so every run stays to be counted.
  const w = await twoReplicas(
    t,
    { pipelines: { path: ".tekton", concurrencyLimit: 2 } },
    { ".tekton/build.yaml": prRun, ".tekton/both.yaml": bothRun },
  );
  const recorder = await recordRuns(t, w.kube, w.ns);
  const openPullRequest = async (branch: string) => {
    const deliveries = await captured(w.sim, async () => {
      await w.sim.push({
        project: "PRJ",
        repo: "app",
        branch,
        files: { [`${branch}.txt`]: "1\n" },
        startPoint: "main",
        as: "dev",
      });
      await w.sim.openPullRequest({ project: "PRJ", repo: "app", from: { branch }, title: branch, as: "dev" });
    });
    return only(deliveries, "pr:opened");
  };

  // A storm of new pull requests (three pipelines each), alternating replicas, some on both at once.
  const storm: DeliveryRecord[] = [];
  for (let i = 0; i < 6; i++) storm.push(await openPullRequest(`feature-${i}`));
  assertHandled(
    await Promise.all(storm.flatMap((d, i) => (i % 3 === 0 ? [w.send(0, d), w.send(1, d)] : [w.send(i % 2, d)]))),
  );
  const activeCounts = () => recorder.states.map((s) => [...s.values()].filter((r) => runPhase(r) === "active").length);
  await waitFor(() => recorder.states.some((s) => s.size === storm.length * 2), {
    message: "the storm's runs recorded",
  });
  assert.ok(Math.max(...activeCounts()) <= 2, `at most 2 active during the storm, saw ${Math.max(...activeCounts())}`);

  const later: DeliveryRecord[] = [];
  for (let i = 6; i < 9; i++) later.push(await openPullRequest(`feature-${i}`));

  // Tekton finishes the active runs one by one; new pull requests reach the standby while the queue moves.
  const standIn = new TektonStandIn(w.kube);
  const finished = new Set<string>();
  let sentLater = false;
  for (;;) {
    const { items } = await w.kube.list(PipelineRuns, { namespace: w.ns });
    if (sentLater && items.length === 18 && items.every((r) => runPhase(r) === "finished")) break;
    const active = items.filter((r) => runPhase(r) === "active" && !finished.has(r.metadata?.name ?? ""));
    if (active.length === 0) {
      await waitFor(
        async () =>
          (await w.kube.list(PipelineRuns, { namespace: w.ns })).items.some(
            (r) => runPhase(r) === "active" && !finished.has(r.metadata?.name ?? ""),
          ),
        { message: "a run released from the queue", timeout: 30_000 },
      );
      continue;
    }
    const next = active[0] as PipelineRun;
    await standIn.finish(w.ns, next.metadata?.name ?? "", "Succeeded");
    finished.add(next.metadata?.name ?? "");
    if (!sentLater && finished.size === 2) {
      assertHandled(await Promise.all(later.map((d) => w.send(w.standby, d))));
      sentLater = true;
    }
  }
  recorder.check();

  // Never more than the limit active, in any state the API server stored.
  assert.equal(Math.max(...activeCounts()), 2, "at most concurrencyLimit runs active at once, and the limit is used");

  // The queue starts in the order runs joined it (queued-at), whichever replica queued them: once the storm's runs
  // are all stored, no run starts while one that joined the queue before it still waits.
  const queuedAt = (r: PipelineRun) => Date.parse(r.metadata?.annotations?.[queuedAtAnnotation] ?? "");
  const stormStored = recorder.states.findIndex((s) => s.size === storm.length * 2);
  assert.ok(stormStored >= 0);
  const wasPending = new Set<string>();
  const released = new Set<string>();
  const jumps: string[] = [];
  for (const [i, state] of recorder.states.entries()) {
    for (const [name, run] of state) {
      if (runPhase(run) === "pending") {
        wasPending.add(name);
        continue;
      }
      if (!wasPending.has(name) || released.has(name)) continue;
      released.add(name);
      if (i <= stormStored) continue;
      const older = [...state.values()].filter((r) => runPhase(r) === "pending" && queuedAt(r) < queuedAt(run));
      if (older.length > 0) jumps.push(`${name} started before ${older.map((r) => r.metadata?.name).join(", ")}`);
    }
  }
  assert.ok(released.size >= 12, `most runs waited in the queue (${released.size})`);
  assert.deepEqual(jumps, [], "pending runs start oldest first");
});
