import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { FaultInjector, type FaultTarget, faultSpecSchema } from "./faults.ts";

const get = (path = "/rest/api/latest/projects", group: FaultTarget["group"] = "projects"): FaultTarget => ({
  method: "GET",
  path,
  group,
});

describe("FaultInjector", () => {
  test("a count faults exactly that many matching requests, then lets everything through", () => {
    const faults = new FaultInjector(() => 0);
    const handle = faults.inject({ count: 2, status: 500 });
    assert.equal(handle.remaining, 2);
    assert.equal(faults.take(get())?.status, 500);
    assert.equal(handle.remaining, 1);
    assert.equal(faults.take(get())?.status, 500);
    assert.equal(faults.take(get()), undefined);
    assert.equal(handle.remaining, 0);
    assert.equal(handle.hits, 2);
    assert.equal(handle.active, false);
    assert.deepEqual(faults.list(), [], "finished faults are forgotten");
  });

  test("a duration faults every matching request until it ends (real time, injected here)", () => {
    let now = 1_000;
    const faults = new FaultInjector(() => now);
    const handle = faults.inject({ durationMs: 500, status: 502 });
    for (let i = 0; i < 5; i++) assert.equal(faults.take(get())?.status, 502);
    assert.equal(handle.remaining, null, "no count: only the duration ends it");
    now += 499;
    assert.equal(faults.take(get())?.status, 502);
    now += 1;
    assert.equal(faults.take(get()), undefined);
    assert.equal(handle.hits, 6);
    assert.equal(handle.active, false);
  });

  test("count and duration together: whichever ends first", () => {
    let now = 0;
    const faults = new FaultInjector(() => now);
    faults.inject({ count: 10, durationMs: 100 });
    assert.ok(faults.take(get()));
    now = 100;
    assert.equal(faults.take(get()), undefined);
  });

  test("without count or duration a fault lasts until cleared", () => {
    const faults = new FaultInjector(() => 0);
    const handle = faults.inject({});
    for (let i = 0; i < 100; i++) assert.equal(faults.take(get())?.status, 503, "503 by default");
    handle.clear();
    assert.equal(handle.active, false);
    assert.equal(faults.take(get()), undefined);
    assert.equal(handle.hits, 100);
  });

  test("429 carries Retry-After (1 s unless given; null for none); other statuses only when asked", () => {
    const faults = new FaultInjector(() => 0);
    faults.inject({ count: 1, status: 429 });
    faults.inject({ count: 1, status: 429, retryAfterSeconds: 7 });
    faults.inject({ count: 1, status: 429, retryAfterSeconds: null });
    faults.inject({ count: 1, status: 503 });
    faults.inject({ count: 1, status: 503, retryAfterSeconds: 3 });
    assert.deepEqual(
      [1, 2, 3, 4, 5].map(() => faults.take(get())?.headers),
      [{ "Retry-After": "1" }, { "Retry-After": "7" }, {}, {}, { "Retry-After": "3" }],
    );
  });

  test("delay alone lets the request proceed; reset drops it; both may be delayed", () => {
    const faults = new FaultInjector(() => 0);
    faults.inject({ count: 1, delayMs: 250 });
    faults.inject({ count: 1, reset: true });
    faults.inject({ count: 1, delayMs: 40, status: 500 });
    const [slow, dropped, slowError] = [1, 2, 3].map(() => faults.take(get()));
    assert.deepEqual(
      { delayMs: slow?.delayMs, status: slow?.status, reset: slow?.reset },
      { delayMs: 250, status: null, reset: false },
    );
    assert.deepEqual({ status: dropped?.status, reset: dropped?.reset }, { status: null, reset: true });
    assert.deepEqual({ delayMs: slowError?.delayMs, status: slowError?.status }, { delayMs: 40, status: 500 });
  });

  test("filters: method, path prefix, group; a non-matching request does not use up the count", () => {
    const faults = new FaultInjector(() => 0);
    const handle = faults.inject({
      count: 1,
      method: "put",
      pathPrefix: "/rest/access-tokens/",
      group: "access-tokens",
    });
    assert.equal(faults.take(get("/rest/access-tokens/latest/projects/P", "access-tokens")), undefined, "GET");
    assert.equal(faults.take({ method: "PUT", path: "/rest/api/latest/x", group: "access-tokens" }), undefined);
    assert.equal(faults.take({ method: "PUT", path: "/rest/access-tokens/latest/x", group: "repos" }), undefined);
    assert.equal(handle.remaining, 1);
    assert.ok(faults.take({ method: "PUT", path: "/rest/access-tokens/latest/projects/P", group: "access-tokens" }));
    assert.equal(handle.remaining, 0);
  });

  test("git requests are faulted only by a fault that names the git group", () => {
    const faults = new FaultInjector(() => 0);
    faults.inject({});
    assert.equal(faults.take(get("/scm/p/r.git/info/refs", "git")), undefined, "REST faults leave git alone");
    faults.clear();
    faults.inject({ group: ["git", "content"] });
    assert.equal(faults.take(get("/scm/p/r.git/info/refs", "git"))?.status, 503);
    assert.equal(faults.take(get("/rest/api/latest/x", "content"))?.status, 503);
    assert.equal(faults.take(get("/rest/api/latest/x", "projects")), undefined);
    faults.clear();
    faults.inject({ group: "git", when: "after" });
    assert.equal(faults.take(get("/scm/p/r.git/info/refs", "git")), undefined, "git answers cannot be replaced");
  });

  test('when: "after" is carried to the server, which lets the request run and replaces its answer', () => {
    const faults = new FaultInjector(() => 0);
    faults.inject({ count: 1, status: 500, when: "after" });
    faults.inject({ count: 1, reset: true, when: "after" });
    faults.inject({ count: 1 });
    assert.deepEqual(
      [1, 2, 3].map(() => {
        const action = faults.take(get());
        return [action?.when, action?.status, action?.reset];
      }),
      [
        ["after", 500, false],
        ["after", null, true],
        ["before", 503, false],
      ],
    );
  });

  test("the first active matching fault applies, in installation order; clear(id) stops only that one", () => {
    const faults = new FaultInjector(() => 0);
    const first = faults.inject({ count: 1, status: 500 });
    const second = faults.inject({ count: 2, status: 429 });
    assert.deepEqual(
      [1, 2, 3, 4].map(() => faults.take(get())?.status),
      [500, 429, 429, undefined],
    );
    assert.equal(first.hits, 1);
    assert.equal(second.hits, 2);

    const a = faults.inject({ status: 500 });
    const b = faults.inject({ status: 502 });
    assert.equal(faults.clear(a.id), true);
    assert.equal(faults.clear(a.id), false, "already cleared");
    assert.equal(faults.take(get())?.status, 502);
    assert.deepEqual(
      faults.list().map((f) => f.id),
      [b.id],
    );
  });

  test("the spec is validated", () => {
    assert.equal(faultSpecSchema.safeParse({ status: 404 }).success, false, "only 500, 502, 503 and 429");
    assert.equal(faultSpecSchema.safeParse({ reset: true, status: 503 }).success, false);
    assert.equal(faultSpecSchema.safeParse({ count: 0 }).success, false);
    assert.equal(faultSpecSchema.safeParse({ group: "nonsense" }).success, false);
    assert.throws(() => new FaultInjector().inject({ count: -1 }));
  });
});
