// A controller run by the manager against the real API server: it reconciles what it watches, repairs what it
// owns, retries failures with back-off, honours requeueAfter, and stops cleanly.
import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { loadConfig } from "../../src/runtime/config.ts";
import { mapped, objects, ownedBy, type ReconcileContext } from "../../src/runtime/controller.ts";
import { ConfigMaps, Events, ownerReference } from "../../src/runtime/kube.ts";
import type { ConfigMap } from "../../src/runtime/kube-types.ts";
import { createLogger, type ObjectKey } from "../../src/runtime/logger.ts";
import { Manager } from "../../src/runtime/manager.ts";
import { createNamespace, useCluster } from "../support/cluster.ts";
import { waitFor } from "../support/wait.ts";

interface Call {
  name: string;
  attempt: number;
}

/** A manager watching one namespace, with a controller that copies `role=source` ConfigMaps to owned copies. */
async function copier(t: { after(fn: () => Promise<void>): void }, ns: string) {
  const { kubeconfigPath } = await useCluster();
  const config = loadConfig({
    argv: [
      "--kubeconfig",
      kubeconfigPath,
      "--watch-namespace",
      ns,
      "--leader-elect=false",
      "--metrics-bind-address=127.0.0.1",
      "--metrics-port=0",
      "--shutdown-timeout=5s",
    ],
    env: { POD_NAME: "copier-test" },
    serviceAccountNamespaceFile: "/nonexistent",
  });
  const manager = new Manager({
    config,
    logger: createLogger({ level: (process.env.BATON_TEST_LOG_LEVEL as "info") ?? "silent" }),
  });
  const sources = manager.informer(ConfigMaps, { labelSelector: "role=source" });
  const copies = manager.informer(ConfigMaps, { labelSelector: "role=copy" });
  const calls: Call[] = [];
  const failures = new Map<string, number>();

  const reconcile = async (req: ObjectKey, ctx: ReconcileContext) => {
    calls.push({ name: req.name, attempt: ctx.attempt });
    const source = sources.get(req.namespace, req.name);
    if (!source) return; // the copy goes with it through garbage collection
    const annotations = source.metadata?.annotations ?? {};
    const failTimes = Number(annotations["test/fail-times"] ?? 0);
    const failed = failures.get(req.name) ?? 0;
    if (failed < failTimes) {
      failures.set(req.name, failed + 1);
      manager.events.warning(source, "CopyFailed", "the copy could not be written (simulated)");
      throw new Error(`simulated failure on attempt ${ctx.attempt}`);
    }
    if (annotations["test/read-only"]) return;
    await manager.kube.apply(ConfigMaps, {
      metadata: {
        name: `${req.name}-copy`,
        namespace: req.namespace,
        labels: { role: "copy" },
        ownerReferences: [ownerReference(source)],
      },
      data: source.data ?? {},
    });
    const every = annotations["test/requeue-after-ms"];
    return every ? { requeueAfter: Number(every) } : undefined;
  };

  const controller = manager.addController({
    name: "copier",
    workers: 2,
    reconcile,
    sources: [
      objects(sources),
      ownedBy(copies, ConfigMaps),
      // Related objects: a ConfigMap named "trigger" asks for every source to be looked at again.
      mapped(manager.informer(ConfigMaps, { fieldSelector: "metadata.name=trigger" }), () =>
        sources.list(ns).map((s) => ({ namespace: ns, name: s.metadata?.name ?? "" })),
      ),
    ],
  });
  await manager.start();
  t.after(() => manager.stop());
  return { manager, controller, calls, kube: manager.kube };
}

async function metric(port: number | undefined, pattern: RegExp): Promise<number> {
  const text = await (await fetch(`http://127.0.0.1:${port}/metrics`)).text();
  const line = text.split("\n").find((l) => pattern.test(l));
  return line ? Number(line.split(" ").at(-1)) : 0;
}

const source = (
  ns: string,
  name: string,
  data: Record<string, string>,
  annotations: Record<string, string> = {},
): ConfigMap => ({
  metadata: { name, namespace: ns, labels: { role: "source" }, annotations },
  data,
});

