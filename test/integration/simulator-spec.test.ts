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
