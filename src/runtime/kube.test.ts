import assert from "node:assert/strict";
import { describe, it } from "node:test";
import {
  controllerOf,
  isAlreadyExists,
  isConflict,
  isControlledBy,
  isGone,
  isNotFound,
  KubeApiError,
  keyOf,
  ownerReference,
  parseKey,
  withOwnerReference,
} from "./kube.ts";

const repo = {
  apiVersion: "baton.dev/v1alpha1",
  kind: "Repository",
  metadata: { namespace: "team-a", name: "app", uid: "uid-repo" },
};

describe("keys", () => {
  const table: Array<[string, { namespace?: string; name: string }]> = [
    ["team-a/app", { namespace: "team-a", name: "app" }],
    ["cluster-thing", { name: "cluster-thing" }],
  ];
  for (const [key, parsed] of table) {
    it(key, () => {
      assert.deepEqual(parseKey(key), parsed);
      assert.equal(keyOf({ metadata: parsed }), key);
    });
  }
});

describe("owner references", () => {
  it("makes a controlling reference that blocks owner deletion", () => {
    assert.deepEqual(ownerReference(repo), {
      apiVersion: "baton.dev/v1alpha1",
      kind: "Repository",
      name: "app",
      uid: "uid-repo",
      controller: true,
      blockOwnerDeletion: true,
    });
  });

  it("refuses an owner without uid (it was never read from the server)", () => {
    assert.throws(() => ownerReference({ ...repo, metadata: { name: "app" } }), /uid are required/);
  });

  it("replaces a reference to the same owner and refuses a second controller", () => {
    const secret = { metadata: { name: "s", ownerReferences: [ownerReference(repo)] } };
    assert.equal(withOwnerReference(secret, ownerReference(repo)).length, 1);
    assert.ok(isControlledBy(secret, repo));
    assert.equal(controllerOf(secret)?.name, "app");
    const other = { ...repo, metadata: { ...repo.metadata, uid: "uid-other" } };
    assert.throws(() => withOwnerReference(secret, ownerReference(other)), /already has a controlling owner/);
    assert.equal(withOwnerReference(secret, ownerReference(other, { controller: false })).length, 2);
  });
});

describe("error classification", () => {
  const err = (code: number, reason: string) =>
    new KubeApiError("PATCH", "configmaps ns/a", code, { kind: "Status", code, reason, message: "m" });
  const table: Array<
    [string, KubeApiError, { notFound?: boolean; conflict?: boolean; exists?: boolean; gone?: boolean }]
  > = [
    ["404", err(404, "NotFound"), { notFound: true }],
    ["409 Conflict", err(409, "Conflict"), { conflict: true }],
    ["409 AlreadyExists", err(409, "AlreadyExists"), { exists: true }],
    ["410 Expired", err(410, "Expired"), { gone: true }],
  ];
  for (const [name, e, expect] of table) {
    it(name, () => {
      assert.equal(isNotFound(e), expect.notFound ?? false);
      assert.equal(isConflict(e), expect.conflict ?? false);
      assert.equal(isAlreadyExists(e), expect.exists ?? false);
      assert.equal(isGone(e), expect.gone ?? false);
    });
  }

  it("names the request and scrubs the server's message", () => {
    const e = new KubeApiError("GET", "secrets ns/s", 500, {
      kind: "Status",
      code: 500,
      reason: "InternalError",
      message: "upstream said Authorization: Bearer abcDEF1234567890",
    });
    assert.equal(e.message, "GET secrets ns/s: 500 InternalError: upstream said Authorization: Bearer [REDACTED]");
  });
});
