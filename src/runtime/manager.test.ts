import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { KubeConfig } from "@kubernetes/client-node";
import { settle } from "./clock.ts";
import { loadConfig } from "./config.ts";
import type { EventSource } from "./controller.ts";
import { ConfigMaps } from "./kube.ts";
import type { ConfigMap } from "./kube-types.ts";
import { silentLogger } from "./logger.ts";
import { Manager, type Runnable } from "./manager.ts";
import { Metrics } from "./metrics.ts";

// The manager's lifecycle without a cluster: no informers and no leader election means no API calls.

function manager(extraArgs: string[] = []) {
  const kubeConfig = new KubeConfig();
  kubeConfig.loadFromOptions({
    clusters: [{ name: "nowhere", server: "https://127.0.0.1:1" }],
    users: [{ name: "nobody" }],
    contexts: [{ name: "test", cluster: "nowhere", user: "nobody" }],
    currentContext: "test",
  });
  const config = loadConfig({
    argv: ["--leader-elect=false", "--metrics-bind-address=127.0.0.1", "--metrics-port=0", ...extraArgs],
    env: { POD_NAME: "unit" },
    serviceAccountNamespaceFile: "/nonexistent",
  });
  return new Manager({ config, kubeConfig, logger: silentLogger(), metrics: new Metrics({ defaultMetrics: false }) });
}

function runnable(name: string, needLeaderElection: boolean) {
  const state = { started: false, stopped: false };
  const r: Runnable = {
    name,
    needLeaderElection,
    start: (signal) =>
      new Promise<void>((resolve) => {
        state.started = true;
        signal.addEventListener("abort", () => {
          state.stopped = true;
          resolve();
        });
      }),
  };
  return { r, state };
}

describe("Manager lifecycle", () => {
  it("starts runnables and controllers, serves health, and stops them all", async () => {
    const m = manager();
    const everywhere = runnable("intake", false);
    const leaderOnly = runnable("sweeper", true);
    m.addRunnable(everywhere.r);
    m.addRunnable(leaderOnly.r);
    let enqueue: ((key: string) => void) | undefined;
    const source: EventSource = {
      subscribe: (e) => {
        enqueue = e;
        return () => {
          enqueue = undefined;
        };
      },
      waitForSync: async () => true,
    };
    const reconciled: string[] = [];
    const controller = m.addController({
      name: "c",
      sources: [source],
      reconcile: async (req) => void reconciled.push(req.name),
    });

    await m.start();
    await settle();
    assert.equal(m.isLeader(), true, "without leader election every replica runs its controllers");
    assert.deepEqual([everywhere.state.started, leaderOnly.state.started], [true, true]);
    assert.equal(controller.running, true);
    enqueue?.("ns/a");
    await settle();
    assert.deepEqual(reconciled, ["a"]);
    const ready = await fetch(`http://127.0.0.1:${m.healthPort}/readyz`);
    assert.equal(ready.status, 200);

    await m.stop();
    assert.deepEqual([everywhere.state.stopped, leaderOnly.state.stopped], [true, true]);
    assert.equal(controller.running, false);
    await assert.rejects(fetch(`http://127.0.0.1:${m.healthPort}/healthz`), "the server is closed");
  });

  it("a controller added after start runs at once", async () => {
    const m = manager();
    await m.start();
    const controller = m.addController({
      name: "late",
      sources: [{ subscribe: () => () => undefined, waitForSync: async () => true }],
      reconcile: async () => undefined,
    });
    await settle();
    assert.equal(controller.running, true);
    await m.stop();
  });

  it("stops, and run() rejects, when a runnable fails", async () => {
    const m = manager();
    const bystander = runnable("other", false);
    m.addRunnable(bystander.r);
    m.addRunnable({
      name: "intake",
      needLeaderElection: false,
      start: async () => {
        throw new Error("listen EADDRINUSE: port 8090 is taken");
      },
    });
    await assert.rejects(m.run(), /EADDRINUSE/);
    assert.equal(bystander.state.stopped, true);
  });

  it("stop is idempotent", async () => {
    const m = manager();
    await m.start();
    await Promise.all([m.stop(), m.stop()]);
    await m.stop();
  });
});

describe("Manager.informer", () => {
  it("shares one informer per kind and selector, and refuses a second caller with another transform", () => {
    const m = manager();
    const slim = (cm: ConfigMap) => ({ metadata: cm.metadata ?? {} });
    const a = m.informer(ConfigMaps, { labelSelector: "app=x", transform: slim });
    assert.equal(m.informer(ConfigMaps, { labelSelector: "app=x", transform: slim }), a);
    assert.throws(() => m.informer(ConfigMaps, { labelSelector: "app=x" }), /different transform/);
    assert.notEqual(m.informer(ConfigMaps, { labelSelector: "app=y" }), a);
  });
});
