import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { after, before, beforeEach, describe, test } from "node:test";
import { BadRequestError, NotFoundError, RateLimitedError, UnauthorizedError } from "../http/errors.ts";
import { type Recorded, type Reply, startServer, type TestServer } from "../http/test-server.ts";
import { BitbucketCloudClient } from "./client.ts";

const fixture = (name: string) =>
  JSON.parse(readFileSync(new URL(`../../../test/fixtures/bitbucket-cloud/${name}`, import.meta.url), "utf8"));

const HOOK = fixture("rest-hook-get.bbs-plugin.json");
const DIFFSTAT = fixture("rest-diffstat-paged.bbs-plugin.json");
const STATUS = fixture("rest-commit-status-build-get.bbs-plugin.json");
const PR = fixture("webhook-pullrequest-created.bbs-plugin.json").pullrequest;
const full = "046d9a3c1532acf4cf08fe93235c00e4d673c1d2";

let script: Reply[] = [];
let server: TestServer;
let client: BitbucketCloudClient;
let sleeps: number[] = [];

before(async () => {
  server = await startServer(() => script.shift() ?? { status: 204 });
  client = new BitbucketCloudClient({
    baseUrl: `${server.url}/2.0`,
    auth: { kind: "bearer", token: "ATCTT3xFfGN0-secret" },
    sleep: async (ms) => {
      sleeps.push(ms);
    },
    random: () => 0.5,
  });
});
after(async () => {
  await client.close();
  await server.close();
});
beforeEach(() => {
  script = [];
  sleeps = [];
  server.requests.length = 0;
});

const repo = { workspace: "wörk", slug: "app" };
const repoPath = "/2.0/repositories/w%C3%B6rk/app";

function only(): Recorded {
  assert.equal(server.requests.length, 1);
  return server.requests[0] as Recorded;
}

describe("content", () => {
  test("a folder listing follows next links as given and sends the token as Bearer", async () => {
    const entry = (path: string) => ({ type: "commit_file", path, commit: { hash: full } });
    script = [
      {
        body: {
          values: [entry(".tekton/a.yaml")],
          next: `${server.url}/2.0/repositories/w%C3%B6rk/app/src/${full}/.tekton/?page=Zm9v&pagelen=100`,
        },
      },
      { body: { values: [entry(".tekton/ü 🎉.yaml")], pagelen: 100 } },
    ];
    const entries = await client.content.listFolder(repo, ".tekton", full);
    assert.deepEqual(
      entries.map((e) => e.path),
      [".tekton/a.yaml", ".tekton/ü 🎉.yaml"],
    );
    const [first, second] = server.requests as [Recorded, Recorded];
    assert.equal(first.pathname, `${repoPath}/src/${full}/.tekton/`);
    assert.equal(first.query.get("pagelen"), "100");
    assert.equal(first.headers.authorization, "Bearer ATCTT3xFfGN0-secret");
    assert.equal(second.query.get("page"), "Zm9v");
  });

  test("the repository root keeps its trailing slash", async () => {
    script = [{ body: { values: [] } }];
    await client.content.listFolder(repo, "", full);
    assert.equal(only().pathname, `${repoPath}/src/${full}/`);
  });

  test("a next link to another host is refused before the token goes there", async () => {
    script = [{ body: { values: [], next: "https://evil.example/2.0/x?page=2" } }];
    await assert.rejects(client.content.listFolder(repo, ".tekton", full), /link outside .*does not follow it/);
    assert.equal(server.requests.length, 1);
  });

  test("a file is read raw, and an oversized one is refused", async () => {
    script = [{ body: "kind: PipelineRun\n", headers: { "content-type": "application/x-yaml" } }];
    const bytes = await client.content.readFile(repo, ".tekton/pr.yaml", full);
    assert.equal(bytes.toString(), "kind: PipelineRun\n");
    assert.equal(only().pathname, `${repoPath}/src/${full}/.tekton/pr.yaml`);
    script = [{ body: "x".repeat(100) }];
    await assert.rejects(client.content.readFile(repo, "big", full, { maxBytes: 10 }), /more than 10 bytes/);
  });

  test("an abbreviated hash resolves to the full one", async () => {
    script = [{ body: { hash: full, message: "m", parents: [] } }];
    const commit = await client.content.commit(repo, full.slice(0, 12));
    assert.equal(commit.hash, full);
    assert.equal(only().pathname, `${repoPath}/commit/${full.slice(0, 12)}`);
  });

  test("a push range's diffstat is asked new..old (Cloud's revspec order)", async () => {
    script = [{ body: DIFFSTAT }];
    const files = await client.content.pushChanges(repo, "b".repeat(40), "a".repeat(40));
    assert.equal(only().pathname, `${repoPath}/diffstat/${"b".repeat(40)}..${"a".repeat(40)}`);
    assert.deepEqual(files.added, ["resources/README.md", "resources/image.png"]);
    assert.deepEqual(files.renamed, ["resources/file.properties"]);
    assert.ok(files.all.includes("folder/file.properties"));
  });
});

