// Bitbucket Cloud simulator, authentication and token kinds (shared/reference/bitbucket-cloud.md §1): real git clone
// and push with Basic x-token-auth, Bearer for REST, each token kind's 401/403 on a call outside its scopes or reach,
// the x-oauth-scopes / x-credential-type headers, expiry and rotation on the simulator clock.
import assert from "node:assert/strict";
import { readFile } from "node:fs/promises";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import { type CloudSimulator, type CreatedCloudToken, startCloudSimulator } from "../../src/simulator/index.ts";
import { basicAuth, bearerAuth, git, http, tempDir } from "../../src/simulator/testing.ts";

let sim: CloudSimulator;
let work: { path: string; remove: () => Promise<void> };
let n = 0;
const tokens: Record<string, CreatedCloudToken> = {};
const dir = (name: string) => join(work.path, `${name}-${++n}`);
const run = (args: string[], cwd?: string) => git(args, { cwd, home: work.path });
const withToken = (url: string, secret: string) =>
  url.replace("http://", `http://x-token-auth:${encodeURIComponent(secret)}@`);
const get = (path: string, token: string) => http(sim.apiUrl, "GET", path, { auth: bearerAuth(token) });
const errorMessage = (json: unknown): string => {
  const body = json as { type?: string; error?: { message?: string } };
  assert.equal(body.type, "error");
  assert.equal(typeof body.error?.message, "string");
  return body.error?.message ?? "";
};

before(async () => {
  work = await tempDir("sim-cloud-auth-");
  sim = await startCloudSimulator({ clock: { start: Date.parse("2026-03-01T00:00:00Z"), frozen: true } });
  sim.createUser({ nickname: "ana", displayName: "Ana Núñez 🚀", email: "ana@example.com", password: "pw" });
  sim.createUser({ nickname: "outsider", email: "out@example.com", password: "pw" });
  sim.createWorkspace({ slug: "acme", owner: "ana" });
  sim.createWorkspace({ slug: "forks", owner: "outsider" });
  sim.createProject({ workspace: "acme", key: "PRJ" });
  sim.createProject({ workspace: "acme", key: "OTHER" });
  await sim.createRepository({ workspace: "acme", slug: "app", project: "PRJ" });
  await sim.createRepository({ workspace: "acme", slug: "lib", project: "PRJ" });
  await sim.createRepository({ workspace: "acme", slug: "elsewhere", project: "OTHER" });
  await sim.push({ workspace: "acme", repo: "app", branch: "main", files: { "README.md": "héllo 👋\n" }, as: "ana" });
  await sim.push({ workspace: "acme", repo: "lib", branch: "main", files: { "x.txt": "x\n" }, as: "ana" });
  await sim.push({ workspace: "acme", repo: "elsewhere", branch: "main", files: { "y.txt": "y\n" }, as: "ana" });
  tokens.repoRead = sim.createToken({ kind: "repository", workspace: "acme", repo: "app", scopes: ["repository"] });
  tokens.repoWrite = sim.createToken({
    kind: "repository",
    workspace: "acme",
    repo: "app",
    scopes: ["repository:write"],
  });
  tokens.repoPr = sim.createToken({ kind: "repository", workspace: "acme", repo: "app", scopes: ["pullrequest"] });
  tokens.project = sim.createToken({
    kind: "project",
    workspace: "acme",
    project: "PRJ",
    scopes: ["repository", "project"],
  });
  tokens.workspace = sim.createToken({
    kind: "workspace",
    workspace: "acme",
    scopes: ["repository", "webhook", "account"],
  });
});

after(async () => {
  await sim?.close();
  await work?.remove();
});