describe("controller", { timeout: 120_000 }, () => {
  test("reconciles what it watches and repairs what it owns", async (t) => {
    const ns = await createNamespace(t);
    const { manager, kube } = await copier(t, ns);
    const copyData = async () => (await kube.get(ConfigMaps, { namespace: ns, name: "app-copy" }))?.data?.color;

    await kube.create(ConfigMaps, source(ns, "app", { color: "blue" }));
    await waitFor(async () => (await copyData()) === "blue", { message: "the copy to be created" });

    await kube.patch(ConfigMaps, { namespace: ns, name: "app" }, { data: { color: "green" } });
    await waitFor(async () => (await copyData()) === "green", { message: "the copy to follow the source" });

    await kube.delete(ConfigMaps, { namespace: ns, name: "app-copy" });
    await waitFor(async () => (await copyData()) === "green", { message: "the deleted copy to be recreated" });

    const copy = await kube.get(ConfigMaps, { namespace: ns, name: "app-copy" });
    assert.equal(copy?.metadata?.ownerReferences?.[0]?.name, "app");
    assert.ok(copy?.metadata?.managedFields?.some((f) => f.manager === "baton"));

    const ready = await fetch(`http://127.0.0.1:${manager.healthPort}/readyz`);
    assert.equal(ready.status, 200);
    assert.equal((await fetch(`http://127.0.0.1:${manager.healthPort}/healthz`)).status, 200);
    assert.ok(
      (await metric(manager.healthPort, /^baton_reconcile_total\{controller="copier",result="success"\}/)) >= 3,
    );
    assert.ok(
      (await metric(manager.healthPort, /^baton_reconcile_duration_seconds_count\{controller="copier"\}/)) >= 3,
    );
    assert.match(
      await (await fetch(`http://127.0.0.1:${manager.healthPort}/metrics`)).text(),
      /^baton_workqueue_depth\{controller="copier"\} \d+$/m,
    );
  });

  test("retries a failing object with back-off until it succeeds", async (t) => {
    const ns = await createNamespace(t);
    const { manager, calls, kube } = await copier(t, ns);
    await kube.create(ConfigMaps, source(ns, "flaky", { v: "1" }, { "test/fail-times": "3" }));
    await waitFor(() => kube.get(ConfigMaps, { namespace: ns, name: "flaky-copy" }), {
      message: "the copy once the failures are over",
    });
    assert.deepEqual(
      calls
        .filter((c) => c.name === "flaky")
        .map((c) => c.attempt)
        .slice(0, 4),
      [0, 1, 2, 3],
      "each retry knows how many attempts failed before it",
    );
    assert.equal(await metric(manager.healthPort, /^baton_reconcile_total\{controller="copier",result="error"\}/), 3);
    await manager.events.flush();
    const warnings = (await kube.list(Events, { namespace: ns })).items.filter((e) => e.reason === "CopyFailed");
    assert.equal(warnings.length, 1);
    assert.equal(warnings[0]?.count, 3);
  });

  test("reconciles again after requeueAfter without any change", async (t) => {
    const ns = await createNamespace(t);
    const { calls, kube } = await copier(t, ns);
    await kube.create(ConfigMaps, source(ns, "periodic", {}, { "test/requeue-after-ms": "200" }));
    await waitFor(() => calls.filter((c) => c.name === "periodic").length >= 3, {
      message: "three passes over an unchanged object",
    });
    assert.ok(
      calls.every((c) => c.attempt === 0),
      "a requeue-after is not a failure",
    );
  });

  test("maps related objects to the keys they affect", async (t) => {
    const ns = await createNamespace(t);
    const { calls, kube } = await copier(t, ns);
    // Read-only sources: no copies are written, so no echo of our own writes triggers extra passes.
    await kube.create(ConfigMaps, source(ns, "one", {}, { "test/read-only": "true" }));
    await kube.create(ConfigMaps, source(ns, "two", {}, { "test/read-only": "true" }));
    await waitFor(() => calls.length >= 2, { message: "the first passes" });
    const before = calls.length;
    await kube.create(ConfigMaps, { metadata: { name: "trigger", namespace: ns } });
    await waitFor(() => calls.length >= before + 2, { message: "both sources reconciled for the trigger" });
    assert.deepEqual(
      calls
        .slice(before)
        .map((c) => c.name)
        .sort(),
      ["one", "two"],
    );
  });

  test("stops cleanly: nothing is reconciled after stop", async (t) => {
    const ns = await createNamespace(t);
    const { manager, controller, calls, kube } = await copier(t, ns);
    await kube.create(ConfigMaps, source(ns, "first", {}));
    await waitFor(() => calls.length >= 1, { message: "the first reconcile" });
    await manager.stop();
    assert.equal(controller.running, false);
    const afterStop = calls.length;
    await kube.create(ConfigMaps, source(ns, "second", {}));
    // A fresh manager is the witness that "second" was there to be reconciled all along.
    const witness = await copier(t, ns);
    await waitFor(() => kube.get(ConfigMaps, { namespace: ns, name: "second-copy" }), {
      message: "the new manager to copy the source created after the first one stopped",
    });
    assert.ok(witness.calls.some((c) => c.name === "second"));
    assert.equal(calls.length, afterStop);
  });
});