describe("pull requests", () => {
  test("changed files come from the pull request's own diffstat link", async () => {
    const link = `${server.url}/2.0/repositories/w%C3%B6rk/app/diffstat/fork/app:abc%0Ddef?from_pullrequest_id=7&topic=true`;
    script = [{ body: { ...PR, links: { diffstat: { href: link } } } }, { body: DIFFSTAT }];
    const files = await client.pullRequests.changedFiles(repo, 7);
    const [get, diffstat] = server.requests as [Recorded, Recorded];
    assert.equal(get.pathname, `${repoPath}/pullrequests/7`);
    assert.equal(diffstat.url.split("?")[0], "/2.0/repositories/w%C3%B6rk/app/diffstat/fork/app:abc%0Ddef");
    assert.equal(diffstat.query.get("topic"), "true");
    assert.equal(diffstat.query.get("from_pullrequest_id"), "7");
    assert.equal(files.all.length, 5);
  });

  test("open pull requests are listed with state=OPEN", async () => {
    script = [{ body: { values: [PR] } }];
    const prs = await client.pullRequests.listOpen(repo);
    assert.equal(prs[0]?.id, PR.id);
    assert.equal(only().query.get("state"), "OPEN");
  });

  test("a comment is posted as content.raw", async () => {
    script = [{ status: 201, body: { id: 5, content: { raw: "🚀 done" }, user: PR.author } }];
    await client.pullRequests.comment(repo, 7, "🚀 done");
    const req = only();
    assert.equal(req.method, "POST");
    assert.equal(req.pathname, `${repoPath}/pullrequests/7/comments`);
    assert.deepEqual(JSON.parse(req.body), { content: { raw: "🚀 done" } });
  });
});

describe("build status", () => {
  test("set posts key, state and refname on the full hash", async () => {
    script = [{ status: 201, body: STATUS }];
    await client.buildStatus.set(repo, full, {
      key: "baton-ci",
      state: "INPROGRESS",
      url: "https://ci/x",
      name: "ci",
      refname: "feature/ü",
    });
    const req = only();
    assert.equal(req.pathname, `${repoPath}/commit/${full}/statuses/build`);
    assert.deepEqual(JSON.parse(req.body), {
      key: "baton-ci",
      state: "INPROGRESS",
      url: "https://ci/x",
      name: "ci",
      refname: "feature/ü",
    });
  });

  test("an abbreviated hash is refused before any call", async () => {
    await assert.rejects(
      client.buildStatus.set(repo, full.slice(0, 12), { key: "k", state: "FAILED", url: "u" }),
      /full commit hash/,
    );
    assert.equal(server.requests.length, 0);
  });

  test("get reads one key, and a missing one is undefined", async () => {
    script = [{ body: STATUS }, { status: 404, body: { type: "error", error: { message: "not found" } } }];
    const status = await client.buildStatus.get(repo, full, STATUS.key);
    assert.equal(status?.state, STATUS.state);
    assert.equal(server.requests[0]?.pathname, `${repoPath}/commit/${full}/statuses/build/${STATUS.key}`);
    assert.equal(await client.buildStatus.get(repo, full, "other"), undefined);
  });
});

describe("webhooks", () => {
  test("create posts the secret once and returns the hook (201)", async () => {
    script = [{ status: 201, body: HOOK }];
    const hook = await client.webhooks.create(
      { repository: repo },
      {
        description: "baton",
        url: "https://baton/hooks",
        events: ["repo:push", "repo:push"],
        active: true,
        secret: "s3cret",
      },
    );
    assert.equal(hook.uuid, HOOK.uuid);
    assert.equal(hook.secret_set, true);
    const req = only();
    assert.equal(req.pathname, `${repoPath}/hooks`);
    assert.deepEqual(JSON.parse(req.body), {
      description: "baton",
      url: "https://baton/hooks",
      active: true,
      events: ["repo:push"],
      secret: "s3cret",
    });
  });

  test("an update without a secret keeps the stored one; the uid is braced and encoded", async () => {
    script = [{ body: HOOK }];
    await client.webhooks.update({ repository: repo }, "202CF34E-7CCF-44B7-BA6B-8827A14D5324", {
      description: "baton",
      url: "https://baton/hooks",
      events: ["repo:push"],
      active: true,
    });
    const req = only();
    assert.equal(req.method, "PUT");
    assert.equal(req.url, `${repoPath}/hooks/%7B202cf34e-7ccf-44b7-ba6b-8827a14d5324%7D`);
    assert.equal("secret" in JSON.parse(req.body), false);
  });

  test("workspace hooks live under /workspaces; deleting a gone hook is false", async () => {
    script = [{ body: { values: [HOOK] } }, { status: 404, body: { type: "error", error: { message: "gone" } } }];
    const hooks = await client.webhooks.list({ workspace: "wörk" });
    assert.equal(hooks.length, 1);
    assert.equal(server.requests[0]?.pathname, "/2.0/workspaces/w%C3%B6rk/hooks");
    assert.equal(await client.webhooks.delete({ workspace: "wörk" }, HOOK.uuid), false);
  });
});

