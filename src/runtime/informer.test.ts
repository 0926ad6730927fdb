import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { diffCache, resourceName, stripBookkeeping } from "./informer.ts";
import { ConfigMaps, defineResource } from "./kube.ts";
import type { KubeObject } from "./kube-types.ts";

const obj = (name: string, rv: string): KubeObject => ({ metadata: { namespace: "ns", name, resourceVersion: rv } });
const map = (...objs: KubeObject[]) => new Map(objs.map((o) => [`ns/${o.metadata?.name}`, o]));
const names = (objs: KubeObject[]) => objs.map((o) => o.metadata?.name).sort();

describe("diffCache (what a relist after 410 Gone reports)", () => {
  const table: Array<{
    name: string;
    cache: KubeObject[];
    listed: KubeObject[];
    added: string[];
    updated: string[];
    deleted: string[];
  }> = [
    {
      name: "first list: everything is new",
      cache: [],
      listed: [obj("a", "1"), obj("b", "2")],
      added: ["a", "b"],
      updated: [],
      deleted: [],
    },
    { name: "nothing changed", cache: [obj("a", "1")], listed: [obj("a", "1")], added: [], updated: [], deleted: [] },
    {
      name: "changed, created and deleted while the watch was away",
      cache: [obj("a", "1"), obj("b", "2"), obj("gone", "3")],
      listed: [obj("a", "1"), obj("b", "9"), obj("new", "10")],
      added: ["new"],
      updated: ["b"],
      deleted: ["gone"],
    },
    { name: "everything deleted", cache: [obj("a", "1")], listed: [], added: [], updated: [], deleted: ["a"] },
  ];
  for (const c of table) {
    it(c.name, () => {
      const delta = diffCache(map(...c.cache), map(...c.listed));
      assert.deepEqual(names(delta.added), c.added);
      assert.deepEqual(names(delta.updated.map(([, n]) => n)), c.updated);
      assert.deepEqual(names(delta.deleted), c.deleted);
    });
  }

  it("hands updates over with the old and the new object", () => {
    const delta = diffCache(map(obj("a", "1")), map(obj("a", "2")));
    const [[old, next] = []] = delta.updated;
    assert.equal(old?.metadata?.resourceVersion, "1");
    assert.equal(next?.metadata?.resourceVersion, "2");
  });
});

describe("informer helpers", () => {
  it("strips managedFields and kubectl's last-applied configuration from cached objects", () => {
    const stripped = stripBookkeeping({ metadata: { name: "a", managedFields: [{ manager: "baton" }] } });
    assert.deepEqual(stripped, { metadata: { name: "a" } });
    const applied = {
      metadata: {
        name: "b",
        annotations: { "kubectl.kubernetes.io/last-applied-configuration": '{"data":{}}', keep: "me" },
      },
      data: { token: "x" },
    };
    assert.deepEqual(stripBookkeeping(applied), {
      metadata: { name: "b", annotations: { keep: "me" } },
      data: { token: "x" },
    });
    assert.equal(applied.metadata.annotations["kubectl.kubernetes.io/last-applied-configuration"], '{"data":{}}');
    const plain = { metadata: { name: "c", annotations: { keep: "me" } } };
    assert.equal(stripBookkeeping(plain), plain, "an object with nothing to strip is cached as it is");
  });
  it("names resources by plural and group", () => {
    assert.equal(resourceName(ConfigMaps), "configmaps");
    assert.equal(
      resourceName(defineResource({ apiVersion: "baton.dev/v1alpha1", kind: "Repository", plural: "repositories" })),
      "repositories.baton.dev",
    );
  });
});
