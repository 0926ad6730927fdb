// A GitHub App Repository's run held by concurrencyLimit longer than its token's hour: when the slot frees, Baton
// mints the run a fresh token and rewrites its git Secret before Tekton may start it, so the clone works; the token
// it was queued with is refused by GitHub (the simulator, on its own clock).
import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { TektonStandIn } from "../../hack/lib/tekton-standin.ts";
import { pendingStatus } from "../../src/pipelines/build.ts";
import { gitTokenExpiresAnnotation } from "../../src/pipelines/gitsecret.ts";
import { type PipelineRun, PipelineRuns } from "../../src/pipelines/tekton.ts";
import { Repositories } from "../../src/repositories/resource.ts";
import { Secrets } from "../../src/runtime/kube.ts";
import { basicAuth, extraHeader, git } from "../../src/simulator/testing.ts";
import { githubWorld } from "../support/github-world.ts";
import { waitFor } from "../support/wait.ts";

describe("a GitHub App run queued longer than its token lives", () => {
  test("starts with a freshly minted token that git accepts; the one it was queued with is refused", async (t) => {
    const w = await githubWorld(t, { spec: { pipelines: { path: ".tekton", concurrencyLimit: 1 } } });
    const { sim, kube, ns } = w;
    await waitFor(
      async () =>
        (await kube.get(Repositories, { namespace: ns, name: "hello" }))?.status?.conditions?.some(
          (c: { type: string; status: string }) => c.type === "Ready" && c.status === "True",
        ),
      { message: "the App's Repository to be Ready" },
    );
    const secretOf = async (run: PipelineRun) =>
      kube.get(Secrets, {
        namespace: ns,
        name: run.metadata?.annotations?.["pipelinesascode.tekton.dev/git-auth-secret"] ?? "",
      });

    const first = await sim.push({ owner: "octo-org", repo: "hello", branch: "main", files: { "one.txt": "1\n" } });
    await sim.settled();
    const [running] = await w.runsAt(first.sha);
    assert.ok(running);
    assert.equal(running.spec?.status, undefined, "the first run has the slot");
    const second = await sim.push({ owner: "octo-org", repo: "hello", branch: "main", files: { "two.txt": "2\n" } });
    await sim.settled();
    const [queued] = await w.runsAt(second.sha);
    assert.ok(queued);
    assert.equal(queued.spec?.status, pendingStatus, "the second waits for the slot");
    const queuedWith = await w.runToken(queued);
    const recorded = (await secretOf(queued))?.metadata?.annotations?.[gitTokenExpiresAnnotation];
    // About an hour: Baton counts the lifetime against the answer's Date, which is the machine's time, not the
    // simulator's frozen clock, so a few seconds of the test's run are taken off.
    const anHourAhead = (iso: string | undefined) => {
      const left = Date.parse(iso ?? "") - sim.clock.now();
      return left > 3_540_000 && left <= 3_600_000;
    };
    assert.ok(anHourAhead(recorded), `the Secret records when the run's token lapses, an hour on: ${recorded}`);
    assert.ok(!JSON.stringify((await secretOf(queued))?.metadata).includes(queuedWith), "never the token itself");

    // The first run takes 70 minutes; the queued run's token lapses meanwhile.
    sim.clock.advance(70 * 60_000);
    await new TektonStandIn(kube).finish(ns, running.metadata?.name ?? "", "Succeeded");
    const released = await waitFor(
      async () => {
        const run = await kube.get(PipelineRuns, { namespace: ns, name: queued.metadata?.name ?? "" });
        return run && run.spec?.status === undefined ? run : undefined;
      },
      { message: "the queued run to be released" },
    );
    const startsWith = await w.runToken(released);
    assert.notEqual(startsWith, queuedWith, "the released run got a new token");
    const renewed = (await secretOf(released))?.metadata?.annotations?.[gitTokenExpiresAnnotation];
    assert.ok(anHourAhead(renewed), `minted at release, an hour ahead of the simulated now: ${renewed}`);

    const at = { cwd: w.home, home: w.home };
    const lsRemote = (token: string) =>
      git([...extraHeader(basicAuth("x-access-token", token)), "ls-remote", `${sim.url}/octo-org/hello.git`], at);
    const clone = await lsRemote(startsWith);
    assert.equal(clone.code, 0, clone.stderr);
    assert.match(clone.stdout, new RegExp(`^${second.sha}\trefs/heads/main$`, "m"), "git sees the run's commit");
    const other = await git(
      [...extraHeader(basicAuth("x-access-token", startsWith)), "ls-remote", `${sim.url}/octo-org/secret-sauce.git`],
      at,
    );
    assert.notEqual(other.code, 0, "still narrowed to this repository");
    const mark = sim.markRequests();
    const stale = await lsRemote(queuedWith);
    assert.notEqual(stale.code, 0, "the token the run was queued with has lapsed");
    // Baton's status reporter may post meanwhile: only git is looked at.
    const answers = sim.requests({ since: mark, group: "git" }).map((r) => `${r.group} ${r.status}`);
    assert.ok(answers.length > 0);
    assert.deepEqual(new Set(answers), new Set(["git 401"]), "GitHub refuses it: 401");
  });
});
