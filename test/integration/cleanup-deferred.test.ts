// A BitbucketProjectToken deleted while Bitbucket does not answer: after the finalizer's patience the object goes,
// but the token it could not revoke is recorded in the cleanup ledger (a Secret in Baton's namespace), survives an
// operator restart, and is revoked once Bitbucket answers again, with Events saying each step. Judged from the
// simulator's token list, a consumer's call with the token, and the API server.
import assert from "node:assert/strict";
import { describe, test } from "node:test";
import type { Repository } from "../../src/api/repository.ts";
import { Repositories } from "../../src/repositories/resource.ts";
import { cleanupLedgerName, LedgerEntry } from "../../src/runtime/cleanup-ledger.ts";
import { realClock } from "../../src/runtime/clock.ts";
import { Events, Secrets } from "../../src/runtime/kube.ts";
import { startWebhookReceiver } from "../../src/simulator/index.ts";
import { Tokens } from "../../src/tokens/reconciler.ts";
import { simulatorClock, startOperator } from "../support/operator.ts";
import {
  getToken,
  isReady,
  poke,
  secretValue,
  type TokenWorld,
  tokenObject,
  tokenWorld,
} from "../support/token-world.ts";
import { waitFor } from "../support/wait.ts";

const operatorFor = (t: Parameters<typeof tokenWorld>[0], w: TokenWorld) =>
  startOperator(t, w.ns, {
    domainClock: simulatorClock(w.sim, realClock),
    config: { podNamespace: w.ns, bitbucketRequestsPerSecond: "1000" },
  });

async function ledgerEntries(w: TokenWorld): Promise<LedgerEntry[]> {
  const secret = await w.kube.get(Secrets, { namespace: w.ns, name: cleanupLedgerName });
  return Object.values(secret?.data ?? {}).map((v) =>
    LedgerEntry.parse(JSON.parse(Buffer.from(v, "base64").toString())),
  );
}

async function eventsOn(w: TokenWorld, kind: string, name: string) {
  const { items } = await w.kube.list(Events, { namespace: w.ns });
  return items
    .map(
      (e) =>
        e as { involvedObject?: { kind?: string; name?: string }; type?: string; reason?: string; message?: string },
    )
    .filter((e) => e.involvedObject?.kind === kind && e.involvedObject.name === name);
}

async function bitbucketAccepts(w: TokenWorld, token: string): Promise<boolean> {
  const res = await fetch(`${w.sim.url}/rest/api/latest/projects/PLATFORM/repos/api`, {
    headers: { authorization: `Bearer ${token}` },
  });
  await res.body?.cancel();
  return res.status === 200;
}