describe("git over HTTP with x-token-auth (§1.4)", () => {
  test("a repository token clones with Basic x-token-auth; the clone has the pushed content", async () => {
    const target = dir("clone");
    const res = await run([
      "clone",
      "--quiet",
      withToken(sim.cloneUrl("acme", "app"), tokens.repoRead?.token ?? ""),
      target,
    ]);
    assert.equal(res.code, 0, res.stderr);
    assert.equal(await readFile(join(target, "README.md"), "utf8"), "héllo 👋\n");
  });

  test("a wrong token, a Bearer header and no credentials are refused on a private repository", async () => {
    const wrong = await run([
      "clone",
      "--quiet",
      withToken(sim.cloneUrl("acme", "app"), "ATCTT3xFfGN0wrong"),
      dir("wrong"),
    ]);
    assert.notEqual(wrong.code, 0);
    assert.match(wrong.stderr, /Authentication failed|401/);
    const bearer = await run([
      "-c",
      `http.extraHeader=Authorization: Bearer ${tokens.repoRead?.token}`,
      "clone",
      "--quiet",
      sim.cloneUrl("acme", "app"),
      dir("bearer"),
    ]);
    assert.notEqual(bearer.code, 0, "Bearer is not git's form for Cloud access tokens (a switch turns it on)");
    const anonymous = await run(["clone", "--quiet", sim.cloneUrl("acme", "app"), dir("anon")]);
    assert.notEqual(anonymous.code, 0);
    assert.ok(sim.requests({ group: "git", status: 401 }).length >= 3);
  });

  test("a token cannot clone a repository outside its reach, and pushing needs repository:write", async () => {
    const other = await run([
      "clone",
      "--quiet",
      withToken(sim.cloneUrl("acme", "lib"), tokens.repoRead?.token ?? ""),
      dir("lib"),
    ]);
    assert.notEqual(other.code, 0);
    const target = dir("push");
    assert.equal(
      (await run(["clone", "--quiet", withToken(sim.cloneUrl("acme", "app"), tokens.repoRead?.token ?? ""), target]))
        .code,
      0,
    );
    await run(["checkout", "-q", "-b", "topic"], target);
    await run(
      ["-c", "user.name=T", "-c", "user.email=t@example.com", "commit", "-q", "--allow-empty", "-m", "x"],
      target,
    );
    const refused = await run(["push", "-q", "origin", "topic"], target);
    assert.notEqual(refused.code, 0, "repository (read) cannot push");
    await run(
      ["remote", "set-url", "origin", withToken(sim.cloneUrl("acme", "app"), tokens.repoWrite?.token ?? "")],
      target,
    );
    const pushed = await run(["push", "-q", "origin", "topic"], target);
    assert.equal(pushed.code, 0, pushed.stderr);
    assert.ok(await sim.resolve({ workspace: "acme", repo: "app", rev: "topic" }));
  });

  test("a project token clones every repository of its project and nothing else", async () => {
    const lib = await run([
      "clone",
      "--quiet",
      withToken(sim.cloneUrl("acme", "lib"), tokens.project?.token ?? ""),
      dir("plib"),
    ]);
    assert.equal(lib.code, 0, lib.stderr);
    const elsewhere = await run([
      "clone",
      "--quiet",
      withToken(sim.cloneUrl("acme", "elsewhere"), tokens.project?.token ?? ""),
      dir("pother"),
    ]);
    assert.notEqual(elsewhere.code, 0);
  });
});

