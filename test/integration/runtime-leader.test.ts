// Leader election between replicas on a real Lease: one leads, a standby takes over when the leader shuts down
// or dies, a replica that loses the lease stops (as controller-runtime's manager exits), and two never lead at
// once — not even when the leader's API requests stall.
import assert from "node:assert/strict";
import { connect, createServer, type Socket } from "node:net";
import { Writable } from "node:stream";
import { describe, test } from "node:test";
import { KubeConfig } from "@kubernetes/client-node";
import { loadConfig } from "../../src/runtime/config.ts";
import { type Controller, objects } from "../../src/runtime/controller.ts";
import { ConfigMaps, KubeClient, Leases, retryOnConflict } from "../../src/runtime/kube.ts";
import { LeaderElector, microTime } from "../../src/runtime/leader.ts";
import { createLogger, type LogLevel } from "../../src/runtime/logger.ts";
import { Manager } from "../../src/runtime/manager.ts";
import { createNamespace, useCluster } from "../support/cluster.ts";
import { waitFor } from "../support/wait.ts";

const logLevel = (process.env.BATON_TEST_LOG_LEVEL ?? "silent") as LogLevel;

interface Replica {
  name: string;
  manager: Manager;
  controller: Controller;
  reconciled: string[];
  /** Messages of the replica's log lines, in order. */
  logs: string[];
}

interface ReplicaOptions {
  /** Reaches the API server through this kubeconfig (a stalling proxy) instead of directly. */
  kubeConfig?: KubeConfig;
  reconcile?: (name: string, signal: AbortSignal) => Promise<void>;
}

async function replica(
  t: { after(fn: () => Promise<void>): void },
  ns: string,
  name: string,
  lease: { duration: string; renew: string; retry: string },
  options: ReplicaOptions = {},
): Promise<Replica> {
  const { kubeconfigPath } = await useCluster();
  const config = loadConfig({
    argv: [
      `--kubeconfig=${kubeconfigPath}`,
      `--watch-namespace=${ns}`,
      `--lease-namespace=${ns}`,
      "--lease-name=baton-leader",
      `--lease-duration=${lease.duration}`,
      `--renew-deadline=${lease.renew}`,
      `--retry-period=${lease.retry}`,
      "--metrics-bind-address=127.0.0.1",
      "--metrics-port=0",
      "--shutdown-timeout=5s",
    ],
    env: { POD_NAME: name },
    serviceAccountNamespaceFile: "/nonexistent",
  });
  const logs: string[] = [];
  const destination = new Writable({
    write(chunk, _encoding, done) {
      for (const line of String(chunk).split("\n")) if (line) logs.push(String(JSON.parse(line).msg));
      if (logLevel !== "silent") process.stderr.write(chunk);
      done();
    },
  });
  const manager = new Manager({
    config,
    kubeConfig: options.kubeConfig,
    logger: createLogger({ level: "info", base: { replica: name }, destination }),
  });
  const reconciled: string[] = [];
  const controller = manager.addController({
    name: "recorder",
    sources: [objects(manager.informer(ConfigMaps))],
    reconcile: async (req, ctx) => {
      await options.reconcile?.(req.name, ctx.signal);
      reconciled.push(req.name);
    },
  });
  await manager.start();
  t.after(() => manager.stop());
  return { name, manager, controller, reconciled, logs };
}

/**
 * A TCP proxy in front of the API server whose forwarding can be slowed: with a delay every chunk, each way,
 * arrives that much later (TLS passes through untouched). Slow enough, every request still succeeds within
 * its own timeout while a whole renewal round does not.
 */
