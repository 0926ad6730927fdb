import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { trackedExpiry } from "./external.ts";

describe("trackedExpiry", () => {
  const stated = Date.UTC(2030, 2, 1, 12);

  test("the host's stated expiry wins over the annotation, and a disagreement is named", () => {
    assert.deepEqual(trackedExpiry(undefined, { valid: true, expiresAt: stated }, undefined, "GitHub"), {
      notAfter: stated,
      source: "host",
    });
    // People write minutes; GitHub states seconds: within a minute they agree.
    assert.deepEqual(trackedExpiry("2030-03-01T12:00:30Z", { valid: true, expiresAt: stated }, undefined, "GitHub"), {
      notAfter: stated,
      source: "host",
    });
    const off = trackedExpiry("2030-06-01T00:00:00Z", { valid: true, expiresAt: stated }, undefined, "GitHub");
    assert.equal(off.notAfter, stated);
    assert.match(
      off.mismatch ?? "",
      /says 2030-06-01T00:00:00Z, but GitHub states .*2030-03-01T12:00:00.*follows GitHub/,
    );
  });

  test("a host stating no expiry: none tracked, and an annotation saying otherwise is named", () => {
    assert.deepEqual(trackedExpiry(undefined, { valid: true, neverExpires: true }, undefined, "GitHub"), {
      notAfter: Number.NaN,
      source: "none",
    });
    assert.match(
      trackedExpiry("2030-01-01T00:00:00Z", { valid: true, neverExpires: true }, undefined, "GitHub").mismatch ?? "",
      /never expires/,
    );
  });

  test("a refused token, or one GitHub could not be asked about, keeps the expiry last stated for it; hosts that state nothing use the annotation", () => {
    assert.deepEqual(trackedExpiry(undefined, { valid: false, reason: "401" }, stated, "GitHub"), {
      notAfter: stated,
      source: "host",
    });
    // GitHub unreachable: no answer, and the last one still holds.
    assert.deepEqual(trackedExpiry(undefined, undefined, stated, "GitHub"), { notAfter: stated, source: "host" });
    assert.deepEqual(trackedExpiry("2030-01-01T00:00:00Z", { valid: true }, undefined, "Bitbucket Cloud"), {
      notAfter: Date.UTC(2030, 0, 1),
      source: "annotation",
    });
    assert.ok(Number.isNaN(trackedExpiry(undefined, undefined, undefined, "Bitbucket").notAfter));
  });
});
