import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { type CloudPage, cloudPage } from "./paging.ts";

describe("Cloud paging (reference §6.4)", () => {
  const items = Array.from({ length: 25 }, (_, i) => i);
  const limits = { defaultPagelen: 10, maxPagelen: 100 };

  it("follows next to the last page, which has no next", () => {
    const seen: number[] = [];
    let url: string | undefined = "http://sim/2.0/x?q=a";
    let pages = 0;
    while (url) {
      const page: CloudPage<number> = cloudPage(items, new URL(url), limits);
      seen.push(...page.values);
      url = page.next;
      pages++;
      if (url) assert.equal(new URL(url).searchParams.get("q"), "a");
    }
    assert.deepEqual(seen, items);
    assert.equal(pages, 3);
  });

  it("caps pagelen at the maximum and ignores nonsense", () => {
    assert.equal(cloudPage(items, new URL("http://sim/?pagelen=1000"), { ...limits, maxPagelen: 20 }).pagelen, 20);
    assert.equal(cloudPage(items, new URL("http://sim/?pagelen=-3&page=x"), limits).page, 1);
  });
});
