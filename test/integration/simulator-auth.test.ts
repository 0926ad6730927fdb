// The Bitbucket DC simulator over real HTTP: authentication per token kind, 401 per missing permission with the
// error envelope, 404s, token expiry and revocation, the access-tokens API, paging, rate limiting, the request log.
import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { type CreatedToken, type Simulator, startSimulator } from "../../src/simulator/index.ts";
import { basicAuth, bearerAuth, http } from "../../src/simulator/testing.ts";

const DAY = 86_400_000;
const NOT_PERMITTED = {
  errors: [
    {
      context: null,
      message: "You are not permitted to access this resource",
      exceptionName: "com.atlassian.bitbucket.AuthorisationException",
    },
  ],
};

let sim: Simulator;
let head: string;
const pw = { admin: "admin-pw-1", alice: "alice-pw-2", bob: "bob-pw-3", carol: "carol-pw-4" };
const as = {
  admin: basicAuth("admin", pw.admin),
  alice: basicAuth("alice", pw.alice),
  bob: basicAuth("bob", pw.bob),
  carol: basicAuth("carol", pw.carol),
};
const tokens: Record<string, CreatedToken> = {};

const api = "/rest/api/latest";
const app = `${api}/projects/PRJ/repos/app`;
const call = (method: string, path: string, auth?: string, body?: unknown) =>
  http(sim.url, method, path, { auth, body });

before(async () => {
  sim = await startSimulator({ clock: { frozen: true, start: Date.UTC(2026, 0, 1) }, paging: { maxLimit: 50 } });
  sim.createUser({ name: "admin", password: pw.admin, admin: true });
  sim.createUser({ name: "alice", password: pw.alice, displayName: "Alice" });
  sim.createUser({ name: "bob", password: pw.bob });
  sim.createUser({ name: "carol", password: pw.carol });
  sim.createGroup("devs", ["bob"]);
  sim.createProject({ key: "PRJ" });
  sim.createProject({ key: "OTHER" });
  sim.grant({ permission: "PROJECT_ADMIN", user: "alice", project: "PRJ" });
  await sim.createRepository({ project: "PRJ", slug: "app", as: "admin", files: { "README.md": "# app\n" } });
  for (const slug of ["svc-a", "svc-b", "svc-c", "svc-d"]) await sim.createRepository({ project: "PRJ", slug });
  await sim.createRepository({ project: "OTHER", slug: "lib", as: "admin", files: { "a.txt": "a\n" } });
  sim.grant({ permission: "REPO_WRITE", group: "devs", project: "PRJ", repo: "app" });
  head = (await sim.resolve({ project: "PRJ", repo: "app", rev: "main" })) ?? "";
  assert.match(head, /^[0-9a-f]{40}$/);

  const project = (permissions: string[], key = "PRJ") =>
    sim.createToken({ scope: { kind: "project", project: key }, name: `p-${permissions.join("-")}`, permissions });
  tokens.projectRead = project(["REPO_READ"]);
  tokens.projectAdmin = project(["PROJECT_ADMIN", "REPO_ADMIN"]);
  tokens.otherAdmin = project(["PROJECT_ADMIN", "REPO_ADMIN"], "OTHER");
  tokens.repoRead = sim.createToken({
    scope: { kind: "repository", project: "PRJ", repo: "app" },
    name: "r",
    permissions: ["REPO_READ"],
  });
  tokens.repoAdmin = sim.createToken({
    scope: { kind: "repository", project: "PRJ", repo: "app" },
    name: "ra",
    permissions: ["REPO_ADMIN"],
  });
  tokens.bobPersonal = sim.createToken({
    scope: { kind: "user", user: "bob" },
    name: "bob-pat",
    permissions: ["REPO_READ"],
  });
});

after(async () => {
  await sim?.close();
});