describe("tokens and trust", () => {
  test("inspect reads the scopes and credential type the answer carries", async () => {
    script = [
      {
        body: { type: "repository", full_name: "wörk/app", uuid: "{1}" },
        headers: {
          "x-oauth-scopes": "pullrequest, repository:write, webhook",
          "x-credential-type": "repo_access_token",
          "x-ratelimit-limit": "1000",
          "x-ratelimit-nearlimit": "false",
        },
      },
    ];
    const { token } = await client.access.inspect(repo);
    assert.deepEqual(token, {
      scopes: ["pullrequest", "repository:write", "webhook"],
      credentialType: "repo_access_token",
      rateLimit: { limit: 1000, nearLimit: false },
    });
  });

  test("an expired token is an UnauthorizedError whose message does not hold it", async () => {
    script = [{ status: 401, body: { type: "error", error: { message: "Token is invalid or expired" } } }];
    const err = await client.access.inspect(repo).catch((e: unknown) => e);
    assert.ok(err instanceof UnauthorizedError);
    assert.doesNotMatch(JSON.stringify(err) + err.message + err.stack, /ATCTT3xFfGN0-secret/);
  });

  test("membership: 200 member, 404 not, 403 cannot ask", async () => {
    script = [{ body: { user: PR.author } }, { status: 404, body: {} }, { status: 403, body: {} }];
    assert.deepEqual(await client.access.isWorkspaceMember("wörk", "{u}"), { kind: "answered", member: true });
    assert.equal(server.requests[0]?.pathname, "/2.0/workspaces/w%C3%B6rk/members/%7Bu%7D");
    assert.deepEqual(await client.access.isWorkspaceMember("wörk", "x"), { kind: "answered", member: false });
    const refused = await client.access.isWorkspaceMember("wörk", "x");
    assert.equal(refused.kind, "cannot-ask");
  });
});

describe("Cloud's error body in the error", () => {
  test("a captured 404 body's error.message is quoted", async () => {
    script = [{ status: 404, body: fixture("rest-error-repo-not-found.go-scm.json") }];
    const err = await client.content.commit(repo, full).catch((e: unknown) => e);
    assert.ok(err instanceof NotFoundError);
    assert.deepEqual(err.messages, ["Repository dev/null not found"]);
    assert.match(err.message, /failed with 404: "Repository dev\/null not found"\./);
  });

  test("a message echoing the token is redacted and a huge one is cut", async () => {
    const echoed = `Bad request for ATCTT3xFfGN0-secret (${encodeURIComponent("ATCTT3xFfGN0-secret")}) ${"🚀 ".repeat(5000)}`;
    script = [{ status: 400, body: { type: "error", error: { message: echoed, detail: "ATCTT3xFfGN0-secret" } } }];
    const err = await client.pullRequests.comment(repo, 1, "/retest").catch((e: unknown) => e);
    assert.ok(err instanceof BadRequestError);
    assert.match(err.message, /failed with 400: "Bad request for \[REDACTED\] \(\[REDACTED\]\) 🚀/);
    assert.ok(err.message.length < 1_000, `${err.message.length} characters`);
    assert.ok(JSON.stringify(err).length < 2_000, "what is logged is bounded too");
    assert.doesNotMatch(JSON.stringify(err) + err.message + err.stack, /ATCTT3xFfGN0-secret/);
  });
});

describe("429: exponential back-off without Retry-After", () => {
  const limited: Reply = {
    status: 429,
    body: "Rate limit for this resource has been exceeded",
    headers: { "content-type": "text/plain" },
  };

  test("waits 1, 2, 4 s (half fixed, half jitter) and then succeeds", async () => {
    script = [limited, limited, limited, { body: { hash: full } }];
    const commit = await client.content.commit(repo, "abc123abc123");
    assert.equal(commit.hash, full);
    assert.equal(server.requests.length, 4);
    assert.deepEqual(sleeps, [750, 1500, 3000]);
  });

  test("gives up with RateLimitedError once the total wait would pass a minute", async () => {
    script = Array.from({ length: 20 }, () => limited);
    const err = await client.content.commit(repo, "abc123abc123").catch((e: unknown) => e);
    assert.ok(err instanceof RateLimitedError);
    assert.ok(sleeps.reduce((a, b) => a + b, 0) <= 60_000);
    assert.deepEqual(sleeps, [750, 1500, 3000, 6000, 12000, 12000, 12000, 12000]);
  });
});
