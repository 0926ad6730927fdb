// A BitbucketProjectToken against a server that sends token dates as date-time strings, as the 9.2 spec declares
// `createdDate` (the simulator's `isoTokenDates`), instead of the epoch milliseconds clients usually see: Baton
// must issue, time and renew exactly as it does with numbers.
import assert from "node:assert/strict";
import { test } from "node:test";
import { realClock } from "../../src/runtime/clock.ts";
import { Tokens } from "../../src/tokens/reconciler.ts";
import { simulatorClock, startOperator } from "../support/operator.ts";
import { ADMIN_PASSWORD, bitbucketAnswers, secretValue, tokenObject, tokenWorld } from "../support/token-world.ts";
import { waitFor } from "../support/wait.ts";

const day = 86_400_000;

for (const tokenExpiryDateField of [false, true]) {
  test(`date-time token dates: issued, timed and renewed as with epoch ms (expiryDate sent: ${tokenExpiryDateField})`, async (t) => {
    const w = await tokenWorld(t, { switches: { isoTokenDates: true, tokenExpiryDateField } });
    const { ns, sim, kube } = w;
    await startOperator(t, ns, { domainClock: simulatorClock(sim, realClock), tokenValidationInterval: 0 });

    // The wire format under test: what Bitbucket sends for the tokens Baton creates.
    const issuedAt = sim.clock.now();
    await kube.create(Tokens, tokenObject(w, "ci"));
    const token = (revision: number) =>
      waitFor(
        async () => {
          const found = await kube.get(Tokens, { namespace: ns, name: "ci" });
          const ready = found?.status?.conditions?.find((c) => c.type === "Ready");
          return found?.status?.revision === revision && ready?.status === "True" ? found : undefined;
        },
        { message: `revision ${revision} Ready`, timeout: 30_000 },
      );

    const first = await token(1);
    const [created] = sim.tokens();
    assert.ok(created, "Baton created a token");
    const wire = await fetch(`${sim.url}/rest/access-tokens/latest/projects/PLATFORM/${created.id}`, {
      headers: { authorization: `Basic ${Buffer.from(`admin:${ADMIN_PASSWORD}`).toString("base64")}` },
    });
    const body = (await wire.json()) as { createdDate: unknown; expiryDate?: unknown };
    assert.equal(typeof body.createdDate, "string", "the server sends a date-time string");
    assert.equal(typeof body.expiryDate, tokenExpiryDateField ? "string" : "undefined");

    const notAfter = Date.parse(first.status?.notAfter ?? "");
    assert.ok(
      Math.abs(notAfter - (issuedAt + 30 * day)) < 60_000,
      `expires 30 days after issue, not ${first.status?.notAfter}`,
    );
    assert.equal(
      Date.parse(first.status?.renewalTime ?? ""),
      Math.floor((notAfter - 10 * day) / 1000) * 1000,
      "renews 10 days before expiry",
    );
    const answer = await bitbucketAnswers(w, (await secretValue(w, "ci-token")) ?? "");
    assert.equal(answer, 200, "the issued token works");

    // Past the renewal time: a second token, timed from its own date-time createdDate.
    sim.clock.set(Date.parse(first.status?.renewalTime ?? "") + 60_000);
    const renewedAt = sim.clock.now();
    await kube.patch(
      Tokens,
      { namespace: ns, name: "ci" },
      { metadata: { annotations: { "baton.dev/reconcile-requested-at": String(Date.now()) } } },
    );
    const second = await token(2);
    assert.ok(Math.abs(Date.parse(second.status?.notAfter ?? "") - (renewedAt + 30 * day)) < 60_000);
  });
}
