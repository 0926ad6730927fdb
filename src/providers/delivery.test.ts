import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { normalizeHeaders } from "./delivery.ts";

describe("normalizeHeaders", () => {
  it("credentials and the signatures never reach the event's headers", () => {
    const headers = normalizeHeaders({
      Authorization: "Basic dXNlcjpwYXNz",
      "X-Hub-Signature": "sha256=00",
      "X-Hub-Signature-256": "sha256=11",
      Cookie: "a=b",
      "X-Event-Key": "pr:opened",
      "X-Request-Id": "abc",
    });
    assert.deepEqual(headers, { "x-event-key": "pr:opened", "x-request-id": "abc" });
    assert.deepEqual(normalizeHeaders(new Headers({ "X-Event-Key": "pr:opened", authorization: "x" })), {
      "x-event-key": "pr:opened",
    });
  });

  it("repeated headers are joined as HTTP joins them, whatever the input form", () => {
    assert.deepEqual(normalizeHeaders({ "X-Forwarded-For": ["10.0.0.1", "10.0.0.2"] }), {
      "x-forwarded-for": "10.0.0.1, 10.0.0.2",
    });
    assert.deepEqual(
      normalizeHeaders([
        ["X-Attempt-Number", "1"],
        ["x-attempt-number", "2"],
      ]),
      { "x-attempt-number": "1, 2" },
    );
  });
});