describe("authentication per token kind", () => {
  test("Bearer works for every token kind; Basic only for personal tokens with the real user name", async () => {
    const cases: [string, string, number][] = [
      ["project token as Bearer", bearerAuth(tokens.projectRead?.token ?? ""), 200],
      ["repository token as Bearer", bearerAuth(tokens.repoRead?.token ?? ""), 200],
      ["personal token as Bearer", bearerAuth(tokens.bobPersonal?.token ?? ""), 200],
      ["personal token as Basic password", basicAuth("bob", tokens.bobPersonal?.token ?? ""), 200],
      ["personal token with another user name", basicAuth("alice", tokens.bobPersonal?.token ?? ""), 401],
      ["password as Basic", as.bob, 200],
      [
        "project token as Basic with its user",
        basicAuth(tokens.projectRead?.user ?? "", tokens.projectRead?.token ?? ""),
        401,
      ],
      ["project token as Basic x-token-auth", basicAuth("x-token-auth", tokens.projectRead?.token ?? ""), 401],
      ["repository token as Basic x-token-auth", basicAuth("x-token-auth", tokens.repoRead?.token ?? ""), 401],
      ["garbage Bearer", bearerAuth("BBDC-not-a-token"), 401],
    ];
    for (const [name, auth, status] of cases) {
      const res = await call("GET", app, auth);
      assert.equal(res.status, status, name);
      if (status === 401)
        assert.deepEqual(
          res.json,
          {
            errors: [
              {
                context: null,
                message: "Authentication failed. Please check your credentials and try again.",
                exceptionName: "com.atlassian.bitbucket.auth.IncorrectPasswordAuthenticationException",
              },
            ],
          },
          name,
        );
    }
  });

  test("the x-token-auth switch lets Basic x-token-auth:<token> through, and only that user name", async () => {
    sim.configure({ acceptTokenAsBasicWithXTokenAuth: true });
    try {
      const token = tokens.projectRead?.token ?? "";
      assert.equal((await call("GET", app, basicAuth("x-token-auth", token))).status, 200);
      assert.equal((await call("GET", app, basicAuth("someone", token))).status, 401);
    } finally {
      sim.configure({ acceptTokenAsBasicWithXTokenAuth: false });
    }
    assert.equal((await call("GET", app, basicAuth("x-token-auth", tokens.projectRead?.token ?? ""))).status, 401);
  });

  test("authenticated responses name the user; project tokens act as a generated SERVICE user", async () => {
    const res = await call("GET", app, bearerAuth(tokens.projectRead?.token ?? ""));
    const user = tokens.projectRead?.user ?? "";
    assert.match(user, /^bbdc-prj-[a-z0-9]{8}$/);
    assert.equal(res.headers.get("x-ausername"), user);
    assert.equal((await call("GET", app, as.bob)).headers.get("x-ausername"), "bob");
    assert.equal((await call("GET", `${api}/application-properties`)).headers.get("x-ausername"), null);
    const who = await call("GET", `${api}/users/${user}`, as.admin);
    assert.equal((who.json as { type: string }).type, "SERVICE");
    assert.equal((who.json as { displayName: string }).displayName, tokens.projectRead?.name);
    assert.equal(
      (await call("GET", "/plugins/servlet/applinks/whoami", bearerAuth(tokens.repoRead?.token ?? ""))).text,
      tokens.repoRead?.user,
    );
  });

  test("expired tokens are refused once the clock passes their expiry, and still listed by default", async () => {
    const created = await call("PUT", "/rest/access-tokens/latest/projects/PRJ", as.alice, {
      name: "short",
      permissions: ["REPO_READ"],
      expiryDays: 2,
    });
    assert.equal(created.status, 200);
    const { id, token } = created.json as { id: string; token: string };
    assert.equal((await call("GET", app, bearerAuth(token))).status, 200);
    sim.clock.advance(2 * DAY - 1);
    assert.equal((await call("GET", app, bearerAuth(token))).status, 200);
    sim.clock.advance(1);
    assert.equal((await call("GET", app, bearerAuth(token))).status, 401);
    const listed = await call("GET", "/rest/access-tokens/latest/projects/PRJ?limit=1000", as.alice);
    assert.ok(
      (listed.json as { values: { id: string }[] }).values.some((t) => t.id === id),
      "expired tokens stay listed",
    );
    sim.configure({ listExpiredTokens: false });
    try {
      const hidden = await call("GET", "/rest/access-tokens/latest/projects/PRJ?limit=1000", as.alice);
      assert.equal(
        (hidden.json as { values: { id: string }[] }).values.some((t) => t.id === id),
        false,
      );
    } finally {
      sim.configure({ listExpiredTokens: true });
    }
  });

  test("revoked tokens are refused", async () => {
    const created = sim.createToken({
      scope: { kind: "project", project: "PRJ" },
      name: "gone",
      permissions: ["REPO_READ"],
    });
    assert.equal((await call("GET", app, bearerAuth(created.token))).status, 200);
    const del = await call("DELETE", `/rest/access-tokens/latest/projects/PRJ/${created.id}`, as.alice);
    assert.equal(del.status, 204);
    assert.equal((await call("GET", app, bearerAuth(created.token))).status, 401);
  });
});

