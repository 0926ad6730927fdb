// The kube access layer against the real kube-apiserver: server-side apply ownership, status writes,
// finalizers under concurrent writers, owner references and garbage collection.
import assert from "node:assert/strict";
import { before, describe, test } from "node:test";
import {
  ConfigMaps,
  defineResource,
  isConflict,
  KubeClient,
  type KubeObject,
  ownerReference,
  retryOnConflict,
} from "../../src/runtime/kube.ts";
import type { ManagedFieldsEntry } from "../../src/runtime/kube-types.ts";
import { createNamespace, kubectl, useCluster } from "../support/cluster.ts";
import { waitFor } from "../support/wait.ts";

// A throwaway kind with a status subresource, owned by this test file, so these tests do not depend on the
// evolving schemas of Baton's own CRDs.
interface Probe extends KubeObject {
  spec?: { size?: number };
  status?: { phase?: string; observedGeneration?: number; conditions?: unknown[] };
}
const Probes = defineResource<Probe>({ apiVersion: "runtime.test.baton.dev/v1", kind: "Probe", plural: "probes" });
const CRDs = defineResource({
  apiVersion: "apiextensions.k8s.io/v1",
  kind: "CustomResourceDefinition",
  plural: "customresourcedefinitions",
  namespaced: false,
});

async function installProbeCrd(kube: KubeClient): Promise<void> {
  const open = { type: "object", "x-kubernetes-preserve-unknown-fields": true };
  await kube.withFieldManager("baton-tests").apply(CRDs, {
    apiVersion: "apiextensions.k8s.io/v1",
    kind: "CustomResourceDefinition",
    metadata: { name: "probes.runtime.test.baton.dev" },
    spec: {
      group: "runtime.test.baton.dev",
      scope: "Namespaced",
      names: { plural: "probes", singular: "probe", kind: "Probe", listKind: "ProbeList" },
      versions: [
        {
          name: "v1",
          served: true,
          storage: true,
          subresources: { status: {} },
          schema: { openAPIV3Schema: { type: "object", properties: { spec: open, status: open } } },
        },
      ],
    },
  } as KubeObject);
  await waitFor(
    async () => {
      const crd = (await kube.get(CRDs, { name: "probes.runtime.test.baton.dev" })) as
        | { status?: { conditions?: Array<{ type: string; status: string }> } }
        | undefined;
      return crd?.status?.conditions?.some((c) => c.type === "Established" && c.status === "True");
    },
    { message: "the Probe CRD to be established" },
  );
}

const managers = (entries: ManagedFieldsEntry[] | undefined) =>
  (entries ?? []).map((e) => `${e.manager}:${e.operation}${e.subresource ? `/${e.subresource}` : ""}`).sort();

