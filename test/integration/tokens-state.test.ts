// BitbucketProjectToken state that must not lie (issue 11): one Secret claimed twice, a token that expired while
// the operator was down, a changed renewBefore or lifetime, a token Bitbucket refuses to another part of Baton,
// a fixed admin password, and a Repository whose server is not Bitbucket at all. The real API server, Baton
// in-process, and the Bitbucket simulator (whose clock the tests move).
import assert from "node:assert/strict";
import { createServer } from "node:http";
import { describe, test } from "node:test";
import type { Repository } from "../../src/api/repository.ts";
import type { BitbucketProjectToken, TokenStatus } from "../../src/api/token.ts";
import { Repositories } from "../../src/repositories/resource.ts";
import { realClock } from "../../src/runtime/clock.ts";
import { Secrets } from "../../src/runtime/kube.ts";
import { Tokens } from "../../src/tokens/reconciler.ts";
import { createNamespace } from "../support/cluster.ts";
import { simulatorClock, startOperator, testKube } from "../support/operator.ts";
import { ADMIN_PASSWORD, type TokenWorld, tokenEvents, tokenObject, tokenWorld } from "../support/token-world.ts";
import { waitFor } from "../support/wait.ts";

type T = Parameters<typeof createNamespace>[0];
const day = 86_400_000;

function operatorFor(t: T, w: TokenWorld, extra: Parameters<typeof startOperator>[2] = {}) {
  return startOperator(t, w.ns, { domainClock: simulatorClock(w.sim, realClock), ...extra });
}

const get = (w: TokenWorld, name: string) => w.kube.get(Tokens, { namespace: w.ns, name });

function ready(token: { status?: TokenStatus } | undefined) {
  return token?.status?.conditions?.find((c) => c.type === "Ready");
}

async function waitForToken(w: TokenWorld, name: string, what: string, ok: (t: BitbucketProjectToken) => boolean) {
  return waitFor(
    async () => {
      const token = await get(w, name);
      return token && ok(token) ? token : undefined;
    },
    { message: `${name}: ${what}`, timeout: 30_000 },
  );
}

const events = tokenEvents;

async function secretTokenId(w: TokenWorld): Promise<string | undefined> {
  return (await w.kube.get(Secrets, { namespace: w.ns, name: "ci-token" }))?.metadata?.annotations?.[
    "baton.dev/token-id"
  ];
}

/** Every status the API server stored for the object from now on, in order (a watch sees each write). */
async function recordStatuses(
  w: TokenWorld,
  name: string,
): Promise<{ seen: (TokenStatus | undefined)[]; stop(): void }> {
  const abort = new AbortController();
  const seen: (TokenStatus | undefined)[] = [];
  const from = (await get(w, name))?.metadata?.resourceVersion;
  void (async () => {
    const stream = w.kube.watch(Tokens, {
      namespace: w.ns,
      fieldSelector: `metadata.name=${name}`,
      resourceVersion: from,
      signal: abort.signal,
    });
    for await (const event of stream) if (event.type === "MODIFIED") seen.push(event.object.status);
  })().catch(() => undefined);
  return { seen, stop: () => abort.abort() };
}

