import assert from "node:assert/strict";
import { test } from "node:test";
import { entryKey, retryDelay } from "./cleanup-ledger.ts";

test("retryDelay: 10 s after the first failure, doubling, at most 30 minutes", () => {
  assert.deepEqual([1, 2, 3, 8, 9, 50].map(retryDelay), [10_000, 20_000, 40_000, 1_280_000, 1_800_000, 1_800_000]);
});

test("entryKey: one entry per leftover, a valid Secret data key whatever the names", () => {
  const token = { kind: "token" as const, server: "https://bb.example.com", project: "PRJ", id: "41" };
  assert.equal(entryKey(token), entryKey({ ...token, server: "https://bb.example.com/" }), "a trailing / is the same");
  assert.notEqual(entryKey(token), entryKey({ ...token, repository: "app" }));
  assert.notEqual(entryKey(token), entryKey({ ...token, kind: "webhook" }));
  const odd = entryKey({ ...token, project: "Prøject 🚀", repository: "ä/b", id: "x y" });
  assert.match(odd, /^token\.[0-9a-f]{20}$/);
  assert.match(odd, /^[-._a-zA-Z0-9]+$/);
});
