import assert from "node:assert/strict";
import { test } from "node:test";
import { instanceFromUid } from "./installation.ts";

test("the derived instance name is short, lowercase and a valid BATON_INSTANCE", () => {
  const name = instanceFromUid("3F2A9C0D-1E2B-4C5D-8E9F-0A1B2C3D4E5F");
  assert.equal(name, "i3f2a9c0d1e2b");
  assert.match(name, /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/);
});

test("a uid too short to tell installations apart is refused", () =>
  assert.throws(() => instanceFromUid("abc"), /no usable uid/));