describe("token state that must not lie", () => {
  test("two tokens naming one Secret: the younger is refused naming the older, one token is issued, and it takes over once the older is gone", async (t) => {
    const w = await tokenWorld(t);
    // Re-validated every second: the winner's validations are the clock that says reconcile intervals passed.
    await operatorFor(t, w, { tokenValidationInterval: 1000 });
    await w.kube.create(Tokens, tokenObject(w, "first", { secretName: "ci-token" }));
    const first = await waitForToken(w, "first", "Ready", (tk) => ready(tk)?.status === "True");
    await w.kube.create(Tokens, tokenObject(w, "second", { secretName: "ci-token" }));
    const refused = await waitForToken(w, "second", "refused", (tk) => ready(tk)?.reason === "SecretConflict");
    assert.equal(ready(refused)?.status, "False");
    assert.match(ready(refused)?.message ?? "", /BitbucketProjectToken first/);
    assert.ok(
      (await events(w, "second")).some((e) => e.reason === "SecretConflict" && e.type === "Warning"),
      "a Warning Event on the refused object",
    );

    const mark = w.sim.markRequests();
    const firstId = first.status?.tokenId ?? "";
    await waitFor(() => w.sim.requestCount({ since: mark, group: "application-properties", tokenId: firstId }) >= 4, {
      message: "four validations of the first object's token (four reconcile intervals)",
    });
    assert.equal(
      w.sim.requestCount({ group: "access-tokens", method: "PUT" }),
      1,
      "one token created in Bitbucket, in all",
    );
    assert.equal(await secretTokenId(w), firstId, "the Secret still holds the first object's token");
    assert.equal(ready(await get(w, "first"))?.status, "True");
    assert.equal(ready(await get(w, "second"))?.reason, "SecretConflict");

    // The first object goes (its finalizer revokes its token): the second takes the Secret over.
    await w.kube.delete(Tokens, { namespace: w.ns, name: "first" });
    const second = await waitForToken(w, "second", "took over", (tk) => ready(tk)?.status === "True");
    await waitFor(async () => (await secretTokenId(w)) === second.status?.tokenId, {
      message: "the Secret holds the second object's token",
    });
    const live = w.sim.tokens().filter((tk) => tk.name.startsWith(`baton/${w.ns}/`));
    assert.deepEqual(
      live.map((tk) => tk.name),
      [`baton/${w.ns}/second/${second.metadata?.uid?.slice(0, 8)}/1`],
    );
  });

  test("operator down across expiry: Ready=False Expired is recorded, with an Event, before the new token", async (t) => {
    const w = await tokenWorld(t);
    const before = await operatorFor(t, w);
    await w.kube.create(Tokens, tokenObject(w, "ci"));
    const first = await waitForToken(w, "ci", "Ready", (tk) => ready(tk)?.status === "True");
    await before.stop();

    w.sim.clock.set(Date.parse(first.status?.notAfter ?? "") + 60_000);
    const history = await recordStatuses(w, "ci");
    t.after(() => history.stop());
    await operatorFor(t, w);
    await waitForToken(w, "ci", "revision 2 Ready", (tk) => tk.status?.revision === 2 && ready(tk)?.status === "True");

    const expired = history.seen.findIndex((s) => ready({ status: s })?.reason === "Expired");
    assert.ok(
      expired >= 0,
      `an Expired Ready was stored: ${JSON.stringify(history.seen.map((s) => ready({ status: s })))}`,
    );
    assert.equal(ready({ status: history.seen[expired] })?.status, "False");
    assert.equal(history.seen[expired]?.revision, 1, "said about the expired token, before the new one arrived");
    assert.ok(
      (await events(w, "ci")).some((e) => e.reason === "Expired" && e.type === "Warning"),
      "a Warning Event says the token expired",
    );
  });

  test("a changed renewBefore moves renewalTime at once, with no new token", async (t) => {
    const w = await tokenWorld(t);
    await operatorFor(t, w);
    await w.kube.create(Tokens, tokenObject(w, "ci"));
    const first = await waitForToken(w, "ci", "Ready", (tk) => ready(tk)?.status === "True");
    const notAfter = Date.parse(first.status?.notAfter ?? "");
    assert.equal(Date.parse(first.status?.renewalTime ?? ""), notAfter - 10 * day);

    await w.kube.patch(Tokens, { namespace: w.ns, name: "ci" }, { spec: { renewBefore: "48h" } });
    const moved = await waitForToken(
      w,
      "ci",
      "renewalTime two days before expiry",
      (tk) => Date.parse(tk.status?.renewalTime ?? "") === notAfter - 2 * day,
    );
    assert.equal(moved.status?.revision, 1, "a renewBefore change needs no new token");
    assert.equal(w.sim.requestCount({ group: "access-tokens", method: "PUT" }), 1);
  });

  test("a changed lifetime issues a token of the new lifetime (cert-manager re-issues on a changed duration)", async (t) => {
    const w = await tokenWorld(t);
    await operatorFor(t, w);
    await w.kube.create(Tokens, tokenObject(w, "ci"));
    await waitForToken(w, "ci", "Ready", (tk) => ready(tk)?.status === "True");

    await w.kube.patch(Tokens, { namespace: w.ns, name: "ci" }, { spec: { lifetime: "1440h" } });
    const reissued = await waitForToken(w, "ci", "revision 2", (tk) => tk.status?.revision === 2);
    const validity = Date.parse(reissued.status?.notAfter ?? "") - Date.parse(reissued.status?.notBefore ?? "");
    assert.equal(validity, 60 * day, "the new token lives 60 days");
    assert.equal(ready(reissued)?.status, "True");
    assert.equal(
      Date.parse(reissued.status?.renewalTime ?? ""),
      Date.parse(reissued.status?.notAfter ?? "") - 10 * day,
    );
  });

  test("a token Bitbucket refuses to another part of Baton is re-validated at once, not at the next interval", async (t) => {
    const w = await tokenWorld(t);
    const issued = w.sim.createToken({
      scope: { kind: "project", project: "PLATFORM" },
      name: "external",
      permissions: ["REPO_READ"],
      expiryDays: 30,
    });
    await w.kube.create(Secrets, {
      apiVersion: "v1",
      kind: "Secret",
      metadata: { name: "ci-token", namespace: w.ns },
      stringData: { token: issued.token },
    });
    // Only the fix can notice within the test: the scheduled re-check is a day away.
    await operatorFor(t, w, { tokenValidationInterval: day });
    const { adminCredentialsRef: _none, ...spec } = tokenObject(w, "ci").spec;
    await w.kube.create(Tokens, { ...tokenObject(w, "ci"), spec });
    await waitForToken(w, "ci", "Ready", (tk) => ready(tk)?.status === "True");

    assert.ok(w.sim.revokeToken(issued.id));
    // A Repository using the token: its reachability check is the Baton call that meets the 401.
    const mark = w.sim.markRequests();
    await w.kube.create(Repositories, {
      apiVersion: "baton.dev/v1alpha1",
      kind: "Repository",
      metadata: { name: "api", namespace: w.ns },
      spec: { url: `${w.sim.url}/projects/PLATFORM/repos/api`, tokenRef: { name: "ci" }, webhook: { managed: false } },
    } as Repository);
    const refused = await waitForToken(w, "ci", "Ready=False", (tk) => ready(tk)?.status === "False");
    assert.equal(ready(refused)?.reason, "Unauthorized");
    // (A revoked token names no one: the simulator logs its calls without a token id.)
    assert.ok(w.sim.requestCount({ since: mark, group: "repos", status: 401 }) >= 1, "the Repository met the 401");
  });

  test("a managed token Bitbucket refuses to another part of Baton: Ready=False Unauthorized at once, then a new token", async (t) => {
    const w = await tokenWorld(t);
    await operatorFor(t, w, { tokenValidationInterval: day });
    await w.kube.create(Tokens, tokenObject(w, "ci"));
    const first = await waitForToken(w, "ci", "Ready", (tk) => ready(tk)?.status === "True");
    const history = await recordStatuses(w, "ci");
    t.after(() => history.stop());

    assert.ok(w.sim.revokeToken(first.status?.tokenId ?? ""));
    await w.kube.create(Repositories, {
      apiVersion: "baton.dev/v1alpha1",
      kind: "Repository",
      metadata: { name: "api", namespace: w.ns },
      spec: { url: `${w.sim.url}/projects/PLATFORM/repos/api`, tokenRef: { name: "ci" }, webhook: { managed: false } },
    } as Repository);
    await waitForToken(w, "ci", "revision 2 Ready", (tk) => tk.status?.revision === 2 && ready(tk)?.status === "True");
    const refused = history.seen.find((s) => ready({ status: s })?.reason === "Unauthorized");
    assert.equal(ready({ status: refused })?.status, "False", "Ready=False Unauthorized was stored");
    assert.equal(refused?.revision, 1);
    assert.ok((await events(w, "ci")).some((e) => e.reason === "Unauthorized" && e.type === "Warning"));
  });

  test("a fixed admin password is used at once, not after the issue back-off", async (t) => {
    // A frozen clock: the back-off after the failure never runs out on its own.
    const w = await tokenWorld(t, { clock: { frozen: true } }, { adminPassword: "not-the-password-5d1c" });
    await operatorFor(t, w);
    await w.kube.create(Tokens, tokenObject(w, "ci"));
    const failed = await waitForToken(w, "ci", "failed", (tk) => (tk.status?.failedIssueAttempts ?? 0) >= 1);
    assert.equal(ready(failed)?.status, "False");
    assert.equal(failed.status?.conditions?.find((c) => c.type === "Issuing")?.reason, "IssueFailed");

    await w.kube.patch(Secrets, { namespace: w.ns, name: "bb-admin" }, { stringData: { password: ADMIN_PASSWORD } });
    const fixed = await waitForToken(w, "ci", "issued after the fix", (tk) => ready(tk)?.status === "True");
    assert.equal(fixed.status?.failedIssueAttempts, 0);
    assert.equal(fixed.status?.revision, 1);
  });
});

