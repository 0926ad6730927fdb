// The simulator's fault injection over real HTTP and real git: what a client sees, what the request log records,
// and that a faulted request changes nothing in Bitbucket's model.
import assert from "node:assert/strict";
import { after, before, beforeEach, describe, test } from "node:test";
import { BitbucketClient, ServerError } from "../../src/providers/bitbucket-datacenter/index.ts";
import { type Simulator, startSimulator } from "../../src/simulator/index.ts";
import { basicAuth, bearerAuth, extraHeader, git, http, tempDir } from "../../src/simulator/testing.ts";

let sim: Simulator;
let work: { path: string; remove: () => Promise<void> };
let token: string;
const ctl = (method: string, path: string, body?: unknown) => http(sim.url, method, `/_sim${path}`, { body });
const projectPath = "/rest/api/latest/projects/PRJ";
const tokensPath = "/rest/access-tokens/latest/projects/PRJ";
const admin = basicAuth("admin", "admin-pw");
const app = { project: "PRJ", repository: "app" };

before(async () => {
  sim = await startSimulator();
  work = await tempDir("sim-faults-");
  sim.createUser({ name: "admin", password: "admin-pw", admin: true });
  sim.createProject({ key: "PRJ" });
  await sim.createRepository({ project: "PRJ", slug: "app", files: { "README.md": "app\n" } });
  token = sim.createToken({ scope: { kind: "project", project: "PRJ" }, name: "ci", permissions: ["REPO_READ"] }).token;
});

after(async () => {
  await sim?.close();
  await work?.remove();
});

beforeEach(() => sim.clearFaults());

