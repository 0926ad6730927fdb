// A rotation meets PipelineRuns that hold the previous token in their git Secret: a queued run starts with the
// current token, and the previous one is not revoked while a run that started with it still runs (bounded by
// revocationHoldLimit, and said in the token's status and Events). Judged from the simulator's token list, real git
// with each run's .gitconfig, and the API server.
import assert from "node:assert/strict";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, test } from "node:test";
import { TektonStandIn } from "../../hack/lib/tekton-standin.ts";
import type { BitbucketProjectToken } from "../../src/api/token.ts";
import { labels, pendingStatus } from "../../src/pipelines/build.ts";
import { cloneTokenIdLabel } from "../../src/pipelines/gitsecret.ts";
import type { PipelineRun } from "../../src/pipelines/tekton.ts";
import { Events, Secrets } from "../../src/runtime/kube.ts";
import { Tokens } from "../../src/tokens/reconciler.ts";
import { gitWith, listRuns, managedWorld, runGitconfig, type World } from "../support/pipelines-world.ts";
import { waitFor } from "../support/wait.ts";

const hour = 3_600_000;

const cloneTokenObject = (w: World) => w.kube.get(Tokens, { namespace: w.ns, name: "app-clone" });
const held = (token: BitbucketProjectToken | undefined) =>
  token?.status?.conditions?.find((c) => c.type === "RevocationHeld");

async function secretToken(w: World, name: string): Promise<string> {
  const secret = await w.kube.get(Secrets, { namespace: w.ns, name });
  return Buffer.from(secret?.data?.token ?? "", "base64").toString();
}

/** Two pull requests under concurrencyLimit 1: the first runs, the second waits Pending. */
async function runningAndQueued(w: World): Promise<[PipelineRun, PipelineRun]> {
  const prs: number[] = [];
  for (const branch of ["one", "two"]) {
    await w.sim.push({ project: "PRJ", repo: "app", branch, files: { [`${branch}.txt`]: `${branch}\n` }, as: "dev" });
    prs.push(
      (await w.sim.openPullRequest({ project: "PRJ", repo: "app", from: { branch }, title: branch, as: "dev" })).id,
    );
    await w.sim.settled();
  }
  const runs = await waitFor(
    async () => {
      const all = await listRuns(w);
      const byPr = prs.map((id) => all.find((r) => r.metadata?.labels?.[labels.pullRequest] === String(id)));
      return byPr[0] && byPr[1] ? (byPr as [PipelineRun, PipelineRun]) : undefined;
    },
    { message: "both pull requests' runs" },
  );
  assert.equal(runs[0].spec?.status, undefined, "the first runs");
  assert.equal(runs[1].spec?.status, pendingStatus, "the second waits for the slot");
  return runs;
}

/** Renews the clone token now, and moves Bitbucket's (and Baton's) clock past the previous one's grace period. */
async function rotateAndAge(w: World, previousId: string): Promise<BitbucketProjectToken> {
  await w.kube.patch(
    Tokens,
    { namespace: w.ns, name: "app-clone" },
    { metadata: { annotations: { "baton.dev/renew-requested-at": "rotate-1" } } },
  );
  const rotated = await waitFor(
    async () => {
      const o = await cloneTokenObject(w);
      return o?.status?.previousToken?.id === previousId ? o : undefined;
    },
    { message: "the clone token to rotate", timeout: 30_000 },
  );
  w.sim.clock.advance(2 * hour + 60_000);
  // Flux's convention: touching this annotation asks for a reconcile now.
  await w.kube.patch(
    Tokens,
    { namespace: w.ns, name: "app-clone" },
    { metadata: { annotations: { "baton.dev/reconcile-requested-at": String(Date.now()) } } },
  );
  return rotated;
}

async function cloneWorks(t: { after(fn: () => Promise<void>): void }, w: World, gitconfig: string): Promise<number> {
  const dir = await mkdtemp(join(tmpdir(), "baton-hold-"));
  t.after(() => rm(dir, { recursive: true, force: true }));
  const result = await gitWith(gitconfig, ["clone", "--quiet", `${w.sim.url}/scm/prj/app.git`, join(dir, "app")]);
  return result.code;
}

async function tokenEvents(w: World): Promise<{ type?: string; reason?: string; message?: string }[]> {
  const { items } = await w.kube.list(Events, { namespace: w.ns });
  return items.filter((e) => (e as { involvedObject?: { name?: string } }).involvedObject?.name === "app-clone");
}