async function stallingProxy(t: { after(fn: () => Promise<void>): void }, server: string) {
  const target = new URL(server);
  const sockets = new Set<Socket>();
  let delayMs = 0;
  const forward = (from: Socket, to: Socket) => {
    from.on("data", (chunk) => {
      if (delayMs === 0) to.write(chunk);
      else setTimeout(() => to.destroyed || to.write(chunk), delayMs);
    });
    from.on("close", () => to.destroy());
    from.on("error", () => to.destroy());
  };
  const proxy = createServer((client) => {
    const upstream = connect(Number(target.port), target.hostname);
    sockets.add(client).add(upstream);
    forward(client, upstream);
    forward(upstream, client);
  });
  await new Promise<void>((resolve) => proxy.listen(0, "127.0.0.1", resolve));
  t.after(async () => {
    for (const s of sockets) s.destroy();
    await new Promise((resolve) => proxy.close(resolve));
  });
  const address = proxy.address();
  const port = typeof address === "object" && address ? address.port : 0;
  return {
    url: `https://127.0.0.1:${port}`,
    delay(ms: number) {
      delayMs = ms;
    },
  };
}

/** The admin kubeconfig, pointed at another URL for the same API server. */
function kubeConfigVia(base: KubeConfig, server: string): KubeConfig {
  const kc = new KubeConfig();
  kc.loadFromOptions({
    clusters: base.clusters.map((c) => ({ ...c, server })),
    users: base.users,
    contexts: base.contexts,
    currentContext: base.currentContext,
  });
  return kc;
}

/** Samples leadership until stopped and remembers any moment at which two replicas led at once. */
function watchForSplitBrain(leaders: () => boolean[]) {
  let violations = 0;
  const timer = setInterval(() => {
    if (leaders().filter(Boolean).length > 1) violations++;
  }, 5);
  return {
    stop: () => {
      clearInterval(timer);
      return violations;
    },
  };
}

