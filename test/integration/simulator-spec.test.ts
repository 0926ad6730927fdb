// The simulator against Atlassian's published Bitbucket DC REST spec (the 9.2 OpenAPI file, reference §§1, 5, 6):
// answers that spec documents and that other tools rely on, checked over HTTP as those tools see them.
import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { type Simulator, startSimulator } from "../../src/simulator/index.ts";
import { basicAuth, bearerAuth, http } from "../../src/simulator/testing.ts";

const api = "/rest/api/latest";

let sim: Simulator;
let projectToken: string;

before(async () => {
  sim = await startSimulator({ clock: { frozen: true, start: Date.UTC(2026, 0, 1) } });
  sim.createUser({ name: "admin", password: "admin-pw-5a1", admin: true });
  sim.createUser({ name: "bob", password: "bob-pw-3c7" });
  sim.createProject({ key: "PRJ" });
  await sim.createRepository({ project: "PRJ", slug: "app", files: { "README.md": "# app\n" } });
  sim.grant({ permission: "REPO_WRITE", user: "bob", project: "PRJ", repo: "app" });
  projectToken = sim.createToken({
    scope: { kind: "project", project: "PRJ" },
    name: "ci",
    permissions: ["REPO_READ"],
  }).token;
});

after(() => sim?.close());

type Envelope = { errors: { context: string | null; message: string; exceptionName: string | null }[] };

describe("user search with a permission filter (getUsers_2)", () => {
  const search = (params: string) => http(sim.url, "GET", `${api}/users?${params}`, { auth: bearerAuth(projectToken) });

  test("a filter naming a repository that does not exist is a 400 in the error envelope, not an empty page", async () => {
    const res = await search(
      "filter=bob&permission=REPO_WRITE&permission.projectKey=PRJ&permission.repositorySlug=gone",
    );
    assert.equal(res.status, 400);
    assert.deepEqual(res.json, {
      errors: [
        {
          context: "permission.repositorySlug",
          message: "Repository PRJ/gone does not exist.",
          exceptionName: "com.atlassian.bitbucket.validation.ArgumentValidationException",
        },
      ],
    });
  });

  test("so is one naming a project that does not exist, for project and repository permissions", async () => {
    for (const params of [
      "filter=bob&permission=PROJECT_READ&permission.projectKey=NOPE",
      "filter=bob&permission.1=REPO_READ&permission.1.projectKey=NOPE&permission.1.repositorySlug=app",
    ]) {
      const res = await search(params);
      assert.equal(res.status, 400, params);
      assert.match((res.json as Envelope).errors[0]?.message ?? "", /NOPE/, params);
    }
  });

  test("an existing repository still answers a page, empty meaning no", async () => {
    const ask = async (filter: string) =>
      (
        (await search(`filter=${filter}&permission=REPO_WRITE&permission.projectKey=PRJ&permission.repositorySlug=app`))
          .json as { values: { name: string }[] }
      ).values.map((u) => u.name);
    assert.deepEqual(await ask("bob"), ["bob"]);
    assert.deepEqual(await ask("nobody"), []);
  });
});

describe("access-token dates (RestAccessToken.createdDate)", () => {
  const admin = basicAuth("admin", "admin-pw-5a1");
  const tokens = "/rest/access-tokens/latest/projects/PRJ";
  /** RFC 3339, which OpenAPI's `date-time` format means. */
  const dateTime = /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?(Z|[+-]\d\d:\d\d)$/;

  for (const isoTokenDates of [false, true]) {
    test(`create, get and list carry the same instant (isoTokenDates: ${isoTokenDates})`, async (t) => {
      sim.configure({ isoTokenDates, tokenExpiryDateField: true });
      t.after(() => sim.configure({ isoTokenDates: false, tokenExpiryDateField: false }));
      const now = sim.clock.now();
      const created = await http(sim.url, "PUT", tokens, {
        auth: admin,
        body: { name: `dates-${isoTokenDates}`, permissions: ["REPO_READ"], expiryDays: 3 },
      });
      assert.equal(created.status, 200);
      const id = (created.json as { id: string }).id;
      const got = (await http(sim.url, "GET", `${tokens}/${id}`, { auth: admin })).json;
      const listed = ((await http(sim.url, "GET", tokens, { auth: admin })).json as { values: { id: string }[] })
        .values;
      for (const token of [created.json, got, listed.find((v) => v.id === id)] as Record<string, unknown>[]) {
        if (isoTokenDates) {
          assert.match(String(token.createdDate), dateTime);
          assert.match(String(token.expiryDate), dateTime);
          assert.equal(Date.parse(String(token.createdDate)), now);
          assert.equal(Date.parse(String(token.expiryDate)), now + 3 * 86_400_000);
        } else {
          assert.equal(token.createdDate, now);
          assert.equal(token.expiryDate, now + 3 * 86_400_000);
        }
      }
    });
  }
});

