// Baton under Bitbucket faults: 5xx bursts, rate limiting and lost answers while tokens are issued and rotated and
// build statuses are reported. What a user would notice: everything converges, nothing is duplicated, and Baton
// backs off instead of hammering a Bitbucket that is already in trouble.
import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { realClock } from "../../src/runtime/clock.ts";
import { Events, Secrets } from "../../src/runtime/kube.ts";
import type { FaultSpec } from "../../src/simulator/index.ts";
import { statusKey } from "../../src/status/report.ts";
import { PipelineRuns, reportedAnnotation } from "../../src/status/reporter.ts";
import { issueBackoff } from "../../src/tokens/lifecycle.ts";
import { Tokens } from "../../src/tokens/reconciler.ts";
import type { createNamespace } from "../support/cluster.ts";
import { simulatorClock, startOperator } from "../support/operator.ts";
import { createRun, statusWorld } from "../support/status-world.ts";
import {
  day,
  getToken,
  hour,
  isReady,
  liveTokens,
  poke,
  secretValue,
  type TokenWorld,
  tokenObject,
  tokenWorld,
  waitForTokens,
  watchLiveTokens,
} from "../support/token-world.ts";
import { waitFor } from "../support/wait.ts";

// The Bitbucket client's retry policy (src/providers/http/http.ts defaults): an idempotent call makes at most 3 attempts
// on 5xx and 4 on 429, and those budgets are counted separately, so one call makes at most 2 + 3 + 1 attempts.
const ATTEMPTS_ON_5XX = 3;
const ATTEMPTS_ON_429 = 4;
const MAX_ATTEMPTS_PER_CALL = ATTEMPTS_ON_5XX - 1 + (ATTEMPTS_ON_429 - 1) + 1;
// A token reconcile that issues calls Bitbucket at most three times before it can fail: validate the current token
// (rotations only), list tokens for orphans, create. A failed issue waits issueBackoff(1) = 10 s (lifecycle.ts).
const CALLS_PER_ISSUE = 3;

async function operatorFor(t: Parameters<typeof createNamespace>[0], w: TokenWorld) {
  return startOperator(t, w.ns, {
    domainClock: simulatorClock(w.sim, realClock),
    // A budget this high never throttles here, so only Baton's back-off stands between a fault and a tight loop.
    config: { bitbucketRequestsPerSecond: "1000" },
  });
}

async function bitbucketAccepts(w: TokenWorld, token: string): Promise<boolean> {
  const res = await fetch(`${w.sim.url}/rest/api/latest/projects/PLATFORM/repos/api`, {
    headers: { authorization: `Bearer ${token}` },
  });
  await res.body?.cancel();
  return res.status === 200;
}

async function reasons(w: TokenWorld, name: string): Promise<{ reason: string; message: string }[]> {
  const list = await w.kube.list(Events, { namespace: w.ns });
  return list.items
    .map((e) => e as { involvedObject?: { name?: string }; reason?: string; message?: string })
    .filter((e) => e.involvedObject?.name === name)
    .map((e) => ({ reason: e.reason ?? "", message: e.message ?? "" }));
}

