// "Renew now" and "revoke now" on a managed BitbucketProjectToken, asked for by annotation (cert-manager's
// `renew`): the real API server, Baton in-process, and the Bitbucket simulator's answers to each token.
import assert from "node:assert/strict";
import { describe, test } from "node:test";
import type { BitbucketProjectToken } from "../../src/api/token.ts";
import { realClock } from "../../src/runtime/clock.ts";
import { Events } from "../../src/runtime/kube.ts";
import { Tokens } from "../../src/tokens/reconciler.ts";
import { simulatorClock, startOperator } from "../support/operator.ts";
import { bitbucketAnswers, secretValue, tokenEvents, tokenObject, tokenWorld } from "../support/token-world.ts";
import { waitFor } from "../support/wait.ts";

const renew = "baton.dev/renew-requested-at";
const revokePrevious = "baton.dev/revoke-previous-requested-at";

describe("renew now, revoke now", () => {
  test("renew-requested-at issues a new token at once with the old one in its grace period; revoke-previous-requested-at revokes the old one; each value once", async (t) => {
    const w = await tokenWorld(t);
    const { ns, kube } = w;
    await startOperator(t, ns, { domainClock: simulatorClock(w.sim, realClock), tokenValidationInterval: 0 });
    await kube.create(Tokens, tokenObject(w, "ci"));

    const get = () => kube.get(Tokens, { namespace: ns, name: "ci" });
    const waitForToken = (what: string, ok: (tk: BitbucketProjectToken) => boolean) =>
      waitFor(
        async () => {
          const token = await get();
          return token && ok(token) ? token : undefined;
        },
        { message: what, timeout: 30_000 },
      );
    const annotate = (annotations: Record<string, string>) =>
      kube.patch(Tokens, { namespace: ns, name: "ci" }, { metadata: { annotations } });
    const secretToken = () => secretValue(w, "ci-token");
    const answers = (token: string) => bitbucketAnswers(w, token);
    const reasons = async () => (await tokenEvents(w, "ci")).map((e) => e.reason);

    const first = await waitForToken("revision 1", (tk) => tk.status?.revision === 1);
    const token1 = (await secretToken()) as string;

    // A consumer re-reading the Secret and calling Bitbucket with it throughout the renewal.
    let running = true;
    let calls = 0;
    const failures: number[] = [];
    const seen = new Set<string>();
    const consumer = (async () => {
      while (running) {
        const value = await secretToken();
        if (!value) continue;
        seen.add(value);
        const status = await answers(value);
        calls++;
        if (status !== 200) failures.push(status);
      }
    })();

    // Renew now: no clock moved, the token is far from its renewal time.
    await annotate({ [renew]: "2026-12-03T12:00:00Z" });
    const second = await waitForToken("revision 2, renewed on request", (tk) => tk.status?.revision === 2);
    assert.equal(second.status?.requests?.renew, "2026-12-03T12:00:00Z");
    assert.equal(second.status?.previousToken?.id, first.status?.tokenId, "the old token is in its grace period");
    const token2 = (await secretToken()) as string;
    assert.notEqual(token2, token1);
    assert.equal(await answers(token1), 200, "the old token keeps working during its grace period");
    await waitFor(() => seen.has(token2), { message: "the consumer picked up the new token" });
    running = false;
    await consumer;
    assert.ok(calls > 5, `the consumer kept calling (${calls} calls)`);
    assert.deepEqual(failures, [], "no failed request across renew-now");

    // Revoke now: the previous token goes at once, the current one stays; the unchanged renew value asks nothing.
    await annotate({ [revokePrevious]: "leak-1" });
    const third = await waitForToken(
      "previous token revoked on request",
      (tk) => tk.status?.requests?.revokePrevious === "leak-1",
    );
    assert.equal(third.status?.previousToken, undefined);
    assert.equal(third.status?.revision, 2, "the handled renew value did not renew again");
    assert.equal(await answers(token1), 401, "the previous token is refused at once");
    assert.equal(await answers(token2), 200, "the current token keeps working");

    // A suspected leak of the current token: both at once renew, then revoke the leaked one without a grace period.
    await annotate({ [renew]: "leak-2", [revokePrevious]: "leak-2" });
    const fourth = await waitForToken(
      "renewed and the leaked token revoked",
      (tk) => tk.status?.requests?.revokePrevious === "leak-2" && tk.status.revision === 3,
    );
    assert.equal(fourth.status?.previousToken, undefined);
    const token3 = (await secretToken()) as string;
    assert.equal(await answers(token2), 401, "the leaked token is revoked");
    assert.equal(await answers(token3), 200, "its successor is in the Secret and works");

    const told = await reasons();
    for (const reason of ["RenewRequested", "PreviousRevoked"])
      assert.ok(told.includes(reason), `Event ${reason} in ${told}`);
    const all = JSON.stringify((await kube.list(Events, { namespace: ns })).items);
    for (const value of [token1, token2, token3]) assert.ok(!all.includes(value), "no token in Events");
  });
});
