import assert from "node:assert/strict";
import { test } from "node:test";
import { pageRequest, paginate } from "./paging.ts";

const settings = { defaultLimit: 25, maxLimit: 1000 };

test("default limit is 25 and a limit above the cap is cut and echoed", () => {
  assert.deepEqual(pageRequest({}, settings), { start: 0, limit: 25 });
  assert.deepEqual(pageRequest({ limit: "5000", start: "10" }, settings), { start: 10, limit: 1000 });
  assert.deepEqual(pageRequest({ limit: "0", start: "-3" }, settings), { start: 0, limit: 25 });
  assert.deepEqual(pageRequest({ limit: "abc" }, settings), { start: 0, limit: 25 });
});

test("nextPageStart only when the page is not the last", () => {
  const all = Array.from({ length: 5 }, (_, i) => i);
  const first = paginate(all, { start: 0, limit: 2 });
  assert.deepEqual(first, { size: 2, limit: 2, isLastPage: false, start: 0, nextPageStart: 2, values: [0, 1] });
  const last = paginate(all, { start: 4, limit: 2 });
  assert.deepEqual(last, { size: 1, limit: 2, isLastPage: true, start: 4, values: [4] });
  assert.equal("nextPageStart" in last, false);
  assert.deepEqual(paginate(all, { start: 9, limit: 2 }), {
    size: 0,
    limit: 2,
    isLastPage: true,
    start: 9,
    values: [],
  });
});
