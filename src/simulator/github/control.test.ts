import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { bearerAuth, http } from "../testing.ts";
import { type GitHubSimulator, startGitHubSimulator } from "./index.ts";

/** Drives the world only through the HTTP control API, as an out-of-process test of a GitHub provider would. */
describe("GitHub simulator: the /_sim/ control API and the REST it arranges", () => {
  let sim: GitHubSimulator;
  const ctl = async <T>(method: string, path: string, body?: unknown): Promise<T> => {
    const res = await http(sim.url, method, `/_sim${path}`, { body });
    assert.ok(res.status < 300, `${method} ${path}: ${res.status} ${res.text}`);
    return res.json as T;
  };
  let appId: number;
  let installationId: number;

  before(async () => {
    sim = await startGitHubSimulator({ clock: { start: Date.UTC(2026, 11, 3, 12), frozen: true } });
    await ctl("POST", "/accounts", { login: "acme", type: "Organization" });
    await ctl("POST", "/accounts", { login: "bob" });
    const app = await ctl<{ id: number; privateKey: string; botLogin: string }>("POST", "/apps", {
      name: "Pipeline Bot",
      owner: "acme",
      permissions: { contents: "write", pull_requests: "write", checks: "write", repository_hooks: "write" },
    });
    assert.match(app.privateKey, /^-----BEGIN RSA PRIVATE KEY-----/);
    assert.equal(app.botLogin, "pipeline-bot[bot]");
    appId = app.id;
    await ctl("POST", "/repos", { owner: "acme", name: "api", files: { "go.mod": "module api\n" } });
    installationId = (await ctl<{ id: number }>("POST", "/installations", { appId, account: "acme" })).id;
  });

  after(() => sim.close());

  const appToken = async (body: unknown = {}): Promise<string> => {
    const { jwt } = await ctl<{ jwt: string }>("POST", `/apps/${appId}/jwt`, {});
    const res = await http(sim.url, "POST", `/api/v3/app/installations/${installationId}/access_tokens`, {
      auth: bearerAuth(jwt),
      body,
    });
    assert.equal(res.status, 201, res.text);
    return (res.json as { token: string }).token;
  };

  it("lists the installation tokens minted, how narrow each is and when it lapses, never the secret", async () => {
    const before = await ctl<unknown[]>("GET", `/tokens/installation?installationId=${installationId}`);
    const broad = await appToken();
    const narrow = await appToken({ repositories: ["api"], permissions: { contents: "read" } });
    const listed = await ctl<
      { repositories: string[] | null; permissions: object; issuedAt: number; expiresAt: number }[]
    >("GET", `/tokens/installation?installationId=${installationId}`);
    const now = (await ctl<{ now: number }>("GET", "/clock")).now;
    assert.deepEqual(
      listed.slice(before.length).map((t) => [t.repositories, t.permissions, t.issuedAt, t.expiresAt]),
      [
        [
          null,
          { contents: "write", pull_requests: "write", checks: "write", repository_hooks: "write", metadata: "read" },
          now,
          now + 3_600_000,
        ],
        [["api"], { contents: "read", metadata: "read" }, now, now + 3_600_000],
      ],
    );
    const text = JSON.stringify(listed);
    assert.ok(!text.includes(broad) && !text.includes(narrow));
  });

  it("signs refused JWTs on request, so a client's error handling can be tested", async () => {
    const now = (await ctl<{ now: number }>("GET", "/clock")).now / 1000;
    const { jwt } = await ctl<{ jwt: string }>("POST", `/apps/${appId}/jwt`, { iat: now - 700, exp: now - 60 });
    const res = await http(sim.url, "GET", "/app", { auth: bearerAuth(jwt) });
    assert.equal(res.status, 401);
  });

  it("opens, merges and comments on a pull request over REST, and the merge lands on the branch", async () => {
    await ctl("POST", "/push", { owner: "acme", repo: "api", branch: "fix", files: { "main.go": "package main\n" } });
    const auth = bearerAuth(await appToken());
    const opened = await http(sim.url, "POST", "/repos/acme/api/pulls", {
      auth,
      body: { title: "Fix 🐛", head: "fix", base: "main", body: "" },
    });
    assert.equal(opened.status, 201, opened.text);
    const pr = opened.json as { number: number; head: { sha: string }; user: { login: string } };
    assert.equal(pr.user.login, "pipeline-bot[bot]");
    const again = await http(sim.url, "POST", "/repos/acme/api/pulls", {
      auth,
      body: { title: "twice", head: "fix", base: "main" },
    });
    assert.equal(again.status, 422);
    const comment = await http(sim.url, "POST", `/repos/acme/api/issues/${pr.number}/comments`, {
      auth,
      body: { body: "queued" },
    });
    assert.equal(comment.status, 201, "pull_requests: write opens a pull request's conversation");
    const merged = await http(sim.url, "PUT", `/repos/acme/api/pulls/${pr.number}/merge`, {
      auth,
      body: { sha: pr.head.sha },
    });
    assert.equal(merged.status, 200, merged.text);
    const sha = (merged.json as { sha: string }).sha;
    assert.equal(await sim.resolve({ owner: "acme", repo: "api", rev: "refs/heads/main" }), sha);
    const view = await ctl<{ state: string; merged: boolean }>("GET", `/pulls/acme/api/${pr.number}`);
    assert.deepEqual([view.state, view.merged], ["closed", true]);
  });

  it("names the permission a refused call needed", async () => {
    const auth = bearerAuth(await appToken({ permissions: { contents: "read" } }));
    const res = await http(sim.url, "POST", "/repos/acme/api/hooks", {
      auth,
      body: { config: { url: "http://127.0.0.1:9/hook" } },
    });
    assert.equal(res.status, 403);
    assert.equal(res.headers.get("x-accepted-github-permissions"), "repository_hooks=write");
  });

  it("creates, updates and deletes a repository hook", async () => {
    const auth = bearerAuth(await appToken());
    const created = await http(sim.url, "POST", "/repos/acme/api/hooks", {
      auth,
      body: { config: { url: "http://127.0.0.1:9/hook", content_type: "json", secret: "x" }, events: ["push"] },
    });
    assert.equal(created.status, 201);
    const id = (created.json as { id: number }).id;
    const patched = await http(sim.url, "PATCH", `/repos/acme/api/hooks/${id}`, {
      auth,
      body: { add_events: ["pull_request"], active: false },
    });
    assert.deepEqual(
      [(patched.json as { events: string[] }).events, (patched.json as { active: boolean }).active],
      [["push", "pull_request"], false],
    );
    const hooks = await ctl<{ id: number; config: { secret: string } }[]>("GET", "/hooks?owner=acme&repo=api");
    assert.equal(hooks.find((h) => h.id === id)?.config.secret, "x");
    assert.equal((await http(sim.url, "DELETE", `/repos/acme/api/hooks/${id}`, { auth })).status, 204);
    assert.equal((await http(sim.url, "GET", `/repos/acme/api/hooks/${id}`, { auth })).status, 404);
    const invalid = await http(sim.url, "POST", "/repos/acme/api/hooks", { auth, body: { config: { url: "nope" } } });
    assert.equal(invalid.status, 422);
  });

  it("lets only the App create and complete check runs; a PAT is refused", async () => {
    const auth = bearerAuth(await appToken());
    const sha = await sim.resolve({ owner: "acme", repo: "api", rev: "main" });
    const created = await http(sim.url, "POST", "/repos/acme/api/check-runs", {
      auth,
      body: { name: "baton / build", head_sha: sha, status: "in_progress" },
    });
    assert.equal(created.status, 201, created.text);
    const id = (created.json as { id: number }).id;
    const done = await http(sim.url, "PATCH", `/repos/acme/api/check-runs/${id}`, {
      auth,
      body: { conclusion: "success", output: { title: "ok", summary: "all green" } },
    });
    assert.deepEqual(
      [(done.json as { status: string }).status, (done.json as { conclusion: string }).conclusion],
      ["completed", "success"],
    );
    const list = await http(sim.url, "GET", `/repos/acme/api/commits/${sha}/check-runs`, { auth });
    assert.equal((list.json as { total_count: number }).total_count, 1);

    await ctl("POST", "/collaborators", { owner: "acme", repo: "api", login: "bob", role: "admin" });
    const pat = await ctl<{ token: string }>("POST", "/tokens/pat", {
      user: "bob",
      owner: "acme",
      permissions: { checks: "write" },
    });
    const byPat = await http(sim.url, "POST", "/repos/acme/api/check-runs", {
      auth: bearerAuth(pat.token),
      body: { name: "x", head_sha: sha },
    });
    assert.equal(byPat.status, 403);
  });

  it("reports collaborator permissions, and hides non-collaborators of a private repository", async () => {
    await ctl("POST", "/accounts", { login: "carol" });
    await ctl("POST", "/collaborators", { owner: "acme", repo: "api", login: "carol", role: "maintain" });
    const auth = bearerAuth(await appToken());
    const carol = await http(sim.url, "GET", "/repos/acme/api/collaborators/carol/permission", { auth });
    assert.deepEqual(
      [(carol.json as { permission: string }).permission, (carol.json as { role_name: string }).role_name],
      ["write", "maintain"],
    );
    await ctl("POST", "/accounts", { login: "dave" });
    assert.equal((await http(sim.url, "GET", "/repos/acme/api/collaborators/dave/permission", { auth })).status, 404);
  });
});

