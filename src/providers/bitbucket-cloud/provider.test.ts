import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { after, before, beforeEach, describe, test } from "node:test";
import { type Recorded, type Reply, startServer, type TestServer } from "../http/test-server.ts";
import { CloudProvider, createCloudIntake } from "./provider.ts";

const capture = (name: string) =>
  JSON.parse(readFileSync(new URL(`../../../test/fixtures/bitbucket-cloud/${name}`, import.meta.url), "utf8"));
const HOOK = capture("rest-hook-get.bbs-plugin.json");
const STATUS = capture("rest-commit-status-build-get.bbs-plugin.json");
const FORK_PR = capture("webhook-pullrequest-created-fork-2017.bbs-plugin.json").pullrequest;
const full = "046d9a3c1532acf4cf08fe93235c00e4d673c1d2";

let script: Reply[] = [];
let server: TestServer;
let provider: CloudProvider;

before(async () => {
  server = await startServer(() => script.shift() ?? { status: 500 });
  provider = new CloudProvider({
    baseUrl: `${server.url}/2.0`,
    auth: { kind: "bearer", token: "t" },
    sleep: async () => {},
  });
});
after(async () => {
  await provider.close();
  await server.close();
});
beforeEach(() => {
  script = [];
  server.requests.length = 0;
});

const repo = { owner: "ws", name: "app" };
const requests = () => server.requests.map((r: Recorded) => `${r.method} ${r.url.split("?")[0]}`);

describe("content", () => {
  test("a folder costs one call and lists its entries relative to it; a file is no folder", async () => {
    script = [
      {
        body: {
          values: [
            { type: "commit_file", path: ".tekton/pr.yaml", size: 10 },
            { type: "commit_directory", path: ".tekton/lint" },
          ],
        },
      },
      { body: "# readme\n", headers: { "content-type": "text/markdown" } },
      { body: { type: "commit_file", path: "README.md", size: 3 } },
    ];
    assert.deepEqual(await provider.listFolder(repo, ".tekton", full), [
      { path: "pr.yaml", type: "FILE", size: 10 },
      { path: "lint", type: "DIRECTORY" },
    ]);
    assert.equal(await provider.listFolder(repo, "README.md", full), undefined);
    assert.deepEqual(requests(), [
      `GET /2.0/repositories/ws/app/src/${full}/.tekton/`,
      `GET /2.0/repositories/ws/app/src/${full}/README.md/`,
      `GET /2.0/repositories/ws/app/src/${full}/README.md`,
    ]);
  });
});

describe("build status", () => {
  test("CANCELLED is shown as STOPPED, on the branch name, and read back as CANCELLED", async () => {
    script = [{ status: 201, body: STATUS }, { body: { ...STATUS, state: "STOPPED" } }];
    await provider.setBuildStatus(repo, full, {
      key: "baton-ci-1234abcd",
      state: "CANCELLED",
      url: "https://console/run",
      ref: "refs/heads/feature/x",
    });
    const sent = JSON.parse(server.requests[0]?.body ?? "{}");
    assert.equal(sent.state, "STOPPED");
    assert.equal(sent.refname, "feature/x");
    const record = await provider.getBuildStatus(repo, full, STATUS.key);
    assert.equal(record?.state, "CANCELLED");
    assert.equal(record?.updatedAt, Date.parse(STATUS.updated_on));
  });
});

describe("trust", () => {
  test("without the account scope the answer is 'cannot ask', not an error", async () => {
    script = [{ status: 403, body: { type: "error", error: { message: "scope account required" } } }];
    const answer = await provider.hasWriteAccess(repo, "557058:abc");
    assert.equal(answer.kind, "cannot-ask");
  });
});

describe("webhooks", () => {
  test("hooks map to the neutral shape: uuid as id, description as name, secret_set kept", async () => {
    script = [{ body: { values: [HOOK] } }];
    const [hook] = await provider.listHooks({ kind: "repository", repo });
    assert.deepEqual(hook, {
      id: HOOK.uuid,
      name: HOOK.description,
      url: HOOK.url,
      events: HOOK.events,
      active: true,
      secretSet: true,
    });
    await assert.rejects(provider.listHooks({ kind: "app" }), /no app-level webhook/);
  });
});