describe("permissions", () => {
  test("401 with the envelope for each missing permission", async () => {
    const t = (name: keyof typeof tokens) => bearerAuth(tokens[name]?.token ?? "");
    const cases: [string, string, string, string | undefined, unknown?][] = [
      ["repo webhooks need REPO_ADMIN", "GET", `${app}/webhooks`, t("projectRead")],
      [
        "repo webhook create needs REPO_ADMIN",
        "POST",
        `${app}/webhooks`,
        t("repoRead"),
        { name: "x", url: "http://x.invalid", events: ["pr:opened"] },
      ],
      ["project webhooks need PROJECT_ADMIN (repo token)", "GET", `${api}/projects/PRJ/webhooks`, t("repoAdmin")],
      ["project webhooks need PROJECT_ADMIN (REPO_WRITE user)", "GET", `${api}/projects/PRJ/webhooks`, as.bob],
      ["deleting a build status needs REPO_ADMIN", "DELETE", `${app}/commits/${head}/builds?key=k`, t("projectRead")],
      ["repository permissions need REPO_ADMIN", "GET", `${app}/permissions/users`, t("projectRead")],
      ["project permissions need PROJECT_ADMIN", "GET", `${api}/projects/PRJ/permissions/users`, t("repoAdmin")],
      ["files of another project", "GET", `${app}/files`, t("otherAdmin")],
      ["raw of another project", "GET", `${app}/raw/README.md`, t("otherAdmin")],
      ["browse of another project", "GET", `${app}/browse/README.md`, t("otherAdmin")],
      ["commit of another project", "GET", `${app}/commits/${head}`, t("otherAdmin")],
      ["pull requests of another project", "GET", `${app}/pull-requests`, t("otherAdmin")],
      [
        "build status of another project",
        "POST",
        `${app}/commits/${head}/builds`,
        t("otherAdmin"),
        { key: "k", state: "FAILED", url: "https://ci" },
      ],
      ["a repository token sees no sibling repository", "GET", `${api}/projects/PRJ/repos/svc-a`, t("repoAdmin")],
      ["a user without access", "GET", app, as.carol],
      ["anonymous repository read", "GET", app, undefined],
      ["anonymous user search", "GET", `${api}/users?filter=bob`, undefined],
      ["build capabilities need a login", "GET", `${api}/build/capabilities`, undefined],
      ["access tokens for a project need PROJECT_ADMIN", "GET", "/rest/access-tokens/latest/projects/PRJ", as.bob],
      [
        "repo tokens need REPO_ADMIN",
        "PUT",
        "/rest/access-tokens/latest/projects/PRJ/repos/app",
        as.bob,
        { name: "x", permissions: ["REPO_READ"] },
      ],
      [
        "personal tokens only for yourself",
        "PUT",
        "/rest/access-tokens/latest/users/bob",
        as.alice,
        { name: "x", permissions: ["REPO_READ"] },
      ],
      ["token admin settings need a system admin", "GET", "/rest/access-tokens/latest/admin", as.alice],
      ["a REPO_READ token cannot merge", "POST", `${app}/pull-requests/1/merge`, t("repoRead")],
    ];
    for (const [name, method, path, auth, body] of cases) {
      const res = await call(method, path, auth, body);
      assert.equal(res.status, 401, `${name}: ${res.text}`);
      assert.deepEqual(res.json, NOT_PERMITTED, name);
    }
  });

  test("the same calls succeed with the permission they need", async () => {
    const t = (name: keyof typeof tokens) => bearerAuth(tokens[name]?.token ?? "");
    assert.equal((await call("GET", `${app}/webhooks`, t("repoAdmin"))).status, 200);
    assert.equal((await call("GET", `${api}/projects/PRJ/webhooks`, t("projectAdmin"))).status, 200);
    assert.equal((await call("GET", `${app}/permissions/users`, t("repoAdmin"))).status, 200);
    assert.equal(
      (
        await call("POST", `${app}/commits/${head}/builds`, t("repoRead"), {
          key: "k",
          state: "FAILED",
          url: "https://ci",
        })
      ).status,
      204,
    );
    assert.equal((await call("DELETE", `${app}/commits/${head}/builds?key=k`, t("repoAdmin"))).status, 204);
    assert.equal((await call("GET", `${api}/users?filter=bob`, t("repoRead"))).status, 200);
  });

  test("404 for unknown objects, naming the object", async () => {
    const cases: [string, string, string][] = [
      [`${api}/projects/NOPE`, "project.NoSuchProjectException", "Project NOPE does not exist."],
      [`${api}/projects/NOPE/repos/app`, "project.NoSuchProjectException", "Project NOPE does not exist."],
      [
        `${api}/projects/PRJ/repos/ghost`,
        "repository.NoSuchRepositoryException",
        "Repository PRJ/ghost does not exist.",
      ],
      [`${app}/pull-requests/77`, "pull.NoSuchPullRequestException", "Pull request 77 does not exist in PRJ/app."],
      [
        `${app}/commits/${"f".repeat(40)}`,
        "commit.NoSuchCommitException",
        `Commit '${"f".repeat(40)}' does not exist in repository 'app'.`,
      ],
      [`${app}/webhooks/424242`, "webhook.NoSuchWebhookException", "No webhook with id 424242 exists."],
      [
        "/rest/access-tokens/latest/projects/PRJ/123456789012",
        "auth.NoSuchAccessTokenException",
        "No access token with id 123456789012 exists.",
      ],
      [`${api}/users/nobody`, "user.NoSuchUserException", "User nobody does not exist."],
      [
        `${app}/raw/missing.txt`,
        "content.NoSuchPathException",
        'The path "missing.txt" does not exist at revision "main"',
      ],
    ];
    for (const [path, exception, message] of cases) {
      const res = await call("GET", path, as.admin);
      assert.equal(res.status, 404, path);
      assert.deepEqual(
        res.json,
        { errors: [{ context: null, message, exceptionName: `com.atlassian.bitbucket.${exception}` }] },
        path,
      );
    }
  });

  test("the user search honours group membership and works for any authenticated caller", async () => {
    const ask = async (auth: string, filter: string, permission: string) =>
      (
        (
          await call(
            "GET",
            `${api}/users?filter=${filter}&permission=${permission}&permission.projectKey=PRJ&permission.repositorySlug=app`,
            auth,
          )
        ).json as { values: { name: string }[] }
      ).values.map((u) => u.name);
    const projectToken = bearerAuth(tokens.projectRead?.token ?? "");
    assert.deepEqual(await ask(projectToken, "bob", "REPO_WRITE"), ["bob"], "REPO_WRITE through the devs group");
    assert.deepEqual(await ask(projectToken, "carol", "REPO_WRITE"), []);
    assert.deepEqual(
      await ask(as.carol, "alice", "REPO_ADMIN"),
      ["alice"],
      "project admins administer every repository",
    );
    assert.deepEqual(await ask(projectToken, "bob", "REPO_ADMIN"), []);
    assert.deepEqual(await ask(projectToken, "bbdc", "REPO_READ"), [], "token users are not listed");
    const numbered = await call(
      "GET",
      `${api}/users?permission.1=REPO_WRITE&permission.1.projectKey=PRJ&permission.1.repositorySlug=app&permission.2=PROJECT_ADMIN&permission.2.projectKey=PRJ`,
      projectToken,
    );
    assert.deepEqual(
      (numbered.json as { values: { name: string }[] }).values.map((u) => u.name),
      ["admin", "alice"],
    );
    const bad = await call("GET", `${api}/users?permission=REPO_WRITE&permission.projectKey=PRJ`, projectToken);
    assert.equal(bad.status, 400);
  });
});

