import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { UnauthorizedError } from "../providers/http/errors.ts";
import type { GitProvider } from "../providers/provider.ts";
import { RepositoryListings, SyncSlots } from "./cache.ts";

describe("SyncSlots", () => {
  test("concurrent runs of one key execute once; later runs reuse the result until it expires", async () => {
    let now = 0;
    const slots = new SyncSlots<string>(() => now);
    let executions = 0;
    const prepare = async () => ({
      fingerprint: "same",
      execute: async () => {
        executions++;
        await new Promise((r) => setTimeout(r, 5));
        return { result: `run ${executions}`, ttl: 1000 };
      },
    });
    const records = await Promise.all(Array.from({ length: 20 }, () => slots.run("project|a", prepare)));
    assert.equal(executions, 1);
    assert.equal(records.filter((r) => !r.reused).length, 1);
    assert.ok(records.every((r) => r.result === "run 1"));

    now = 999;
    assert.equal((await slots.run("project|a", prepare)).reused, true);
    now = 1000;
    const again = await slots.run("project|a", prepare);
    assert.equal(again.reused, false);
    assert.equal(again.result, "run 2");
    assert.equal(again.seq, 2);
  });

  test("a changed fingerprint runs again at once; expire() forces a run", async () => {
    const slots = new SyncSlots<number>(() => 0);
    let executions = 0;
    const run = (fingerprint: string) =>
      slots.run("k", async () => ({ fingerprint, execute: async () => ({ result: ++executions, ttl: 60_000 }) }));
    await run("a");
    await run("a");
    await run("b");
    assert.equal(executions, 2);
    slots.expire("k");
    await run("b");
    assert.equal(executions, 3);
  });

  test("a failing turn does not block the next one", async () => {
    const slots = new SyncSlots<number>(() => 0);
    await assert.rejects(
      slots.run("k", async () => {
        throw new Error("kube down");
      }),
    );
    const ok = await slots.run("k", async () => ({ fingerprint: "x", execute: async () => ({ result: 1, ttl: 1 }) }));
    assert.equal(ok.result, 1);
  });
});

/** A provider whose repository listing is counted and scripted. */
function listingClient(answer: () => Promise<{ slug: string }[]>) {
  const calls = { count: 0 };
  const client = {
    listRepositories: async () => {
      calls.count++;
      return (await answer()).map((r) => r.slug);
    },
  } as unknown as GitProvider;
  return { client, calls };
}

describe("RepositoryListings", () => {
  const where = { server: "https://bb.example.com", project: "PRJ" };

  test("one listing answers for every repository of the project, also when asked concurrently", async () => {
    const now = 0;
    const listings = new RepositoryListings({ now: () => now, maxAge: 60_000 });
    const { client, calls } = listingClient(async () => [{ slug: "a" }, { slug: "b" }]);
    const results = await Promise.all(["a", "b", "a", "b"].map((slug) => listings.lookup(client, where, "t1", slug)));
    assert.equal(calls.count, 1);
    assert.ok(results.every((r) => r.ok));
  });

  test("a new token lists again; a confirmed listing stays fresh; an old one is refreshed", async () => {
    let now = 0;
    const listings = new RepositoryListings({ now: () => now, maxAge: 60_000 });
    const { client, calls } = listingClient(async () => [{ slug: "a" }]);
    await listings.lookup(client, where, "t1", "a");
    await listings.lookup(client, where, "t2", "a");
    assert.equal(calls.count, 2, "a rotated token is a different key");
    now = 50_000;
    listings.confirm(where.server, where.project, "t1");
    now = 100_000;
    await listings.lookup(client, where, "t1", "a");
    assert.equal(calls.count, 2, "confirmed 50 s ago: still fresh");
    await listings.lookup(client, where, "t2", "a");
    assert.equal(calls.count, 3, "t2 was never confirmed: listed again");
  });

  test("a token the host refused elsewhere is listed again at once, in every project; other tokens' listings stay", async () => {
    const listings = new RepositoryListings({ now: () => 0, maxAge: 60_000 });
    const { client, calls } = listingClient(async () => [{ slug: "a" }]);
    const other = { ...where, project: "OPS" };
    for (const [at, token] of [
      [where, "t1"],
      [other, "t1"],
      [where, "t2"],
    ] as const)
      await listings.lookup(client, at, token, "a");
    assert.equal(calls.count, 3);
    listings.invalidateToken("t1");
    await listings.lookup(client, where, "t2", "a");
    assert.equal(calls.count, 3, "t2's listing still holds");
    await listings.lookup(client, where, "t1", "a");
    await listings.lookup(client, other, "t1", "a");
    assert.equal(calls.count, 5, "both of t1's listings were dropped");
  });

  test("a repository missing from a recent listing is not re-listed at once; later it is", async () => {
    let now = 0;
    const listings = new RepositoryListings({ now: () => now, maxAge: 600_000, missRefetchAge: 30_000 });
    const { client, calls } = listingClient(async () => [{ slug: "a" }]);
    await listings.lookup(client, where, "t", "a");
    const missing = await listings.lookup(client, where, "t", "typo");
    assert.ok(missing.ok && !missing.slugs.has("typo"));
    assert.equal(calls.count, 1);
    now = 31_000;
    await listings.lookup(client, where, "t", "typo");
    assert.equal(calls.count, 2);
  });

  test("failures are reported by kind and reused briefly", async () => {
    let now = 0;
    const listings = new RepositoryListings({ now: () => now, maxAge: 600_000, failureAge: 30_000 });
    const { client, calls } = listingClient(async () => {
      throw new UnauthorizedError("GET /projects/PRJ/repos: 401", { group: "repos", method: "GET", path: "/x" });
    });
    const first = await listings.lookup(client, where, "t", "a");
    assert.equal(first.ok, false);
    assert.equal(!first.ok && first.kind, "unauthorized");
    await listings.lookup(client, where, "t", "a");
    assert.equal(calls.count, 1);
    now = 30_000;
    await listings.lookup(client, where, "t", "a");
    assert.equal(calls.count, 2);
  });
});

describe("RepositoryListings shared by callers with their own deadlines", () => {
  const where = { server: "https://bb.example.com", project: "PRJ" };

  test("the first caller's deadline does not cancel the listing the others wait for, nor poison the cache", async () => {
    let answer: (slugs: string[]) => void = () => {};
    let calls = 0;
    const provider = {
      // Honours a signal as the real transport does: an aborted call fails.
      listRepositories: (_owner: string, options: { signal?: AbortSignal }) => {
        calls++;
        return new Promise<string[]>((resolve, reject) => {
          answer = resolve;
          options.signal?.addEventListener("abort", () => reject(new Error("aborted")));
        });
      },
    } as unknown as GitProvider;
    const listings = new RepositoryListings({ now: () => 0, maxAge: 60_000 });
    const impatient = new AbortController();
    const first = listings.lookup(provider, where, "t", "a", impatient.signal);
    const second = listings.lookup(provider, where, "t", "b", new AbortController().signal);
    impatient.abort();
    const gaveUp = await first;
    assert.equal(gaveUp.ok, false);
    assert.match(gaveUp.ok ? "" : gaveUp.detail, /within the reconcile deadline/);
    answer(["a", "b"]);
    const waited = await second;
    assert.ok(waited.ok && waited.slugs.has("b"), "the patient caller got the listing");
    const later = await listings.lookup(provider, where, "t", "a");
    assert.ok(later.ok, "the listing is cached, not the impatient caller's failure");
    assert.equal(calls, 1);
  });
});