describe("tokens", () => {
  test("a 401 is an invalid token; other failures are thrown", async () => {
    script = [
      { status: 401, body: { type: "error", error: { message: "expired" } } },
      { body: { values: [] }, headers: { "x-credential-type": "repo_access_token", "x-oauth-scopes": "repository" } },
      { status: 503, body: "" },
      { status: 503, body: "" },
      { status: 503, body: "" },
    ];
    assert.equal((await provider.validateToken("old", { scope: { owner: "ws" } })).valid, false);
    assert.deepEqual(await provider.validateToken("new", { scope: { owner: "ws" } }), {
      valid: true,
      user: "repo_access_token",
    });
    assert.equal(server.requests[1]?.headers.authorization, "Bearer new");
    await assert.rejects(provider.validateToken("x", { scope: { owner: "ws" } }), /503/);
  });
});

describe("pull requests", () => {
  test("a fork pull request's head is resolved in the fork, or through the pull request when the fork is closed", async () => {
    const head = FORK_PR.source.commit.hash.padEnd(40, "e");
    script = [
      { body: FORK_PR },
      { status: 404, body: { type: "error", error: { message: "Repository not found" } } },
      { body: { values: [{ hash: head }] } },
    ];
    const snapshot = await provider.getPullRequest(repo, FORK_PR.id);
    assert.equal(snapshot.latestCommit, head);
    assert.match(requests()[1] ?? "", /\/repositories\/stephenc\/temp-fork\/commit\//);
    const event = provider.pullRequestEvent(snapshot, { serverUrl: "https://bitbucket.org", receivedAt: new Date() });
    assert.ok(event.ok, event.ok ? "" : event.error);
    assert.equal(event.event.sha, head);
    assert.equal(event.event.pullRequest.fromRepository.fork, true);
  });

  test("a fork's head is fetched from the fork itself", () => {
    assert.deepEqual(provider.forkHead(repo, 3, "https://bitbucket.org/stephenc/temp-fork.git"), {
      kind: "fork",
      cloneUrl: "https://bitbucket.org/stephenc/temp-fork.git",
    });
    assert.equal(provider.cloneUrl("https://bitbucket.org/", repo), "https://bitbucket.org/ws/app.git");
  });
});

describe("intake", () => {
  test("served on its own path; the target is read from the body's repository", () => {
    const intake = createCloudIntake();
    assert.equal(intake.path, "/hooks/bitbucket-cloud");
    const body = capture("webhook-pullrequest-created.arol.json");
    const [workspace, slug] = body.repository.full_name.toLowerCase().split("/");
    assert.deepEqual(intake.target(body), { server: "https://bitbucket.org", project: workspace, slug });
    assert.equal(intake.target({ push: {} }), undefined);
  });

  test("pullrequest:updated is told apart by what the intake last saw of the pull request", () => {
    const intake = createCloudIntake();
    const created = capture("webhook-pullrequest-created.arol.json");
    const options = { receivedAt: new Date() };
    assert.ok(intake.classify("pullrequest:created", created, {}, options).ok);
    // The same head and target again: a title or reviewer edit, which runs nothing.
    const edit = intake.classify("pullrequest:updated", created, {}, options);
    assert.ok(edit.ok);
    assert.deepEqual(edit.events, []);
    assert.deepEqual(
      edit.ignored.map((i) => i.reason),
      ["pr-modified-without-retarget"],
    );
    const retargeted = {
      ...created,
      pullrequest: {
        ...created.pullrequest,
        destination: { ...created.pullrequest.destination, branch: { name: "release/ü" } },
      },
    };
    const moved = intake.classify("pullrequest:updated", retargeted, {}, options);
    assert.ok(moved.ok);
    assert.equal(moved.events[0]?.type === "pull_request" && moved.events[0].action, "retargeted");
  });
});