describe("access-tokens API", () => {
  const projectTokens = "/rest/access-tokens/latest/projects/PRJ";

  test("PUT creates and returns the secret once; GET, POST (name and permissions only) and DELETE", async () => {
    const created = await call("PUT", projectTokens, as.alice, {
      name: "ci",
      permissions: ["PROJECT_READ", "REPO_WRITE"],
      expiryDays: 90,
    });
    assert.equal(created.status, 200);
    const body = created.json as Record<string, unknown>;
    assert.match(String(body.id), /^\d{12}$/);
    assert.equal(typeof body.id, "string");
    assert.equal(body.createdDate, sim.clock.now());
    assert.equal(body.expiryDays, 90);
    assert.deepEqual(body.permissions, ["PROJECT_READ", "REPO_WRITE"]);
    assert.equal("expiryDate" in body, false, "expiryDate is off by default");
    assert.equal((body.user as { type: string }).type, "SERVICE");
    const secret = String(body.token);
    assert.match(secret, /^BBDC-[A-Za-z0-9+/]{44}$/);
    const decoded = Buffer.from(secret.slice(5), "base64");
    assert.equal(decoded.length, 13 + 20);
    assert.equal(decoded.subarray(0, 13).toString(), `${body.id}:`);

    const got = await call("GET", `${projectTokens}/${body.id}`, as.alice);
    assert.equal(got.status, 200);
    assert.equal("token" in (got.json as object), false, "the secret is never shown again");

    const updated = await call("POST", `${projectTokens}/${body.id}`, as.alice, {
      name: "ci-2",
      permissions: ["REPO_READ"],
      expiryDays: 1,
    });
    assert.equal(updated.status, 200);
    assert.deepEqual(
      [
        (updated.json as { name: string }).name,
        (updated.json as { permissions: string[] }).permissions,
        (updated.json as { expiryDays: number }).expiryDays,
      ],
      ["ci-2", ["REPO_READ"], 90],
    );
    assert.equal(
      (await call("GET", `${app}/webhooks`, bearerAuth(secret))).status,
      401,
      "permissions changed in place",
    );
    assert.equal((await call("GET", app, bearerAuth(secret))).status, 200, "same secret still valid");

    assert.equal((await call("DELETE", `${projectTokens}/${body.id}`, as.alice)).status, 204);
    assert.equal((await call("GET", `${projectTokens}/${body.id}`, as.alice)).status, 404);
  });

  test("validation: name, permissions, the combination table", async () => {
    const cases: [string, string, unknown, string][] = [
      ["no name", projectTokens, { permissions: ["REPO_READ"] }, "name"],
      ["no permissions", projectTokens, { name: "x", permissions: [] }, "permissions"],
      ["unknown permission", projectTokens, { name: "x", permissions: ["REPO_PUSH"] }, "permissions"],
      [
        "project level above repository level",
        projectTokens,
        { name: "x", permissions: ["PROJECT_WRITE", "REPO_READ"] },
        "permissions",
      ],
      [
        "PROJECT_ADMIN without REPO_ADMIN",
        projectTokens,
        { name: "x", permissions: ["PROJECT_ADMIN", "REPO_WRITE"] },
        "permissions",
      ],
      [
        "repository token with a project permission",
        `${projectTokens}/repos/app`,
        { name: "x", permissions: ["PROJECT_READ", "REPO_READ"] },
        "permissions",
      ],
      ["negative expiry", projectTokens, { name: "x", permissions: ["REPO_READ"], expiryDays: -1 }, "expiryDays"],
    ];
    for (const [name, path, body, context] of cases) {
      const res = await call("PUT", path, as.alice, body);
      assert.equal(res.status, 400, name);
      assert.equal((res.json as { errors: { context: string }[] }).errors[0]?.context, context, name);
    }
  });

  test("a token can never manage tokens, whatever its permissions", async () => {
    const calls: [string, string, string][] = [
      ["PUT", projectTokens, bearerAuth(tokens.projectAdmin?.token ?? "")],
      ["GET", projectTokens, bearerAuth(tokens.projectAdmin?.token ?? "")],
      ["GET", `${projectTokens}/repos/app`, bearerAuth(tokens.repoAdmin?.token ?? "")],
      ["PUT", "/rest/access-tokens/latest/users/bob", bearerAuth(tokens.bobPersonal?.token ?? "")],
      ["PUT", "/rest/access-tokens/latest/users/bob", basicAuth("bob", tokens.bobPersonal?.token ?? "")],
    ];
    for (const [method, path, auth] of calls) {
      const res = await call(
        method,
        path,
        auth,
        method === "PUT" ? { name: "nope", permissions: ["REPO_READ"] } : undefined,
      );
      assert.equal(res.status, 401, `${method} ${path}`);
      assert.equal(
        (res.json as { errors: { exceptionName: string }[] }).errors[0]?.exceptionName,
        "com.atlassian.bitbucket.AuthorisationException",
      );
    }
    assert.equal(
      sim.tokens().some((t) => t.name === "nope"),
      false,
    );
  });

  test("personal tokens: yourself only; an admin may list and revoke someone else's", async () => {
    const mine = await call("PUT", "/rest/access-tokens/latest/users/carol", as.carol, {
      name: "mine",
      permissions: ["REPO_READ"],
    });
    assert.equal(mine.status, 200);
    const id = (mine.json as { id: string }).id;
    assert.equal((mine.json as { user: { name: string } }).user.name, "carol");
    const listed = await call("GET", "/rest/access-tokens/latest/users/carol", as.admin);
    assert.ok((listed.json as { values: { id: string }[] }).values.some((t) => t.id === id));
    assert.equal((await call("GET", "/rest/access-tokens/latest/users/carol", as.bob)).status, 401);
    assert.equal((await call("DELETE", `/rest/access-tokens/latest/users/carol/${id}`, as.admin)).status, 204);
  });

  test("the administrator's maximum expiry: 400 beyond it or without expiry; GET/PUT/DELETE admin", async () => {
    const admin = "/rest/access-tokens/latest/admin";
    assert.deepEqual((await call("GET", admin, as.admin)).json, {});
    assert.equal(
      (await call("PUT", admin, bearerAuth(tokens.projectAdmin?.token ?? ""), { maxExpiryDays: 30 })).status,
      401,
    );
    assert.deepEqual((await call("PUT", admin, as.admin, { maxExpiryDays: 30 })).json, { maxExpiryDays: 30 });
    try {
      const tooLong = await call("PUT", projectTokens, as.alice, {
        name: "x",
        permissions: ["REPO_READ"],
        expiryDays: 31,
      });
      assert.equal(tooLong.status, 400);
      assert.match(
        (tooLong.json as { errors: { message: string }[] }).errors[0]?.message ?? "",
        /exceeds the maximum of 30 days/,
      );
      assert.equal((await call("PUT", projectTokens, as.alice, { name: "x", permissions: ["REPO_READ"] })).status, 400);
      const ok = await call("PUT", projectTokens, as.alice, { name: "x", permissions: ["REPO_READ"], expiryDays: 30 });
      assert.equal(ok.status, 200);
    } finally {
      assert.equal((await call("DELETE", admin, as.admin)).status, 204);
    }
    assert.equal((await call("PUT", projectTokens, as.alice, { name: "x", permissions: ["REPO_READ"] })).status, 200);
    sim.configure({ accessTokenAdminApi: false });
    try {
      assert.equal((await call("GET", admin, as.admin)).status, 404, "absent on servers without the admin endpoint");
    } finally {
      sim.configure({ accessTokenAdminApi: true });
    }
  });

  test("switches: no BBDC- prefix; expiryDate in responses", async () => {
    sim.configure({ tokenPrefix: false, tokenExpiryDateField: true });
    try {
      const res = await call("PUT", projectTokens, as.alice, {
        name: "plain",
        permissions: ["REPO_READ"],
        expiryDays: 10,
      });
      const body = res.json as { token: string; id: string; createdDate: number; expiryDate: number };
      assert.equal(body.token.startsWith("BBDC-"), false);
      assert.equal(Buffer.from(body.token, "base64").subarray(0, 13).toString(), `${body.id}:`);
      assert.equal(body.expiryDate, body.createdDate + 10 * DAY);
      assert.equal((await call("GET", app, bearerAuth(body.token))).status, 200);
    } finally {
      sim.configure({ tokenPrefix: true, tokenExpiryDateField: false });
    }
  });
});

