// Events as `kubectl describe` shows them: repeats aggregated, credentials never printed, recording never
// failing the caller.
import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { EventRecorder } from "../../src/runtime/events.ts";
import { ConfigMaps, Events, KubeClient } from "../../src/runtime/kube.ts";
import { createNamespace, kubectl, useCluster } from "../support/cluster.ts";

describe("event recorder", { timeout: 60_000 }, () => {
  test("repeats become one Event with a count, and kubectl describe tells the story", async (t) => {
    const { kubeConfig } = await useCluster();
    const ns = await createNamespace(t);
    const kube = new KubeClient(kubeConfig);
    const cm = await kube.create(ConfigMaps, { metadata: { name: "app", namespace: ns } });
    const events = new EventRecorder({ kube, instance: "baton-0_test" });
    const token = "BBDC-MjUyOTczNTE1MDY5OmE3RnEwLytaMTlrTG1XM3hZdDZQ";

    for (let i = 0; i < 3; i++) {
      events.warning(cm, "WebhookSyncFailed", `Bitbucket refused token ${token}: 401 Unauthorized`);
    }
    events.normal(cm, "TokenIssued", "issued token 252973515069, expires 2030-03-01");
    await events.flush();

    const listed = await kube.list(Events, { namespace: ns });
    assert.equal(listed.items.length, 2, "three identical warnings are one Event");
    const warning = listed.items.find((e) => e.reason === "WebhookSyncFailed");
    assert.equal(warning?.count, 3);
    assert.equal(warning?.type, "Warning");
    assert.equal(warning?.message, "Bitbucket refused token BBDC-[REDACTED]: 401 Unauthorized");
    assert.equal(warning?.involvedObject.uid, cm.metadata?.uid);
    assert.equal(warning?.involvedObject.kind, "ConfigMap");
    assert.equal(warning?.reportingComponent, "baton");
    assert.equal(warning?.source?.component, "baton");

    const described = await kubectl(["describe", "configmap", "app", "-n", ns]);
    assert.equal(described.code, 0, described.stderr);
    assert.match(described.stdout, /Warning\s+WebhookSyncFailed\s+.*\(x3 over .*\)\s+baton\s+Bitbucket refused token/);
    assert.match(described.stdout, /Normal\s+TokenIssued\s+.*baton\s+issued token 252973515069/);
    assert.ok(!described.stdout.includes(token));
  });

  test("a new message is a new Event; a flood from one object is capped", async (t) => {
    const { kubeConfig } = await useCluster();
    const ns = await createNamespace(t);
    const kube = new KubeClient(kubeConfig);
    const cm = await kube.create(ConfigMaps, { metadata: { name: "noisy", namespace: ns } });
    const events = new EventRecorder({ kube, spamBurst: 4 });
    for (let i = 0; i < 10; i++) events.warning(cm, "RunFailed", `run ${i} failed`);
    await events.flush();
    const listed = await kube.list(Events, { namespace: ns });
    assert.equal(listed.items.length, 4);
  });

  test("recording never throws into the caller, even when the API server refuses", async (t) => {
    const { kubeConfig } = await useCluster();
    const ns = await createNamespace(t);
    const kube = new KubeClient(kubeConfig);
    const events = new EventRecorder({ kube });
    const ghost = { apiVersion: "v1", kind: "ConfigMap", metadata: { name: "x", namespace: `${ns}-missing` } };
    assert.doesNotThrow(() => events.warning(ghost, "Whatever", "the namespace does not exist"));
    assert.doesNotThrow(() => events.normal({ metadata: {} }, "NoName", "dropped"));
    await events.flush();
  });
});
