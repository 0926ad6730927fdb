import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { excessPermission, grants, legacyPermission, roleAllows, withMetadata } from "./permissions.ts";

describe("GitHub permissions", () => {
  it("lets a token ask for a subset of its installation's permissions, and names the first excess", () => {
    const installation = { metadata: "read", contents: "write", statuses: "read" } as const;
    assert.equal(excessPermission({ contents: "read" }, installation), null);
    assert.equal(excessPermission({ contents: "write", statuses: "read" }, installation), null);
    assert.equal(excessPermission({ statuses: "write" }, installation), "statuses");
    assert.equal(excessPermission({ checks: "read" }, installation), "checks");
    assert.equal(excessPermission({ "pull-requests": "read" }, installation), "pull-requests", "unknown names too");
    assert.equal(excessPermission({}, installation), null);
  });

  it("orders read < write < admin", () => {
    assert.equal(grants({ contents: "write" }, "contents", "read"), true);
    assert.equal(grants({ contents: "read" }, "contents", "write"), false);
    assert.equal(grants({ administration: "admin" }, "administration", "write"), true);
    assert.equal(grants({}, "contents", "read"), false);
  });

  it("always grants metadata read, without lowering a metadata grant", () => {
    assert.deepEqual(withMetadata({ contents: "read" }), { metadata: "read", contents: "read" });
    assert.deepEqual(withMetadata({ metadata: "write" }), { metadata: "write" });
  });

  it("maps roles to the legacy permission and to what they may do", () => {
    assert.deepEqual((["read", "triage", "write", "maintain", "admin", null] as const).map(legacyPermission), [
      "read",
      "read",
      "write",
      "write",
      "admin",
      "none",
    ]);
    assert.equal(roleAllows("triage", "write"), false);
    assert.equal(roleAllows("maintain", "write"), true);
    assert.equal(roleAllows("maintain", "admin"), false);
    assert.equal(roleAllows(null, "read"), false);
  });
});
