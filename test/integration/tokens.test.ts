// BitbucketProjectToken end to end: the real API server, Baton in-process, and the Bitbucket simulator whose
// clock the tests advance to age tokens.
import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { fetch as undiciFetch } from "undici";
import type { BitbucketProjectToken } from "../../src/api/token.ts";
import { realClock } from "../../src/runtime/clock.ts";
import { Secrets } from "../../src/runtime/kube.ts";
import type { Event, Secret } from "../../src/runtime/kube-types.ts";
import { Tokens } from "../../src/tokens/reconciler.ts";
import type { createNamespace } from "../support/cluster.ts";
import { simulatorClock, startOperator } from "../support/operator.ts";
import {
  ADMIN_PASSWORD,
  bitbucketAnswers,
  secretValue,
  type TokenWorld,
  tokenEvents,
  tokenObject,
  tokenWorld,
} from "../support/token-world.ts";
import { waitFor } from "../support/wait.ts";

const day = 86_400_000;
/** Kubernetes times have whole seconds; so do the expiry annotations these tests write. */
const isoSeconds = (ms: number) => new Date(Math.floor(ms / 1000) * 1000).toISOString().replace(".000Z", "Z");
const hour = 3_600_000;

async function operatorFor(
  t: Parameters<typeof createNamespace>[0],
  w: TokenWorld,
  extra: Parameters<typeof startOperator>[2] = {},
) {
  return startOperator(t, w.ns, {
    domainClock: simulatorClock(w.sim, realClock),
    tokenValidationInterval: 0,
    ...extra,
  });
}

const get = (w: TokenWorld, name = "ci") => w.kube.get(Tokens, { namespace: w.ns, name });

async function waitForToken(w: TokenWorld, what: string, ok: (t: BitbucketProjectToken) => boolean, name = "ci") {
  return waitFor(
    async () => {
      const token = await get(w, name);
      return token && ok(token) ? token : undefined;
    },
    { message: `${what} (${name})`, timeout: 30_000 },
  );
}

function ready(token: BitbucketProjectToken): { status?: string; reason?: string; message?: string } {
  return token.status?.conditions?.find((c) => c.type === "Ready") ?? {};
}

/** Flux's convention: touching this annotation asks for a reconcile now (after advancing the simulator's clock). */
async function poke(w: TokenWorld, name = "ci") {
  await w.kube.patch(
    Tokens,
    { namespace: w.ns, name },
    { metadata: { annotations: { "baton.dev/reconcile-requested-at": String(Date.now()) } } },
  );
}

const secretToken = (w: TokenWorld, name = "ci-token") => secretValue(w, name);

const events = (w: TokenWorld, name = "ci"): Promise<Event[]> => tokenEvents(w, name);

