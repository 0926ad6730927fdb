import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { after, before, beforeEach, describe, test } from "node:test";
import { NotFoundError, ResponseTooLargeError, SchemaError, ServerError, TooManyResultsError } from "../http/errors.ts";
import { page, type Recorded, type Reply, startServer, type TestServer } from "../http/test-server.ts";
import { BitbucketClient } from "./client.ts";

function fixture(name: string): Record<string, unknown> {
  return JSON.parse(readFileSync(new URL(`../../../test/fixtures/bitbucket-dc/${name}`, import.meta.url), "utf8"));
}

const PR = fixture("rest-pr-get.go-scm.json");
const REPO = fixture("rest-repo-get.go-scm.json");
const USER = fixture("rest-user-get.go-scm.json");
const WEBHOOK = fixture("rest-webhook-get.go-scm.json");
const COMMIT = fixture("rest-commit-get.go-scm.json");
const CHANGES = fixture("rest-pr-changes-paged.go-scm.json");
const TOKEN = { id: "252973515069", name: "ci", createdDate: 1700000000000, permissions: ["REPO_READ"] };
const STATUS = { key: "baton-build", state: "SUCCESSFUL", url: "https://ci/x", createdDate: "2026-01-02T03:04:05Z" };

let script: Reply[] = [];
let server: TestServer;
let client: BitbucketClient;

before(async () => {
  server = await startServer(() => script.shift() ?? { status: 204 });
  client = new BitbucketClient({
    baseUrl: `${server.url}/bitbucket`,
    auth: { kind: "bearer", token: "tok" },
    sleep: async () => {},
  });
});
after(async () => {
  await client.close();
  await server.close();
});
beforeEach(() => {
  script = [];
  server.requests.length = 0;
});

function only(): Recorded {
  assert.equal(server.requests.length, 1);
  return server.requests[0] as Recorded;
}

const repo = { project: "PRJ", repository: "my-repo" };
const API = "/bitbucket/rest/api/latest";

