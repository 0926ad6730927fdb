// Git over HTTP against the Bitbucket DC simulator with the real git client: Bearer-only project tokens, pushes
// and their permission, fork pull requests fetched from refs/pull-requests/<id>/from of the target repository,
// lazily updated pull-request refs, and REST content endpoints that read the same git objects.
import assert from "node:assert/strict";
import { readFile } from "node:fs/promises";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import { gzipSync } from "node:zlib";
import {
  type CreatedToken,
  type Simulator,
  startSimulator,
  startWebhookReceiver,
  type WebhookReceiver,
} from "../../src/simulator/index.ts";
import { basicAuth, bearerAuth, extraHeader, git, http, tempDir } from "../../src/simulator/testing.ts";

let sim: Simulator;
let receiver: WebhookReceiver;
let work: { path: string; remove: () => Promise<void> };
let cloneUrl: string;
let forkUrl: string;
let initial: string;
const tokens: Record<string, CreatedToken> = {};
let n = 0;
const dir = (name: string) => join(work.path, `${name}-${++n}`);
const run = (args: string[], cwd?: string) => git(args, { cwd, home: work.path });
const bearer = (name: string) => extraHeader(bearerAuth(tokens[name]?.token ?? ""));
const withUser = (url: string, user: string, secret: string) =>
  url.replace("http://", `http://${encodeURIComponent(user)}:${encodeURIComponent(secret)}@`);
const api = "/rest/api/latest/projects/PRJ/repos/app";

async function lsRemote(ref: string, auth = bearer("projectRead")): Promise<string | undefined> {
  const res = await run([...auth, "ls-remote", cloneUrl, ref]);
  assert.equal(res.code, 0, res.stderr);
  return res.stdout.split("\t")[0] || undefined;
}

before(async () => {
  work = await tempDir("sim-git-");
  sim = await startSimulator();
  receiver = await startWebhookReceiver();
  sim.createUser({ name: "admin", password: "admin-pw", admin: true });
  sim.createUser({ name: "alice", password: "alice-pw", displayName: "Alice" });
  sim.createUser({ name: "bob", password: "bob-pw" });
  sim.createProject({ key: "PRJ" });
  const files: Record<string, string> = {
    "README.md": "# app\n",
    ".tekton/pull-request.yaml": "kind: PipelineRun\n",
    "src/main.txt": Array.from({ length: 30 }, (_, i) => `line ${i + 1}`).join("\n"),
    "src/old-name.txt": "moved content that stays the same\n".repeat(5),
    "src/gone.txt": "bye\n",
  };
  for (let i = 0; i < 5; i++) files[`docs/page-${i}.md`] = `page ${i}\n`;
  const repo = await sim.createRepository({ project: "PRJ", slug: "app", as: "admin", files });
  cloneUrl = repo.cloneUrl;
  sim.grant({ permission: "REPO_READ", user: "alice", project: "PRJ", repo: "app" });
  sim.grant({ permission: "REPO_WRITE", user: "bob", project: "PRJ", repo: "app" });
  initial = (await sim.resolve({ project: "PRJ", repo: "app", rev: "main" })) ?? "";
  const project = (name: string, permissions: string[]) =>
    sim.createToken({ scope: { kind: "project", project: "PRJ" }, name, permissions });
  tokens.projectWrite = project("write", ["REPO_WRITE"]);
  tokens.projectRead = project("read", ["REPO_READ"]);
  tokens.repoRead = sim.createToken({
    scope: { kind: "repository", project: "PRJ", repo: "app" },
    name: "rr",
    permissions: ["REPO_READ"],
  });
  tokens.alice = sim.createToken({ scope: { kind: "user", user: "alice" }, name: "pat", permissions: ["REPO_WRITE"] });
  sim.createWebhook({
    project: "PRJ",
    repo: "app",
    name: "rec",
    url: receiver.url,
    events: ["repo:refs_changed", "pr:from_ref_updated"],
  });

  const fork = await sim.fork({ project: "PRJ", repo: "app", user: "alice" });
  forkUrl = fork.cloneUrl;
  assert.equal(forkUrl, `${sim.url}/scm/~alice/app.git`);
});

