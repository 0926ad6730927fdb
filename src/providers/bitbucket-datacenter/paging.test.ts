import assert from "node:assert/strict";
import { after, before, beforeEach, describe, test } from "node:test";
import { z } from "zod";
import { SchemaError, TooManyResultsError } from "../http/errors.ts";
import { HttpTransport } from "../http/http.ts";
import { page, type Reply, startServer, type TestServer } from "../http/test-server.ts";
import { collect, paginate } from "./paging.ts";
import { pageOf } from "./schemas.ts";

// Pages keyed by the `start` the client asks for; the starts are deliberately not start + size.
let pages: Map<string, Reply>;
let server: TestServer;

before(async () => {
  server = await startServer((req) => pages.get(req.query.get("start") ?? "") ?? { status: 400 });
});
after(() => server.close());
beforeEach(() => {
  server.requests.length = 0;
});

const ctx = { group: "repos", method: "GET", path: "/rest/api/latest/projects/P/repos" } as const;

function lister(http: HttpTransport) {
  return (start: number | undefined) =>
    http.json({ ...ctx, query: { start, limit: 2 } }, pageOf(z.string())).then((r) => r.data);
}

describe("paging", () => {
  test("follows a non-arithmetic nextPageStart across four pages", async () => {
    pages = new Map([
      ["", { body: page(["a", "b"], 17) }],
      ["17", { body: page(["c"], 42, 17) }],
      ["42", { body: page(["d", "e"], 1000, 42) }],
      ["1000", { body: page(["f"], undefined, 1000) }],
    ]);
    const http = new HttpTransport({ baseUrl: server.url });
    const items = await collect(ctx, paginate(ctx, lister(http)), 100);
    assert.deepEqual(items, ["a", "b", "c", "d", "e", "f"]);
    assert.deepEqual(
      server.requests.map((r) => r.query.get("start")),
      [null, "17", "42", "1000"],
    );
    assert.ok(server.requests.every((r) => r.query.get("limit") === "2"));
    await http.close();
  });

  test("stops fetching when the consumer stops", async () => {
    pages = new Map([
      ["", { body: page(["a", "b"], 2) }],
      ["2", { body: page(["c"]) }],
    ]);
    const http = new HttpTransport({ baseUrl: server.url });
    for await (const item of paginate(ctx, lister(http))) {
      assert.equal(item, "a");
      break;
    }
    assert.equal(server.requests.length, 1);
    await http.close();
  });

  test("a page that is not the last but has no nextPageStart is an error", async () => {
    pages = new Map([["", { body: { values: ["a"], isLastPage: false } }]]);
    const http = new HttpTransport({ baseUrl: server.url });
    await assert.rejects(collect(ctx, paginate(ctx, lister(http)), 100), (err) => {
      assert.ok(err instanceof SchemaError);
      assert.equal(err.fieldPath, "nextPageStart");
      return true;
    });
    await http.close();
  });

  test("a nextPageStart seen before is refused instead of looping", async () => {
    pages = new Map([
      ["", { body: page(["a"], 5) }],
      ["5", { body: page(["b"], 5, 5) }],
    ]);
    const http = new HttpTransport({ baseUrl: server.url });
    await assert.rejects(collect(ctx, paginate(ctx, lister(http)), 100), /returned nextPageStart 5 twice/);
    assert.equal(server.requests.length, 2);
    await http.close();
  });

  test("collect-all refuses to go past its cap", async () => {
    pages = new Map([
      ["", { body: page(["a", "b"], 2) }],
      ["2", { body: page(["c", "d"], 4) }],
      ["4", { body: page(["e"]) }],
    ]);
    const http = new HttpTransport({ baseUrl: server.url });
    await assert.rejects(collect(ctx, paginate(ctx, lister(http)), 3), (err) => {
      assert.ok(err instanceof TooManyResultsError);
      assert.equal(err.limit, 3);
      assert.match(err.message, /lists more than 3 items/);
      return true;
    });
    assert.equal(server.requests.length, 2);
    assert.deepEqual(await collect(ctx, paginate(ctx, lister(http)), 5), ["a", "b", "c", "d", "e"]);
    await http.close();
  });
});
