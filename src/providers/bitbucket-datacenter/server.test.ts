import assert from "node:assert/strict";
import { test } from "node:test";
import { NetworkError, NotFoundError, RateLimitedError, SchemaError, ServerError, UnauthorizedError } from "./index.ts";
import { notBitbucket } from "./server.ts";

const ctx = { group: "server", method: "GET", path: "/rest/api/latest/application-properties" } as const;

test("notBitbucket: only answers Bitbucket never gives prove the server is something else", () => {
  const cases: [string, unknown, RegExp | undefined][] = [
    ["a body without a version ({})", new SchemaError("x", ctx, { fieldPath: "version" }), /version/],
    ["a body that is not JSON", new SchemaError("x", ctx, { fieldPath: "" }), /other than JSON/],
    ["404", new NotFoundError("x", ctx, { status: 404 }), /answered 404/],
    ["401: maybe a Bitbucket behind a login proxy", new UnauthorizedError("x", ctx, { status: 401 }), undefined],
    ["429", new RateLimitedError("x", ctx, { retryAfterMs: 1 }), undefined],
    ["503", new ServerError("x", ctx, { status: 503 }), undefined],
    ["no answer", new NetworkError("x", ctx, { code: "ECONNREFUSED" }), undefined],
    ["not a client error", new Error("x"), undefined],
  ];
  for (const [name, error, expected] of cases) {
    const reason = notBitbucket(error);
    if (expected === undefined) assert.equal(reason, undefined, name);
    else assert.match(reason ?? "", expected, name);
  }
});
