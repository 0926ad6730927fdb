// Baton's runs executed by the REAL Tekton Pipelines controller and admission webhook (v1.15.1, hack/tekton), with a
// kube-scheduler binding their Pods to a kwok Node. Pods are simulated (no container runtime: hack/kwok/stages.yaml
// ends each step, failing it where a task carries kwok.baton.dev/exit-code); everything Tekton does — validation,
// defaults, TaskRuns, Pods, reasons, cancellation, timeouts — is Tekton's own. What reaches Bitbucket is read back
// from the simulator.
import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { PipelineRuns } from "../../src/pipelines/tekton.ts";
import { defineResource, type KubeObject } from "../../src/runtime/kube.ts";
import { TaskRuns } from "../../src/status/reporter.ts";
import { stopPrivateCluster, useRealTekton } from "../support/cluster.ts";
import {
  answers,
  deliver,
  listRuns,
  openFeaturePullRequest,
  openForkPullRequest,
  pipelinesWorld,
  prRun,
  restStatus,
  type World,
} from "../support/pipelines-world.ts";
import { waitFor } from "../support/wait.ts";

const Pods = defineResource<KubeObject>({ apiVersion: "v1", kind: "Pod", plural: "pods" });

before(async () => {
  await useRealTekton();
});
after(() => stopPrivateCluster());

/** A one-task PullRequest pipeline; `task` is spliced under the task (indent 8) and `spec` under the run's spec. */
function pipeline(name: string, options: { taskMetadata?: string; spec?: string; step?: string } = {}): string {
  return `apiVersion: tekton.dev/v1
kind: PipelineRun
metadata:
  name: ${name}
  annotations:
    pipelinesascode.tekton.dev/on-event: "[pull_request]"
    pipelinesascode.tekton.dev/on-target-branch: "[main]"
spec:
${options.spec ?? ""}  pipelineSpec:
    tasks:
      - name: unit
        taskSpec:
${options.taskMetadata ?? ""}          steps:
${
  options.step ??
  `            - name: test
              image: alpine
              script: echo testing`
}
`;
}

async function openPullRequest(w: World): Promise<{ sha: string; id: number }> {
  const pr = await openFeaturePullRequest(w, { files: { "src.txt": "v1\n" }, title: "Add src" });
  return { sha: pr.fromRef.latestCommit, id: pr.id };
}

async function waitForStatus(w: World, sha: string, pipelineName: string, state: string, timeout = 90_000) {
  return waitFor(
    () => {
      const status = w.sim.buildStatuses({ commit: sha }).find((s) => s.name === pipelineName);
      return status?.state === state ? status : undefined;
    },
    {
      message: `build status ${state} for ${pipelineName} (seen: ${JSON.stringify(w.sim.buildStatuses({ commit: sha }))})`,
      timeout,
    },
  );
}

type Condition = { type: string; status: string; reason?: string; message?: string };
const succeeded = (o: KubeObject | undefined) =>
  ((o as { status?: { conditions?: Condition[] } } | undefined)?.status?.conditions ?? []).find(
    (c) => c.type === "Succeeded",
  );

async function onlyRun(w: World) {
  const runs = await waitFor(async () => ((await listRuns(w)).length === 1 ? listRuns(w) : undefined), {
    message: "one PipelineRun",
  });
  return runs[0] as (typeof runs)[number];
}