describe("legacy build status (/rest/build-status/1.0/commits/{commitId}, deprecated in 7.14)", () => {
  const bobAuth = basicAuth("bob", "bob-pw-3c7");
  const legacy = (sha: string, version = "1.0") => `/rest/build-status/${version}/commits/${sha}`;
  let sha: string;
  type Listed = {
    size: number;
    limit: number;
    start: number;
    isLastPage: boolean;
    nextPageStart?: number;
    values: { key: string; state: string; createdDate: number; updatedDate: number; repository?: { slug: string } }[];
  };
  const list = async (path: string, auth = bobAuth) => {
    const res = await http(sim.url, "GET", path, { auth });
    assert.equal(res.status, 200, path);
    return res.json as Listed;
  };

  before(async () => {
    sha = (await sim.resolve({ project: "PRJ", repo: "app", rev: "refs/heads/main" })) ?? "";
    assert.match(sha, /^[0-9a-f]{40}$/);
  });

  test("POST 204 for a licensed user; the commit's page lists it; the same key replaces it", async () => {
    const post = (body: unknown, version?: string) =>
      http(sim.url, "POST", legacy(sha, version), { auth: bobAuth, body });
    const first = await post({
      key: "jenkins",
      state: "INPROGRESS",
      url: "https://ci/1",
      name: "Jenkins",
      description: "building",
    });
    assert.equal(first.status, 204);
    const listed = await list(legacy(sha));
    assert.equal(listed.size, 1);
    assert.equal(listed.isLastPage, true);
    assert.equal(listed.values[0]?.key, "jenkins");
    assert.equal(listed.values[0]?.state, "INPROGRESS");
    assert.equal(listed.values[0]?.repository, undefined, "a legacy status belongs to no repository");
    sim.clock.advance(1000);
    assert.equal((await post({ key: "jenkins", state: "SUCCESSFUL", url: "https://ci/1" }, "latest")).status, 204);
    const replaced = await list(legacy(sha, "latest"));
    assert.deepEqual(
      replaced.values.map((v) => [v.key, v.state, v.updatedDate - v.createdDate]),
      [["jenkins", "SUCCESSFUL", 1000]],
    );
    assert.deepEqual(
      sim.buildStatuses({ commit: sha }).map((s) => [s.project, s.repo, s.key, s.postedBy]),
      [[null, null, "jenkins", "bob"]],
    );
  });

  test("one store with the repository-scoped API: each shows the other's statuses for the commit", async () => {
    const scoped = await http(sim.url, "POST", `${api}/projects/PRJ/repos/app/commits/${sha}/builds`, {
      auth: bearerAuth(projectToken),
      body: { key: "baton", state: "FAILED", url: "https://baton/1" },
    });
    assert.equal(scoped.status, 204);
    const listed = await list(legacy(sha));
    assert.deepEqual(listed.values.map((v) => [v.key, v.repository?.slug ?? null]).sort(), [
      ["baton", "app"],
      ["jenkins", null],
    ]);
    const seen = await http(sim.url, "GET", `${api}/projects/PRJ/repos/app/commits/${sha}/builds?key=jenkins`, {
      auth: bearerAuth(projectToken),
    });
    assert.equal(seen.status, 200, "the repository holding the commit sees its legacy status");
    assert.equal((seen.json as { state: string }).state, "SUCCESSFUL");
  });

  test("paging, orderBy NEWEST (default), OLDEST and STATUS, and at most the newest 100", async () => {
    const commit = "ab".repeat(20);
    for (let i = 0; i < 102; i++) {
      sim.clock.advance(1);
      const state = i === 50 ? "FAILED" : "SUCCESSFUL";
      const res = await http(sim.url, "POST", legacy(commit), {
        auth: bobAuth,
        body: { key: `k${i}`, state, url: `https://ci/${i}` },
      });
      assert.equal(res.status, 204);
    }
    const first = await list(`${legacy(commit)}?limit=2`);
    assert.deepEqual(
      [first.values.map((v) => v.key), first.size, first.isLastPage, first.nextPageStart],
      [["k101", "k100"], 2, false, 2],
    );
    const second = await list(`${legacy(commit)}?limit=2&start=${first.nextPageStart}`);
    assert.deepEqual(
      second.values.map((v) => v.key),
      ["k99", "k98"],
    );
    const all = await list(`${legacy(commit)}?limit=1000`);
    assert.equal(all.size, 100, "the newest 100 only");
    assert.equal(all.isLastPage, true);
    assert.deepEqual([all.values.at(0)?.key, all.values.at(-1)?.key], ["k101", "k2"]);
    const oldest = await list(`${legacy(commit)}?orderBy=OLDEST&limit=1`);
    assert.equal(oldest.values[0]?.key, "k2");
    const byStatus = await list(`${legacy(commit)}?orderBy=STATUS&limit=1`);
    assert.equal(byStatus.values[0]?.key, "k50", "failures first");
  });

  test("auth: anonymous and project tokens 401 (LICENSED is a global permission), passwords and personal tokens work", async () => {
    const body = { key: "auth", state: "SUCCESSFUL", url: "https://ci/a" };
    const personal = sim.createToken({
      scope: { kind: "user", user: "bob" },
      name: "mine",
      permissions: ["REPO_READ"],
    });
    const cases: [string, string | undefined, number][] = [
      ["anonymous", undefined, 401],
      ["project token", bearerAuth(projectToken), 401],
      ["wrong password", basicAuth("bob", "nope"), 401],
      ["personal token", bearerAuth(personal.token), 204],
      ["password", bobAuth, 204],
    ];
    for (const [what, auth, status] of cases) {
      assert.equal((await http(sim.url, "POST", legacy(sha), { auth, body })).status, status, `POST ${what}`);
      assert.equal(
        (await http(sim.url, "GET", legacy(sha), { auth })).status,
        status === 204 ? 200 : 401,
        `GET ${what}`,
      );
    }
    sim.configure({ legacyBuildStatusProjectTokens: true });
    try {
      assert.equal((await http(sim.url, "POST", legacy(sha), { auth: bearerAuth(projectToken), body })).status, 204);
    } finally {
      sim.configure({ legacyBuildStatusProjectTokens: false });
    }
  });

  test("400 in the error envelope: short commit id, missing field, fields too long", async () => {
    const ok = { key: "v", state: "SUCCESSFUL", url: "https://ci/v" };
    const cases: [string, string, unknown, string][] = [
      ["short id", legacy(sha.slice(0, 12)), ok, "commitId"],
      ["no url", legacy(sha), { key: "v", state: "SUCCESSFUL" }, "url"],
      ["no key", legacy(sha), { state: "SUCCESSFUL", url: "https://ci/v" }, "key"],
      ["unknown state", legacy(sha), { ...ok, state: "DONE" }, "state"],
      ["url over 450", legacy(sha), { ...ok, url: `https://ci/${"x".repeat(450)}` }, "url"],
      ["description over 255", legacy(sha), { ...ok, description: "d".repeat(256) }, "description"],
      ["name over 255", legacy(sha), { ...ok, name: "n".repeat(256) }, "name"],
    ];
    for (const [what, path, body, context] of cases) {
      const res = await http(sim.url, "POST", path, { auth: bobAuth, body });
      assert.equal(res.status, 400, what);
      assert.equal((res.json as Envelope).errors[0]?.context, context, what);
    }
    const bad = await http(sim.url, "GET", `${legacy(sha)}?orderBy=SIDEWAYS`, { auth: bobAuth });
    assert.equal(bad.status, 400);
  });
});