describe("a Repository whose server is not Bitbucket", () => {
  for (const [answer, status, body] of [
    ["200 {}", 200, "{}"],
    ["404", 404, "not here"],
  ] as const) {
    test(`a plain HTTP server answering ${answer} to everything: TokenReady=False, NotBitbucket`, async (t) => {
      const ns = await createNamespace(t);
      const server = createServer((_req, res) => {
        res.writeHead(status, { "content-type": status === 200 ? "application/json" : "text/plain" });
        res.end(body);
      });
      await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
      t.after(() => new Promise<void>((resolve) => server.close(() => resolve())));
      const url = `http://127.0.0.1:${(server.address() as { port: number }).port}`;
      const kube = await testKube();
      await kube.create(Secrets, {
        apiVersion: "v1",
        kind: "Secret",
        metadata: { name: "bb-token", namespace: ns },
        stringData: { token: "BBDC-anything-at-all" },
      });
      await startOperator(t, ns, { config: { intakeUrl: "https://baton.example.com/hooks", podNamespace: ns } });
      await kube.create(Repositories, {
        apiVersion: "baton.dev/v1alpha1",
        kind: "Repository",
        metadata: { name: "app", namespace: ns },
        spec: { url: `${url}/projects/PRJ/repos/app`, secretRef: { name: "bb-token", key: "token" } },
      } as Repository);
      const repo = await waitFor(
        async () => {
          const r = await kube.get(Repositories, { namespace: ns, name: "app" });
          const tokenReady = r?.status?.conditions?.find((c) => c.type === "TokenReady");
          return tokenReady?.status === "False" ? tokenReady : undefined;
        },
        { message: "TokenReady=False", timeout: 30_000 },
      );
      assert.equal(repo.reason, "NotBitbucket");
      assert.match(repo.message ?? "", /does not answer as Bitbucket Data Center/);
    });
  }
});