describe("leader election", { timeout: 120_000 }, () => {
  test("one replica leads; a standby takes over as soon as the leader shuts down; never both", async (t) => {
    const ns = await createNamespace(t);
    const { kubeConfig } = await useCluster();
    const kube = new KubeClient(kubeConfig);
    // A long lease: a takeover well within it can only come from the leader releasing the lease.
    const timings = { duration: "60s", renew: "40s", retry: "250ms" };
    const a = await replica(t, ns, "baton-a", timings);
    const b = await replica(t, ns, "baton-b", timings);
    const split = watchForSplitBrain(() => [a.manager.isLeader(), b.manager.isLeader()]);

    const leader = await waitFor(() => [a, b].find((r) => r.manager.isLeader()), { message: "a leader" });
    const standby = leader === a ? b : a;
    await kube.create(ConfigMaps, { metadata: { name: "work", namespace: ns } });
    await waitFor(() => leader.reconciled.includes("work"), { message: "the leader to reconcile" });
    assert.deepEqual(standby.reconciled, [], "the standby's controllers do not run");
    assert.equal(standby.manager.isLeader(), false);
    // A standby is ready too, once its caches have synced (it serves the intake).
    await waitFor(async () => (await fetch(`http://127.0.0.1:${standby.manager.healthPort}/readyz`)).status === 200, {
      message: "the standby to be ready",
    });

    await leader.manager.stop();
    const lease = await kube.get(Leases, { namespace: ns, name: "baton-leader" });
    assert.ok(
      lease?.spec?.holderIdentity === "" || lease?.spec?.holderIdentity === standby.manager.identity,
      "the lease was released on shutdown",
    );
    await waitFor(() => standby.manager.isLeader(), { message: "the standby to take over", timeout: 20_000 });
    await waitFor(() => standby.reconciled.includes("work"), { message: "the new leader to reconcile what exists" });
    assert.equal(split.stop(), 0, "two replicas never led at once");
  });

  test("a leader that dies without releasing is replaced once its lease expires", async (t) => {
    const ns = await createNamespace(t);
    const { kubeConfig } = await useCluster();
    const kube = new KubeClient(kubeConfig);
    const timings = { leaseDurationMs: 2000, renewDeadlineMs: 1500, retryPeriodMs: 200 };
    const make = (identity: string) =>
      new LeaderElector({
        kube,
        namespace: ns,
        name: "lease",
        identity,
        ...timings,
        logger: createLogger({ level: logLevel }),
      });
    const first = make("first");
    const second = make("second");
    const split = watchForSplitBrain(() => [first.isLeader(), second.isLeader()]);
    first.start();
    await waitFor(() => first.isLeader(), { message: "the first candidate to lead" });
    second.start();
    t.after(() => second.stop());
    await waitFor(() => second.leader() === "first", { message: "the second candidate to see the leader" });
    assert.equal(second.isLeader(), false);

    await first.stop({ release: false }); // a crash: the lease is left as it was
    await waitFor(() => second.isLeader(), { message: "the standby to take the expired lease", timeout: 20_000 });
    const lease = await kube.get(Leases, { namespace: ns, name: "lease" });
    assert.equal(lease?.spec?.holderIdentity, "second");
    assert.equal(lease?.spec?.leaseTransitions, 1);
    assert.equal(split.stop(), 0);
  });

  test("a replica whose lease is taken aborts its reconciles and stops; restarted, it leads again", async (t) => {
    const ns = await createNamespace(t);
    const { kubeConfig } = await useCluster();
    const kube = new KubeClient(kubeConfig);
    const timings = { duration: "3s", renew: "2s", retry: "200ms" };
    let aborted = false;
    const a = await replica(t, ns, "baton-a", timings, {
      // A reconcile that would run until told to stop.
      reconcile: async (name, signal) => {
        if (name !== "long") return;
        await new Promise((resolve) => signal.addEventListener("abort", resolve, { once: true }));
        aborted = true;
      },
    });
    await waitFor(() => a.manager.isLeader(), { message: "the only replica to lead" });
    assert.equal(a.controller.running, true);
    await kube.create(ConfigMaps, { metadata: { name: "long", namespace: ns } });
    await waitFor(() => a.controller.queue?.processingLen() === 1, { message: "the long reconcile to start" });

    // Another party (an operator with kubectl, a replica that believes the lease expired) takes the lease.
    await retryOnConflict(async () => {
      const lease = await kube.get(Leases, { namespace: ns, name: "baton-leader" });
      assert.ok(lease);
      const now = microTime(Date.now());
      return kube.replace(Leases, {
        ...lease,
        spec: {
          ...lease.spec,
          holderIdentity: "intruder",
          leaseDurationSeconds: 3600,
          acquireTime: now,
          renewTime: now,
        },
      });
    });
    // As controller-runtime's manager does, the replica stops (its process exits and Kubernetes restarts it)
    // instead of campaigning again with work possibly still running.
    let stopped = false;
    void a.manager.stopped().then(() => {
      stopped = true;
    });
    await waitFor(() => stopped, { message: "the replica to stop" });
    assert.equal(a.manager.isLeader(), false);
    assert.equal(a.controller.running, false, "its controllers stopped");
    assert.equal(aborted, true, "the reconcile in flight was aborted");
    assert.ok(a.logs.includes("leader election lost; stopping"), a.logs.join("\n"));

    // While nobody leads, work waits; once the intruder lets go, a restarted replica leads and catches up.
    await kube.create(ConfigMaps, { metadata: { name: "while-away", namespace: ns } });
    await retryOnConflict(async () => {
      const lease = await kube.get(Leases, { namespace: ns, name: "baton-leader" });
      assert.ok(lease);
      return kube.replace(Leases, { ...lease, spec: { ...lease.spec, holderIdentity: "" } });
    });
    const restarted = await replica(t, ns, "baton-a", timings);
    await waitFor(() => restarted.manager.isLeader(), { message: "the restarted replica to lead" });
    await waitFor(() => restarted.reconciled.includes("while-away"), { message: "the work that waited to be done" });
  });

  test("a leader whose API requests stall steps down before a standby may take over; never both", async (t) => {
    const ns = await createNamespace(t);
    const { kubeConfig, server } = await useCluster();
    const kube = new KubeClient(kubeConfig);
    const proxy = await stallingProxy(t, server);
    const timings = { duration: "6s", renew: "4s", retry: "500ms" };
    const a = await replica(t, ns, "baton-a", timings, { kubeConfig: kubeConfigVia(kubeConfig, proxy.url) });
    await waitFor(() => a.manager.isLeader(), { message: "the replica behind the proxy to lead" });
    const b = await replica(t, ns, "baton-b", timings);
    await waitFor(() => b.logs.includes("observed a new leader"), { message: "the standby to see the leader" });
    const split = watchForSplitBrain(() => [a.manager.isLeader(), b.manager.isLeader()]);

    // Each request now takes 3.4 s — within the renew deadline on its own, but a renewal round (read, then
    // write) does not fit in it, and the lease goes unrenewed for longer than its duration.
    proxy.delay(1700);
    await waitFor(() => b.manager.isLeader(), { message: "the standby to take over", timeout: 60_000 });
    await waitFor(() => !a.manager.isLeader(), { message: "the stalled leader to step down", timeout: 60_000 });
    assert.equal(split.stop(), 0, "the stalled leader stopped leading before the standby began");
    const lease = await kube.get(Leases, { namespace: ns, name: "baton-leader" });
    assert.equal(lease?.spec?.holderIdentity, b.manager.identity);
  });

  test("a leader whose reconcile ignores the abort at shutdown leaves the lease to expire instead of handing over", async (t) => {
    const ns = await createNamespace(t);
    const { kubeConfig } = await useCluster();
    const kube = new KubeClient(kubeConfig);
    let release = () => {};
    const gate = new Promise<void>((resolve) => {
      release = resolve;
    });
    t.after(() => release());
    let running = false;
    const timings = { duration: "4s", renew: "3s", retry: "250ms" };
    const a = await replica(t, ns, "baton-a", timings, {
      reconcile: async (name) => {
        if (name !== "work") return;
        running = true;
        await gate; // stuck in a call that takes no signal: only the process exiting ends it
      },
    });
    await waitFor(() => a.manager.isLeader(), { message: "the replica to lead" });
    await kube.create(ConfigMaps, { metadata: { name: "work", namespace: ns } });
    await waitFor(() => running, { message: "the reconcile to start" });

    await a.manager.stop();
    const lease = await kube.get(Leases, { namespace: ns, name: "baton-leader" });
    assert.equal(
      lease?.spec?.holderIdentity,
      a.manager.identity,
      "with a reconcile still running, the lease was not released for a standby to take at once",
    );
    assert.ok(a.logs.includes("leaving the lease to expire: work may still be running"), a.logs.join("\n"));
  });

  test("a controller restarted while a reconcile ignores its abort never reconciles that key twice at once", async (t) => {
    const ns = await createNamespace(t);
    const { kubeConfig } = await useCluster();
    const kube = new KubeClient(kubeConfig);
    let running = 0;
    let mostAtOnce = 0;
    let release = () => {};
    const gate = new Promise<void>((resolve) => {
      release = resolve;
    });
    const a = await replica(
      t,
      ns,
      "baton-a",
      { duration: "60s", renew: "40s", retry: "250ms" },
      {
        // Ignores the abort until the gate opens: stuck in a call that takes no signal.
        reconcile: async (name) => {
          if (name !== "work") return;
          running++;
          mostAtOnce = Math.max(mostAtOnce, running);
          try {
            await gate;
          } finally {
            running--;
          }
        },
      },
    );
    await waitFor(() => a.manager.isLeader(), { message: "the replica to lead" });
    await kube.create(ConfigMaps, { metadata: { name: "work", namespace: ns } });
    await waitFor(() => running === 1, { message: "the reconcile to start" });

    await a.controller.stop(0);
    await a.controller.start();
    // The restarted controller has taken the key from its queue (and would reconcile it at once).
    await waitFor(() => a.controller.queue?.len() === 0 && a.controller.queue.processingLen() === 1, {
      message: "the restarted controller to take the key",
    });
    release();
    await waitFor(() => a.reconciled.filter((n) => n === "work").length === 2, {
      message: "the restarted controller to reconcile the key once the straggler has returned",
    });
    assert.equal(mostAtOnce, 1, "one key was reconciled twice at once");
  });
});