describe("tokens under Bitbucket faults", () => {
  test("a 5xx burst, then 429 with Retry-After, during issue and rotation: back-off, convergence, no orphan", async (t) => {
    const w = await tokenWorld(t);
    await operatorFor(t, w);
    const rotating = ["a", "b", "c"];
    const fresh = ["d", "e"];
    for (const name of rotating) await w.kube.create(Tokens, tokenObject(w, name));
    const issued = await waitForTokens(w, rotating, "first tokens Ready", isReady);
    const live = watchLiveTokens(w, [...rotating, ...fresh]);

    // Into the renewal window of every token (renewBefore 240h of a 720h lifetime), then Bitbucket breaks down:
    // 503 for 3 s, then (the second fault applies once the first is over) 429 with Retry-After: 1 for 3 s.
    w.sim.clock.advance(20 * day + 60_000);
    const burst = w.sim.injectFaults({ durationMs: 3_000, status: 503 });
    const limited = w.sim.injectFaults({ durationMs: 6_000, status: 429, retryAfterSeconds: 1 });
    const start = w.sim.markRequests();
    const started = performance.now();
    for (const name of ["a", "b"]) await poke(w, name);
    await waitFor(() => !burst.active, { message: "the 503 burst over" });
    // The rest meet the rate limiting: one rotation, two first issues.
    await poke(w, "c");
    for (const name of fresh) await w.kube.create(Tokens, tokenObject(w, name));
    await waitFor(() => !limited.active, { message: "the 429 window over", timeout: 10_000 });
    const end = w.sim.markRequests();
    const windowMs = performance.now() - started;

    const inWindow = w.sim.requests({ since: start }).filter((r) => r.seq <= end);
    const faulted503 = inWindow.filter((r) => r.faulted && r.status === 503).length;
    const faulted429 = inWindow.filter((r) => r.faulted && r.status === 429).length;
    assert.ok(faulted503 > 0 && faulted429 > 0, `both faults were met (503: ${faulted503}, 429: ${faulted429})`);
    // Every object reaches Bitbucket once per trigger (a poke, or creation) and again only after its issue
    // back-off; each of those reconciles makes at most CALLS_PER_ISSUE calls of at most MAX_ATTEMPTS_PER_CALL.
    const reconcilesPerObject = 1 + Math.floor(windowMs / issueBackoff(1));
    const bound = (rotating.length + fresh.length) * reconcilesPerObject * CALLS_PER_ISSUE * MAX_ATTEMPTS_PER_CALL;
    assert.ok(
      inWindow.length <= bound,
      `${inWindow.length} Bitbucket requests in the ${Math.round(windowMs)} ms fault window; the retry policy allows at most ${bound}`,
    );
    const failed = await Promise.all(["a", "b"].map((n) => getToken(w, n)));
    for (const token of failed) {
      assert.ok((token?.status?.failedIssueAttempts ?? 0) >= 1, "the failure and its back-off are recorded");
      assert.match(
        token?.status?.conditions?.find((c) => c.type === "Issuing")?.message ?? "",
        /next attempt at/,
        "the condition says when the next attempt is",
      );
    }

    // Recovery: every rotation done and every new token issued, without anyone poking again.
    const rotated = await waitForTokens(
      w,
      rotating,
      "rotated",
      (tk) => isReady(tk) && tk.status?.revision === 2 && !!tk.status.previousToken,
      30_000,
    );
    rotated.forEach((tk, i) => {
      assert.equal(tk.status?.previousToken?.id, issued[i]?.status?.tokenId, "the old token is kept for the grace");
    });
    await waitForTokens(w, fresh, "issued", (tk) => isReady(tk) && tk.status?.revision === 1);

    // After the grace period only the current token of each object is alive: nothing orphaned, nothing doubled.
    w.sim.clock.advance(2 * hour + 60_000);
    for (const name of rotating) await poke(w, name);
    const settled = await waitForTokens(w, [...rotating, ...fresh], "previous tokens revoked", (tk) => {
      return isReady(tk) && !tk.status?.previousToken;
    });
    live.stop();
    for (const token of settled) {
      const name = token.metadata?.name ?? "";
      assert.deepEqual(
        liveTokens(w, name).map((tk) => tk.id),
        [token.status?.tokenId],
        `exactly one live token for ${name}, the tracked one`,
      );
      assert.ok(await bitbucketAccepts(w, (await secretValue(w, `${name}-token`)) ?? ""), `${name}'s Secret works`);
    }
    for (const name of rotating) assert.ok((live.max.get(name) ?? 0) <= 2, `${name}: at most current + previous`);
    for (const name of fresh) assert.equal(live.max.get(name), 1, `${name}: never a second token`);
  });

  const lostAnswers: [string, FaultSpec][] = [
    ["500 after Bitbucket created the token", { status: 500, when: "after" }],
    ["the connection dropped after Bitbucket created the token", { reset: true, when: "after" }],
    ["500 before Bitbucket did anything", { status: 500 }],
  ];
  for (const [what, fault] of lostAnswers) {
    test(`token creation is never retried blindly: ${what}`, async (t) => {
      const w = await tokenWorld(t);
      await operatorFor(t, w);
      const live = watchLiveTokens(w, ["ci"]);
      const create = { method: "PUT", group: "access-tokens" } as const;
      const handle = w.sim.injectFaults({ ...fault, ...create, count: 1 });
      await w.kube.create(Tokens, tokenObject(w, "ci"));

      const failed = await waitForTokens(w, ["ci"], "issue failure", (tk) => (tk.status?.failedIssueAttempts ?? 0) > 0);
      assert.equal(handle.remaining, 0);
      assert.equal(w.sim.requestCount({ ...create }), 1, "the failed PUT was not repeated");
      assert.equal(isReady(failed[0]), false);
      const orphaned = fault.when === "after" ? 1 : 0;
      assert.equal(liveTokens(w, "ci").length, orphaned, "what Bitbucket holds after the lost answer");

      // Past the back-off (the domain clock is the simulator's), the next attempt cleans up and issues one token.
      w.sim.clock.advance(issueBackoff(1) + 1_000);
      await poke(w, "ci");
      const [token] = await waitForTokens(w, ["ci"], "Ready after the retry", isReady);
      live.stop();
      assert.equal(w.sim.requestCount({ ...create }), 2, "one more PUT, once the orphan was dealt with");
      assert.deepEqual(
        liveTokens(w, "ci").map((tk) => tk.id),
        [token?.status?.tokenId],
      );
      assert.equal(live.max.get("ci"), 1, "never two live tokens at once");
      if (orphaned) {
        const revoked = (await reasons(w, "ci")).filter((e) => e.reason === "Revoked");
        assert.ok(
          revoked.some((e) => /left untracked by an interrupted issue/.test(e.message)),
          "the orphan's revocation is told as an Event",
        );
      }
      assert.ok(await bitbucketAccepts(w, (await secretValue(w, "ci-token")) ?? ""));
    });
  }
});

