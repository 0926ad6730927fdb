// The informer against the real kube-apiserver: what a controller relies on when the network or the API
// server's history misbehaves.
import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { Response, fetch as undiciFetch } from "undici";
import { Informer } from "../../src/runtime/informer.ts";
import { ConfigMaps, Events, type Fetch, KubeClient } from "../../src/runtime/kube.ts";
import type { ConfigMap, Event } from "../../src/runtime/kube-types.ts";
import { Metrics, runtimeMetrics } from "../../src/runtime/metrics.ts";
import { createNamespace, useCluster } from "../support/cluster.ts";
import { waitFor } from "../support/wait.ts";

/** A transport in front of the real API server that can cut the network or silence open watches. */
function faultyTransport() {
  const open = new Set<{ mute(): void; cut(): void }>();
  let partitioned = false;
  const transport: Fetch = async (url, init) => {
    if (partitioned) throw new TypeError("fetch failed", { cause: new Error("connect ECONNREFUSED (injected)") });
    const res = await undiciFetch(url, init);
    const source = res.body;
    if (!url.includes("watch=true") || !source) return res;
    const reader = source.getReader();
    let muted = false;
    let stream: ReadableStreamDefaultController<Uint8Array> | undefined;
    const handle = {
      mute: () => {
        muted = true;
      },
      cut: () => {
        open.delete(handle);
        stream?.error(new TypeError("terminated (injected)"));
        void reader.cancel().catch(() => undefined);
      },
    };
    open.add(handle);
    const body = new ReadableStream<Uint8Array>({
      start(c) {
        stream = c;
      },
      async pull(c) {
        try {
          const chunk = await reader.read();
          if (chunk.done) {
            open.delete(handle);
            c.close();
          } else if (!muted) {
            c.enqueue(chunk.value);
          }
        } catch (err) {
          open.delete(handle);
          c.error(err);
        }
      },
      cancel(reason) {
        open.delete(handle);
        return reader.cancel(reason);
      },
    });
    return new Response(body, { status: res.status, headers: res.headers });
  };
  return {
    fetch: transport,
    /** Watch responses still streaming. */
    openWatches: () => open.size,
    /** Open watches stay connected but deliver nothing more: a half-open connection. */
    muteOpenWatches: () => {
      for (const w of open) w.mute();
    },
    partition: () => {
      partitioned = true;
      for (const w of [...open]) w.cut();
    },
    heal: () => {
      partitioned = false;
    },
  };
}

/** Compacts etcd's history up to its current revision, as kube-apiserver's periodic compaction would. */
async function compactEtcd(etcdUrl: string): Promise<number> {
  const range = await fetch(`${etcdUrl}/v3/kv/range`, {
    method: "POST",
    signal: AbortSignal.timeout(10_000),
    body: JSON.stringify({ key: Buffer.from("compact_rev_key").toString("base64") }),
  });
  const revision = Number(((await range.json()) as { header: { revision: string } }).header.revision);
  const res = await fetch(`${etcdUrl}/v3/kv/compaction`, {
    method: "POST",
    signal: AbortSignal.timeout(30_000),
    body: JSON.stringify({ revision: String(revision), physical: true }),
  });
  const text = await res.text();
  // A concurrent test may have compacted further already; that serves the purpose as well.
  assert.ok(res.ok || /compacted/.test(text), `etcd compaction failed: ${text}`);
  return revision;
}

function recorder<T extends { metadata?: { name?: string } }>() {
  const seen: string[] = [];
  return {
    seen,
    handlers: {
      add: (o: T) => seen.push(`add ${o.metadata?.name}`),
      update: (old: T, o: T) => {
        if (old !== o) seen.push(`update ${o.metadata?.name}`);
      },
      delete: (o: T) => seen.push(`delete ${o.metadata?.name}`),
    },
  };
}

async function counter(
  metrics: ReturnType<typeof runtimeMetrics>,
  name: "informerRelists" | "informerWatchRestarts",
  labels: Record<string, string>,
) {
  const values = (await metrics[name].get()).values as Array<{ labels: Record<string, unknown>; value: number }>;
  return values
    .filter((v) => Object.entries(labels).every(([k, l]) => v.labels[k] === l))
    .reduce((n, v) => n + v.value, 0);
}