describe("cleanup Bitbucket could not take when an object was deleted", () => {
  test("a token deleted while Bitbucket is unreachable is recorded, survives a restart, and is revoked once Bitbucket answers", async (t) => {
    const w = await tokenWorld(t);
    const first = await operatorFor(t, w);
    await w.kube.create(Tokens, tokenObject(w, "ci"));
    const [issued] = await waitFor(
      async () => {
        const o = await getToken(w, "ci");
        return o && isReady(o) ? [o] : undefined;
      },
      { message: "the token to be issued", timeout: 30_000 },
    );
    const id = issued?.status?.tokenId ?? "";
    const value = (await secretValue(w, "ci-token")) ?? "";
    assert.ok(id && value);

    // The access-tokens API stops answering (a failing node behind the load balancer); the token keeps working.
    const outage = w.sim.injectFaults({ status: 503, group: "access-tokens" });
    const mark = w.sim.markRequests();
    await w.kube.delete(Tokens, { namespace: w.ns, name: "ci" });
    await waitFor(() => w.sim.requests({ since: mark }).some((r) => r.method === "DELETE" && r.faulted), {
      message: "the finalizer to try the revocation",
    });
    assert.ok(await getToken(w, "ci"), "the object waits while the finalizer is patient");
    // Past the finalizer's patience (10 minutes): the object goes, the leftover is recorded.
    w.sim.clock.advance(11 * 60_000);
    await poke(w, "ci");
    await waitFor(async () => (await getToken(w, "ci")) === undefined, {
      message: "the object to be deleted after the patience",
      timeout: 60_000,
    });
    assert.ok(await bitbucketAccepts(w, value), "the token is still valid in Bitbucket");
    const [entry, ...more] = await ledgerEntries(w);
    assert.equal(more.length, 0);
    assert.deepEqual(
      [entry?.kind, entry?.id, entry?.project, entry?.leftBy, entry?.credentials],
      ["token", id, "PLATFORM", `BitbucketProjectToken ${w.ns}/ci`, { namespace: w.ns, name: "bb-admin" }],
    );
    const ledger = await w.kube.get(Secrets, { namespace: w.ns, name: cleanupLedgerName });
    assert.ok(!JSON.stringify(ledger).includes(value), "the ledger holds no token");
    const deferred = (await eventsOn(w, "BitbucketProjectToken", "ci")).find((e) => e.reason === "RevocationDeferred");
    assert.equal(deferred?.type, "Warning");
    assert.match(deferred?.message ?? "", new RegExp(`${id}.*recorded in Secret ${w.ns}/${cleanupLedgerName}`));
    await waitFor(
      async () => (await eventsOn(w, "Secret", cleanupLedgerName)).some((e) => e.reason === "CleanupFailed"),
      { message: "a failed retry said on the ledger Secret", timeout: 30_000 },
    );

    // The operator restarts, then Bitbucket comes back: the record, not memory, brings the revocation.
    await first.stop();
    outage.clear();
    await operatorFor(t, w);
    await waitFor(async () => !(await bitbucketAccepts(w, value)), {
      message: "the leftover token to be revoked",
      timeout: 45_000,
    });
    assert.equal(
      w.sim.tokens().find((tk) => tk.id === id),
      undefined,
    );
    await waitFor(async () => (await ledgerEntries(w)).length === 0, { message: "the entry to leave the ledger" });
    const cleaned = (await eventsOn(w, "Secret", cleanupLedgerName)).find((e) => e.reason === "CleanedUp");
    assert.match(
      cleaned?.message ?? "",
      new RegExp(`revoked the token: token ${id} .* left by BitbucketProjectToken ${w.ns}/ci`),
    );
  });

  test("a Repository deleted while Bitbucket is unreachable leaves its webhook recorded, removed once Bitbucket answers", async (t) => {
    const w = await tokenWorld(t);
    const operator = w.sim.createToken({
      scope: { kind: "project", project: "PLATFORM" },
      name: "baton",
      permissions: ["REPO_ADMIN"],
    });
    await w.kube.create(Secrets, {
      apiVersion: "v1",
      kind: "Secret",
      metadata: { name: "bb-token", namespace: w.ns },
      stringData: { token: operator.token },
    });
    const receiver = await startWebhookReceiver();
    t.after(() => receiver.close());
    await startOperator(t, w.ns, {
      domainClock: simulatorClock(w.sim, realClock),
      repositoryDeletionPatience: 2_000,
      config: { podNamespace: w.ns, intakeUrl: receiver.url, bitbucketRequestsPerSecond: "1000" },
    });
    await w.kube.create(Repositories, {
      apiVersion: "baton.dev/v1alpha1",
      kind: "Repository",
      metadata: { name: "api", namespace: w.ns },
      spec: {
        url: `${w.sim.url}/projects/PLATFORM/repos/api`,
        secretRef: { name: "bb-token", key: "token" },
        webhook: { managed: true, scope: "repository" },
      },
    } as Repository);
    const synced = await waitFor(
      async () => {
        const r = await w.kube.get(Repositories, { namespace: w.ns, name: "api" });
        const c = r?.status?.conditions?.find((x) => x.type === "WebhookSynced");
        return c?.status === "True" ? r : undefined;
      },
      { message: "the webhook to be created", timeout: 30_000 },
    );
    const hookId = synced.status?.webhook?.id;
    assert.deepEqual(
      w.sim.webhooks({ project: "PLATFORM", repo: "api" }).map((h) => h.id),
      [hookId],
    );

    const outage = w.sim.injectFaults({ status: 503, group: "webhooks" });
    await w.kube.delete(Repositories, { namespace: w.ns, name: "api" });
    await waitFor(async () => (await w.kube.get(Repositories, { namespace: w.ns, name: "api" })) === undefined, {
      message: "the Repository to be deleted after the patience",
      timeout: 60_000,
    });
    assert.equal(w.sim.webhooks({ project: "PLATFORM", repo: "api" }).length, 1, "the webhook is left in Bitbucket");
    const entries = await ledgerEntries(w);
    assert.deepEqual(
      entries.map((e) => [e.kind, e.id, e.project, e.repository, e.leftBy, e.credentials]),
      [
        [
          "webhook",
          String(hookId),
          "PLATFORM",
          "api",
          `Repository ${w.ns}/api`,
          { namespace: w.ns, name: "bb-token", key: "token" },
        ],
      ],
    );
    const failed = (await eventsOn(w, "Repository", "api")).find((e) =>
      /gave up removing the webhook/.test(e.message ?? ""),
    );
    assert.match(failed?.message ?? "", new RegExp(`recorded in Secret ${w.ns}/${cleanupLedgerName}`));

    outage.clear();
    await waitFor(() => w.sim.webhooks({ project: "PLATFORM", repo: "api" }).length === 0, {
      message: "the webhook to be removed once Bitbucket answers",
      timeout: 45_000,
    });
    await waitFor(async () => (await ledgerEntries(w)).length === 0, { message: "the entry to leave the ledger" });
    const cleaned = (await eventsOn(w, "Secret", cleanupLedgerName)).find((e) => e.reason === "CleanedUp");
    assert.match(cleaned?.message ?? "", new RegExp(`removed the webhook: webhook ${hookId} \\(PLATFORM/api`));
  });
});
