// Which servers the operator calls, and for how long. BATON_ALLOWED_SERVERS: a Repository or BitbucketProjectToken
// naming a server the operator is not allowed to call gets a ServerNotAllowed condition, and that server sees not
// one request (so never the token); an allowed one works. BATON_RECONCILE_TIMEOUT: Repositories on a server that
// never answers do not keep the workers from a Repository on a healthy one.
import assert from "node:assert/strict";
import { createServer, type Socket } from "node:net";
import { describe, test } from "node:test";
import type { Repository } from "../../src/api/repository.ts";
import type { BitbucketProjectToken } from "../../src/api/token.ts";
import { Repositories } from "../../src/repositories/resource.ts";
import { Events, Secrets } from "../../src/runtime/kube.ts";
import { startWebhookReceiver } from "../../src/simulator/index.ts";
import { Tokens } from "../../src/tokens/reconciler.ts";
import { adminWorld } from "../support/admin-world.ts";
import { createNamespace } from "../support/cluster.ts";
import { startOperator } from "../support/operator.ts";
import { waitFor } from "../support/wait.ts";

type T = Parameters<typeof createNamespace>[0];

async function world(t: T) {
  const ns = await createNamespace(t);
  return { ns, ...(await adminWorld(t, ns)) };
}

/** A Bitbucket that hangs: accepts connections and reads requests, answers none. */
async function silentServer(t: T): Promise<{ sockets: Set<Socket>; url: string }> {
  const sockets = new Set<Socket>();
  const silent = createServer((socket) => {
    sockets.add(socket);
    socket.on("error", () => {});
  });
  await new Promise<void>((resolve) => silent.listen(0, "127.0.0.1", resolve));
  t.after(async () => {
    for (const socket of sockets) socket.destroy();
    await new Promise((resolve) => silent.close(resolve));
  });
  return { sockets, url: `http://127.0.0.1:${(silent.address() as { port: number }).port}` };
}

const ready = (o: { status?: { conditions?: { type: string; status: string; reason?: string }[] } } | undefined) =>
  o?.status?.conditions?.find((c) => c.type === "Ready");