describe("managed BitbucketProjectToken", () => {
  test("issues a token, renews it before expiry, keeps the old one through the grace period, then revokes it", async (t) => {
    const w = await tokenWorld(t);
    await operatorFor(t, w);
    const issuedAt = w.sim.clock.now();
    await w.kube.create(Tokens, tokenObject(w, "ci"));

    const first = await waitForToken(w, "first token Ready", (tk) => ready(tk).status === "True");
    const token1 = await secretToken(w);
    assert.ok(token1, "the Secret holds the token");
    assert.equal(await bitbucketAnswers(w, token1), 200, "the issued token works as Bearer");
    assert.equal(first.status?.revision, 1);
    assert.equal(first.status?.tokenName, `baton/${w.ns}/ci/${first.metadata?.uid?.slice(0, 8)}/1`);
    const notAfter = Date.parse(first.status?.notAfter ?? "");
    assert.ok(Math.abs(notAfter - (issuedAt + 30 * day)) < 60_000, "expires after the 30-day lifetime");
    assert.equal(
      Date.parse(first.status?.renewalTime ?? ""),
      Math.floor((notAfter - 10 * day) / 1000) * 1000,
      "renews 10 days before",
    );
    assert.match(first.status?.tokenUser ?? "", /.+/);
    const secret = (await w.kube.get(Secrets, { namespace: w.ns, name: "ci-token" })) as Secret;
    assert.equal(secret.metadata?.annotations?.["baton.dev/token-id"], first.status?.tokenId);
    assert.equal(secret.metadata?.ownerReferences?.[0]?.name, "ci");

    // Just past the renewal time, before expiry: a new token, the old one still valid for the grace period.
    w.sim.clock.advance(20 * day + 60_000);
    await poke(w);
    const second = await waitForToken(w, "revision 2", (tk) => tk.status?.revision === 2);
    const token2 = await secretToken(w);
    assert.ok(token2 && token2 !== token1, "the Secret switched to the new token");
    assert.equal(await bitbucketAnswers(w, token2), 200);
    assert.equal(await bitbucketAnswers(w, token1), 200, "the previous token keeps working during the grace period");
    assert.equal(second.status?.previousToken?.id, first.status?.tokenId);
    assert.equal(ready(second).status, "True");

    // After the grace period the previous token is revoked.
    w.sim.clock.advance(2 * hour + 60_000);
    await poke(w);
    await waitForToken(w, "previous token revoked", (tk) => tk.status?.previousToken === undefined);
    assert.equal(await bitbucketAnswers(w, token1), 401, "the old token is refused after the grace period");
    assert.equal(await bitbucketAnswers(w, token2), 200);

    const reasons = (await events(w)).map((e) => (e as { reason?: string }).reason);
    for (const reason of ["Issued", "Renewed", "Revoked"])
      assert.ok(reasons.includes(reason), `Event ${reason} in ${reasons}`);
  });

  test("a consumer using whatever the Secret holds sees no authentication failure across three rotations", async (t) => {
    const w = await tokenWorld(t);
    await operatorFor(t, w);
    await w.kube.create(Tokens, tokenObject(w, "ci"));
    await waitForToken(w, "first token", (tk) => ready(tk).status === "True");

    let calls = 0;
    const failures: number[] = [];
    const seen = new Set<string>();
    let running = true;
    const consumer = (async () => {
      while (running) {
        const value = await secretToken(w);
        if (!value) continue;
        seen.add(value);
        const status = await bitbucketAnswers(w, value);
        calls++;
        if (status !== 200) failures.push(status);
      }
    })();

    for (let revision = 2; revision <= 4; revision++) {
      const before = await get(w);
      w.sim.clock.set(Date.parse(before?.status?.renewalTime ?? "") + 1000);
      await poke(w);
      await waitForToken(w, `revision ${revision}`, (tk) => tk.status?.revision === revision);
      // Running pipelines pick the new token up; only then does the grace period run out for the old one.
      await waitFor(() => seen.size >= revision, { message: `consumer saw token ${revision}` });
      w.sim.clock.advance(2 * hour + 1000);
      await poke(w);
      await waitForToken(w, `previous token of revision ${revision} revoked`, (tk) => !tk.status?.previousToken);
    }
    running = false;
    await consumer;
    assert.ok(calls > 10, `the consumer kept calling (${calls} calls)`);
    assert.deepEqual(failures, [], "no authentication failure");
    assert.equal(seen.size, 4);
  });

  for (const policy of ["Revoke", "Retain"] as const) {
    test(`deletion with deletionPolicy ${policy}`, async (t) => {
      const w = await tokenWorld(t);
      await operatorFor(t, w);
      await w.kube.create(Tokens, tokenObject(w, "ci", { deletionPolicy: policy }));
      await waitForToken(w, "token", (tk) => ready(tk).status === "True");
      const value = (await secretToken(w)) ?? "";
      await w.kube.delete(Tokens, { namespace: w.ns, name: "ci" });
      await waitFor(async () => (await get(w)) === undefined, { message: "object gone (finalizer done)" });
      assert.equal(await bitbucketAnswers(w, value), policy === "Revoke" ? 401 : 200);
    });
  }

  test("a token retained by a deleted object is not revoked as an orphan by a new object of the same name", async (t) => {
    const w = await tokenWorld(t);
    await operatorFor(t, w);
    await w.kube.create(Tokens, tokenObject(w, "ci", { deletionPolicy: "Retain" }));
    await waitForToken(w, "token", (tk) => ready(tk).status === "True");
    const retained = (await secretToken(w)) ?? "";
    await w.kube.delete(Tokens, { namespace: w.ns, name: "ci" });
    await waitFor(async () => (await get(w)) === undefined, { message: "object gone (finalizer done)" });
    // The same name again, its token in another Secret: whoever kept the retained one keeps using it.
    await w.kube.create(Tokens, tokenObject(w, "ci", { secretName: "ci-token-2" }));
    await waitForToken(w, "the new object's token", (tk) => ready(tk).status === "True");
    assert.equal(await bitbucketAnswers(w, retained), 200, "the retained token still works");
  });

  test("a Secret deleted by hand is re-issued", async (t) => {
    const w = await tokenWorld(t);
    await operatorFor(t, w);
    await w.kube.create(Tokens, tokenObject(w, "ci"));
    const first = await waitForToken(w, "token", (tk) => ready(tk).status === "True");
    await w.kube.delete(Secrets, { namespace: w.ns, name: "ci-token" });
    const second = await waitForToken(
      w,
      "re-issued",
      (tk) => (tk.status?.revision ?? 0) > (first.status?.revision ?? 0),
    );
    const value = await secretToken(w);
    assert.ok(value);
    assert.equal(await bitbucketAnswers(w, value), 200);
    assert.equal(
      second.status?.previousToken?.id,
      first.status?.tokenId,
      "the lost token is revoked after the grace period, not left live",
    );
  });

  test("a token revoked in Bitbucket by hand is detected and replaced", async (t) => {
    const w = await tokenWorld(t);
    await operatorFor(t, w);
    await w.kube.create(Tokens, tokenObject(w, "ci"));
    const first = await waitForToken(w, "token", (tk) => ready(tk).status === "True");
    assert.ok(w.sim.revokeToken(first.status?.tokenId ?? ""));
    await poke(w);
    await waitForToken(w, "replaced", (tk) => tk.status?.revision === 2 && ready(tk).status === "True");
    assert.equal(await bitbucketAnswers(w, (await secretToken(w)) ?? ""), 200);
  });

  test("wrong admin credentials: Ready False, IssueFailed, exponential back-off recorded", async (t) => {
    const w = await tokenWorld(t);
    await w.kube.patch(
      Secrets,
      { namespace: w.ns, name: "bb-admin" },
      { stringData: { password: "not-the-password-7f3a" } },
    );
    await operatorFor(t, w);
    await w.kube.create(Tokens, tokenObject(w, "ci"));
    const failed = await waitForToken(w, "failure recorded", (tk) => (tk.status?.failedIssueAttempts ?? 0) >= 1);
    assert.equal(ready(failed).status, "False");
    const issuing = failed.status?.conditions?.find((c) => c.type === "Issuing");
    assert.equal(issuing?.reason, "IssueFailed");
    assert.match(issuing?.message ?? "", /401/);
    assert.doesNotMatch(JSON.stringify(failed.status), new RegExp(`${ADMIN_PASSWORD}|not-the-password-7f3a`));
    assert.ok(failed.status?.lastFailureTime);
    assert.ok((await events(w)).some((e) => (e as { reason?: string }).reason === "IssueFailed"));

    // Fixing the credentials and waiting out the back-off gets a token.
    await w.kube.patch(Secrets, { namespace: w.ns, name: "bb-admin" }, { stringData: { password: ADMIN_PASSWORD } });
    w.sim.clock.advance(60_000);
    await poke(w);
    const fixed = await waitForToken(w, "issued after the fix", (tk) => ready(tk).status === "True");
    assert.equal(fixed.status?.failedIssueAttempts, 0);
  });

  test("Bitbucket unreachable: IssueFailed with the reason, nothing issued", async (t) => {
    const w = await tokenWorld(t);
    await operatorFor(t, w);
    await w.kube.create(Tokens, tokenObject(w, "ci", { server: "http://127.0.0.1:9" }));
    const failed = await waitForToken(w, "failure recorded", (tk) => (tk.status?.failedIssueAttempts ?? 0) >= 1);
    assert.equal(ready(failed).status, "False");
    assert.match(failed.status?.conditions?.find((c) => c.type === "Issuing")?.message ?? "", /could not issue/);
  });

  test("an administrator's maximum expiry below the lifetime: clamped, and said so", async (t) => {
    const w = await tokenWorld(t);
    w.sim.setMaxTokenExpiryDays(7);
    await operatorFor(t, w);
    await w.kube.create(Tokens, tokenObject(w, "ci", { lifetime: "720h", renewBefore: "48h" }));
    const token = await waitForToken(w, "token", (tk) => ready(tk).status === "True");
    const validity = Date.parse(token.status?.notAfter ?? "") - Date.parse(token.status?.notBefore ?? "");
    assert.equal(validity, 7 * day);
    const issued = (await events(w)).find((e) => (e as { reason?: string }).reason === "Issued") as
      | { message?: string }
      | undefined;
    assert.match(issued?.message ?? "", /asked for 30 days; the server allows at most 7/);
  });

  test("operator killed between creating a token and writing the Secret: the orphan is revoked on restart", async (t) => {
    const w = await tokenWorld(t);
    // The first operator's writes of the token Secret never complete, as if the process died right there.
    let blocked = 0;
    const hang: typeof undiciFetch = (input, init) => {
      const url = String(input);
      if (init?.method === "PATCH" && url.includes("/secrets/ci-token")) {
        blocked++;
        return new Promise(() => undefined);
      }
      return undiciFetch(input, init);
    };
    const doomed = await operatorFor(t, w, {
      kubeClientOptions: { fetch: hang as never },
      config: { shutdownTimeout: "1s" },
    });
    await w.kube.create(Tokens, tokenObject(w, "ci"));
    await waitFor(() => blocked > 0, { message: "the first operator created a token and tried to store it" });
    const orphan = w.sim.tokens().find((tk) => tk.name.startsWith(`baton/${w.ns}/ci/`) && tk.name.endsWith("/1"));
    assert.ok(orphan, "a token exists in Bitbucket that nobody holds");
    await doomed.stop();

    await operatorFor(t, w);
    const token = await waitForToken(w, "Ready after restart", (tk) => ready(tk).status === "True");
    const live = w.sim.tokens().filter((tk) => tk.name.startsWith(`baton/${w.ns}/ci/`));
    assert.deepEqual(
      live.map((tk) => tk.id),
      [token.status?.tokenId],
      "exactly one live token, the tracked one",
    );
    assert.notEqual(token.status?.tokenId, orphan.id);
    assert.equal(await bitbucketAnswers(w, (await secretToken(w)) ?? ""), 200);
  });
  test("operator killed after writing the Secret but before recording the token: the token is adopted, not revoked", async (t) => {
    const w = await tokenWorld(t);
    // The first operator dies right after the token reached the Secret: its status writes never complete.
    let secretWritten = false;
    let blocked = 0;
    const hang: typeof undiciFetch = async (input, init) => {
      const url = String(input);
      if (secretWritten && init?.method === "PATCH" && url.includes("/bitbucketprojecttokens/ci/status")) {
        blocked++;
        return new Promise(() => undefined);
      }
      const res = await undiciFetch(input, init);
      if (init?.method === "PATCH" && url.includes("/secrets/ci-token") && res.ok) secretWritten = true;
      return res;
    };
    const doomed = await operatorFor(t, w, {
      kubeClientOptions: { fetch: hang as never },
      config: { shutdownTimeout: "1s" },
    });
    await w.kube.create(Tokens, tokenObject(w, "ci"));
    await waitFor(() => blocked > 0, { message: "the token reached the Secret; its status write hangs" });
    const handed = (await secretToken(w)) ?? "";
    await doomed.stop();

    await operatorFor(t, w);
    const token = await waitForToken(w, "Ready after restart", (tk) => ready(tk).status === "True");
    assert.equal(await bitbucketAnswers(w, handed), 200, "the token consumers may already hold keeps working");
    assert.equal(await secretToken(w), handed, "no new token was needed");
    assert.equal(token.status?.revision, 1);
    assert.equal(w.sim.tokens().filter((tk) => tk.name.startsWith(`baton/${w.ns}/ci/`)).length, 1);
    assert.ok((await events(w)).some((e) => (e as { reason?: string }).reason === "Adopted"));
  });
});

