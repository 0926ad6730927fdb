import assert from "node:assert/strict";
import { generateKeyPairSync } from "node:crypto";
import { after, before, describe, it } from "node:test";
import { basicAuth, bearerAuth, extraHeader, git, http, tempDir } from "../testing.ts";
import { type GitHubSimulator, INSTALLATION_TOKEN_TTL_MS, signAppJwt, startGitHubSimulator } from "./index.ts";

const START = Date.UTC(2026, 11, 3, 12, 0, 0);

describe("GitHub simulator: App JWTs and installation tokens", () => {
  let sim: GitHubSimulator;
  let appId: number;
  let privateKey: string;
  let installationId: number;
  let home: { path: string; remove: () => Promise<void> };
  const now = () => Math.floor(sim.clock.now() / 1000);
  const jwt = (claims: Record<string, unknown> = {}, key = privateKey) =>
    signAppJwt(key, { iat: now() - 60, exp: now() + 540, iss: appId, ...claims });

  before(async () => {
    sim = await startGitHubSimulator({ clock: { start: START, frozen: true } });
    home = await tempDir("gh-sim-home-");
    sim.createAccount({ login: "octo-org", type: "Organization" });
    sim.createAccount({ login: "alice" });
    const app = sim.createApp({
      name: "Baton CI",
      owner: "octo-org",
      permissions: { contents: "write", pull_requests: "write", statuses: "write", checks: "write" },
    });
    appId = app.id;
    privateKey = app.privateKey;
    await sim.createRepository({ owner: "octo-org", name: "svc-a", files: { "README.md": "# a\n" } });
    await sim.createRepository({ owner: "octo-org", name: "svc-b", files: { "README.md": "# b\n" } });
    installationId = sim.install({ appId, account: "octo-org" }).id;
  });

  after(async () => {
    await sim.close();
    await home.remove();
  });

  const mint = async (body: unknown) =>
    http(sim.url, "POST", `/app/installations/${installationId}/access_tokens`, { auth: bearerAuth(jwt()), body });

  it("accepts a JWT signed with the App's key and finds the installation of a repository", async () => {
    const res = await http(sim.url, "GET", "/repos/octo-org/svc-a/installation", { auth: bearerAuth(jwt()) });
    assert.equal(res.status, 200);
    const body = res.json as { id: number; app_id: number; repository_selection: string };
    assert.equal(body.id, installationId);
    assert.equal(body.app_id, appId);
    assert.equal(body.repository_selection, "all");
    // The App's client id is an accepted issuer too.
    const clientId = ((await http(sim.url, "GET", "/app", { auth: bearerAuth(jwt()) })).json as { client_id: string })
      .client_id;
    const byClientId = await http(sim.url, "GET", "/app", { auth: bearerAuth(jwt({ iss: clientId })) });
    assert.equal(byClientId.status, 200);
  });

  it("refuses a JWT signed with another key, an expired one, one issued in the future and one living too long", async () => {
    const other = generateKeyPairSync("rsa", { modulusLength: 2048 })
      .privateKey.export({ type: "pkcs1", format: "pem" })
      .toString();
    const cases: [string, string][] = [
      [jwt({}, other), "A JSON web token could not be decoded"],
      [
        jwt({ iat: now() - 700, exp: now() - 100 }),
        "'Expiration time' claim ('exp') must be a numeric value representing the future time at which the assertion expires",
      ],
      [
        jwt({ iat: now() + 30 }),
        "'Issued at' claim ('iat') must be an Integer representing the time that the assertion was issued",
      ],
      [jwt({ exp: now() + 660 }), "'Expiration time' claim ('exp') is too far in the future"],
      [jwt({ iss: 999999 }), "A JSON web token could not be decoded"],
    ];
    for (const [token, message] of cases) {
      const res = await http(sim.url, "GET", "/app", { auth: bearerAuth(token) });
      assert.equal(res.status, 401, message);
      assert.deepEqual(res.json, { message, documentation_url: "https://docs.github.com/rest", status: "401" });
    }
  });

  it("refuses a JWT made with the old key once the App's key was rotated", async () => {
    const before = jwt();
    const { privateKey: rotated } = sim.rotateAppKey(appId);
    try {
      assert.equal((await http(sim.url, "GET", "/app", { auth: bearerAuth(before) })).status, 401);
      assert.equal((await http(sim.url, "GET", "/app", { auth: bearerAuth(jwt({}, rotated)) })).status, 200);
    } finally {
      privateKey = rotated;
    }
  });

  it("narrows a token to one repository and read-only contents, on REST and on git", async () => {
    const res = await mint({ repositories: ["svc-a"], permissions: { contents: "read" } });
    assert.equal(res.status, 201);
    const body = res.json as {
      token: string;
      expires_at: string;
      permissions: object;
      repositories: { name: string }[];
    };
    assert.match(body.token, /^ghs_[A-Za-z0-9]{36}$/);
    assert.equal(
      body.expires_at,
      new Date(sim.clock.now() + INSTALLATION_TOKEN_TTL_MS).toISOString().replace(".000", ""),
    );
    assert.deepEqual(body.permissions, { metadata: "read", contents: "read" });
    assert.deepEqual(
      body.repositories.map((r) => r.name),
      ["svc-a"],
    );
    const auth = bearerAuth(body.token);

    const readme = await http(sim.url, "GET", "/repos/octo-org/svc-a/contents/README.md", { auth });
    assert.equal(readme.status, 200);
    assert.equal(Buffer.from((readme.json as { content: string }).content, "base64").toString(), "# a\n");
    assert.equal(readme.headers.get("x-ratelimit-limit"), "5000");
    assert.equal((await http(sim.url, "GET", "/repos/octo-org/svc-b/contents/README.md", { auth })).status, 404);
    const post = await http(sim.url, "POST", "/repos/octo-org/svc-a/statuses/main", {
      auth,
      body: { state: "success", context: "ci" },
    });
    assert.equal(post.status, 403);
    assert.equal((post.json as { message: string }).message, "Resource not accessible by integration");

    const basic = basicAuth("x-access-token", body.token);
    const cloneA = await git(["clone", `${sim.url}/octo-org/svc-a.git`, "a"], { cwd: home.path, home: home.path });
    assert.notEqual(cloneA.code, 0, "anonymous clone of a private repository");
    const ok = await git([...extraHeader(basic), "clone", `${sim.url}/octo-org/svc-a.git`, "a"], {
      cwd: home.path,
      home: home.path,
    });
    assert.equal(ok.code, 0, ok.stderr);
    const refused = await git([...extraHeader(basic), "clone", `${sim.url}/octo-org/svc-b.git`, "b"], {
      cwd: home.path,
      home: home.path,
    });
    assert.notEqual(refused.code, 0);
    assert.match(refused.stderr, /Repository not found|not found/);

    await git(["commit", "--allow-empty", "-m", "try"], { cwd: `${home.path}/a`, home: home.path });
    const push = await git([...extraHeader(basic), "push", "origin", "HEAD:main"], {
      cwd: `${home.path}/a`,
      home: home.path,
    });
    assert.notEqual(push.code, 0);
    assert.match(push.stderr, /Permission to octo-org\/svc-a\.git denied to baton-ci\[bot\]/);
    assert.equal(
      await sim.resolve({ owner: "octo-org", repo: "svc-a", rev: "refs/heads/main" }),
      (await git(["rev-parse", "origin/main"], { cwd: `${home.path}/a`, home: home.path })).stdout.trim(),
    );
  });

  it("lets a contents:write token push, and records the push as the App's bot", async () => {
    const { token } = (await mint({ repositories: ["svc-b"], permissions: { contents: "write" } })).json as {
      token: string;
    };
    const basic = basicAuth("x-access-token", token);
    const clone = await git([...extraHeader(basic), "clone", `${sim.url}/octo-org/svc-b.git`, "b2"], {
      cwd: home.path,
      home: home.path,
    });
    assert.equal(clone.code, 0, clone.stderr);
    await git(["commit", "--allow-empty", "-m", "from the bot"], { cwd: `${home.path}/b2`, home: home.path });
    const push = await git([...extraHeader(basic), "push", "origin", "HEAD:main"], {
      cwd: `${home.path}/b2`,
      home: home.path,
    });
    assert.equal(push.code, 0, push.stderr);
    const pushRefs = await git([...extraHeader(basic), "push", "origin", "HEAD:refs/pull/1/head"], {
      cwd: `${home.path}/b2`,
      home: home.path,
    });
    assert.notEqual(pushRefs.code, 0, "refs/pull/* cannot be pushed");
  });

  it("refuses (422) a token asking for more than the installation has", async () => {
    const scoped = sim.install({
      appId,
      account: "alice",
      permissions: { contents: "read" },
    });
    const more = await http(sim.url, "POST", `/app/installations/${scoped.id}/access_tokens`, {
      auth: bearerAuth(jwt()),
      body: { permissions: { contents: "write" } },
    });
    assert.equal(more.status, 422);
    assert.equal(
      (more.json as { message: string }).message,
      "The permissions requested are not granted to this installation.",
    );
    const unknownRepo = await mint({ repositories: ["nope"] });
    assert.equal(unknownRepo.status, 422);
    const asToken = await http(sim.url, "POST", `/app/installations/${installationId}/access_tokens`, {
      auth: bearerAuth(sim.installationToken({ installationId }).token),
    });
    assert.equal(asToken.status, 401, "an installation token cannot mint tokens");
  });

  it("lapses a token after one hour of simulator time", async () => {
    const { token, expires_at } = (await mint({})).json as { token: string; expires_at: string };
    const auth = bearerAuth(token);
    sim.clock.advance(INSTALLATION_TOKEN_TTL_MS - 1000);
    assert.equal((await http(sim.url, "GET", "/repos/octo-org/svc-a", { auth })).status, 200);
    sim.clock.advance(1000);
    assert.equal(sim.clock.now(), Date.parse(expires_at));
    const lapsed = await http(sim.url, "GET", "/repos/octo-org/svc-a", { auth });
    assert.equal(lapsed.status, 401);
    assert.equal((lapsed.json as { message: string }).message, "Bad credentials");
    const clone = await git(
      [...extraHeader(basicAuth("x-access-token", token)), "ls-remote", `${sim.url}/octo-org/svc-a.git`],
      {
        home: home.path,
      },
    );
    assert.notEqual(clone.code, 0);
  });

  it("announces a fine-grained PAT's expiry and limits it to its repositories and the user's role", async () => {
    sim.setCollaborator({ owner: "octo-org", repo: "svc-a", login: "alice", role: "read" });
    const pat = sim.personalToken({
      user: "alice",
      owner: "octo-org",
      repositories: ["svc-a"],
      permissions: { contents: "write" },
      expiresInDays: 7,
    });
    assert.match(pat.token, /^github_pat_/);
    const res = await http(sim.url, "GET", "/repos/octo-org/svc-a", { auth: bearerAuth(pat.token) });
    assert.equal(res.status, 200);
    assert.equal(
      res.headers.get("github-authentication-token-expiration"),
      `${pat.expiresAt?.replace("T", " ").replace("Z", "")} UTC`,
    );
    const write = await http(sim.url, "POST", "/repos/octo-org/svc-a/statuses/main", {
      auth: bearerAuth(pat.token),
      body: { state: "success" },
    });
    assert.equal(write.status, 403, "statuses were not granted");
    const perm = await http(sim.url, "GET", "/repos/octo-org/svc-a/collaborators/alice/permission", {
      auth: bearerAuth(pat.token),
    });
    assert.deepEqual(
      {
        permission: (perm.json as { permission: string }).permission,
        role: (perm.json as { role_name: string }).role_name,
      },
      { permission: "read", role: "read" },
    );
  });

  it("a PAT without expiry gets no expiry header; one past its expiry on the simulator clock is refused 401", async () => {
    sim.setCollaborator({ owner: "octo-org", repo: "svc-a", login: "alice", role: "read" });
    const forever = sim.personalToken({
      user: "alice",
      owner: "octo-org",
      repositories: ["svc-a"],
      permissions: { contents: "read" },
      expiresInDays: null,
    });
    assert.equal(forever.expiresAt, null);
    const open = await http(sim.url, "GET", "/repos/octo-org/svc-a", { auth: bearerAuth(forever.token) });
    assert.equal(open.status, 200);
    assert.equal(open.headers.get("github-authentication-token-expiration"), null);

    const at = sim.clock.now() + 3_600_000;
    const brief = sim.personalToken({
      user: "alice",
      owner: "octo-org",
      repositories: ["svc-a"],
      permissions: { contents: "read" },
      expiresAt: at,
    });
    assert.equal(brief.expiresAt, new Date(at - (at % 1000)).toISOString().replace(/\.\d{3}Z$/, "Z"));
    const before = await http(sim.url, "GET", "/rate_limit", { auth: bearerAuth(brief.token) });
    assert.equal(before.status, 200, "an authenticated answer that costs no rate limit carries the header too");
    assert.match(
      before.headers.get("github-authentication-token-expiration") ?? "",
      /^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d UTC$/,
    );
    sim.clock.advance(3_600_000);
    const after = await http(sim.url, "GET", "/repos/octo-org/svc-a", { auth: bearerAuth(brief.token) });
    assert.equal(after.status, 401);
    assert.equal((after.json as { message: string }).message, "Bad credentials");
  });

  it("lists an organisation's repositories the token covers; a user's public ones only; 404 for the wrong kind", async () => {
    sim.setCollaborator({ owner: "octo-org", repo: "svc-a", login: "alice", role: "read" });
    const pat = sim.personalToken({
      user: "alice",
      owner: "octo-org",
      repositories: ["svc-a"],
      permissions: { contents: "read" },
    });
    const auth = bearerAuth(pat.token);
    const org = await http(sim.url, "GET", "/orgs/octo-org/repos", { auth });
    assert.equal(org.status, 200);
    assert.deepEqual(
      (org.json as { name: string }[]).map((r) => r.name),
      ["svc-a"],
    );
    assert.equal((await http(sim.url, "GET", "/orgs/alice/repos", { auth })).status, 404);
    const user = await http(sim.url, "GET", "/users/octo-org/repos", { auth });
    assert.equal(user.status, 404, "an organisation is not a user");
  });

  it("reports the primary rate limit and answers the secondary one with retry-after", async () => {
    const { token } = sim.installationToken({ installationId });
    const auth = bearerAuth(token);
    const first = await http(sim.url, "GET", "/repos/octo-org/svc-a", { auth });
    const second = await http(sim.url, "GET", "/repos/octo-org/svc-a", { auth });
    assert.equal(
      Number(second.headers.get("x-ratelimit-remaining")),
      Number(first.headers.get("x-ratelimit-remaining")) - 1,
    );
    assert.equal(second.headers.get("x-ratelimit-resource"), "core");
    sim.configureSecondaryRateLimit({ enabled: true, capacity: 1, refillPerSecond: 0.1 });
    try {
      await http(sim.url, "GET", "/repos/octo-org/svc-a", { auth });
      const limited = await http(sim.url, "GET", "/repos/octo-org/svc-a", { auth });
      assert.equal(limited.status, 403);
      assert.equal(limited.headers.get("retry-after"), "10");
      assert.match((limited.json as { message: string }).message, /secondary rate limit/);
    } finally {
      sim.configureSecondaryRateLimit({ enabled: false });
    }
  });
});