describe("kube access", { timeout: 120_000 }, () => {
  let kube: KubeClient;
  before(async () => {
    const { kubeConfig } = await useCluster();
    kube = new KubeClient(kubeConfig);
    await installProbeCrd(kube);
  });

  test("server-side apply records field manager baton and takes over fields only when forced", async (t) => {
    const ns = await createNamespace(t);
    const someoneElse = kube.withFieldManager("helm");
    await someoneElse.apply(ConfigMaps, {
      metadata: { name: "settings", namespace: ns },
      data: { theirs: "1", shared: "helm" },
    });

    const applied = await kube.apply(
      ConfigMaps,
      { metadata: { name: "settings", namespace: ns, labels: { "app.kubernetes.io/managed-by": "baton" } } },
      { force: false },
    );
    assert.deepEqual(managers(applied.metadata?.managedFields), ["baton:Apply", "helm:Apply"]);

    await assert.rejects(
      kube.apply(
        ConfigMaps,
        { metadata: { name: "settings", namespace: ns }, data: { shared: "baton" } },
        { force: false },
      ),
      (err: unknown) => isConflict(err) && /conflict with "helm"/.test((err as Error).message),
      "an unforced apply refuses to take a field another manager owns",
    );

    const forced = await kube.apply(ConfigMaps, {
      metadata: { name: "settings", namespace: ns, labels: { "app.kubernetes.io/managed-by": "baton" } },
      data: { shared: "baton" },
    });
    assert.deepEqual(forced.data, { theirs: "1", shared: "baton" }, "fields Baton does not apply are left alone");

    const yaml = await kubectl(["get", "configmap", "settings", "-n", ns, "-o", "yaml", "--show-managed-fields"]);
    assert.equal(yaml.code, 0, yaml.stderr);
    assert.match(yaml.stdout, /manager: baton\n\s+operation: Apply/);

    const dropped = await kube.apply(ConfigMaps, { metadata: { name: "settings", namespace: ns }, data: {} });
    assert.deepEqual(dropped.data, { theirs: "1" }, "a field Baton stops applying is removed; others' stay");
    assert.equal(dropped.metadata?.labels?.["app.kubernetes.io/managed-by"], undefined);
  });

  test("status is written through the status subresource, with a resourceVersion precondition", async (t) => {
    const ns = await createNamespace(t);
    const created = await kube.create(Probes, { metadata: { name: "p", namespace: ns }, spec: { size: 1 } });
    const generation = created.metadata?.generation;

    const patched = await kube.patchStatus(
      Probes,
      { namespace: ns, name: "p" },
      { phase: "Ready", observedGeneration: generation },
      { resourceVersion: created.metadata?.resourceVersion },
    );
    assert.equal(patched.status?.phase, "Ready");
    assert.equal(patched.metadata?.generation, generation, "status writes do not bump the generation");

    await assert.rejects(
      kube.patchStatus(
        Probes,
        { namespace: ns, name: "p" },
        { phase: "Stale" },
        { resourceVersion: created.metadata?.resourceVersion },
      ),
      isConflict,
      "a decision made on an old read is refused",
    );

    const specIgnored = await kube.patchStatus(Probes, { namespace: ns, name: "p" }, { phase: "Ready" });
    assert.equal(specIgnored.spec?.size, 1);

    const applied = await kube.applyStatus(Probes, {
      metadata: { name: "p", namespace: ns },
      status: { phase: "Applied", observedGeneration: generation },
    } as Probe);
    assert.equal(applied.status?.phase, "Applied");
    assert.ok(managers(applied.metadata?.managedFields).includes("baton:Apply/status"));

    const fetched = await kube.get(Probes, { namespace: ns, name: "p" });
    assert.equal(fetched?.status?.phase, "Applied");
  });

  test("finalizers: a concurrent writer's finalizer is never lost", async (t) => {
    const ns = await createNamespace(t);
    const other = kube.withFieldManager("other-controller");
    const original = await kube.create(ConfigMaps, { metadata: { name: "cm", namespace: ns } });

    // Both controllers read the object, then both add their finalizer.
    await other.addFinalizer(ConfigMaps, original, "other.example.com/cleanup");
    await assert.rejects(kube.addFinalizer(ConfigMaps, original, "baton.dev/cleanup"), isConflict);
    const withBoth = await retryOnConflict(async () => {
      const fresh = await kube.get(ConfigMaps, { namespace: ns, name: "cm" });
      assert.ok(fresh);
      return kube.addFinalizer(ConfigMaps, fresh, "baton.dev/cleanup");
    });
    assert.deepEqual(withBoth.metadata?.finalizers, ["other.example.com/cleanup", "baton.dev/cleanup"]);
    assert.equal(
      await kube.addFinalizer(ConfigMaps, withBoth, "baton.dev/cleanup"),
      withBoth,
      "adding twice is a no-op",
    );

    // The other controller removes its entry, shifting ours; our removal from the stale read must not remove
    // the wrong entry.
    await other.removeFinalizer(ConfigMaps, withBoth, "other.example.com/cleanup");
    const third = await other.addFinalizer(
      ConfigMaps,
      (await kube.get(ConfigMaps, { namespace: ns, name: "cm" })) ?? original,
      "third.example.com/keep",
    );
    assert.deepEqual(third.metadata?.finalizers, ["baton.dev/cleanup", "third.example.com/keep"]);
    await assert.rejects(kube.removeFinalizer(ConfigMaps, withBoth, "baton.dev/cleanup"), isConflict);
    const removed = await kube.removeFinalizer(ConfigMaps, third, "baton.dev/cleanup");
    assert.deepEqual(removed.metadata?.finalizers, ["third.example.com/keep"]);
  });

  test("an object with Baton's finalizer waits for Baton before it goes away", async (t) => {
    const ns = await createNamespace(t);
    const cm = await kube.addFinalizer(
      ConfigMaps,
      await kube.create(ConfigMaps, { metadata: { name: "guarded", namespace: ns } }),
      "baton.dev/cleanup",
    );
    assert.equal(await kube.delete(ConfigMaps, { namespace: ns, name: "guarded" }), true);
    const deleting = await kube.get(ConfigMaps, { namespace: ns, name: "guarded" });
    assert.ok(deleting?.metadata?.deletionTimestamp, "marked for deletion but still there");
    await kube.removeFinalizer(ConfigMaps, deleting ?? cm, "baton.dev/cleanup");
    await waitFor(async () => (await kube.get(ConfigMaps, { namespace: ns, name: "guarded" })) === undefined, {
      message: "the object to be deleted once the finalizer is gone",
    });
    assert.equal(await kube.delete(ConfigMaps, { namespace: ns, name: "guarded" }), false, "deleting again says gone");
  });

  test("objects owned through ownerReference are garbage-collected with their owner", async (t) => {
    const ns = await createNamespace(t);
    const owner = await kube.create(Probes, { metadata: { name: "owner", namespace: ns }, spec: {} });
    await kube.apply(ConfigMaps, {
      metadata: { name: "child", namespace: ns, ownerReferences: [ownerReference(owner)] },
      data: { a: "b" },
    });
    await kube.delete(Probes, { namespace: ns, name: "owner" }, { propagationPolicy: "Background" });
    await waitFor(async () => (await kube.get(ConfigMaps, { namespace: ns, name: "child" })) === undefined, {
      message: "kube-controller-manager to collect the owned ConfigMap",
      timeout: 60_000,
    });
  });

  test("errors name the request and the object", async (t) => {
    const ns = await createNamespace(t);
    await kube.create(ConfigMaps, { metadata: { name: "dup", namespace: ns } });
    await assert.rejects(kube.create(ConfigMaps, { metadata: { name: "dup", namespace: ns } }), {
      message: `POST configmaps ${ns}/dup: 409 AlreadyExists: configmaps "dup" already exists`,
    });
    assert.equal(await kube.get(ConfigMaps, { namespace: ns, name: "missing" }), undefined);
  });
});