describe("injected faults", () => {
  test("a 503 burst answers before authentication, changes nothing, and is logged as faulted", async () => {
    const handle = sim.injectFaults({ count: 2, status: 503, method: "PUT", pathPrefix: "/rest/access-tokens/" });
    const mark = sim.markRequests();
    const before = sim.tokens().length;
    const body = { name: "x", permissions: ["REPO_READ"], expiryDays: 1 };
    const first = await http(sim.url, "PUT", tokensPath, { auth: admin, body });
    assert.equal(first.status, 503);
    assert.match(JSON.stringify(first.json), /fault injected by the simulator/);
    const wrongPassword = await http(sim.url, "PUT", tokensPath, { auth: basicAuth("admin", "nope"), body });
    assert.equal(wrongPassword.status, 503, "decided before the credentials are looked at");
    assert.equal(sim.tokens().length, before, "no token was created by a faulted request");
    assert.equal(handle.remaining, 0);
    assert.equal(handle.active, false);

    const third = await http(sim.url, "PUT", tokensPath, { auth: admin, body });
    assert.equal(third.status, 200, "the burst is over");
    assert.equal(sim.tokens().length, before + 1);
    assert.deepEqual(
      sim.requests({ since: mark }).map((r) => [r.status, r.faulted, r.principal]),
      [
        [503, true, null],
        [503, true, null],
        [200, false, "admin"],
      ],
    );
    assert.equal(sim.requestCount({ since: mark, faulted: true }), 2);
  });

  test('when: "after": the request is processed, only the answer is lost (500 or a dropped connection)', async () => {
    const body = (name: string) => ({ name, permissions: ["REPO_READ"], expiryDays: 1 });
    const created = () => sim.tokens().map((t) => t.name);
    sim.injectFaults({ count: 1, status: 500, when: "after", method: "PUT", group: "access-tokens" });
    const mark = sim.markRequests();
    const answer = await http(sim.url, "PUT", tokensPath, { auth: admin, body: body("lost-answer") });
    assert.equal(answer.status, 500);
    assert.match(JSON.stringify(answer.json), /fault injected/);
    assert.doesNotMatch(answer.text, /BBDC-/, "the secret of the created token is not in the replaced answer");
    assert.ok(created().includes("lost-answer"), "Bitbucket created the token all the same");

    sim.injectFaults({ count: 1, reset: true, when: "after", method: "PUT", group: "access-tokens" });
    await assert.rejects(
      fetch(`${sim.url}${tokensPath}`, {
        method: "PUT",
        headers: { authorization: admin, "content-type": "application/json" },
        body: JSON.stringify(body("dropped-answer")),
      }),
    );
    assert.ok(created().includes("dropped-answer"));
    assert.deepEqual(
      sim.requests({ since: mark }).map((r) => [r.status, r.faulted, r.principal]),
      [
        [500, true, "admin"],
        [0, true, "admin"],
      ],
      "authenticated and processed, then faulted",
    );
  });

  test("429 carries Retry-After and Bitbucket's rate-limit envelope; the client waits it out", async () => {
    sim.injectFaults({ count: 1, status: 429, retryAfterSeconds: 2, group: "projects" });
    const res = await http(sim.url, "GET", projectPath, { auth: bearerAuth(token) });
    assert.equal(res.status, 429);
    assert.equal(res.headers.get("retry-after"), "2");
    assert.match(JSON.stringify(res.json), /RateLimitedException/);

    sim.injectFaults({ count: 2, status: 429, retryAfterSeconds: 3, group: "repos" });
    const waits: number[] = [];
    const client = new BitbucketClient({
      baseUrl: sim.url,
      auth: { kind: "bearer", token },
      sleep: async (ms) => void waits.push(ms),
    });
    try {
      assert.equal((await client.repos.get(app)).slug, "app");
    } finally {
      await client.close();
    }
    assert.deepEqual(waits, [3000, 3000], "Retry-After honoured, twice");
  });

  test("the client retries an idempotent GET through 5xx, never a token-creating PUT", async () => {
    const waits: number[] = [];
    const client = new BitbucketClient({
      baseUrl: sim.url,
      auth: { kind: "basic", username: "admin", password: "admin-pw" },
      sleep: async (ms) => void waits.push(ms),
    });
    try {
      sim.injectFaults({ count: 2, status: 502, group: "repos" });
      const mark = sim.markRequests();
      assert.equal((await client.repos.get(app)).slug, "app");
      assert.deepEqual(
        sim.requests({ since: mark }).map((r) => r.status),
        [502, 502, 200],
      );
      assert.equal(waits.length, 2);

      const put = sim.markRequests();
      sim.injectFaults({ count: 1, status: 500, method: "PUT", group: "access-tokens" });
      await assert.rejects(
        client.accessTokens.create({ project: "PRJ" }, { name: "once", permissions: ["REPO_READ"], expiryDays: 1 }),
        ServerError,
      );
      assert.equal(sim.requestCount({ since: put, method: "PUT" }), 1, "one attempt only");
    } finally {
      await client.close();
    }
  });

  test("a dropped connection is a network error for the client and status 0 in the log", async () => {
    sim.injectFaults({ count: 1, reset: true, group: "projects" });
    const mark = sim.markRequests();
    await assert.rejects(fetch(`${sim.url}${projectPath}`, { headers: { authorization: bearerAuth(token) } }));
    assert.deepEqual(
      sim.requests({ since: mark }).map((r) => [r.path, r.status, r.faulted]),
      [[projectPath, 0, true]],
    );
    const after = await http(sim.url, "GET", projectPath, { auth: bearerAuth(token) });
    assert.equal(after.status, 200, "the server keeps serving");
  });

  test("a delay alone slows the answer down and then serves it", async () => {
    sim.injectFaults({ count: 1, delayMs: 300, group: "projects" });
    const mark = sim.markRequests();
    const started = performance.now();
    const res = await http(sim.url, "GET", projectPath, { auth: bearerAuth(token) });
    assert.equal(res.status, 200);
    assert.ok(performance.now() - started >= 290, "answered only after the delay");
    const [entry] = sim.requests({ since: mark });
    assert.deepEqual([entry?.status, entry?.faulted], [200, true]);
    assert.ok(entry?.principal, "authenticated as usual once the delay is over");
  });

  test("git is faulted only when asked: a REST-wide fault leaves clones alone", async () => {
    const clone = (dir: string) =>
      git([...extraHeader(bearerAuth(token)), "clone", "-q", `${sim.url}/scm/prj/app.git`, dir], {
        home: work.path,
      });
    sim.injectFaults({ status: 503 });
    assert.equal((await clone(`${work.path}/a`)).code, 0, "REST fault, git works");
    sim.clearFaults();

    sim.injectFaults({ count: 1, status: 503, group: "git" });
    const mark = sim.markRequests();
    const failed = await clone(`${work.path}/b`);
    assert.notEqual(failed.code, 0);
    assert.match(failed.stderr, /503/);
    assert.deepEqual(
      sim.requests({ since: mark, group: "git" }).map((r) => [r.status, r.faulted]),
      [[503, true]],
    );
    assert.equal((await clone(`${work.path}/c`)).code, 0, "recovers after the fault");
  });

  test("over the control API: install, list, observe faulted requests, clear one or all", async () => {
    const created = await ctl("POST", "/faults", { status: 500, group: ["projects"], count: 3 });
    assert.equal(created.status, 200);
    const view = created.json as { id: number; remaining: number; active: boolean };
    assert.deepEqual([view.remaining, view.active], [3, true]);
    assert.equal((await ctl("GET", "/health")).status, 200, "the control API itself is never faulted");

    const mark = sim.markRequests();
    assert.equal((await http(sim.url, "GET", projectPath, { auth: bearerAuth(token) })).status, 500);
    const listed = (await ctl("GET", "/faults")).json as { id: number; hits: number; remaining: number }[];
    assert.deepEqual(
      listed.map((f) => [f.id, f.hits, f.remaining]),
      [[view.id, 1, 2]],
    );
    const faulted = (await ctl("GET", `/requests?since=${mark}&faulted=true`)).json as { status: number }[];
    assert.deepEqual(
      faulted.map((r) => r.status),
      [500],
    );

    assert.equal((await ctl("DELETE", `/faults/${view.id}`)).status, 204);
    assert.equal((await ctl("DELETE", `/faults/${view.id}`)).status, 404);
    assert.equal((await http(sim.url, "GET", projectPath, { auth: bearerAuth(token) })).status, 200);

    await ctl("POST", "/faults", { durationMs: 60_000 });
    await ctl("POST", "/faults", { status: 429 });
    assert.equal(((await ctl("GET", "/faults")).json as unknown[]).length, 2);
    assert.equal((await ctl("DELETE", "/faults")).status, 204);
    assert.deepEqual((await ctl("GET", "/faults")).json, []);

    const invalid = await ctl("POST", "/faults", { status: 404 });
    assert.equal(invalid.status, 400);
  });
});