describe("endpoints: method, path, query and body", () => {
  const cases: {
    name: string;
    reply: Reply;
    call: (c: BitbucketClient) => Promise<unknown>;
    method: string;
    url: string;
    body?: unknown;
    result?: (value: unknown) => void;
  }[] = [
    {
      name: "create a project token (PUT creates)",
      reply: { body: { ...TOKEN, token: "BBDC-new" } },
      call: (c) =>
        c.accessTokens.create({ project: "PRJ" }, { name: "ci", permissions: ["REPO_READ"], expiryDays: 90 }),
      method: "PUT",
      url: "/bitbucket/rest/access-tokens/latest/projects/PRJ",
      body: { name: "ci", permissions: ["REPO_READ"], expiryDays: 90 },
      result: (t) => assert.equal((t as { token: string }).token, "BBDC-new"),
    },
    {
      name: "create a repository token without expiry",
      reply: { body: { ...TOKEN, token: "BBDC-new" } },
      call: (c) => c.accessTokens.create(repo, { name: "ci", permissions: ["REPO_WRITE"] }),
      method: "PUT",
      url: "/bitbucket/rest/access-tokens/latest/projects/PRJ/repos/my-repo",
      body: { name: "ci", permissions: ["REPO_WRITE"] },
    },
    {
      name: "list tokens",
      reply: { body: page([TOKEN]) },
      call: (c) => c.accessTokens.list(repo),
      method: "GET",
      url: "/bitbucket/rest/access-tokens/latest/projects/PRJ/repos/my-repo?limit=100",
      result: (ts) => assert.deepEqual(ts, [TOKEN]),
    },
    {
      name: "get a token",
      reply: { body: TOKEN },
      call: (c) => c.accessTokens.get({ project: "PRJ" }, "252973515069"),
      method: "GET",
      url: "/bitbucket/rest/access-tokens/latest/projects/PRJ/252973515069",
    },
    {
      name: "revoke a token",
      reply: { status: 204 },
      call: (c) => c.accessTokens.delete({ project: "PRJ" }, "252973515069"),
      method: "DELETE",
      url: "/bitbucket/rest/access-tokens/latest/projects/PRJ/252973515069",
      result: (deleted) => assert.equal(deleted, true),
    },
    {
      name: "revoking an absent token answers false",
      reply: { status: 404 },
      call: (c) => c.accessTokens.delete(repo, "1"),
      method: "DELETE",
      url: "/bitbucket/rest/access-tokens/latest/projects/PRJ/repos/my-repo/1",
      result: (deleted) => assert.equal(deleted, false),
    },
    {
      name: "list repository webhooks for one event",
      reply: { body: page([WEBHOOK]) },
      call: (c) => c.webhooks.list(repo, { event: "pr:opened" }),
      method: "GET",
      url: `${API}/projects/PRJ/repos/my-repo/webhooks?event=pr%3Aopened&limit=100`,
      result: (hooks) => assert.equal((hooks as { id: number }[])[0]?.id, 1),
    },
    {
      name: "list project webhooks",
      reply: { body: page([]) },
      call: (c) => c.webhooks.list({ project: "PRJ" }),
      method: "GET",
      url: `${API}/projects/PRJ/webhooks?limit=100`,
    },
    {
      name: "create a webhook with a secret",
      reply: { body: WEBHOOK },
      call: (c) =>
        c.webhooks.create(repo, {
          name: "baton",
          url: "https://baton/hook",
          events: ["pr:opened"],
          active: true,
          configuration: { secret: "s3cret" },
        }),
      method: "POST",
      url: `${API}/projects/PRJ/repos/my-repo/webhooks`,
      body: {
        name: "baton",
        url: "https://baton/hook",
        events: ["pr:opened"],
        active: true,
        configuration: { secret: "s3cret" },
      },
    },
    {
      name: "an empty secret leaves configuration out (Bitbucket answers 500 otherwise)",
      reply: { body: WEBHOOK },
      call: (c) =>
        c.webhooks.create(
          { project: "PRJ" },
          { name: "n", url: "u", events: [], active: false, configuration: { secret: "" } },
        ),
      method: "POST",
      url: `${API}/projects/PRJ/webhooks`,
      body: { name: "n", url: "u", events: [], active: false },
    },
    {
      name: "replace a webhook with the whole desired object, keeping foreign configuration keys",
      reply: { body: WEBHOOK },
      call: (c) =>
        c.webhooks.replace(repo, 7, {
          name: "baton",
          url: "https://baton/hook",
          events: ["repo:refs_changed"],
          active: true,
          configuration: { createdBy: "baton", secret: "s" },
          credentials: { username: "u" },
          sslVerificationRequired: true,
        }),
      method: "PUT",
      url: `${API}/projects/PRJ/repos/my-repo/webhooks/7`,
      body: {
        name: "baton",
        url: "https://baton/hook",
        events: ["repo:refs_changed"],
        active: true,
        configuration: { createdBy: "baton", secret: "s" },
        credentials: { username: "u" },
        sslVerificationRequired: true,
      },
    },
    {
      name: "get a webhook",
      reply: { body: WEBHOOK },
      call: (c) => c.webhooks.get({ project: "PRJ" }, 3),
      method: "GET",
      url: `${API}/projects/PRJ/webhooks/3`,
    },
    {
      name: "delete a webhook",
      reply: { status: 204 },
      call: (c) => c.webhooks.delete(repo, 3),
      method: "DELETE",
      url: `${API}/projects/PRJ/repos/my-repo/webhooks/3`,
      result: (deleted) => assert.equal(deleted, true),
    },
    {
      name: "post a build status",
      reply: { status: 204 },
      call: (c) =>
        c.buildStatus.set(repo, "131cb13f4aed12e725177bc4b7c28db67839bf9f", {
          key: "baton-build",
          state: "INPROGRESS",
          url: "https://ci/x",
          ref: "refs/heads/main",
        }),
      method: "POST",
      url: `${API}/projects/PRJ/repos/my-repo/commits/131cb13f4aed12e725177bc4b7c28db67839bf9f/builds`,
      body: { key: "baton-build", state: "INPROGRESS", url: "https://ci/x", ref: "refs/heads/main" },
    },
    {
      name: "get a build status by key",
      reply: { body: STATUS },
      call: (c) => c.buildStatus.get(repo, "abc", "baton build/1"),
      method: "GET",
      url: `${API}/projects/PRJ/repos/my-repo/commits/abc/builds?key=baton+build%2F1`,
      result: (s) => assert.equal((s as { createdDate: number }).createdDate, Date.UTC(2026, 0, 2, 3, 4, 5)),
    },
    {
      name: "build capabilities",
      reply: { body: { buildStatus: ["richBuildStatus", "cancelledStatus"] } },
      call: (c) => c.buildStatus.capabilities(),
      method: "GET",
      url: `${API}/build/capabilities`,
      result: (caps) => assert.deepEqual(caps, { buildStatus: ["richBuildStatus", "cancelledStatus"] }),
    },
    {
      name: "list files under a path with spaces and unicode",
      reply: { body: page(["pipeline run.yaml"]) },
      call: (c) => c.content.listFiles(repo, ".tekton/ünï dir", { at: "refs/heads/main" }),
      method: "GET",
      url: `${API}/projects/PRJ/repos/my-repo/files/.tekton/%C3%BCn%C3%AF%20dir?at=refs%2Fheads%2Fmain&limit=100`,
      result: (files) => assert.deepEqual(files, ["pipeline run.yaml"]),
    },
    {
      name: "list files at the root",
      reply: { body: page([]) },
      call: (c) => c.content.listFiles(repo, ""),
      method: "GET",
      url: `${API}/projects/PRJ/repos/my-repo/files?limit=100`,
    },
    {
      name: "raw file as text",
      reply: { body: "kind: PipelineRun\n", headers: { "content-type": "text/plain" } },
      call: (c) => c.content.rawText({ project: "~jdoe", repository: "fork" }, ".tekton/a b.yaml", { at: "abc" }),
      method: "GET",
      url: `${API}/projects/~jdoe/repos/fork/raw/.tekton/a%20b.yaml?at=abc`,
      result: (text) => assert.equal(text, "kind: PipelineRun\n"),
    },
    {
      name: "path type",
      reply: { body: { type: "DIRECTORY" } },
      call: (c) => c.content.pathType(repo, ".tekton", { at: "abc" }),
      method: "GET",
      url: `${API}/projects/PRJ/repos/my-repo/browse/.tekton?at=abc&type=true`,
      result: (t) => assert.equal(t, "DIRECTORY"),
    },
    {
      name: "commit",
      reply: { body: COMMIT },
      call: (c) => c.content.commit(repo, "131cb13f"),
      method: "GET",
      url: `${API}/projects/PRJ/repos/my-repo/commits/131cb13f`,
      result: (commit) =>
        assert.deepEqual((commit as { parents: unknown }).parents, [
          { id: "4f4b0ef1714a5b6cafdaf2f53c7f5f5b38fb9348", displayId: "4f4b0ef1714" },
        ]),
    },
    {
      name: "pull request",
      reply: { body: PR },
      call: (c) => c.pullRequests.get(repo, 1),
      method: "GET",
      url: `${API}/projects/PRJ/repos/my-repo/pull-requests/1`,
      result: (pr) =>
        assert.equal(
          (pr as { fromRef: { latestCommit: string } }).fromRef.latestCommit,
          "131cb13f4aed12e725177bc4b7c28db67839bf9f",
        ),
    },
    {
      name: "open pull requests",
      reply: { body: page([PR]) },
      call: (c) => c.pullRequests.listOpen(repo, { pageSize: 50 }),
      method: "GET",
      url: `${API}/projects/PRJ/repos/my-repo/pull-requests?state=OPEN&limit=50`,
    },
    {
      name: "pull-request changes ask for one big page",
      reply: { body: CHANGES },
      call: (c) => c.pullRequests.changes(repo, 1),
      method: "GET",
      url: `${API}/projects/PRJ/repos/my-repo/pull-requests/1/changes?limit=1000`,
      result: (changes) =>
        assert.deepEqual(changes, {
          fromHash: "5c64a07cd6c0f21b753bf261ef059c7e7633c50a",
          toHash: "3d9cef97aa670eb646a3d165fd9302b2edc5acd0",
          truncated: false,
          changes: [
            { path: "COPYING", type: "ADD", nodeType: "FILE", contentId: "f1df0de7c4a94b7d83bd4864154e48e8b7f4d2cb" },
            { path: "README", type: "DELETE", nodeType: "FILE", contentId: "22c02951195e38dc2a602ed78dfec38f184f462c" },
            { path: "README.md", type: "ADD", nodeType: "FILE", contentId: "e427984d4a2c1904681f2e2ee5980f37640d353f" },
            { path: "main.go", type: "ADD", nodeType: "FILE", contentId: "002a5c740c7d288d40d490a43aae9297488a2433" },
          ],
        }),
    },
    {
      name: "a cut list of changes is reported as truncated",
      reply: { body: { ...CHANGES, isLastPage: false, nextPageStart: 4 } },
      call: (c) => c.pullRequests.changes(repo, 1, { limit: 4 }),
      method: "GET",
      url: `${API}/projects/PRJ/repos/my-repo/pull-requests/1/changes?limit=4`,
      result: (changes) => assert.equal((changes as { truncated: boolean }).truncated, true),
    },
    {
      name: "comment on a pull request",
      reply: { status: 201, body: { id: 5, version: 0, text: "/retest", author: USER, createdDate: 1 } },
      call: (c) => c.pullRequests.comment(repo, 1, "Build **failed**"),
      method: "POST",
      url: `${API}/projects/PRJ/repos/my-repo/pull-requests/1/comments`,
      body: { text: "Build **failed**" },
    },
    {
      name: "user search with a repository permission filter",
      reply: { body: page([USER]) },
      call: (c) =>
        c.users.search({
          filter: "jcitizen",
          permission: { permission: "REPO_WRITE", project: "PRJ", repository: "my-repo" },
        }),
      method: "GET",
      url: `${API}/users?filter=jcitizen&permission=REPO_WRITE&permission.projectKey=PRJ&permission.repositorySlug=my-repo&limit=100`,
    },
    {
      name: "repository",
      reply: { body: REPO },
      call: (c) => c.repos.get(repo),
      method: "GET",
      url: `${API}/projects/PRJ/repos/my-repo`,
    },
    {
      name: "repositories of a personal project",
      reply: { body: page([REPO]) },
      call: (c) => c.repos.list({ project: "~jdoe" }),
      method: "GET",
      url: `${API}/projects/~jdoe/repos?limit=100`,
    },
    {
      name: "application properties",
      reply: { body: fixture("rest-application-properties-7.11.2.sourcegraph.json") },
      call: (c) => c.server.applicationProperties(),
      method: "GET",
      url: `${API}/application-properties`,
      result: (p) => assert.deepEqual(p, { version: "7.11.2", buildNumber: "7011002", displayName: "Bitbucket" }),
    },
  ];

  for (const c of cases) {
    test(c.name, async () => {
      script = [c.reply];
      const value = await c.call(client);
      const req = only();
      assert.equal(req.method, c.method);
      assert.equal(req.url, c.url);
      if (c.body !== undefined) assert.deepEqual(JSON.parse(req.body), c.body);
      else assert.equal(req.body, "");
      c.result?.(value);
    });
  }
});

