// A BitbucketProjectToken against a server that sends token dates as date-time strings, as the 9.2 spec declares
// `createdDate` (the simulator's `isoTokenDates`), instead of the epoch milliseconds clients usually see: Baton
// must issue, time and renew exactly as it does with numbers.
import assert from "node:assert/strict";
import { test } from "node:test";
import type { BitbucketProjectToken } from "../../src/api/token.ts";
import { realClock } from "../../src/runtime/clock.ts";
import { Secrets } from "../../src/runtime/kube.ts";
import { Tokens } from "../../src/tokens/reconciler.ts";
import { createNamespace } from "../support/cluster.ts";
import { simulatorClock, startOperator, testKube, useSimulator } from "../support/operator.ts";
import { waitFor } from "../support/wait.ts";

const day = 86_400_000;

for (const tokenExpiryDateField of [false, true]) {
  test(`date-time token dates: issued, timed and renewed as with epoch ms (expiryDate sent: ${tokenExpiryDateField})`, async (t) => {
    const ns = await createNamespace(t);
    const sim = await useSimulator(t, { switches: { isoTokenDates: true, tokenExpiryDateField } });
    sim.createUser({ name: "root", password: "root-password", admin: true });
    sim.createUser({ name: "admin", password: "admin-password" });
    sim.createProject({ key: "PLATFORM" });
    sim.grant({ permission: "PROJECT_ADMIN", user: "admin", project: "PLATFORM" });
    await sim.createRepository({ project: "PLATFORM", slug: "api", files: { "README.md": "api\n" } });
    const kube = await testKube();
    await kube.create(Secrets, {
      apiVersion: "v1",
      kind: "Secret",
      metadata: { name: "bb-admin", namespace: ns },
      stringData: { username: "admin", password: "admin-password" },
    });
    await startOperator(t, ns, { domainClock: simulatorClock(sim, realClock), tokenValidationInterval: 0 });

    // The wire format under test: what Bitbucket sends for the tokens Baton creates.
    const issuedAt = sim.clock.now();
    await kube.create(Tokens, {
      apiVersion: "baton.dev/v1alpha1",
      kind: "BitbucketProjectToken",
      metadata: { name: "ci", namespace: ns },
      spec: {
        server: sim.url,
        project: "PLATFORM",
        permissions: ["REPO_READ"],
        lifetime: "720h",
        renewBefore: "240h",
        revocationGracePeriod: "2h",
        adminCredentialsRef: { name: "bb-admin" },
        secretName: "ci-token",
        deletionPolicy: "Revoke",
      },
    } as BitbucketProjectToken);
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
      headers: { authorization: `Basic ${Buffer.from("admin:admin-password").toString("base64")}` },
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
    const secret = await kube.get(Secrets, { namespace: ns, name: "ci-token" });
    const value = Buffer.from(secret?.data?.token ?? "", "base64").toString();
    const answer = await fetch(`${sim.url}/rest/api/latest/projects/PLATFORM/repos/api`, {
      headers: { authorization: `Bearer ${value}` },
    });
    await answer.body?.cancel();
    assert.equal(answer.status, 200, "the issued token works");

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