describe("a rotation while runs hold the previous token", () => {
  test("a queued run starts with the current token; the previous one is revoked only once the run using it ends", async (t) => {
    const w = await managedWorld(t, { spec: { pipelines: { path: ".tekton", concurrencyLimit: 1 } } });
    const [running, queued] = await runningAndQueued(w);
    const first = await cloneTokenObject(w);
    const firstId = first?.status?.tokenId ?? "";
    const firstValue = await secretToken(w, first?.spec.secretName ?? "");
    assert.ok(firstId && firstValue, "the clone token was issued with the first run");
    const runningConfig = await runGitconfig(w, running);
    assert.ok(runningConfig.includes(firstValue));
    assert.ok((await runGitconfig(w, queued)).includes(firstValue), "queued with the token current then");

    const rotated = await rotateAndAge(w, firstId);
    const secondId = rotated.status?.tokenId ?? "";
    const secondValue = await secretToken(w, rotated.spec.secretName);
    assert.notEqual(secondId, firstId);

    // Due, but the running run still clones and fetches with it: held, and said so.
    const holding = await waitFor(
      async () => {
        const o = await cloneTokenObject(w);
        return held(o)?.status === "True" ? o : undefined;
      },
      { message: "the revocation to be held", timeout: 30_000 },
    );
    const condition = held(holding);
    assert.equal(condition?.reason, "RunsInProgress");
    assert.match(condition?.message ?? "", new RegExp(`1 PipelineRun \\(${running.metadata?.name}\\) still uses`));
    assert.equal(condition?.observedGeneration, holding.metadata.generation);
    assert.equal(holding.status?.previousToken?.heldBy, 1, "the queued run does not hold it");
    assert.ok(
      (await tokenEvents(w)).some((e) => e.reason === "RevocationHeld" && /1 PipelineRun/.test(e.message ?? "")),
    );
    assert.ok(
      w.sim.tokens().some((tk) => tk.id === firstId),
      "the previous token is still valid in Bitbucket",
    );
    assert.equal(await cloneWorks(t, w, runningConfig), 0, "the running run can still fetch");

    // The running run ends: the queued one starts with the current token, and the previous one goes.
    await new TektonStandIn(w.kube).finish(w.ns, running.metadata?.name ?? "", "Succeeded");
    await waitFor(async () => !w.sim.tokens().some((tk) => tk.id === firstId), {
      message: "the previous token to be revoked once no run uses it",
      timeout: 30_000,
    });
    const started = await waitFor(
      async () => (await listRuns(w)).find((r) => r.metadata?.name === queued.metadata?.name && !r.spec?.status),
      { message: "the queued run to start" },
    );
    const startedConfig = await runGitconfig(w, started);
    assert.ok(startedConfig.includes(secondValue), "the released run holds the current token");
    assert.ok(!startedConfig.includes(firstValue));
    const secret = await w.kube.get(Secrets, {
      namespace: w.ns,
      name: started.metadata?.annotations?.["pipelinesascode.tekton.dev/git-auth-secret"] ?? "",
    });
    assert.equal(secret?.metadata?.labels?.[cloneTokenIdLabel], secondId);
    assert.equal(await cloneWorks(t, w, startedConfig), 0, "the released run clones");
    assert.notEqual(await cloneWorks(t, w, runningConfig), 0, "the previous token no longer works");
    const after = await waitFor(
      async () => {
        const o = await cloneTokenObject(w);
        return held(o)?.status === "False" ? o : undefined;
      },
      { message: "RevocationHeld to turn False" },
    );
    assert.equal(held(after)?.reason, "Revoked");
    assert.equal(after.status?.previousToken, undefined);
    assert.ok(
      (await tokenEvents(w)).some(
        (e) => e.reason === "Revoked" && /PipelineRuns that used it finished/.test(e.message ?? ""),
      ),
    );
  });

  test("the hold ends at revocationHoldLimit even while a run still uses the token, with a Warning", async (t) => {
    const w = await managedWorld(t, {
      spec: { pipelines: { path: ".tekton", concurrencyLimit: 1 } },
      tokenSpec: { revocationHoldLimit: "30m" },
    });
    const [running] = await runningAndQueued(w);
    const first = await cloneTokenObject(w);
    const firstId = first?.status?.tokenId ?? "";
    await rotateAndAge(w, firstId);
    await waitFor(async () => held(await cloneTokenObject(w))?.status === "True", {
      message: "the revocation to be held",
      timeout: 30_000,
    });
    assert.ok(w.sim.tokens().some((tk) => tk.id === firstId));

    // Past the limit (grace + 30m): revoked although the run still runs.
    w.sim.clock.advance(31 * 60_000);
    await w.kube.patch(
      Tokens,
      { namespace: w.ns, name: "app-clone" },
      { metadata: { annotations: { "baton.dev/reconcile-requested-at": "past-the-limit" } } },
    );
    await waitFor(async () => !w.sim.tokens().some((tk) => tk.id === firstId), {
      message: "the previous token to be revoked at the hold limit",
      timeout: 30_000,
    });
    const warning = await waitFor(
      async () => (await tokenEvents(w)).find((e) => e.reason === "RevocationHoldExpired"),
      { message: "a RevocationHoldExpired Event" },
    );
    assert.equal(warning.type, "Warning");
    assert.match(warning.message ?? "", new RegExp(`1 PipelineRun \\(${running.metadata?.name}\\) still used it`));
    // The condition is written when the reconcile that revoked it ends, a moment after Bitbucket and the Event.
    const after = await waitFor(
      async () => {
        const o = await cloneTokenObject(w);
        return held(o)?.status === "False" ? o : undefined;
      },
      { message: "RevocationHeld to turn False" },
    );
    assert.equal(held(after)?.reason, "HoldLimitReached");
  });
});