describe("endpoint behaviour", () => {
  test("token creation is not retried on 5xx: it would create a second token", async () => {
    script = [{ status: 503 }, { body: { ...TOKEN, token: "x" } }];
    await assert.rejects(
      client.accessTokens.create({ project: "PRJ" }, { name: "a", permissions: ["REPO_READ"] }),
      ServerError,
    );
    assert.equal(server.requests.length, 1);
  });

  test("a token-create answer without the secret says a token may exist", async () => {
    script = [{ body: TOKEN }];
    await assert.rejects(
      client.accessTokens.create({ project: "PRJ" }, { name: "ci-2", permissions: ["REPO_READ"] }),
      (err) => err instanceof SchemaError && /created the token "ci-2" anyway/.test(err.message),
    );
  });

  test("a webhook create is not retried, a webhook replace is", async () => {
    const input = { name: "n", url: "u", events: ["pr:opened"], active: true };
    script = [{ status: 500 }];
    await assert.rejects(client.webhooks.create(repo, input), ServerError);
    assert.equal(server.requests.length, 1);
    script = [{ status: 500 }, { body: WEBHOOK }];
    await client.webhooks.replace(repo, 1, input);
    assert.equal(server.requests.length, 3);
  });

  test("raw returns bytes and enforces its size limit", async () => {
    const bytes = Buffer.from([0, 1, 2, 255]);
    script = [{ body: bytes }, { body: Buffer.alloc(2048) }];
    assert.deepEqual(await client.content.raw(repo, "bin"), bytes);
    await assert.rejects(client.content.raw(repo, "big", { maxBytes: 1024 }), ResponseTooLargeError);
  });

  test("hasPermission matches the exact user, not a substring hit of the filter", async () => {
    const bobby = { ...USER, name: "bobby", slug: "bobby" };
    const bob = { ...USER, name: "Bob", slug: "bob" };
    const query = { user: "bob", permission: "REPO_WRITE", project: "PRJ", repository: "my-repo" } as const;
    script = [{ body: page([bobby]) }];
    assert.deepEqual(await client.users.hasPermission(query), { granted: false });
    script = [{ body: page([bobby], 1) }, { body: page([bob], undefined, 1) }];
    assert.deepEqual(await client.users.hasPermission(query), { granted: true });
    script = [{ body: page([]) }];
    assert.deepEqual(await client.users.hasPermission({ ...query, user: "BOB" }), { granted: false });
    const req = server.requests.at(-1);
    assert.equal(req?.query.get("filter"), "BOB");
    assert.equal(req?.query.get("permission.repositorySlug"), "my-repo");
  });

  test("hasPermission takes a 400 (a filter naming a repository Bitbucket lacks) as a refused no, asked once", async () => {
    const message = "Repository PRJ/gone does not exist.";
    script = [
      {
        status: 400,
        body: {
          errors: [{ context: "permission.repositorySlug", message, exceptionName: "x.ArgumentValidationException" }],
        },
      },
    ];
    const answer = await client.users.hasPermission({
      user: "bob",
      permission: "REPO_WRITE",
      project: "PRJ",
      repository: "gone",
    });
    assert.deepEqual(answer, { granted: false, refused: message });
    assert.equal(server.requests.length, 1);
  });

  test("a REPO_* permission filter without a repository is refused before any request", async () => {
    await assert.rejects(
      client.users.search({ filter: "bob", permission: { permission: "REPO_WRITE", project: "PRJ" } }),
      /needs a repository/,
    );
    assert.equal(server.requests.length, 0);
  });

  test("hasPermission gives up with an error when the filter matches too many users", async () => {
    const many = Array.from({ length: 100 }, (_, i) => ({ ...USER, name: `bob${i}`, slug: `bob${i}` }));
    script = Array.from({ length: 11 }, (_, i) => ({ body: page(many, (i + 1) * 100, i * 100) }));
    await assert.rejects(
      client.users.hasPermission({ user: "bob", permission: "REPO_WRITE", project: "PRJ", repository: "r" }),
      TooManyResultsError,
    );
  });

  test("list respects maxItems", async () => {
    script = [{ body: page([REPO, REPO], 2) }, { body: page([REPO]) }];
    await assert.rejects(client.repos.list({ project: "PRJ" }, { maxItems: 2 }), TooManyResultsError);
  });

  test("iterate yields across pages", async () => {
    script = [
      { body: page([WEBHOOK], 9) },
      { body: page([{ ...WEBHOOK, id: 2 }], 31, 9) },
      { body: page([{ ...WEBHOOK, id: 3 }]) },
    ];
    const ids: number[] = [];
    for await (const hook of client.webhooks.iterate({ project: "PRJ" }, { pageSize: 1 })) ids.push(hook.id);
    assert.deepEqual(ids, [1, 2, 3]);
    assert.deepEqual(
      server.requests.map((r) => r.query.get("start")),
      [null, "9", "31"],
    );
  });

  test("version and whoAmI", async () => {
    script = [
      { body: { version: "8.19.1" } },
      { body: { version: "8.19.1" }, headers: { "x-ausername": "tok%C3%A9n-user" } },
    ];
    const version = await client.server.version();
    assert.deepEqual([version.major, version.minor, version.patch], [8, 19, 1]);
    assert.equal(await client.server.whoAmI(), "tokén-user");
    script = [{ body: { version: "8.19.1" } }];
    assert.equal(await client.server.whoAmI({ auth: () => undefined }), undefined);
  });

  test("an unparseable version is a schema error naming the field", async () => {
    script = [{ body: { version: "trunk" } }];
    await assert.rejects(client.server.version(), (err) => err instanceof SchemaError && err.fieldPath === "version");
  });

  test("a missing object is a NotFoundError", async () => {
    script = [{ status: 404, body: fixture("rest-error-pr-not-found.sourcegraph.json") }];
    await assert.rejects(client.pullRequests.get(repo, 9999), (err) => {
      assert.ok(err instanceof NotFoundError);
      assert.equal(err.group, "pull-requests");
      assert.equal(err.exceptionName, "com.atlassian.bitbucket.pull.NoSuchPullRequestException");
      return true;
    });
  });
});