describe("paging, rate limiting, request log", () => {
  test("paging across three pages follows nextPageStart; limits are capped and echoed", async () => {
    const auth = bearerAuth(tokens.projectRead?.token ?? "");
    const slugs: string[] = [];
    const starts: number[] = [];
    let start: number | undefined = 0;
    while (start !== undefined) {
      const page = (await call("GET", `${api}/projects/PRJ/repos?limit=2&start=${start}`, auth)).json as {
        values: { slug: string }[];
        isLastPage: boolean;
        nextPageStart?: number;
        limit: number;
        start: number;
        size: number;
      };
      assert.equal(page.limit, 2);
      assert.equal(page.start, start);
      assert.equal(page.size, page.values.length);
      assert.equal(page.isLastPage, page.nextPageStart === undefined);
      starts.push(start);
      slugs.push(...page.values.map((v) => v.slug));
      start = page.nextPageStart;
    }
    assert.deepEqual(starts, [0, 2, 4]);
    assert.deepEqual(slugs, ["app", "svc-a", "svc-b", "svc-c", "svc-d"]);
    const capped = (await call("GET", `${api}/projects/PRJ/repos?limit=5000`, auth)).json as {
      limit: number;
      isLastPage: boolean;
    };
    assert.deepEqual([capped.limit, capped.isLastPage], [50, true]);
    const byDefault = (await call("GET", `${api}/projects/PRJ/repos`, auth)).json as { limit: number };
    assert.equal(byDefault.limit, 25);
  });

  test("429 with Retry-After per user when the limiter is on; the clock refills it", async () => {
    sim.configureRateLimit({ enabled: true, capacity: 2, refillPerSecond: 0.25 });
    try {
      const auth = bearerAuth(tokens.repoRead?.token ?? "");
      assert.equal((await call("GET", app, auth)).status, 200);
      assert.equal((await call("GET", app, auth)).status, 200);
      const limited = await call("GET", app, auth);
      assert.equal(limited.status, 429);
      assert.equal(limited.headers.get("retry-after"), "4");
      assert.equal((await call("GET", app, as.bob)).status, 200, "another user has their own bucket");
      assert.equal((await call("GET", `${api}/application-properties`)).status, 200, "anonymous calls are not limited");
      const gitLimited = await call("GET", "/scm/prj/app.git/info/refs?service=git-upload-pack", auth);
      assert.equal(gitLimited.status, 429, "git over HTTP is limited too");
      sim.clock.advance(4_000);
      assert.equal((await call("GET", app, auth)).status, 200);
      assert.equal(
        sim.requests({ tokenId: tokens.repoRead?.id, status: 429 }).every((e) => e.rateLimited),
        true,
      );
      assert.equal(sim.requestCount({ tokenId: tokens.repoRead?.id, status: 429 }), 2);
    } finally {
      sim.configureRateLimit({ enabled: false });
    }
  });

  test("the request log records every REST and git call precisely, and can be filtered and cleared", async () => {
    const mark = sim.markRequests();
    const auth = bearerAuth(tokens.projectRead?.token ?? "");
    await call("GET", `${app}/files?limit=1`, auth);
    await call("GET", `${api}/projects/PRJ/repos/app/webhooks`, auth);
    await call("GET", `${api}/application-properties`);
    await http(sim.url, "GET", "/_sim/health");
    const entries = sim.requests({ since: mark });
    assert.equal(entries.length, 3, "control calls are not Bitbucket calls");
    assert.deepEqual(
      entries.map((e) => [
        e.method,
        e.path,
        e.query,
        e.group,
        e.principal,
        e.authKind,
        e.credential,
        e.tokenId,
        e.status,
      ]),
      [
        [
          "GET",
          "/rest/api/latest/projects/PRJ/repos/app/files",
          "limit=1",
          "content",
          tokens.projectRead?.user,
          "bearer",
          "project-token",
          tokens.projectRead?.id,
          200,
        ],
        [
          "GET",
          "/rest/api/latest/projects/PRJ/repos/app/webhooks",
          "",
          "webhooks",
          tokens.projectRead?.user,
          "bearer",
          "project-token",
          tokens.projectRead?.id,
          401,
        ],
        ["GET", "/rest/api/latest/application-properties", "", "application-properties", null, "none", null, null, 200],
      ],
    );
    assert.equal(entries[0]?.route, "/rest/api/latest/projects/:projectKey/repos/:repositorySlug/files");
    assert.equal(sim.requestCount({ since: mark, group: ["content", "webhooks"] }), 2);
    assert.equal(sim.requestCount({ since: mark, principal: tokens.projectRead?.user, status: 401 }), 1);
    sim.clearRequests();
    assert.equal(sim.requestCount(), 0);
    await call("GET", app, auth);
    assert.equal(sim.requests()[0]?.seq, mark + 4, "sequence numbers keep counting after a clear");
  });
});

