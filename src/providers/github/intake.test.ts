import assert from "node:assert/strict";
import { createHmac } from "node:crypto";
import { describe, it } from "node:test";
import { deliveryKeys, SeenSet } from "../../events/dedupe.ts";
import { classifyGitHubDelivery } from "./classify.ts";
import { examplesOf } from "./examples.ts";
import { readDeliveryHeaders, verifyGitHubSignature } from "./intake.ts";

const secret = "It's a Secret to Everybody";

/** What GitHub sends: the HMAC of the exact body bytes, hex, after `sha256=`. */
function sign(body: string, key = secret): string {
  return `sha256=${createHmac("sha256", key).update(body, "utf8").digest("hex")}`;
}

describe("X-Hub-Signature-256", () => {
  // GitHub's documented test vector (docs: "Validating webhook deliveries").
  it("accepts GitHub's published example", () => {
    const header = "sha256=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17";
    assert.deepEqual(verifyGitHubSignature("Hello, World!", { "X-Hub-Signature-256": header }, [secret]), { ok: true });
  });

  it("checks the exact bytes, under any of several secrets, and never reads the SHA-1 header", () => {
    const body = JSON.stringify({ zen: "Design for failure. 🚀", hook_id: 1 });
    const headers = { "x-hub-signature-256": sign(body) };
    assert.deepEqual(verifyGitHubSignature(body, headers, ["old", secret]), { ok: true });
    assert.deepEqual(verifyGitHubSignature(`${body} `, headers, [secret]), { ok: false, reason: "mismatch" });
    assert.deepEqual(verifyGitHubSignature(body, headers, ["other"]), { ok: false, reason: "mismatch" });
    const sha1 = `sha1=${createHmac("sha1", secret).update(body).digest("hex")}`;
    assert.deepEqual(verifyGitHubSignature(body, { "x-hub-signature": sha1 }, [secret]), {
      ok: false,
      reason: "missing",
    });
  });
});

describe("delivery headers", () => {
  it("reads the event and the delivery id", () => {
    assert.deepEqual(
      readDeliveryHeaders({
        "X-GitHub-Event": "pull_request",
        "X-GitHub-Delivery": "72d3162e-cc78-11e3-81ab-4c9367dc0958",
      }),
      { ok: true, event: "pull_request", deliveryId: "72d3162e-cc78-11e3-81ab-4c9367dc0958" },
    );
    assert.deepEqual(readDeliveryHeaders({ "x-github-event": "ping" }), {
      ok: true,
      event: "ping",
      deliveryId: undefined,
    });
  });

  it("refuses requests that are not GitHub deliveries", () => {
    for (const headers of [
      {},
      { "x-github-event": "" },
      { "x-github-event": "pull request; drop" },
      { "x-github-event": "push", "x-github-delivery": "x".repeat(500) },
      { "x-github-event": "push", "x-github-delivery": "a b" },
    ]) {
      const result = readDeliveryHeaders(headers);
      assert.equal(result.ok, false, JSON.stringify(headers));
    }
  });
});

describe("dedupe by X-GitHub-Delivery", () => {
  const example = examplesOf("api.github.com", "push").find((e) => !e.deleted);
  assert.ok(example);
  const receivedAt = new Date("2030-01-01T00:00:00Z");

  function keys(body: unknown, delivery: string): string[] {
    const result = classifyGitHubDelivery(
      "push",
      body,
      { "x-github-event": "push", "x-github-delivery": delivery },
      {
        receivedAt,
      },
    );
    assert.ok(result.ok);
    const event = result.events[0];
    assert.ok(event);
    return deliveryKeys(event);
  }

  it("a redelivery (same GUID) is a duplicate, and so is the same content under a new GUID", () => {
    const seen = new SeenSet({ ttlMs: 6 * 3600_000, maxSize: 100 });
    assert.equal(seen.addAll(keys(example, "d-1")), true);
    assert.equal(seen.addAll(keys(example, "d-1")), false);
    assert.equal(seen.addAll(keys(example, "d-2")), false);
    const changed = { ...example, after: "f".repeat(40) };
    assert.equal(seen.addAll(keys(changed, "d-1")), false, "a reused GUID with other content is still a replay");
    assert.equal(seen.addAll(keys(changed, "d-3")), true);
  });
});
