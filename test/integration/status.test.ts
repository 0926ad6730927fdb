// Build status back to Bitbucket: what a developer sees on the pull request while Baton's PipelineRuns run.
import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { Repositories } from "../../src/repositories/resource.ts";
import { defineResource, type KubeObject } from "../../src/runtime/kube.ts";
import { statusKey } from "../../src/status/report.ts";
import { PipelineRuns, reportedAnnotation } from "../../src/status/reporter.ts";
import { startOperator } from "../support/operator.ts";
import { createRun, type StatusWorld, statusWorld } from "../support/status-world.ts";
import { waitFor } from "../support/wait.ts";

const key = (w: StatusWorld, pipeline: string) => statusKey("baton", w.ns, "api", pipeline);

function statusOf(w: StatusWorld, pipeline: string) {
  return w.sim.buildStatuses({ project: "PLATFORM", repo: "api", commit: w.sha, key: key(w, pipeline) })[0];
}

async function waitForStatus(w: StatusWorld, pipeline: string, state: string, description?: RegExp) {
  return waitFor(
    () => {
      const status = statusOf(w, pipeline);
      return status?.state === state && (!description || description.test(status.description ?? ""))
        ? status
        : undefined;
    },
    { message: `build status ${state} ${description ?? ""} for ${pipeline}`, timeout: 20_000 },
  );
}

const statusPosts = (w: StatusWorld) => w.sim.requestCount({ method: "POST", group: "build-status" });

