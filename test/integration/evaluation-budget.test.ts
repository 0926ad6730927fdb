// A `.tekton` definition whose CEL would hold a thread for minutes (four nested `.all` over 100 elements: 10^8
// steps) against a running operator: while it is being evaluated the intake still answers another delivery and
// creates its run, then the hostile pipeline alone is refused with a FAILED build status and an Event saying it ran
// out of time, and the ordinary pipeline of the same event still runs.
import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { Events } from "../../src/runtime/kube.ts";
import { deliver, listRuns, pipelinesWorld } from "../support/pipelines-world.ts";
import { waitFor } from "../support/wait.ts";

const hundred = `[${Array.from({ length: 100 }, (_, i) => i).join(",")}]`;
const nestedAll = `event == "pull_request" && ${hundred}.all(a, ${hundred}.all(b, ${hundred}.all(c, ${hundred}.all(d, a + b + c + d >= 0))))`;
const hostileRun = `apiVersion: tekton.dev/v1
kind: PipelineRun
metadata:
  name: hostile
  annotations:
    pipelinesascode.tekton.dev/on-cel-expression: ${JSON.stringify(nestedAll)}
spec:
  pipelineSpec:
    tasks:
      - name: noop
        taskSpec:
          steps:
            - name: echo
              image: alpine
              script: echo
`;

describe("evaluation budget", () => {
  test("a CEL expression over its budget fails its pipeline alone while the intake keeps answering", async (t) => {
    const w = await pipelinesWorld(t, {
      events: ["pr:opened"],
      // The simulator must not give up on the hostile delivery, which is answered once the budget has run out.
      simulator: { deliveryTimeoutMs: 120_000 },
      operatorConfig: { evaluationTimeout: "5s" },
    });
    const runsOf = async (pr: number) =>
      (await listRuns(w)).filter((r) => r.metadata?.labels?.["baton.dev/pull-request"] === String(pr));

    // An ordinary pull request whose delivery the test sends itself, later: the simulator delivers one at a time.
    await w.sim.push({ project: "PRJ", repo: "app", branch: "ordinary", files: { "o.txt": "o\n" }, as: "dev" });
    w.sim.dropNextDeliveries(1);
    const ordinary = await w.sim.openPullRequest({
      project: "PRJ",
      repo: "app",
      from: { branch: "ordinary" },
      title: "ordinary",
      as: "dev",
    });
    await w.sim.settled();
    const captured = w.sim.deliveries({ eventKey: "pr:opened" }).at(-1);
    assert.ok(captured?.dropped && captured.body.includes(`"id":${ordinary.id}`), "the ordinary pull request's event");

    await w.sim.push({
      project: "PRJ",
      repo: "app",
      branch: "nested",
      files: { ".tekton/hostile.yaml": hostileRun },
      as: "dev",
    });
    const mark = w.sim.requests().at(-1)?.seq ?? 0;
    const hostile = await w.sim.openPullRequest({
      project: "PRJ",
      repo: "app",
      from: { branch: "nested" },
      title: "nested",
      as: "dev",
    });
    const head = hostile.fromRef.latestCommit;
    // Baton has read the hostile definition: evaluating it is what it does next.
    await waitFor(
      () =>
        w.sim.requests({ since: mark, pathPrefix: "/rest/api/latest/projects/PRJ/repos/app/raw/.tekton/hostile.yaml" })
          .length > 0,
      { message: "Baton reading .tekton/hostile.yaml" },
    );

    const answer = await deliver(w, "pr:opened", captured.body);
    assert.equal(answer.status, 200, JSON.stringify(answer.json));
    assert.equal((await runsOf(ordinary.id)).length, 1, "the ordinary pull request got its run");
    // …before the hostile pipeline's budget ran out: it has no status yet and its delivery is still unanswered.
    assert.equal(
      w.sim.buildStatuses({ commit: head }).find((s) => s.name === "hostile"),
      undefined,
      "the hostile expression is still being evaluated",
    );
    const hostileDelivery = () =>
      w.sim.deliveries({ eventKey: "pr:opened" }).find((d) => d.seq > captured.seq && !d.dropped);
    assert.equal(hostileDelivery()?.done, false);

    // Then the hostile pipeline alone is refused, saying why; the ordinary pipeline of the same event runs.
    const refused = await waitFor(
      () => w.sim.buildStatuses({ commit: head }).find((s) => s.name === "hostile" && s.state === "FAILED"),
      { message: "a FAILED status for the hostile pipeline", timeout: 60_000 },
    );
    assert.match(
      refused.description ?? "",
      /^\.tekton\/hostile\.yaml \(hostile\): its on-cel-expression took longer than 5 s to evaluate; it was stopped and this pipeline did not run$/,
    );
    await waitFor(() => hostileDelivery()?.done, { message: "the hostile delivery answered" });
    assert.equal(hostileDelivery()?.status, 200);
    assert.deepEqual(
      (await runsOf(hostile.id)).map((r) => r.metadata?.labels?.["baton.dev/pipeline"]),
      ["build"],
    );
    const events = await waitFor(
      async () =>
        (await w.kube.list(Events, { namespace: w.ns })).items.filter(
          (e) =>
            (e as { reason?: string }).reason === "InvalidPipelineRun" &&
            String((e as { message?: string }).message).includes(".tekton/hostile.yaml"),
        ),
      { message: "an InvalidPipelineRun Event naming the hostile file" },
    );
    assert.match(String((events[0] as { message?: string }).message), /took longer than 5 s to evaluate/);
  });
});