describe("informer", { timeout: 120_000 }, () => {
  test("sees ConfigMaps added, updated and deleted, filtered by namespace and label", async (t) => {
    const { kubeConfig } = await useCluster();
    const ns = await createNamespace(t);
    const other = await createNamespace(t);
    const kube = new KubeClient(kubeConfig);
    const all = new Informer<ConfigMap>(kube, ConfigMaps, { namespace: ns });
    const labelled = new Informer<ConfigMap>(kube, ConfigMaps, { namespace: ns, labelSelector: "app=baton" });
    const everything = recorder<ConfigMap>();
    const onlyLabelled = recorder<ConfigMap>();
    await kube.create(ConfigMaps, { metadata: { name: "before", namespace: ns }, data: { a: "1" } });
    all.addHandlers(everything.handlers);
    labelled.addHandlers(onlyLabelled.handlers);
    all.start();
    labelled.start();
    t.after(() => Promise.all([all.stop(), labelled.stop()]));
    assert.equal(await all.waitForSync(), true);
    assert.equal(await labelled.waitForSync(), true);
    assert.deepEqual(everything.seen, ["add before"], "the initial list arrives as adds");

    await kube.create(ConfigMaps, {
      metadata: { name: "app", namespace: ns, labels: { app: "baton" } },
      data: { v: "1" },
    });
    await kube.create(ConfigMaps, { metadata: { name: "elsewhere", namespace: other }, data: {} });
    await kube.patch(ConfigMaps, { namespace: ns, name: "app" }, { data: { v: "2" } });
    await kube.delete(ConfigMaps, { namespace: ns, name: "before" });

    await waitFor(() => everything.seen.length >= 4, { message: "four events for the namespace" });
    assert.deepEqual(everything.seen, ["add before", "add app", "update app", "delete before"]);
    await waitFor(() => onlyLabelled.seen.length >= 2, { message: "the labelled ConfigMap's events" });
    assert.deepEqual(onlyLabelled.seen, ["add app", "update app"]);
    assert.equal(all.get(ns, "app")?.data?.v, "2");
    assert.equal(all.get(ns, "before"), undefined);
    assert.deepEqual(
      all.list(ns).map((c) => c.metadata?.name),
      ["app"],
    );
    assert.equal(all.get(ns, "app")?.metadata?.managedFields, undefined, "the cache drops managedFields");
    assert.equal(all.get(other, "elsewhere"), undefined, "another namespace is not watched");
  });

  test("relists after 410 Gone when etcd history was compacted while it was disconnected", async (t) => {
    const { kubeConfig, etcdUrl } = await useCluster();
    assert.ok(etcdUrl, "the test control plane exposes etcd");
    const ns = await createNamespace(t);
    const kube = new KubeClient(kubeConfig);
    const net = faultyTransport();
    const metrics = runtimeMetrics(new Metrics({ defaultMetrics: false }));
    // Events are the kind kube-apiserver serves without a watch cache, straight from etcd: a watch from a
    // compacted revision gets 410 Gone, as every kind does in clusters that run with the watch cache off.
    const informer = new Informer<Event>(new KubeClient(kubeConfig, { fetch: net.fetch }), Events, {
      namespace: ns,
      metrics,
      backoff: { initialMs: 50, maxMs: 200 },
    });
    const seen = recorder<Event>();
    informer.addHandlers(seen.handlers);
    const event = (name: string, message: string): Event => ({
      metadata: { name, namespace: ns },
      involvedObject: { apiVersion: "v1", kind: "ConfigMap", name: "x", namespace: ns },
      reason: "Testing",
      message,
      type: "Normal",
    });
    await kube.create(Events, event("keep", "one"));
    await kube.create(Events, event("gone", "one"));
    informer.start();
    t.after(() => informer.stop());
    await informer.waitForSync();
    const relistsBefore = await counter(metrics, "informerRelists", { resource: "events" });

    net.partition();
    await kube.patch(Events, { namespace: ns, name: "keep" }, { message: "two" });
    await kube.delete(Events, { namespace: ns, name: "gone" });
    await kube.create(Events, event("new", "one"));
    const compactedAt = await compactEtcd(etcdUrl);
    assert.ok(compactedAt > Number(informer.resourceVersion) + 1, "the informer's resourceVersion is now compacted");
    net.heal();

    await waitFor(() => seen.seen.length >= 5, { message: "the relist to report what changed", timeout: 30_000 });
    assert.deepEqual(seen.seen.slice(0, 2).sort(), ["add gone", "add keep"]);
    assert.deepEqual(seen.seen.slice(2).sort(), ["add new", "delete gone", "update keep"]);
    assert.equal(informer.get(ns, "keep")?.message, "two");
    assert.equal(informer.get(ns, "gone"), undefined);
    assert.ok(
      (await counter(metrics, "informerRelists", { resource: "events" })) > relistsBefore,
      "the cache was rebuilt by a relist",
    );
    assert.ok((await counter(metrics, "informerWatchRestarts", { resource: "events", reason: "expired" })) >= 1);
    assert.ok(Number(informer.resourceVersion) >= compactedAt, "it resumes watching from the fresh list");
    await informer.stop();
    assert.equal(net.openWatches(), 0, "stopping the informer closes its watch");
  });

  test("lists in pages, and lists again when a continue token expires between pages", async (t) => {
    const { kubeConfig, etcdUrl } = await useCluster();
    assert.ok(etcdUrl, "the test control plane exposes etcd");
    const ns = await createNamespace(t);
    const kube = new KubeClient(kubeConfig);
    const event = (name: string): Event => ({
      metadata: { name, namespace: ns },
      involvedObject: { apiVersion: "v1", kind: "ConfigMap", name: "x", namespace: ns },
      reason: "Testing",
      message: "one",
      type: "Normal",
    });
    for (const name of ["a", "b", "c", "d", "e"]) await kube.create(Events, event(name));
    // Lists as the informer sends them; after its first page, history is compacted past that page's revision
    // (Events are served straight from etcd, so the continue token of that page is then refused with 410).
    const lists: string[] = [];
    let compacted = false;
    const transport: Fetch = async (url, init) => {
      const res = await undiciFetch(url, init);
      if (url.includes("watch=true")) return res;
      const query = new URL(url).searchParams;
      lists.push(`${query.get("limit") ?? "all"}${query.has("continue") ? "+continue" : ""}`);
      if (!compacted && query.has("limit")) {
        compacted = true;
        const body = await res.text();
        await kube.create(Events, event("f"));
        await compactEtcd(etcdUrl);
        return new Response(body, { status: res.status, headers: res.headers });
      }
      return res;
    };
    const metrics = runtimeMetrics(new Metrics({ defaultMetrics: false }));
    const transformed: string[] = [];
    const informer = new Informer<Event>(new KubeClient(kubeConfig, { fetch: transport }), Events, {
      namespace: ns,
      metrics,
      pageSize: 2,
      transform: (e) => {
        transformed.push(e.metadata?.name ?? "");
        return { ...e, message: e.message?.toUpperCase() };
      },
    });
    const seen = recorder<Event>();
    informer.addHandlers(seen.handlers);
    informer.start();
    t.after(() => informer.stop());
    assert.equal(await informer.waitForSync(), true);

    assert.deepEqual(lists, ["2", "2+continue", "2", "2+continue", "2+continue"], "pages of 2, restarted once");
    assert.deepEqual(seen.seen.sort(), ["add a", "add b", "add c", "add d", "add e", "add f"], "one add each");
    assert.equal(informer.size, 6);
    assert.equal(informer.get(ns, "e")?.message, "ONE", "every page goes through the transform");
    assert.equal(transformed.length, 8, "the pages before the expiry, then all six again");
    assert.equal(
      await counter(metrics, "informerRelists", { resource: "events" }),
      1,
      "the restart counts as a relist",
    );
  });

  test("reopens a watch that went silent (half-open connection) and catches up", async (t) => {
    const { kubeConfig } = await useCluster();
    const ns = await createNamespace(t);
    const kube = new KubeClient(kubeConfig);
    const net = faultyTransport();
    const metrics = runtimeMetrics(new Metrics({ defaultMetrics: false }));
    const informer = new Informer<ConfigMap>(new KubeClient(kubeConfig, { fetch: net.fetch }), ConfigMaps, {
      namespace: ns,
      metrics,
      watchdogMs: 1500,
      // Far beyond the test: only the watchdog can end this watch.
      watchTimeoutSeconds: 3600,
    });
    await kube.create(ConfigMaps, { metadata: { name: "settings", namespace: ns }, data: { mode: "a" } });
    informer.start();
    t.after(() => informer.stop());
    await informer.waitForSync();
    await waitFor(() => net.openWatches() > 0, { message: "the informer's watch to be open" });

    net.muteOpenWatches();
    await kube.patch(ConfigMaps, { namespace: ns, name: "settings" }, { data: { mode: "b" } });
    await waitFor(() => informer.get(ns, "settings")?.data?.mode === "b", {
      message: "the update made while the watch was silent",
      timeout: 20_000,
    });
    assert.ok((await counter(metrics, "informerWatchRestarts", { resource: "configmaps", reason: "watchdog" })) >= 1);
    assert.deepEqual(informer.healthy(), { ok: true });
    await informer.stop();
    assert.equal(net.openWatches(), 0, "stopping the informer closes its watch, including the silenced one");
  });

  test("delivers every cached object again on each resync period", async (t) => {
    const { kubeConfig } = await useCluster();
    const ns = await createNamespace(t);
    const kube = new KubeClient(kubeConfig);
    await kube.create(ConfigMaps, { metadata: { name: "steady", namespace: ns } });
    const informer = new Informer<ConfigMap>(kube, ConfigMaps, { namespace: ns, resyncPeriodMs: 100 });
    let resyncs = 0;
    informer.addHandlers({
      update: (old, obj) => {
        if (old === obj && obj.metadata?.name === "steady") resyncs++;
      },
    });
    informer.start();
    t.after(() => informer.stop());
    await waitFor(() => resyncs >= 2, { message: "two resyncs of an unchanged object" });
  });

  test("keeps retrying through an outage and resumes without losing changes", async (t) => {
    const { kubeConfig } = await useCluster();
    const ns = await createNamespace(t);
    const kube = new KubeClient(kubeConfig);
    const net = faultyTransport();
    const informer = new Informer<ConfigMap>(new KubeClient(kubeConfig, { fetch: net.fetch }), ConfigMaps, {
      namespace: ns,
      backoff: { initialMs: 50, maxMs: 200 },
    });
    const seen = recorder<ConfigMap>();
    informer.addHandlers(seen.handlers);
    informer.start();
    t.after(() => informer.stop());
    await informer.waitForSync();

    net.partition();
    await kube.create(ConfigMaps, { metadata: { name: "during-outage", namespace: ns } });
    net.heal();
    await waitFor(() => informer.get(ns, "during-outage"), { message: "the ConfigMap created during the outage" });
    assert.deepEqual(seen.seen, ["add during-outage"], "delivered once, as an add");
  });
});