after(async () => {
  await sim?.close();
  await receiver?.close();
  await work?.remove();
});

describe("authentication", () => {
  test("clone with a project token as Bearer in http.extraHeader", async () => {
    const target = dir("clone");
    const res = await run([...bearer("projectRead"), "clone", "--quiet", cloneUrl, target]);
    assert.equal(res.code, 0, res.stderr);
    assert.equal(await readFile(join(target, "README.md"), "utf8"), "# app\n");
    assert.equal((await run(["rev-parse", "HEAD"], target)).stdout.trim(), initial);
    assert.equal((await run(["symbolic-ref", "--short", "HEAD"], target)).stdout.trim(), "main", "default branch main");
    const log = sim.requests({ group: "git", tokenId: tokens.projectRead?.id });
    assert.ok(log.length >= 2);
    assert.ok(log.every((e) => e.credential === "project-token" && e.authKind === "bearer" && e.status === 200));
  });

  test("the same token as Basic fails, whatever the user name, unless the x-token-auth switch is on", async () => {
    const token = tokens.projectRead?.token ?? "";
    const attempts = [
      withUser(cloneUrl, "x-token-auth", token),
      withUser(cloneUrl, tokens.projectRead?.user ?? "", token),
      withUser(cloneUrl, "alice", token),
    ];
    for (const url of attempts) {
      const res = await run(["ls-remote", url]);
      assert.notEqual(res.code, 0, url.replace(encodeURIComponent(token), "***"));
      assert.match(res.stderr, /Authentication failed|401/);
    }
    const header = await run([...extraHeader(basicAuth("x-token-auth", token)), "ls-remote", cloneUrl]);
    assert.notEqual(header.code, 0);
    sim.configure({ acceptTokenAsBasicWithXTokenAuth: true });
    try {
      const ok = await run(["ls-remote", withUser(cloneUrl, "x-token-auth", token), "refs/heads/main"]);
      assert.equal(ok.code, 0, ok.stderr);
      assert.equal(ok.stdout.split("\t")[0], initial);
    } finally {
      sim.configure({ acceptTokenAsBasicWithXTokenAuth: false });
    }
  });

  test("users: password or personal token as Basic; anonymous is refused", async () => {
    assert.equal((await run(["ls-remote", withUser(cloneUrl, "alice", "alice-pw")])).code, 0);
    assert.equal((await run(["ls-remote", withUser(cloneUrl, "alice", tokens.alice?.token ?? "")])).code, 0);
    assert.equal((await run(["ls-remote", withUser(cloneUrl, "bob", tokens.alice?.token ?? "")])).code, 128);
    assert.equal((await run(["ls-remote", withUser(cloneUrl, "alice", "wrong")])).code, 128);
    const anonymous = await run(["ls-remote", cloneUrl]);
    assert.equal(anonymous.code, 128);
    assert.match(anonymous.stderr, /could not read Username|Authentication failed/);
  });
});

describe("smart HTTP details", () => {
  test("gzip request bodies (as git sends large negotiations) are inflated; protocol v2 works", async () => {
    const res = await fetch(`${cloneUrl}/git-upload-pack`, {
      method: "POST",
      headers: {
        Authorization: bearerAuth(tokens.projectRead?.token ?? ""),
        "Content-Type": "application/x-git-upload-pack-request",
        "Content-Encoding": "gzip",
        "Git-Protocol": "version=2",
      },
      body: gzipSync(Buffer.from("0014command=ls-refs\n00010000")),
    });
    assert.equal(res.status, 200);
    assert.equal(res.headers.get("content-type"), "application/x-git-upload-pack-result");
    assert.match(await res.text(), new RegExp(`${initial} refs/heads/main\\n`));
  });

  test("an unknown repository is 404 for someone signed in, 401 with a challenge for anonymous", async () => {
    const known = await fetch(`${sim.url}/scm/prj/ghost.git/info/refs?service=git-upload-pack`, {
      headers: { Authorization: bearerAuth(tokens.projectRead?.token ?? "") },
    });
    assert.equal(known.status, 404);
    const anonymous = await fetch(`${sim.url}/scm/prj/ghost.git/info/refs?service=git-upload-pack`);
    assert.equal(anonymous.status, 401);
    assert.equal(anonymous.headers.get("www-authenticate"), 'Basic realm="Atlassian Bitbucket"');
  });
});