describe("REST with Bearer: each token kind's answers (§1.2)", () => {
  test("an authenticated call carries x-oauth-scopes, x-accepted-oauth-scopes and x-credential-type", async () => {
    const res = await get("/repositories/acme/app", tokens.repoRead?.token ?? "");
    assert.equal(res.status, 200);
    assert.equal(res.headers.get("x-oauth-scopes"), "repository");
    assert.equal(res.headers.get("x-accepted-oauth-scopes"), "repository");
    assert.equal(res.headers.get("x-credential-type"), "repo_access_token");
    assert.equal(
      (await get("/repositories/acme/lib", tokens.project?.token ?? "")).headers.get("x-credential-type"),
      "project_access_token",
    );
    assert.equal(
      (await get("/repositories/acme/lib", tokens.workspace?.token ?? "")).headers.get("x-credential-type"),
      "workspace_access_token",
    );
  });

  test("repository token: 403 for pull requests without pullrequest, for another repository, for workspace hooks and /user", async () => {
    const token = tokens.repoRead?.token ?? "";
    const prs = await get("/repositories/acme/app/pullrequests", token);
    assert.equal(prs.status, 403);
    assert.match(errorMessage(prs.json), /privilege scopes/);
    assert.deepEqual((prs.json as { error: { data: { required: string[] } } }).error.data.required, ["pullrequest"]);
    assert.equal((await get("/repositories/acme/lib", token)).status, 403);
    assert.equal((await get("/workspaces/acme/hooks", token)).status, 403);
    assert.equal((await get("/user", token)).status, 403);
    // pullrequest implies read of the destination repository; repository does not imply pullrequest.
    assert.equal((await get("/repositories/acme/app/pullrequests", tokens.repoPr?.token ?? "")).status, 200);
    assert.equal((await get("/repositories/acme/app", tokens.repoPr?.token ?? "")).status, 200);
  });

  test("project token: 403 outside its project and on hooks without webhook; cannot hold account", async () => {
    const token = tokens.project?.token ?? "";
    assert.equal((await get("/repositories/acme/lib", token)).status, 200);
    assert.equal((await get("/repositories/acme/elsewhere", token)).status, 403);
    assert.equal((await get("/repositories/acme/app/hooks", token)).status, 403);
    assert.throws(
      () => sim.createToken({ kind: "project", workspace: "acme", project: "PRJ", scopes: ["account"] }),
      /cannot hold: account/,
    );
    assert.throws(
      () => sim.createToken({ kind: "repository", workspace: "acme", repo: "app", scopes: ["project"] }),
      /cannot hold: project/,
    );
  });

  test("workspace token: reaches every repository, asks /user with account, but workspace hooks are owners-only", async () => {
    const token = tokens.workspace?.token ?? "";
    assert.equal((await get("/repositories/acme/elsewhere", token)).status, 200);
    assert.equal((await get("/user", token)).status, 200);
    const hooks = await get("/workspaces/acme/hooks", token);
    assert.equal(hooks.status, 403);
    assert.match(errorMessage(hooks.json), /owner/);
    assert.equal((await get("/repositories/acme/app/hooks", token)).status, 200, "repository hooks need only webhook");
    sim.configure({ workspaceTokenIsOwner: true });
    try {
      assert.equal((await get("/workspaces/acme/hooks", token)).status, 200);
    } finally {
      sim.configure({ workspaceTokenIsOwner: false });
    }
    assert.equal((await get("/workspaces/forks", token)).status, 403, "another workspace");
  });

  test("a workspace owner (a user) may list workspace hooks; a member who is not an owner may not", async () => {
    assert.equal(
      (await http(sim.apiUrl, "GET", "/workspaces/acme/hooks", { auth: basicAuth("ana", "pw") })).status,
      200,
    );
    sim.addMember({ workspace: "acme", user: "outsider" });
    assert.equal(
      (await http(sim.apiUrl, "GET", "/workspaces/acme/hooks", { auth: basicAuth("outsider", "pw") })).status,
      403,
    );
  });

  test("401 for an unknown token, for x-token-auth on REST, and for anonymous calls on private repositories", async () => {
    const unknown = await get("/repositories/acme/app", "ATCTT3xFfGN0nope");
    assert.equal(unknown.status, 401);
    errorMessage(unknown.json);
    const basic = await http(sim.apiUrl, "GET", "/repositories/acme/app", {
      auth: basicAuth("x-token-auth", tokens.repoRead?.token ?? ""),
    });
    assert.equal(basic.status, 401);
    assert.equal((await http(sim.apiUrl, "GET", "/repositories/acme/app")).status, 401);
  });

  test("UUIDs in braces name the workspace and the repository", async () => {
    const repo = sim.repository({ workspace: "acme", repo: "app" }) as { uuid: string; workspace: { uuid: string } };
    const path = `/repositories/${encodeURIComponent(repo.workspace.uuid)}/${encodeURIComponent(repo.uuid)}`;
    const res = await get(path, tokens.repoRead?.token ?? "");
    assert.equal(res.status, 200);
    assert.equal((res.json as { full_name: string }).full_name, "acme/app");
  });
});

describe("expiry and rotation on the simulator clock (§1.3)", () => {
  test("a token with an expiry works until then and answers 401 afterwards", async () => {
    const token = sim.createToken({
      kind: "repository",
      workspace: "acme",
      repo: "app",
      scopes: ["repository"],
      expiresInDays: 90,
    });
    assert.equal((await get("/repositories/acme/app", token.token)).status, 200);
    sim.clock.advance(89 * 86_400_000);
    assert.equal((await get("/repositories/acme/app", token.token)).status, 200);
    sim.clock.advance(86_400_000);
    const expired = await get("/repositories/acme/app", token.token);
    assert.equal(expired.status, 401);
    assert.match(errorMessage(expired.json), /expired/i);
    const clone = await run(["clone", "--quiet", withToken(sim.cloneUrl("acme", "app"), token.token), dir("expired")]);
    assert.notEqual(clone.code, 0);
  });

  test("rotation: the new secret works, the old one for at most 30 more minutes, same identity", async () => {
    const old = sim.createToken({
      kind: "repository",
      workspace: "acme",
      repo: "app",
      scopes: ["repository"],
      expiresInDays: 365,
    });
    const fresh = sim.rotateToken(old.id, 365);
    assert.notEqual(fresh.token, old.token);
    assert.equal((await get("/repositories/acme/app", fresh.token)).status, 200);
    sim.clock.advance(29 * 60_000);
    assert.equal((await get("/repositories/acme/app", old.token)).status, 200);
    sim.clock.advance(2 * 60_000);
    assert.equal((await get("/repositories/acme/app", old.token)).status, 401);
    const views = sim.tokens().filter((t) => t.id === old.id || t.id === fresh.id);
    assert.equal(new Set(views.map((v) => v.account.uuid)).size, 1);
  });

  test("a revoked token answers 401", async () => {
    const token = sim.createToken({ kind: "repository", workspace: "acme", repo: "app", scopes: ["repository"] });
    assert.equal(sim.revokeToken(token.id), true);
    assert.equal((await get("/repositories/acme/app", token.token)).status, 401);
  });
});