describe("GitHub simulator: the primary rate limit", () => {
  let sim: GitHubSimulator;
  let installationId: number;
  before(async () => {
    sim = await startGitHubSimulator({
      clock: { start: Date.UTC(2026, 11, 3, 12), frozen: true },
      rateLimit: { limit: 2 },
    });
    sim.createAccount({ login: "acme", type: "Organization" });
    const app = sim.createApp({ name: "Limited", owner: "acme" });
    await sim.createRepository({ owner: "acme", name: "api" });
    installationId = sim.install({ appId: app.id, account: "acme" }).id;
  });
  after(() => sim.close());

  it("refuses the installation once its hour's budget is spent, until the window resets", async () => {
    const { token } = sim.installationToken({ installationId });
    const auth = bearerAuth(token);
    assert.equal((await http(sim.url, "GET", "/repos/acme/api", { auth })).status, 200);
    assert.equal((await http(sim.url, "GET", "/repos/acme/api", { auth })).status, 200);
    const over = await http(sim.url, "GET", "/repos/acme/api", { auth });
    assert.equal(over.status, 403);
    assert.equal(over.headers.get("x-ratelimit-remaining"), "0");
    assert.equal(
      (over.json as { message: string }).message,
      `API rate limit exceeded for installation ID ${installationId}.`,
    );
    const reset = Number(over.headers.get("x-ratelimit-reset"));
    sim.clock.set(reset * 1000);
    // The budget is the installation's: a fresh token (the old one lapsed with the hour) starts a new window.
    const fresh = bearerAuth(sim.installationToken({ installationId }).token);
    const next = await http(sim.url, "GET", "/repos/acme/api", { auth: fresh });
    assert.equal(next.status, 200);
    assert.equal(next.headers.get("x-ratelimit-remaining"), "1");
  });
});