describe("push", () => {
  test("REPO_WRITE pushes and the push is a repo:refs_changed by the token's user; REPO_READ cannot push", async () => {
    const target = dir("push");
    assert.equal((await run([...bearer("projectWrite"), "clone", "--quiet", cloneUrl, target])).code, 0);
    assert.equal((await run(["commit", "--quiet", "--allow-empty", "-m", "from git"], target)).code, 0);
    const sha = (await run(["rev-parse", "HEAD"], target)).stdout.trim();

    const denied = await run([...bearer("projectRead"), "push", "origin", "HEAD:refs/heads/from-git"], target);
    assert.notEqual(denied.code, 0);
    assert.match(denied.stderr, /403/);
    assert.equal(await sim.resolve({ project: "PRJ", repo: "app", rev: "refs/heads/from-git" }), null);

    receiver.received.length = 0;
    const pushed = await run([...bearer("projectWrite"), "push", "origin", "HEAD:refs/heads/from-git"], target);
    assert.equal(pushed.code, 0, pushed.stderr);
    assert.equal(await sim.resolve({ project: "PRJ", repo: "app", rev: "refs/heads/from-git" }), sha);
    await sim.settled();
    const event = JSON.parse(receiver.received.at(-1)?.body ?? "{}");
    assert.equal(event.eventKey, "repo:refs_changed");
    assert.deepEqual(event.changes, [
      {
        ref: { id: "refs/heads/from-git", displayId: "from-git", type: "BRANCH" },
        refId: "refs/heads/from-git",
        fromHash: "0".repeat(40),
        toHash: sha,
        type: "ADD",
      },
    ]);
    assert.equal(event.actor.name, tokens.projectWrite?.user);
    assert.equal(event.actor.type, "SERVICE");

    const deleted = await run([...bearer("projectWrite"), "push", "origin", ":refs/heads/from-git"], target);
    assert.equal(deleted.code, 0, deleted.stderr);
    await sim.settled();
    assert.equal(JSON.parse(receiver.received.at(-1)?.body ?? "{}").changes[0].type, "DELETE");
  });

  test("refs/pull-requests/* cannot be pushed", async () => {
    const target = dir("hidden");
    assert.equal((await run([...bearer("projectWrite"), "clone", "--quiet", cloneUrl, target])).code, 0);
    const res = await run([...bearer("projectWrite"), "push", "origin", "HEAD:refs/pull-requests/99/from"], target);
    assert.notEqual(res.code, 0);
    assert.equal(await sim.resolve({ project: "PRJ", repo: "app", rev: "refs/pull-requests/99/from" }), null);
  });
});

