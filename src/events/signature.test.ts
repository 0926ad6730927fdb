import assert from "node:assert/strict";
import { createHmac } from "node:crypto";
import { describe, it } from "node:test";
import { computeSignature, verifySignature } from "./signature.ts";

const secret = "s3cret-webhook-key";
const body = '{"eventKey":"pr:opened","date":"2018-07-05T19:21:30+0000"}';
// Computed independently of the module under test.
const good = `sha256=${createHmac("sha256", secret).update(body).digest("hex")}`;

describe("computeSignature", () => {
  it("is sha256= and the lower-case hex HMAC of the raw body, as Bitbucket sends it", () => {
    assert.equal(computeSignature(secret, body), good);
    assert.equal(computeSignature(secret, Buffer.from(body)), good);
    assert.match(good, /^sha256=[0-9a-f]{64}$/);
  });
});

describe("verifySignature", () => {
  const flipped = good.slice(0, -1) + (good.endsWith("0") ? "1" : "0");
  const cases: { name: string; header: string | string[] | undefined | null; body?: string; expected: string }[] = [
    { name: "good", header: good, expected: "ok" },
    { name: "good, surrounding whitespace", header: `  ${good} `, expected: "ok" },
    {
      name: "upper-case hex digits decode to the same bytes",
      header: `sha256=${good.slice(7).toUpperCase()}`,
      expected: "ok",
    },
    { name: "upper-case prefix", header: `SHA256=${good.slice(7)}`, expected: "ok" },
    { name: "one digit changed", header: flipped, expected: "mismatch" },
    { name: "signature of another body", header: good, body: `${body} `, expected: "mismatch" },
    { name: "signed with another secret", header: computeSignature("other", body), expected: "mismatch" },
    { name: "missing header", header: undefined, expected: "missing" },
    { name: "null header", header: null, expected: "missing" },
    { name: "empty header", header: "", expected: "missing" },
    { name: "no prefix (argo-events style bare hex)", header: good.slice(7), expected: "malformed" },
    { name: "sha1 prefix", header: `sha1=${good.slice(7)}`, expected: "malformed" },
    { name: "too short", header: good.slice(0, -2), expected: "malformed" },
    { name: "too long", header: `${good}00`, expected: "malformed" },
    { name: "non-hex digits of the right length", header: `sha256=${"z".repeat(64)}`, expected: "malformed" },
    { name: "two signature headers", header: [good, good], expected: "malformed" },
  ];
  for (const c of cases) {
    it(c.name, () => {
      const result = verifySignature(c.body ?? body, c.header, secret);
      assert.equal(result.ok ? "ok" : result.reason, c.expected);
    });
  }

  it("accepts any of several secrets (during a rotation) and none of the wrong ones", () => {
    assert.deepEqual(verifySignature(body, good, ["old-secret", secret]), { ok: true });
    assert.deepEqual(verifySignature(body, good, ["old-secret", "other"]), { ok: false, reason: "mismatch" });
    assert.deepEqual(verifySignature(body, good, []), { ok: false, reason: "mismatch" });
  });

  it("works on raw bytes, including non-UTF-8 ones", () => {
    const bytes = Uint8Array.from([0xff, 0xfe, 0x00, 0x41]);
    assert.deepEqual(verifySignature(bytes, computeSignature(secret, bytes), secret), { ok: true });
  });
});