describe("tokens under a slow Bitbucket", () => {
  // Found by bench/rotation.ts (48 consumer 401s in 200 rotations): a metadata change while a token was issued
  // (a second poke, kubectl annotate, a GitOps tool) made the status write conflict; the next pass took the token
  // the Secret already held for an orphan and revoked it. The record of an issued token is now written
  // unconditionally, a newer token found in the Secret is adopted, and the Secret's token is never an orphan.
  test("a metadata change while a token is issued does not revoke the token already handed to the Secret", async (t) => {
    const w = await tokenWorld(t);
    await operatorFor(t, w);
    await w.kube.create(Tokens, tokenObject(w, "ci"));
    const [first] = await waitForTokens(w, ["ci"], "first token", isReady);
    w.sim.clock.advance(20 * day + 60_000);
    // Bitbucket takes 1.5 s to create the next token; the object is annotated meanwhile.
    const slow = w.sim.injectFaults({ count: 1, delayMs: 1_500, method: "PUT", group: "access-tokens" });
    await poke(w, "ci");
    await waitFor(() => slow.hits === 1, { message: "the renewal's create call under way" });
    await w.kube.patch(
      Tokens,
      { namespace: w.ns, name: "ci" },
      { metadata: { annotations: { "example.com/owner": "team-a" } } },
    );
    const handed = await waitFor(
      async () => {
        const secret = await w.kube.get(Secrets, { namespace: w.ns, name: "ci-token" });
        const id = secret?.metadata?.annotations?.["baton.dev/token-id"];
        return id && id !== first?.status?.tokenId ? secretValue(w, "ci-token") : undefined;
      },
      { message: "the Secret holds the renewed token" },
    );
    await waitForTokens(w, ["ci"], "renewed", (tk) => isReady(tk) && tk.status?.revision === 2);
    assert.ok(await bitbucketAccepts(w, handed), "the token a consumer read from the Secret keeps working");
    assert.equal(w.sim.requestCount({ method: "PUT", group: "access-tokens" }), 2, "one issue per revision");
  });
});

describe("build status under Bitbucket faults", () => {
  test("POSTs failing with 503 then recovering: each state arrives exactly once, with back-off", async (t) => {
    const w = await statusWorld(t);
    const { ns, sim, kube, sha, tekton } = w;
    // The run is not created by Baton's runner, which posts its first INPROGRESS: the reporter does, at once.
    const operator = await startOperator(t, ns, { config: { statusGrace: "0s" } });

    const post = { method: "POST", group: "build-status" } as const;
    const delivered = () => sim.requestCount({ ...post, status: 204 });
    const reported = async (name: string) =>
      (await kube.get(PipelineRuns, { namespace: ns, name }))?.metadata?.annotations?.[reportedAnnotation];
    const key = statusKey("baton", ns, "api", "unit");
    const current = () => sim.buildStatuses({ commit: sha, key })[0];

    // queued: the first three POSTs fail.
    const first = sim.injectFaults({ ...post, count: 3, status: 503 });
    const name = await createRun(w, "unit", { pending: true });
    await waitFor(async () => (await reported(name)) === "queued", { message: "queued reported" });
    assert.equal(first.remaining, 0);
    assert.equal(delivered(), 1);
    assert.match(current()?.description ?? "", /^queued/);

    // running: three more failures.
    sim.injectFaults({ ...post, count: 3, status: 503 });
    await kube.patch(PipelineRuns, { namespace: ns, name }, { spec: { status: null } });
    await tekton.start(ns, name);
    await waitFor(async () => (await reported(name)) === "running", { message: "running reported" });
    assert.equal(delivered(), 2);
    assert.match(current()?.description ?? "", /^running/);

    // succeeded: Bitbucket refuses every POST for 1.5 s; Baton's retries back off exponentially meanwhile.
    const outage = sim.injectFaults({ ...post, durationMs: 1_500, status: 503 });
    const mark = sim.markRequests();
    await tekton.finish(ns, name, "Succeeded");
    await waitFor(async () => (await reported(name)) === "succeeded", { message: "succeeded reported" });
    assert.equal(outage.active, false);
    assert.equal(delivered(), 3, "one successful POST per state");
    assert.equal(current()?.state, "SUCCESSFUL");
    // The work queue's per-item back-off starts at 5 ms and doubles: at most log2(1500 / 5) + 2 tries in 1.5 s.
    const retries = sim.requestCount({ ...post, since: mark, faulted: true });
    assert.ok(retries >= 1 && retries <= Math.ceil(Math.log2(1_500 / 5)) + 2, `${retries} failed POSTs in 1.5 s`);

    // Nothing is re-sent later either: a fresh reconcile of the finished run finds the state already reported.
    const before = sim.requestCount(post);
    const reconciles = () =>
      operator.logs.filter((l) => l.msg === "reconciled" && l.controller === "buildstatus" && l.name === name).length;
    const seen = reconciles();
    await kube.patch(PipelineRuns, { namespace: ns, name }, { metadata: { annotations: { "test/touch": "1" } } });
    await waitFor(() => reconciles() > seen, { message: "the run reconciled again" });
    assert.equal(sim.requestCount(post), before, "no state reported twice");
    assert.equal(sim.buildStatuses({ commit: sha }).length, 1);
  });
});
