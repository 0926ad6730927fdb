import assert from "node:assert/strict";
import { test } from "node:test";
import { buildNumber, compareVersions, versionAtLeast } from "./version.ts";

test("versions compare numerically", () => {
  assert.equal(compareVersions("9.10.0", "9.4"), 1);
  assert.equal(compareVersions("8.8", "8.9"), -1);
  assert.equal(compareVersions("8.9.0", "8.9"), 0);
  assert.equal(versionAtLeast("8.9.1", "8.9"), true);
  assert.equal(versionAtLeast("8.8.3", "8.9"), false);
});

test("build numbers", () => {
  assert.equal(buildNumber("7.11.2"), "7011002");
  assert.equal(buildNumber("9.4.0"), "9004000");
});
