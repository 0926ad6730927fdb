// Leader election between replicas on a real Lease: one leads, a standby takes over when the leader shuts down
// or dies, a replica that loses the lease stops its controllers, and two never lead at once.
import assert from "node:assert/strict";
import { describe, test } from "node:test";
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
}

async function replica(
  t: { after(fn: () => Promise<void>): void },
  ns: string,
  name: string,
  lease: { duration: string; renew: string; retry: string },
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
  const manager = new Manager({ config, logger: createLogger({ level: logLevel, base: { replica: name } }) });
  const reconciled: string[] = [];
  const controller = manager.addController({
    name: "recorder",
    sources: [objects(manager.informer(ConfigMaps))],
    reconcile: async (req) => {
      reconciled.push(req.name);
    },
  });
  await manager.start();
  t.after(() => manager.stop());
  return { name, manager, controller, reconciled };
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
    const standbyReady = await fetch(`http://127.0.0.1:${standby.manager.healthPort}/readyz`);
    assert.equal(standbyReady.status, 200, "a standby is still ready (its caches are warm)");

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

  test("a replica whose lease is taken stops its controllers, and leads again when it can", async (t) => {
    const ns = await createNamespace(t);
    const { kubeConfig } = await useCluster();
    const kube = new KubeClient(kubeConfig);
    const a = await replica(t, ns, "baton-a", { duration: "3s", renew: "2s", retry: "200ms" });
    await waitFor(() => a.manager.isLeader(), { message: "the only replica to lead" });
    assert.equal(a.controller.running, true);

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
    await waitFor(() => !a.manager.isLeader(), { message: "the replica to notice it lost the lease" });
    assert.equal(a.controller.running, false, "its controllers stopped");
    const scraped = await (await fetch(`http://127.0.0.1:${a.manager.healthPort}/metrics`)).text();
    assert.match(scraped, /^baton_leader_election_is_leader\{lease="baton-leader"\} 0$/m);

    // While it does not lead, work waits; once the intruder lets go, the replica leads again and catches up.
    await kube.create(ConfigMaps, { metadata: { name: "while-away", namespace: ns } });
    await retryOnConflict(async () => {
      const lease = await kube.get(Leases, { namespace: ns, name: "baton-leader" });
      assert.ok(lease);
      return kube.replace(Leases, { ...lease, spec: { ...lease.spec, holderIdentity: "" } });
    });
    await waitFor(() => a.manager.isLeader(), { message: "the replica to lead again" });
    await waitFor(() => a.reconciled.includes("while-away"), { message: "the work that waited to be done" });
  });
});