describe("GitHub simulator: injected faults and the request log", () => {
  let sim: GitHubSimulator;
  let installationId: number;
  before(async () => {
    sim = await startGitHubSimulator({
      clock: { start: Date.UTC(2026, 11, 3, 12), frozen: true },
      rateLimit: { limit: 2 },
    });
    sim.createAccount({ login: "acme", type: "Organization" });
    const app = sim.createApp({ name: "Faulted", owner: "acme", permissions: { contents: "read" } });
    await sim.createRepository({ owner: "acme", name: "api" });
    installationId = sim.install({ appId: app.id, account: "acme" }).id;
  });
  after(() => sim.close());

  it("answers a fault in GitHub's words before authentication, replaces a finished answer after it, and logs both", async () => {
    const auth = bearerAuth(sim.installationToken({ installationId }).token);
    const path = "/repos/acme/api";
    const mark = sim.markRequests();
    sim.injectFaults({ count: 1, status: 503, pathPrefix: "/repos/" });
    const early = await http(sim.url, "GET", path, { auth });
    assert.equal(early.status, 503);
    assert.equal((early.json as { message: string }).message, "Service Unavailable");
    sim.injectFaults({ count: 1, status: 502, when: "after", pathPrefix: "/repos/" });
    const late = await http(sim.url, "GET", path, { auth });
    assert.equal(late.status, 502);
    assert.equal(late.headers.get("content-type"), "application/json; charset=utf-8");
    assert.equal((await http(sim.url, "GET", path, { auth })).status, 200);
    const over = await http(sim.url, "GET", path, { auth });
    assert.equal(over.status, 403, "the late-faulted request was processed and counted; the early one was not");
    const log = sim.requests({ since: mark }).map((r) => [r.status, r.faulted, r.rateLimited, r.principal !== null]);
    assert.deepEqual(log, [
      [503, true, false, false],
      [502, true, false, true],
      [200, false, false, true],
      [403, false, true, true],
    ]);
  });
});