describe("fork pull requests and refs/pull-requests", () => {
  let prId = 0;
  let forkHead = "";

  test("a fork PR writes refs/pull-requests/<id>/from into the target; a project token fetches it with Bearer only", async () => {
    const fork = dir("fork");
    assert.equal((await run(["clone", "--quiet", withUser(forkUrl, "alice", "alice-pw"), fork])).code, 0);
    assert.equal((await run(["checkout", "--quiet", "-b", "fix"], fork)).code, 0);
    assert.equal((await run(["commit", "--quiet", "--allow-empty", "-m", "fix from fork"], fork)).code, 0);
    assert.equal((await run(["push", "--quiet", "origin", "fix"], fork)).code, 0);
    forkHead = (await run(["rev-parse", "HEAD"], fork)).stdout.trim();

    const pr = await sim.openPullRequest({
      project: "PRJ",
      repo: "app",
      from: { project: "~ALICE", repo: "app", branch: "fix" },
      title: "Fix",
      as: "alice",
    });
    prId = pr.id;
    assert.deepEqual(
      [pr.fromRef.project, pr.fromRef.repo, pr.fromRef.latestCommit, pr.refsFrom],
      ["~ALICE", "app", forkHead, forkHead],
    );

    const target = dir("target");
    assert.equal((await run([...bearer("projectRead"), "clone", "--quiet", cloneUrl, target])).code, 0);
    const fetched = await run([...bearer("projectRead"), "fetch", "origin", `refs/pull-requests/${prId}/from`], target);
    assert.equal(fetched.code, 0, fetched.stderr);
    assert.equal((await run(["rev-parse", "FETCH_HEAD"], target)).stdout.trim(), forkHead);
    assert.ok(await lsRemote(`refs/pull-requests/${prId}/merge`), "a merge ref exists too");

    const basic = await run(
      [
        ...extraHeader(basicAuth("x-token-auth", tokens.projectRead?.token ?? "")),
        "fetch",
        "origin",
        `refs/pull-requests/${prId}/from`,
      ],
      target,
    );
    assert.notEqual(basic.code, 0);
    const forkRead = await run([...bearer("projectRead"), "ls-remote", forkUrl]);
    assert.notEqual(forkRead.code, 0, "a project token cannot read a personal fork");
  });

  test("pushing to the fork branch updates the PR refs at once (default) and sends both events", async () => {
    receiver.received.length = 0;
    const pushed = await sim.push({
      project: "~ALICE",
      repo: "app",
      branch: "fix",
      files: { "fix.txt": "1" },
      as: "alice",
    });
    assert.equal(await lsRemote(`refs/pull-requests/${prId}/from`), pushed.sha);
    assert.equal(sim.pullRequest({ project: "PRJ", repo: "app", id: prId }).fromRef.latestCommit, pushed.sha);
    await sim.settled();
    // The fork's own refs_changed goes to the fork's webhooks (none); the target gets pr:from_ref_updated.
    const event = JSON.parse(receiver.received.at(-1)?.body ?? "{}");
    assert.equal(event.eventKey, "pr:from_ref_updated");
    assert.equal(event.previousFromHash, forkHead);
    assert.equal(event.pullRequest.fromRef.repository.project.key, "~ALICE");
    forkHead = pushed.sha;
  });

  test("lazy refs lag behind the source until the PR is viewed through REST or refreshed", async () => {
    sim.configure({ lazyPullRequestRefs: true });
    try {
      const first = await sim.push({
        project: "~ALICE",
        repo: "app",
        branch: "fix",
        files: { "fix.txt": "2" },
        as: "alice",
      });
      assert.equal(
        sim.pullRequest({ project: "PRJ", repo: "app", id: prId }).fromRef.latestCommit,
        first.sha,
        "REST head is authoritative",
      );
      assert.equal(await lsRemote(`refs/pull-requests/${prId}/from`), forkHead, "the ref lags");
      const viewed = await http(sim.url, "GET", `${api}/pull-requests/${prId}`, {
        auth: bearerAuth(tokens.projectRead?.token ?? ""),
      });
      assert.equal((viewed.json as { fromRef: { latestCommit: string } }).fromRef.latestCommit, first.sha);
      assert.equal(await lsRemote(`refs/pull-requests/${prId}/from`), first.sha, "viewing caught it up");

      const second = await sim.push({
        project: "~ALICE",
        repo: "app",
        branch: "fix",
        files: { "fix.txt": "3" },
        as: "alice",
      });
      assert.equal(await lsRemote(`refs/pull-requests/${prId}/from`), first.sha);
      const refreshed = await sim.refreshPullRequestRefs({ project: "PRJ", repo: "app", id: prId });
      assert.equal(refreshed.refsFrom, second.sha);
      assert.equal(await lsRemote(`refs/pull-requests/${prId}/from`), second.sha);
      forkHead = second.sha;
    } finally {
      sim.configure({ lazyPullRequestRefs: false });
    }
  });
});