describe("externally managed BitbucketProjectToken", () => {
  test("validated, expiry tracked and warned about, hot-swapped, 401 reported", async (t) => {
    const w = await tokenWorld(t);
    const issued = w.sim.createToken({
      scope: { kind: "project", project: "PLATFORM" },
      name: "external",
      permissions: ["REPO_READ"],
      expiryDays: 30,
    });
    const expiresAt = isoSeconds(w.sim.clock.now() + 30 * day);
    await w.kube.create(Secrets, {
      apiVersion: "v1",
      kind: "Secret",
      metadata: { name: "ci-token", namespace: w.ns, annotations: { "baton.dev/expires-at": expiresAt } },
      stringData: { token: issued.token },
    });
    await operatorFor(t, w);
    const { adminCredentialsRef: _none, ...spec } = tokenObject(w, "ci").spec;
    await w.kube.create(Tokens, { ...tokenObject(w, "ci"), spec: { ...spec, renewBefore: "168h" } });

    const valid = await waitForToken(w, "Ready", (tk) => ready(tk).status === "True");
    assert.equal(valid.status?.tokenUser, issued.user);
    assert.equal(valid.status?.notAfter, expiresAt);
    assert.equal(valid.status?.conditions?.find((c) => c.type === "ExpiringSoon")?.status, "False");

    // Within renewBefore of expiry: a warning condition and Event.
    w.sim.clock.advance(24 * day);
    await poke(w);
    const expiring = await waitForToken(
      w,
      "ExpiringSoon",
      (tk) => tk.status?.conditions?.find((c) => c.type === "ExpiringSoon")?.status === "True",
    );
    assert.equal(ready(expiring).status, "True", "still usable until it expires");
    assert.ok(
      (await events(w)).some(
        (e) =>
          (e as { reason?: string; type?: string }).reason === "ExpiringSoon" &&
          (e as { type?: string }).type === "Warning",
      ),
    );

    // Revoked in Bitbucket → Unauthorized.
    w.sim.revokeToken(issued.id);
    await poke(w);
    await waitForToken(w, "Unauthorized", (tk) => ready(tk).reason === "Unauthorized");

    // A new token written to the Secret is picked up without a restart (the Secret watch wakes the object).
    const replacement = w.sim.createToken({
      scope: { kind: "project", project: "PLATFORM" },
      name: "external-2",
      permissions: ["REPO_READ"],
      expiryDays: 90,
    });
    const newExpiry = isoSeconds(w.sim.clock.now() + 90 * day);
    await w.kube.patch(
      Secrets,
      { namespace: w.ns, name: "ci-token" },
      {
        metadata: { annotations: { "baton.dev/expires-at": newExpiry } },
        stringData: { token: replacement.token },
      },
    );
    const swapped = await waitForToken(
      w,
      "hot-swapped",
      (tk) => ready(tk).status === "True" && tk.status?.notAfter === newExpiry,
    );
    assert.equal(swapped.status?.conditions?.find((c) => c.type === "ExpiringSoon")?.status, "False");
  });

  test("a missing Secret says what to do", async (t) => {
    const w = await tokenWorld(t);
    await operatorFor(t, w);
    const { adminCredentialsRef: _none, ...spec } = tokenObject(w, "ci").spec;
    await w.kube.create(Tokens, { ...tokenObject(w, "ci"), spec });
    const token = await waitForToken(w, "SecretNotFound", (tk) => ready(tk).reason === "SecretNotFound");
    assert.match(ready(token).message ?? "", /create it with the token under the key "token"/);
  });
});