describe("real Tekton runs Baton's PipelineRuns", () => {
  test("PR → PipelineRun → TaskRun → Pod on the kwok Node → Succeeded → SUCCESSFUL", async (t) => {
    const w = await pipelinesWorld(t, { files: { ".tekton/build.yaml": prRun } });
    const { sha } = await openPullRequest(w);
    const status = await waitForStatus(w, sha, "build", "SUCCESSFUL");
    assert.equal(status.description, "succeeded");

    const run = await onlyRun(w);
    const name = run.metadata?.name ?? "";
    assert.equal(succeeded(run)?.reason, "Succeeded", "Tekton's own reason");
    // Tekton's webhook filled in its defaults: Baton's run went through real admission.
    assert.equal((run.spec as { timeouts?: { pipeline?: string } }).timeouts?.pipeline, "1h0m0s");
    const { items: taskRuns } = await w.kube.list(TaskRuns, {
      namespace: w.ns,
      labelSelector: `tekton.dev/pipelineRun=${name}`,
    });
    assert.deepEqual(
      taskRuns.map((tr) => [tr.metadata?.labels?.["tekton.dev/pipelineTask"], succeeded(tr)?.reason]),
      [["noop", "Succeeded"]],
    );
    const { items: pods } = await w.kube.list(Pods, {
      namespace: w.ns,
      labelSelector: `tekton.dev/pipelineRun=${name}`,
    });
    assert.equal(pods.length, 1);
    const pod = pods[0] as KubeObject & { spec: { nodeName?: string }; status: { phase?: string } };
    assert.equal(pod.spec.nodeName, "kwok-node");
    assert.equal(pod.status.phase, "Succeeded");
    assert.ok(typeof status.duration === "number" && status.duration >= 0, "a duration from Tekton's start and end");
  });

  test("a failing step → FAILED with Tekton's reason and the step's exit code", async (t) => {
    const w = await pipelinesWorld(t, {
      files: {
        ".tekton/build.yaml": pipeline("build", {
          taskMetadata: `          metadata:
            annotations:
              kwok.baton.dev/exit-code: "2"
`,
        }),
      },
    });
    const { sha } = await openPullRequest(w);
    const status = await waitForStatus(w, sha, "build", "FAILED");
    const run = await onlyRun(w);
    assert.equal(succeeded(run)?.reason, "Failed");
    assert.match(status.description ?? "", /^failed: task unit StepFailed: "step-test" exited with code 2/);
  });

  test("/cancel → Tekton cancels the run and its TaskRun → CANCELLED", async (t) => {
    const w = await pipelinesWorld(t, {
      files: {
        ".tekton/build.yaml": pipeline("build", {
          taskMetadata: `          metadata:
            annotations:
              kwok.baton.dev/duration: "10m"
`,
        }),
      },
    });
    const { sha, ...pr } = await openPullRequest(w);
    const run = await onlyRun(w);
    const name = run.metadata?.name ?? "";
    // Running for real: the step's Pod is up on the kwok Node.
    await waitFor(
      async () =>
        (await w.kube.list(Pods, { namespace: w.ns, labelSelector: `tekton.dev/pipelineRun=${name}` })).items.some(
          (p) => (p as { status?: { phase?: string } }).status?.phase === "Running",
        ),
      { message: "the step Pod running", timeout: 60_000 },
    );
    await waitForStatus(w, sha, "build", "INPROGRESS");
    w.sim.comment({ project: "PRJ", repo: "app", id: pr.id, text: "/cancel build", as: "dev" });
    await w.sim.settled();

    const status = await waitForStatus(w, sha, "build", "CANCELLED");
    assert.equal(status.description, "cancelled");
    const after = await w.kube.get(PipelineRuns, { namespace: w.ns, name });
    assert.equal(succeeded(after)?.reason, "Cancelled", "Tekton's own reason");
    const { items: taskRuns } = await w.kube.list(TaskRuns, {
      namespace: w.ns,
      labelSelector: `tekton.dev/pipelineRun=${name}`,
    });
    assert.deepEqual(
      taskRuns.map((tr) => succeeded(tr)?.reason),
      ["TaskRunCancelled"],
    );
  });

  test("a declined pull request → Tekton cancels its running run → CANCELLED", async (t) => {
    const w = await pipelinesWorld(t, {
      files: {
        ".tekton/build.yaml": pipeline("build", {
          taskMetadata: `          metadata:
            annotations:
              kwok.baton.dev/duration: "10m"
`,
        }),
      },
    });
    const { sha, id } = await openPullRequest(w);
    const name = (await onlyRun(w)).metadata?.name ?? "";
    await waitFor(
      async () =>
        (await w.kube.list(TaskRuns, { namespace: w.ns, labelSelector: `tekton.dev/pipelineRun=${name}` })).items.some(
          (tr) => succeeded(tr)?.reason === "Running",
        ),
      { message: "the TaskRun running", timeout: 60_000 },
    );
    await w.sim.declinePullRequest({ project: "PRJ", repo: "app", id, as: "dev" });
    await w.sim.settled();

    const status = await waitForStatus(w, sha, "build", "CANCELLED");
    assert.equal(status.description, "cancelled");
    assert.equal(succeeded(await w.kube.get(PipelineRuns, { namespace: w.ns, name }))?.reason, "Cancelled");
  });

  test("a run past its timeout → FAILED with PipelineRunTimeout", async (t) => {
    const w = await pipelinesWorld(t, {
      files: {
        ".tekton/build.yaml": pipeline("build", {
          spec: `  timeouts:
    pipeline: 5s
`,
          taskMetadata: `          metadata:
            annotations:
              kwok.baton.dev/duration: "10m"
`,
        }),
      },
    });
    const { sha } = await openPullRequest(w);
    const status = await waitForStatus(w, sha, "build", "FAILED");
    const run = await onlyRun(w);
    assert.equal(succeeded(run)?.reason, "PipelineRunTimeout", "Tekton's own reason");
    assert.match(
      status.description ?? "",
      /^failed: PipelineRunTimeout: PipelineRun "[^"]+" failed to finish within "5s"/,
    );
  });

  test("a run naming a Pipeline that does not exist → FAILED with Tekton's CouldntGetPipeline", async (t) => {
    const w = await pipelinesWorld(t, {
      files: {
        ".tekton/build.yaml": `apiVersion: tekton.dev/v1
kind: PipelineRun
metadata:
  name: build
  annotations:
    pipelinesascode.tekton.dev/on-event: "[pull_request]"
    pipelinesascode.tekton.dev/on-target-branch: "[main]"
spec:
  pipelineRef:
    name: no-such-pipeline
`,
      },
    });
    const { sha } = await openPullRequest(w);
    const status = await waitForStatus(w, sha, "build", "FAILED");
    const run = await onlyRun(w);
    assert.equal(succeeded(run)?.reason, "CouldntGetPipeline", "Tekton's own reason");
    assert.match(status.description ?? "", /^failed: CouldntGetPipeline: .*no-such-pipeline/);
  });

  test("a .tekton file Tekton's webhook rejects → FAILED with Tekton's message, and no run", async (t) => {
    const w = await pipelinesWorld(t, {
      files: {
        ".tekton/build.yaml": pipeline("build", {
          step: `            - name: test
              image: alpine
              script: echo $(params.nowhere)`,
        }),
      },
    });
    const { sha } = await openPullRequest(w);
    const status = await waitForStatus(w, sha, "build", "FAILED");
    assert.match(
      status.description ?? "",
      /^\.tekton\/build\.yaml \(build\): Tekton refused the PipelineRun: validation failed: non-existent variable in "echo \$\(params\.nowhere\)"/,
    );
    assert.equal((await listRuns(w)).length, 0);
  });
  test("a fork PR approved with /ok-to-test runs to success: the approval and the run SUCCESSFUL on the head", async (t) => {
    const w = await pipelinesWorld(t, { files: { ".tekton/build.yaml": prRun } });
    const pr = await openForkPullRequest(w, {
      user: "outsider",
      branch: "fix",
      files: { "fix.txt": "fix\n" },
      title: "Fix",
    });
    const head = pr.fromRef.latestCommit;
    const [waiting] = w.sim.buildStatuses({ commit: head });
    assert.ok(waiting, "the fork PR waits for approval");
    assert.equal((await restStatus(w, head, waiting.key)).state, "FAILED");

    w.sim.comment({ project: "PRJ", repo: "app", id: pr.id, text: "/ok-to-test", as: "dev" });
    await w.sim.settled();
    const [run] = await listRuns(w);
    assert.ok(run, JSON.stringify(answers(w, "pr:comment:added")));
    const approval = await restStatus(w, head, waiting.key);
    assert.equal(approval.state, "SUCCESSFUL", approval.description);
    assert.equal(approval.description, "approved by dev with /ok-to-test");

    // Tekton runs the approved fork's head to success: every status on the head turns green.
    const keys = () => w.sim.buildStatuses({ commit: head }).map((s) => s.key);
    await waitFor(
      async () => {
        const states = await Promise.all(keys().map(async (key) => (await restStatus(w, head, key)).state));
        return states.length === 2 && states.every((state) => state === "SUCCESSFUL") ? states : undefined;
      },
      { message: "the run's and the approval's statuses SUCCESSFUL on the head" },
    );

    // Bitbucket delivering pr:opened again (a "Resend") must not turn the approved head red again.
    const delivery = w.sim.deliveries({ eventKey: "pr:opened" })[0];
    assert.ok(delivery);
    assert.equal((await deliver(w, "pr:opened", delivery.body)).status, 200);
    assert.equal((await restStatus(w, head, waiting.key)).state, "SUCCESSFUL");
  });

  test("concurrencyLimit: Tekton holds the Pending run until Baton releases it; maxKeepRuns prunes runs with their TaskRuns and Pods", async (t) => {
    const w = await pipelinesWorld(t, {
      spec: { pipelines: { path: ".tekton", concurrencyLimit: 1, maxKeepRuns: 1 } },
      // Each run's step takes a few seconds, so a run Tekton started too early would be seen doing so.
      files: {
        ".tekton/build.yaml": pipeline("build", {
          taskMetadata: `          metadata:
            annotations:
              kwok.baton.dev/duration: "4s"
`,
        }),
      },
    });
    const prs: { sha: string; id: number }[] = [];
    for (const branch of ["one", "two"]) {
      await w.sim.push({ project: "PRJ", repo: "app", branch, files: { [`${branch}.txt`]: branch }, as: "dev" });
      const pr = await w.sim.openPullRequest({
        project: "PRJ",
        repo: "app",
        from: { branch },
        title: branch,
        as: "dev",
      });
      await w.sim.settled();
      prs.push({ sha: pr.fromRef.latestCommit, id: pr.id });
    }
    const [first, second] = prs as [{ sha: string; id: number }, { sha: string; id: number }];
    const runOf = async (pr: { id: number }) =>
      (await listRuns(w)).find((r) => r.metadata?.labels?.["baton.dev/pull-request"] === String(pr.id));
    const pending = await runOf(second);
    assert.equal(pending?.spec?.status, "PipelineRunPending");
    assert.equal(succeeded(pending)?.reason ?? "PipelineRunPending", "PipelineRunPending");

    const firstDone = await waitFor(
      async () => {
        const run = (await runOf(first)) as (KubeObject & { status?: { completionTime?: string } }) | undefined;
        return succeeded(run)?.status === "True" ? run?.status?.completionTime : undefined;
      },
      { message: "the first run to succeed", timeout: 60_000 },
    );
    await waitForStatus(w, first.sha, "build", "SUCCESSFUL");
    await waitForStatus(w, second.sha, "build", "SUCCESSFUL");
    const secondName = (await runOf(second))?.metadata?.name ?? "";
    const { items: secondTaskRuns } = await w.kube.list(TaskRuns, {
      namespace: w.ns,
      labelSelector: `tekton.dev/pipelineRun=${secondName}`,
    });
    // Tekton created the second run's TaskRun only after the first run had finished and Baton released it.
    assert.equal(secondTaskRuns.length, 1);
    const secondStarted = secondTaskRuns[0]?.metadata?.creationTimestamp ?? "";
    assert.ok(Date.parse(String(secondStarted)) >= Date.parse(firstDone), `${secondStarted} ≥ ${firstDone}`);

    // maxKeepRuns 1: the older run goes, and with it (garbage collection by owner) its TaskRun and Pod.
    await waitFor(async () => (await runOf(first)) === undefined, { message: "the older run pruned", timeout: 60_000 });
    await waitFor(
      async () => {
        const [taskRuns, pods] = await Promise.all([
          w.kube.list(TaskRuns, { namespace: w.ns }),
          w.kube.list(Pods, { namespace: w.ns }),
        ]);
        const names = [...taskRuns.items, ...pods.items].map((o) => o.metadata?.labels?.["tekton.dev/pipelineRun"]);
        return names.length === 2 && names.every((n) => n === secondName);
      },
      { message: "only the kept run's TaskRun and Pod left", timeout: 60_000 },
    );
  });
});