describe("REST content reads the same git objects", () => {
  const auth = () => bearerAuth(tokens.repoRead?.token ?? "");
  const get = async (path: string) => http(sim.url, "GET", `${api}${path}`, { auth: auth() });

  test("files: recursive plain paths relative to the directory, paged; 400 for a file, 404 when absent", async () => {
    const all: string[] = [];
    let start: number | undefined = 0;
    let pages = 0;
    while (start !== undefined) {
      const page = (await get(`/files?limit=4&start=${start}&at=${initial}`)).json as {
        values: string[];
        nextPageStart?: number;
      };
      all.push(...page.values);
      start = page.nextPageStart;
      pages++;
    }
    assert.equal(pages, 3);
    assert.deepEqual(
      all,
      (
        await run([
          "--git-dir",
          join(sim.repository({ project: "PRJ", repo: "app" }).gitDir),
          "ls-tree",
          "-r",
          "--name-only",
          initial,
        ])
      ).stdout
        .trim()
        .split("\n"),
    );
    assert.deepEqual(((await get("/files/src")).json as { values: string[] }).values, [
      "gone.txt",
      "main.txt",
      "old-name.txt",
    ]);
    assert.equal((await get("/files/README.md")).status, 400);
    assert.equal((await get("/files/nope")).status, 404);
    assert.equal((await get("/files?at=no-such-branch")).status, 404);
  });

  test("raw and browse (lines paged, ?type=true, directories)", async () => {
    const raw = await get("/raw/.tekton/pull-request.yaml?at=main");
    assert.equal(raw.text, "kind: PipelineRun\n");
    const lines = (await get("/browse/src/main.txt?limit=10&start=10")).json as {
      lines: { text: string }[];
      start: number;
      isLastPage: boolean;
      nextPageStart: number;
      size: number;
    };
    assert.deepEqual(
      [lines.lines[0]?.text, lines.size, lines.start, lines.isLastPage, lines.nextPageStart],
      ["line 11", 10, 10, false, 20],
    );
    assert.deepEqual((await get("/browse/src?type=true")).json, { type: "DIRECTORY" });
    assert.deepEqual((await get("/browse/README.md?type=true")).json, { type: "FILE" });
    const tree = (await get("/browse/src")).json as {
      children: { values: { path: { toString: string }; type: string }[] };
    };
    assert.deepEqual(
      tree.children.values.map((c) => [c.path.toString, c.type]),
      [
        ["gone.txt", "FILE"],
        ["main.txt", "FILE"],
        ["old-name.txt", "FILE"],
      ],
    );
  });

  test("commits/{id} takes an id, not a ref name", async () => {
    const commit = (await get(`/commits/${initial}`)).json as {
      id: string;
      displayId: string;
      parents: unknown[];
      message: string;
      author: { name: string };
    };
    assert.deepEqual(
      [commit.id, commit.displayId, commit.parents.length, commit.message, commit.author.name],
      [initial, initial.slice(0, 11), 0, "Initial commit", "admin"],
    );
    assert.equal((await get("/commits/main")).status, 404);
  });

  test("pull request changes: one page, start ignored, truncation visible", async () => {
    await sim.push({
      project: "PRJ",
      repo: "app",
      branch: "change",
      as: "bob",
      files: {
        "src/new.txt": "new\n",
        "src/main.txt": "changed\n",
        "src/gone.txt": null,
        "src/old-name.txt": null,
        "src/new-name.txt": "moved content that stays the same\n".repeat(5),
      },
    });
    const pr = await sim.openPullRequest({
      project: "PRJ",
      repo: "app",
      from: { branch: "change" },
      title: "Change",
      as: "bob",
    });
    const all = (await get(`/pull-requests/${pr.id}/changes`)).json as {
      values: { path: { toString: string }; srcPath?: { toString: string }; type: string }[];
      isLastPage: boolean;
      fromHash: string;
    };
    assert.deepEqual(all.values.map((v) => [v.type, v.path.toString, v.srcPath?.toString]).sort(), [
      ["ADD", "src/new.txt", undefined],
      ["DELETE", "src/gone.txt", undefined],
      ["MODIFY", "src/main.txt", undefined],
      ["MOVE", "src/new-name.txt", "src/old-name.txt"],
    ]);
    assert.equal(all.isLastPage, true);
    const first = (await get(`/pull-requests/${pr.id}/changes?limit=2`)).json as {
      values: unknown[];
      isLastPage: boolean;
      limit: number;
    };
    const second = (await get(`/pull-requests/${pr.id}/changes?limit=2&start=2`)).json as {
      values: unknown[];
      start: number;
    };
    assert.deepEqual([first.values.length, first.isLastPage, first.limit], [2, false, 2]);
    assert.deepEqual(second.values, first.values, "start is ignored");
    assert.equal(second.start, 0);
  });
});