describe("build status", () => {
  test("queued → running → SUCCESSFUL, one stable key, with duration, ref and a link to the run", async (t) => {
    const w = await statusWorld(t);
    // These runs were not created by Baton's runner, which posts their first INPROGRESS: report it at once.
    await startOperator(t, w.ns, { lastRunInterval: 200, config: { statusGrace: "0s" } });
    const name = await createRun(w, "pull-request", { pending: true });

    await waitForStatus(w, "pull-request", "INPROGRESS", /^queued/);
    // Released from the queue, as Baton's concurrency control does when a slot frees up; then Tekton starts it.
    await w.kube.patch(PipelineRuns, { namespace: w.ns, name }, { spec: { status: null } });
    await w.tekton.start(w.ns, name);
    await waitForStatus(w, "pull-request", "INPROGRESS", /^running/);
    const started = Date.now();
    await w.tekton.finish(w.ns, name, "Succeeded", { startedAt: started - 90_000, at: started });
    const final = await waitForStatus(w, "pull-request", "SUCCESSFUL");
    assert.equal(final.duration, 90_000);
    assert.equal(final.ref, "refs/heads/feature/x");
    assert.equal(final.name, "pull-request");
    assert.match(final.url, new RegExp(`/namespaces/${w.ns}/pipelineruns/${name}$`));
    assert.equal(w.sim.buildStatuses({ commit: w.sha }).length, 1, "one status per pipeline, not one per transition");

    // Repository status.lastRun summarises the run, written once the flurry settles.
    const repo = await waitFor(
      async () => {
        const r = await w.kube.get(Repositories, { namespace: w.ns, name: "api" });
        return r?.status?.lastRun?.status === "Succeeded" ? r : undefined;
      },
      { message: "lastRun Succeeded" },
    );
    assert.equal(repo.status?.lastRun?.name, name);
    assert.equal(repo.status?.lastRun?.pullRequest, 7);
  });

  test("status.lastRun of a new run carries none of the previous run's times", async (t) => {
    const w = await statusWorld(t);
    await startOperator(t, w.ns, { lastRunInterval: 200 });
    const lastRun = (name: string, status: string) =>
      waitFor(
        async () => {
          const last = (await w.kube.get(Repositories, { namespace: w.ns, name: "api" }))?.status?.lastRun;
          return last?.name === name && last.status === status ? last : undefined;
        },
        { message: `lastRun ${name} ${status}` },
      );
    const first = await createRun(w, "unit");
    await w.tekton.finish(w.ns, first, "Succeeded");
    const finished = await lastRun(first, "Succeeded");
    assert.ok(finished.startTime && finished.completionTime, "the finished run's times are recorded");
    // Done with the first run (its last change, the reported-state annotation, is made) before the next begins.
    await waitFor(
      async () =>
        (await w.kube.get(PipelineRuns, { namespace: w.ns, name: first }))?.metadata?.annotations?.[
          reportedAnnotation
        ] === "succeeded",
      { message: "the first run's final state reported" },
    );

    // A new run begins; Tekton has not started it, so it has no times of its own yet.
    const second = await createRun(w, "unit");
    const begun = await lastRun(second, "Pending");
    assert.equal(begun.completionTime, undefined, "no completionTime carried over from the previous run");
    assert.equal(begun.startTime, undefined, "no startTime carried over from the previous run");
    const startedAt = Date.parse(finished.completionTime ?? "") + 60_000;
    await w.tekton.start(w.ns, second, startedAt);
    const running = await lastRun(second, "Running");
    assert.equal(Date.parse(running.startTime ?? ""), startedAt);
    assert.equal(running.completionTime, undefined);
  });

  test("each state is reported once, also across an operator restart", async (t) => {
    const w = await statusWorld(t);
    const first = await startOperator(t, w.ns);
    const name = await createRun(w, "lint");
    await w.tekton.start(w.ns, name);
    await waitForStatus(w, "lint", "INPROGRESS", /^running/);
    await w.tekton.finish(w.ns, name, "Succeeded");
    await waitForStatus(w, "lint", "SUCCESSFUL");
    await waitFor(
      async () =>
        (await w.kube.get(PipelineRuns, { namespace: w.ns, name }))?.metadata?.annotations?.[reportedAnnotation] ===
        "succeeded",
      {
        message: "reported state recorded on the run",
      },
    );
    const posts = statusPosts(w);
    await first.stop();

    const second = await startOperator(t, w.ns);
    // The new operator reconciles every existing run at start; only after it has done so for this one do we count.
    await waitFor(
      () => second.logs.some((l) => l.msg === "reconciled" && l.controller === "buildstatus" && l.name === name),
      {
        message: "the restarted operator reconciled the finished run",
      },
    );
    assert.equal(statusPosts(w), posts, "no state reported twice");
  });

  test("when recording a reported state fails, the retry records it without reporting it again", async (t) => {
    const w = await statusWorld(t);
    // A real admission policy makes the API server refuse Baton's annotation on the run, as an outage between
    // Bitbucket's answer and the patch would.
    const policy = `refuse-reported-${w.ns}`.slice(0, 63);
    const admission = "admissionregistration.k8s.io/v1";
    const Policies = defineResource<KubeObject>({
      apiVersion: admission,
      kind: "ValidatingAdmissionPolicy",
      plural: "validatingadmissionpolicies",
      namespaced: false,
    });
    const Bindings = defineResource<KubeObject>({
      apiVersion: admission,
      kind: "ValidatingAdmissionPolicyBinding",
      plural: "validatingadmissionpolicybindings",
      namespaced: false,
    });
    await w.kube.create(Policies, {
      apiVersion: admission,
      kind: "ValidatingAdmissionPolicy",
      metadata: { name: policy },
      spec: {
        failurePolicy: "Fail",
        matchConstraints: {
          resourceRules: [
            { apiGroups: ["tekton.dev"], apiVersions: ["*"], operations: ["UPDATE"], resources: ["pipelineruns"] },
          ],
        },
        validations: [
          {
            expression: `!has(object.metadata.annotations) || !('${reportedAnnotation}' in object.metadata.annotations)`,
            message: "refused for the test",
          },
        ],
      },
    } as KubeObject);
    await w.kube.create(Bindings, {
      apiVersion: admission,
      kind: "ValidatingAdmissionPolicyBinding",
      metadata: { name: policy },
      spec: {
        policyName: policy,
        validationActions: ["Deny"],
        matchResources: { namespaceSelector: { matchLabels: { "kubernetes.io/metadata.name": w.ns } } },
      },
    } as KubeObject);
    const lift = async () => {
      await w.kube.delete(Bindings, { name: policy }).catch(() => undefined);
      await w.kube.delete(Policies, { name: policy }).catch(() => undefined);
    };
    t.after(lift);
    // The API server loads policies asynchronously: wait until it refuses the annotation on a run of no one's.
    const probe = await w.kube.create(PipelineRuns, {
      apiVersion: "tekton.dev/v1",
      kind: "PipelineRun",
      metadata: { generateName: "probe-", namespace: w.ns },
      spec: { pipelineRef: { name: "none" } },
    } as KubeObject);
    await waitFor(
      () =>
        w.kube
          .patch(
            PipelineRuns,
            { namespace: w.ns, name: probe.metadata?.name ?? "" },
            { metadata: { annotations: { [reportedAnnotation]: "probe" } } },
          )
          .then(
            () => false,
            () => true,
          ),
      { message: "the admission policy in force" },
    );

    const op = await startOperator(t, w.ns, { config: { statusGrace: "0s" } });
    const name = await createRun(w, "lint");
    await waitForStatus(w, "lint", "INPROGRESS", /^queued/);
    // Several retries fail on the patch while the policy stands.
    await waitFor(
      () =>
        op.logs.filter(
          (l) => l.controller === "buildstatus" && l.name === name && l.msg?.toString().includes("retrying"),
        ).length >= 3,
      { message: "three failed attempts to record the reported state", timeout: 30_000 },
    );
    await lift();
    await waitFor(
      async () =>
        (await w.kube.get(PipelineRuns, { namespace: w.ns, name }))?.metadata?.annotations?.[reportedAnnotation] ===
        "queued",
      { message: "the reported state recorded once the API server accepts it", timeout: 30_000 },
    );
    assert.equal(statusPosts(w), 1, "Bitbucket was told INPROGRESS once");
  });

  test("a failure names the first failed task; a re-run replaces the red status under the same key", async (t) => {
    const w = await statusWorld(t);
    await startOperator(t, w.ns);
    const name = await createRun(w, "unit-tests");
    await w.tekton.finish(w.ns, name, "Failed", { failedTask: "unit" });
    const failed = await waitForStatus(w, "unit-tests", "FAILED");
    assert.match(failed.description ?? "", /task unit Failed/);

    const rerun = await createRun(w, "unit-tests");
    await w.tekton.finish(w.ns, rerun, "Succeeded");
    await waitForStatus(w, "unit-tests", "SUCCESSFUL");
    assert.equal(w.sim.buildStatuses({ commit: w.sha }).length, 1, "the re-run replaced the failed status");
  });

  for (const supportsCancelled of [true, false]) {
    test(`a cancelled run is ${supportsCancelled ? "CANCELLED" : "FAILED with 'cancelled'"} when the server ${supportsCancelled ? "supports" : "lacks"} cancelledStatus`, async (t) => {
      const w = await statusWorld(t, {
        buildCapabilities: supportsCancelled ? ["richBuildStatus", "cancelledStatus"] : ["richBuildStatus"],
      });
      await startOperator(t, w.ns);
      const name = await createRun(w, "deploy");
      await w.tekton.finish(w.ns, name, "Cancelled");
      const status = await waitForStatus(w, "deploy", supportsCancelled ? "CANCELLED" : "FAILED");
      assert.match(status.description ?? "", /cancelled/);
    });
  }
});