describe("server information and build status", () => {
  test("application properties need no auth; capabilities", async () => {
    const props = await call("GET", "/rest/api/1.0/application-properties");
    assert.deepEqual(props.json, {
      version: "9.4.0",
      buildNumber: "9004000",
      buildDate: String(Date.UTC(2024, 0, 1)),
      displayName: "Bitbucket",
    });
    const caps = await call("GET", "/rest/capabilities");
    assert.equal((caps.json as { application: string }).application, "stash");
    const build = await call("GET", `${api}/build/capabilities`, as.bob);
    assert.deepEqual(build.json, { buildStatus: ["richBuildStatus", "cancelledStatus"] });
  });

  test("build statuses: 204, validation, the same key replaces, GET by key, DELETE", async () => {
    const auth = bearerAuth(tokens.repoRead?.token ?? "");
    const path = `${app}/commits/${head}/builds`;
    const post = (body: unknown) => call("POST", path, auth, body);
    assert.equal(
      (await post({ key: "ci", state: "INPROGRESS", url: "https://ci/1", name: "CI", ref: "refs/heads/main" })).status,
      204,
    );
    sim.clock.advance(1_000);
    assert.equal((await post({ key: "ci", state: "SUCCESSFUL", url: "https://ci/1", duration: 1500 })).status, 204);
    const stored = sim.buildStatuses({ commit: head, key: "ci" });
    assert.equal(stored.length, 1, "same key replaces");
    assert.deepEqual(
      [stored[0]?.state, stored[0]?.postedBy, (stored[0]?.updatedDate ?? 0) - (stored[0]?.createdDate ?? 0)],
      ["SUCCESSFUL", tokens.repoRead?.user, 1_000],
    );
    const got = await call("GET", `${path}?key=ci`, auth);
    assert.equal(got.status, 200);
    const body = got.json as Record<string, unknown>;
    assert.deepEqual(
      [body.key, body.state, body.duration, typeof body.createdDate],
      ["ci", "SUCCESSFUL", 1500, "number"],
    );
    assert.equal((body.repository as { slug: string }).slug, "app", "9.4 adds the repository");

    const invalid: [string, unknown][] = [
      ["missing state", { key: "k", url: "https://x" }],
      ["unknown state", { key: "k", state: "DONE", url: "https://x" }],
      ["key too long", { key: "k".repeat(256), state: "FAILED", url: "https://x" }],
      ["url too long", { key: "k", state: "FAILED", url: `https://${"x".repeat(450)}` }],
      ["ref not under refs/", { key: "k", state: "FAILED", url: "https://x", ref: "main" }],
    ];
    for (const [name, b] of invalid) assert.equal((await post(b)).status, 400, name);
    assert.equal(
      (
        await call("POST", `${app}/commits/${"e".repeat(40)}/builds`, auth, {
          key: "k",
          state: "FAILED",
          url: "https://x",
        })
      ).status,
      400,
      "unknown commit",
    );
    assert.equal((await call("GET", `${path}?key=none`, auth)).status, 404);
    assert.equal((await call("DELETE", `${path}?key=ci`, bearerAuth(tokens.repoAdmin?.token ?? ""))).status, 204);
    assert.equal(sim.buildStatuses({ commit: head, key: "ci" }).length, 0);
  });

  test("an older server: no project webhooks, no build-status GET, no CANCELLED without the capability", async () => {
    const old = await startSimulator({ version: "8.8.0", buildCapabilities: ["richBuildStatus"] });
    try {
      old.createUser({ name: "admin", password: "pw", admin: true });
      old.createProject({ key: "PRJ" });
      await old.createRepository({ project: "PRJ", slug: "app", files: { a: "a" } });
      const sha = (await old.resolve({ project: "PRJ", repo: "app", rev: "main" })) ?? "";
      const auth = basicAuth("admin", "pw");
      const hooks = await http(old.url, "GET", "/rest/api/latest/projects/PRJ/webhooks", { auth });
      assert.equal(hooks.status, 404, "project webhooks arrived in 8.9 by default");
      const cancelled = await http(old.url, "POST", `/rest/api/latest/projects/PRJ/repos/app/commits/${sha}/builds`, {
        auth,
        body: { key: "k", state: "CANCELLED", url: "https://x" },
      });
      assert.equal(cancelled.status, 400);
      old.configure({ projectWebhooksSince: "8.8" });
      assert.equal((await http(old.url, "GET", "/rest/api/latest/projects/PRJ/webhooks", { auth })).status, 200);
    } finally {
      await old.close();
    }
    const older = await startSimulator({ version: "7.10.0" });
    try {
      older.createUser({ name: "admin", password: "pw", admin: true });
      older.createProject({ key: "PRJ" });
      await older.createRepository({ project: "PRJ", slug: "app", files: { a: "a" } });
      const sha = (await older.resolve({ project: "PRJ", repo: "app", rev: "main" })) ?? "";
      const got = await http(older.url, "GET", `/rest/api/latest/projects/PRJ/repos/app/commits/${sha}/builds?key=k`, {
        auth: basicAuth("admin", "pw"),
      });
      assert.equal(got.status, 404, "GET ?key= arrived in 7.14");
    } finally {
      await older.close();
    }
  });
});