describe("allowed Bitbucket servers", () => {
  test("a server not in BATON_ALLOWED_SERVERS is refused with ServerNotAllowed and gets no request", async (t) => {
    const w = await world(t);
    await startOperator(t, w.ns, {
      config: {
        allowedServers: "https://bitbucket.example.com, https://git.example.org/bitbucket",
        podNamespace: w.ns,
      },
    });
    await w.kube.create(Repositories, w.repository);
    await w.kube.create(Tokens, w.projectToken);
    const repo = await waitFor(
      async () => {
        const r = await w.kube.get(Repositories, { namespace: w.ns, name: "app" });
        return ready(r)?.reason === "ServerNotAllowed" ? r : undefined;
      },
      { message: "the Repository to say ServerNotAllowed" },
    );
    const token = await waitFor(
      async () => {
        const o = await w.kube.get(Tokens, { namespace: w.ns, name: "ci" });
        return ready(o)?.reason === "ServerNotAllowed" ? o : undefined;
      },
      { message: "the BitbucketProjectToken to say ServerNotAllowed" },
    );
    for (const o of [repo, token]) {
      const condition = ready(o) as { status: string; message?: string; observedGeneration?: number };
      assert.equal(condition.status, "False");
      assert.match(String(condition.message), /BATON_ALLOWED_SERVERS/);
      assert.equal(condition.observedGeneration, o?.metadata?.generation);
    }
    // Not one request reached the server: neither the Repository's token nor the admin's password was sent there.
    assert.deepEqual(w.sim.requests(), []);
    assert.equal(await w.kube.get(Secrets, { namespace: w.ns, name: "ci-token" }), undefined);

    // Deleting them must not call the server either, nor hang on a finalizer.
    await w.kube.delete(Repositories, { namespace: w.ns, name: "app" });
    await w.kube.delete(Tokens, { namespace: w.ns, name: "ci" });
    await waitFor(async () => (await w.kube.get(Repositories, { namespace: w.ns, name: "app" })) === undefined, {
      message: "the Repository to be gone",
    });
    await waitFor(async () => (await w.kube.get(Tokens, { namespace: w.ns, name: "ci" })) === undefined, {
      message: "the token to be gone",
    });
    assert.deepEqual(w.sim.requests(), []);
    const events = (await w.kube.list(Events, { namespace: w.ns })).items;
    assert.ok(!JSON.stringify(events).includes("admin-password"));
  });

  test("a server in the list (by its base URL) is called as usual", async (t) => {
    const w = await world(t);
    await startOperator(t, w.ns, { config: { allowedServers: `https://bitbucket.example.com ${w.sim.url}/` } });
    await w.kube.create(Tokens, w.projectToken);
    const token = await waitFor(
      async () => {
        const o = await w.kube.get(Tokens, { namespace: w.ns, name: "ci" });
        return ready(o)?.status === "True" ? o : undefined;
      },
      { message: "the token to be issued" },
    );
    assert.ok(token.status?.tokenId);
    assert.ok(await w.kube.get(Secrets, { namespace: w.ns, name: "ci-token" }));
  });

  test("narrowed after the fact: the token stays recorded until deleted, then is left unrevoked with an Event", async (t) => {
    const w = await world(t);
    const wide = await startOperator(t, w.ns, { config: { allowedServers: w.sim.url } });
    await w.kube.create(Tokens, w.projectToken);
    const issued = await waitFor(
      async () => {
        const o = await w.kube.get(Tokens, { namespace: w.ns, name: "ci" });
        return ready(o)?.status === "True" && o?.metadata?.finalizers?.length ? o : undefined;
      },
      { message: "the token to be issued" },
    );
    await wide.stop();
    await startOperator(t, w.ns, { config: { allowedServers: "https://bitbucket.example.com" } });
    const mark = w.sim.markRequests();
    const refused = await waitFor(
      async () => {
        const o = await w.kube.get(Tokens, { namespace: w.ns, name: "ci" });
        return ready(o)?.reason === "ServerNotAllowed" ? o : undefined;
      },
      { message: "the token to say ServerNotAllowed" },
    );
    // What Baton issued is still on record (the list may widen again).
    assert.equal(refused.status?.tokenId, issued.status?.tokenId);
    assert.deepEqual(refused.metadata?.finalizers, issued.metadata?.finalizers);
    await w.kube.delete(Tokens, { namespace: w.ns, name: "ci" });
    await waitFor(async () => (await w.kube.get(Tokens, { namespace: w.ns, name: "ci" })) === undefined, {
      message: "the token to be gone",
    });
    assert.deepEqual(w.sim.requests({ since: mark }), []);
    const event = await waitFor(
      async () =>
        (await w.kube.list(Events, { namespace: w.ns })).items.find(
          (e) => e.reason === "ServerNotAllowed" && e.involvedObject?.name === "ci",
        ),
      { message: "a ServerNotAllowed Event" },
    );
    assert.match(String(event.message), /not revoked/);
  });

  test("Repositories on a server that never answers leave the workers to a Repository on a healthy one", async (t) => {
    const w = await world(t);
    const { sockets, url: silentUrl } = await silentServer(t);
    const receiver = await startWebhookReceiver();
    t.after(() => receiver.close());
    await startOperator(t, w.ns, {
      config: { intakeUrl: receiver.url, podNamespace: w.ns, reconcileTimeout: "2s" },
    });
    // More of them than the Repository controller has workers (8), created first; one project each, so none shares
    // another's listing request.
    for (let i = 0; i < 12; i++)
      await w.kube.create(Repositories, {
        ...w.repository,
        metadata: { name: `silent-${i}`, namespace: w.ns },
        spec: { ...w.repository.spec, url: `${silentUrl}/projects/P${i}/repos/app` },
      } as Repository);
    await waitFor(() => sockets.size >= 8, { message: "the silent server to hold the workers' requests" });
    await w.kube.create(Repositories, w.repository);
    const synced = await waitFor(
      async () => {
        const r = await w.kube.get(Repositories, { namespace: w.ns, name: "app" });
        const c = r?.status?.conditions?.find((x) => x.type === "WebhookSynced");
        return c?.status === "True" ? r : undefined;
      },
      { message: "the Repository on the healthy server to get its webhook", timeout: 30_000 },
    );
    assert.equal(w.sim.webhooks({ project: "PRJ", repo: "app" }).length, 1, JSON.stringify(synced.status));
    // The silent ones say why they are not ready, and are retried.
    const silentOne = await waitFor(
      async () => {
        const r = await w.kube.get(Repositories, { namespace: w.ns, name: "silent-0" });
        return ready(r)?.reason === "BitbucketUnavailable" ? r : undefined;
      },
      { message: "silent-0 to say Bitbucket is unavailable" },
    );
    assert.match(String((ready(silentOne) as { message?: string }).message), /could not reach Bitbucket/);
  });

  test("BitbucketProjectTokens on a server that never answers leave the workers to a token on a healthy one", async (t) => {
    const w = await world(t);
    const { sockets, url: silentUrl } = await silentServer(t);
    await startOperator(t, w.ns, { config: { podNamespace: w.ns, reconcileTimeout: "2s" } });
    // More of them than the token controller has workers (4), created first. Without a deadline each holds its
    // worker through every call's own timeout and retries (30 s a try, three tries for the orphan listing).
    for (let i = 0; i < 6; i++)
      await w.kube.create(Tokens, {
        ...w.projectToken,
        metadata: { name: `silent-${i}`, namespace: w.ns },
        spec: { ...w.projectToken.spec, server: silentUrl, secretName: `silent-${i}-token` },
      } as BitbucketProjectToken);
    await waitFor(() => sockets.size >= 4, { message: "the silent server to hold the workers' requests" });
    await w.kube.create(Tokens, w.projectToken);
    const issued = await waitFor(
      async () => {
        const o = await w.kube.get(Tokens, { namespace: w.ns, name: "ci" });
        return ready(o)?.status === "True" ? o : undefined;
      },
      { message: "the token on the healthy server to be issued", timeout: 20_000 },
    );
    assert.ok(
      w.sim.tokens().some((tk) => tk.id === issued.status?.tokenId),
      "Bitbucket knows the issued token",
    );
    // The silent ones say what happened, and back off.
    const silentOne = await waitFor(
      async () => {
        const o = await w.kube.get(Tokens, { namespace: w.ns, name: "silent-0" });
        const issuing = o?.status?.conditions?.find((c) => c.type === "Issuing");
        return issuing?.reason === "IssueFailed" ? { o, issuing } : undefined;
      },
      { message: "silent-0 to say its issue failed" },
    );
    assert.match(
      silentOne.issuing.message ?? "",
      /no answer within the reconcile deadline \(BATON_RECONCILE_TIMEOUT\)/,
    );
    assert.equal(silentOne.o?.status?.failedIssueAttempts, 1);
  });
});
