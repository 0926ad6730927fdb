// The Bitbucket client against the Bitbucket DC simulator: every endpoint Baton uses, with the auth rules per
// token kind, 401 per missing permission, 404s, paging and 429 back-off.
import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import {
  BitbucketClient,
  type BitbucketClientOptions,
  type Credential,
  NotFoundError,
  RateLimitedError,
  type ResponseEvent,
  UnauthorizedError,
} from "../../src/providers/bitbucket-datacenter/index.ts";
import { type Simulator, startSimulator } from "../../src/simulator/index.ts";

const DAY_MS = 86_400_000;
const ADMIN_PASSWORD = "admin-pass-8f3e";
const ALICE_PASSWORD = "alice-pass-2b9c";
const CAROL_PASSWORD = "carol-pass-7d1a";
const PIPELINE = "apiVersion: tekton.dev/v1\nkind: PipelineRun\nmetadata:\n  name: hello\n";

let sim: Simulator;
const clients: BitbucketClient[] = [];
/** Back-off waits the clients asked for; each one also moves the simulator's clock, never real time. */
const waits: number[] = [];

const app = { project: "PRJ", repository: "app" };
const admin: Credential = { kind: "basic", username: "admin", password: ADMIN_PASSWORD };
const alice: Credential = { kind: "basic", username: "alice", password: ALICE_PASSWORD };
const carol: Credential = { kind: "basic", username: "carol", password: CAROL_PASSWORD };

function client(auth?: Credential, options: Partial<BitbucketClientOptions> = {}): BitbucketClient {
  const c = new BitbucketClient({
    baseUrl: sim.url,
    ...(auth ? { auth } : {}),
    sleep: async (ms) => {
      waits.push(ms);
      sim.clock.advance(ms);
    },
    ...options,
  });
  clients.push(c);
  return c;
}

function bearer(token: string): Credential {
  return { kind: "bearer", token };
}

/** A token made through the simulator's control API, as a Bitbucket admin would in the UI. */
function token(scope: { project: string; repository?: string }, permissions: string[], expiryDays?: number) {
  return sim.createToken({
    scope: scope.repository
      ? { kind: "repository", project: scope.project, repo: scope.repository }
      : { kind: "project", project: scope.project },
    name: `t-${permissions.join("-").toLowerCase()}`,
    permissions,
    ...(expiryDays === undefined ? {} : { expiryDays }),
  });
}

let head: string;
let repoRead: BitbucketClient;
let repoAdmin: BitbucketClient;
let projectAdmin: BitbucketClient;
let otherProject: BitbucketClient;

before(async () => {
  sim = await startSimulator({ clock: { frozen: true, start: Date.UTC(2026, 0, 1) }, version: "9.4.0" });
  sim.createUser({ name: "admin", password: ADMIN_PASSWORD, admin: true });
  sim.createUser({ name: "alice", password: ALICE_PASSWORD, displayName: "Alice Admin" });
  sim.createUser({ name: "bob", password: "bob-pass" });
  sim.createUser({ name: "bobby", password: "bobby-pass" });
  sim.createUser({ name: "carol", password: CAROL_PASSWORD });
  sim.createProject({ key: "PRJ" });
  sim.createProject({ key: "OTHER" });
  sim.grant({ permission: "PROJECT_ADMIN", user: "alice", project: "PRJ" });
  await sim.createRepository({
    project: "PRJ",
    slug: "app",
    as: "admin",
    files: {
      "README.md": "# app\n",
      ".tekton/pipeline run.yaml": PIPELINE,
      ".tekton/ünï/ß.yaml": PIPELINE,
      ...Object.fromEntries(Array.from({ length: 7 }, (_, i) => [`many/file-${i}.txt`, `${i}\n`])),
    },
  });
  for (const slug of ["svc-a", "svc-b", "svc-c", "svc-d"])
    await sim.createRepository({ project: "PRJ", slug, as: "admin" });
  await sim.createRepository({ project: "OTHER", slug: "lib", as: "admin" });
  sim.grant({ permission: "REPO_WRITE", user: "bob", project: "PRJ", repo: "app" });
  sim.grant({ permission: "REPO_READ", user: "carol", project: "PRJ", repo: "app" });
  const resolved = await sim.resolve({ project: "PRJ", repo: "app", rev: "refs/heads/main" });
  assert.ok(resolved, "the simulator created the default branch");
  head = resolved;

  repoRead = client(bearer(token(app, ["REPO_READ"]).token));
  repoAdmin = client(bearer(token(app, ["REPO_ADMIN"]).token));
  projectAdmin = client(bearer(token({ project: "PRJ" }, ["PROJECT_ADMIN", "REPO_ADMIN"]).token));
  otherProject = client(bearer(token({ project: "OTHER" }, ["PROJECT_ADMIN", "REPO_ADMIN"]).token));
});

after(async () => {
  await Promise.all(clients.map((c) => c.close()));
  await sim?.close();
});

describe("server", () => {
  test("application properties and version need no credentials", async () => {
    const anonymous = client();
    assert.equal((await anonymous.server.applicationProperties()).version, "9.4.0");
    const version = await anonymous.server.version();
    assert.deepEqual([version.major, version.minor], [9, 4]);
    assert.equal(await anonymous.server.whoAmI(), undefined);
  });

  test("who am I: a user, and the generated user behind a project token", async () => {
    assert.equal(await client(alice).server.whoAmI(), "alice");
    const created = token({ project: "PRJ" }, ["REPO_READ"]);
    assert.equal(await client(bearer(created.token)).server.whoAmI(), created.user);
  });
});

describe("access tokens (Basic with a project admin's password)", () => {
  test("create, get, list across pages, revoke", async () => {
    const c = client(alice);
    const created = await c.accessTokens.create(
      { project: "PRJ" },
      { name: "baton-ci", permissions: ["REPO_READ"], expiryDays: 30 },
    );
    assert.match(created.token, /^BBDC-/);
    assert.equal(created.expiryDays, 30);
    assert.equal((await c.accessTokens.get({ project: "PRJ" }, created.id)).name, "baton-ci");

    for (let i = 0; i < 4; i++) {
      await c.accessTokens.create({ project: "PRJ" }, { name: `bulk-${i}`, permissions: ["REPO_READ"] });
    }
    const mark = sim.markRequests();
    const all = await c.accessTokens.list({ project: "PRJ" }, { pageSize: 2 });
    assert.ok(all.some((t) => t.id === created.id));
    assert.ok(all.length >= 5);
    assert.ok(sim.requestCount({ since: mark, group: "access-tokens" }) >= 3, "listed across at least 3 pages");
    assert.equal(
      all.every((t) => !("token" in t)),
      true,
    );

    // The new token works as Bearer at once.
    assert.equal((await client(bearer(created.token)).repos.get(app)).slug, "app");

    assert.equal(await c.accessTokens.delete({ project: "PRJ" }, created.id), true);
    assert.equal(await c.accessTokens.delete({ project: "PRJ" }, created.id), false);
    await assert.rejects(c.accessTokens.get({ project: "PRJ" }, created.id), NotFoundError);
  });

  for (const isoTokenDates of [false, true]) {
    test(`dates read the same whether sent as epoch ms or date-time strings (isoTokenDates: ${isoTokenDates})`, async (t) => {
      sim.configure({ isoTokenDates, tokenExpiryDateField: true });
      t.after(() => sim.configure({ isoTokenDates: false, tokenExpiryDateField: false }));
      const c = client(alice);
      const createdAt = sim.clock.now();
      const created = await c.accessTokens.create(
        { project: "PRJ" },
        { name: `dates-${isoTokenDates}`, permissions: ["REPO_READ"], expiryDays: 7 },
      );
      t.after(() => c.accessTokens.delete({ project: "PRJ" }, created.id));
      const raw = await fetch(`${sim.url}/rest/access-tokens/latest/projects/PRJ/${created.id}`, {
        headers: { authorization: `Basic ${Buffer.from(`alice:${ALICE_PASSWORD}`).toString("base64")}` },
      });
      const wire = (await raw.json()) as { createdDate: unknown; expiryDate: unknown };
      assert.equal(typeof wire.createdDate, isoTokenDates ? "string" : "number", "the mode under test");
      assert.equal(typeof wire.expiryDate, isoTokenDates ? "string" : "number");
      for (const token of [created, await c.accessTokens.get({ project: "PRJ" }, created.id)]) {
        assert.equal(token.createdDate, createdAt);
        assert.equal(token.expiryDate, createdAt + 7 * DAY_MS);
      }
      const listed = (await c.accessTokens.list({ project: "PRJ" })).find((tk) => tk.id === created.id);
      assert.equal(listed?.createdDate, createdAt);
    });
  }

  test("repository-scoped tokens", async () => {
    const c = client(alice);
    const created = await c.accessTokens.create(app, { name: "repo-ci", permissions: ["REPO_WRITE"] });
    const listed = await c.accessTokens.list(app);
    assert.deepEqual(listed.find((t) => t.id === created.id)?.permissions, ["REPO_WRITE"]);
    assert.equal(
      (await c.accessTokens.list({ project: "PRJ" })).find((t) => t.id === created.id),
      undefined,
    );
    const asToken = client(bearer(created.token));
    assert.equal((await asToken.repos.get(app)).slug, "app");
    await assert.rejects(asToken.repos.get({ project: "PRJ", repository: "svc-a" }), UnauthorizedError);
    assert.equal(await c.accessTokens.delete(app, created.id), true);
  });

  test("a token cannot create tokens, whatever its permissions", async () => {
    await assert.rejects(
      projectAdmin.accessTokens.create({ project: "PRJ" }, { name: "nope", permissions: ["REPO_READ"] }),
      (err) => {
        assert.ok(err instanceof UnauthorizedError);
        assert.match(err.message, /username and password/);
        return true;
      },
    );
    await assert.rejects(projectAdmin.accessTokens.list({ project: "PRJ" }), UnauthorizedError);
  });

  test("a user without admin rights cannot manage tokens", async () => {
    await assert.rejects(
      client(carol).accessTokens.create(app, { name: "x", permissions: ["REPO_READ"] }),
      UnauthorizedError,
    );
  });

  test("a wrong password is 401", async () => {
    await assert.rejects(
      client({ kind: "basic", username: "alice", password: "not-alices-password-91" }).accessTokens.list({
        project: "PRJ",
      }),
      (err) => err instanceof UnauthorizedError && !String(err).includes("not-alices-password-91"),
    );
  });
});

describe("Bearer vs Basic per token kind", () => {
  test("a project token works as Bearer only", async () => {
    const created = token({ project: "PRJ" }, ["REPO_READ"]);
    assert.equal((await client(bearer(created.token)).repos.get(app)).slug, "app");
    for (const username of [created.user, "x-token-auth", "alice"]) {
      await assert.rejects(
        client({ kind: "basic", username, password: created.token }).repos.get(app),
        (err) => err instanceof UnauthorizedError && !JSON.stringify(err).includes(created.token),
      );
    }
  });

  test("a repository token works as Bearer only", async () => {
    const created = token(app, ["REPO_READ"]);
    assert.equal((await client(bearer(created.token)).repos.get(app)).slug, "app");
    await assert.rejects(
      client({ kind: "basic", username: "x-token-auth", password: created.token }).repos.get(app),
      UnauthorizedError,
    );
  });

  test("a user's personal token works as Bearer and as Basic with the username", async () => {
    const personal = sim.createToken({
      scope: { kind: "user", user: "carol" },
      name: "mine",
      permissions: ["REPO_READ"],
    });
    assert.equal((await client(bearer(personal.token)).repos.get(app)).slug, "app");
    assert.equal(
      (await client({ kind: "basic", username: "carol", password: personal.token }).repos.get(app)).slug,
      "app",
    );
  });

  test("a token rotated behind the provider takes effect on the next call", async () => {
    const first = token(app, ["REPO_READ"]);
    let current = first.token;
    const c = client(undefined, { auth: () => bearer(current) });
    assert.equal((await c.repos.get(app)).slug, "app");
    const second = token(app, ["REPO_READ"]);
    sim.revokeToken(first.id);
    current = second.token;
    assert.equal((await c.repos.get(app)).slug, "app");
  });
});

describe("expired and revoked tokens", () => {
  test("an expired token is refused with 401", async () => {
    const created = token(app, ["REPO_READ"], 1);
    const c = client(bearer(created.token));
    assert.equal((await c.repos.get(app)).slug, "app");
    sim.clock.advance(2 * DAY_MS);
    await assert.rejects(c.repos.get(app), (err) => {
      assert.ok(err instanceof UnauthorizedError);
      assert.equal(err.status, 401);
      assert.match(err.message, /expired or revoked/);
      return true;
    });
  });

  test("a revoked token is refused with 401", async () => {
    const c = client(alice);
    const created = await c.accessTokens.create(app, { name: "short-lived", permissions: ["REPO_READ"] });
    const asToken = client(bearer(created.token));
    assert.equal((await asToken.repos.get(app)).slug, "app");
    await c.accessTokens.delete(app, created.id);
    await assert.rejects(asToken.repos.get(app), UnauthorizedError);
  });
});

describe("webhooks", () => {
  const desired = {
    name: "baton",
    url: "https://baton.example.com/hook",
    events: ["pr:opened", "repo:refs_changed"],
    active: true,
    configuration: { secret: "hook-secret-1" },
  };

  test("repository webhooks: create, get, list with event filter, replace, delete", async () => {
    const created = await repoAdmin.webhooks.create(app, desired);
    assert.equal(created.configuration?.secret, "hook-secret-1");
    assert.equal((await repoAdmin.webhooks.get(app, created.id)).url, desired.url);
    assert.deepEqual(
      (await repoAdmin.webhooks.list(app, { event: "pr:opened" })).map((h) => h.id),
      [created.id],
    );
    assert.deepEqual(await repoAdmin.webhooks.list(app, { event: "pr:merged" }), []);

    // PUT replaces the whole webhook: without configuration the secret is gone.
    const replaced = await repoAdmin.webhooks.replace(app, created.id, {
      ...desired,
      events: ["pr:merged"],
      configuration: {},
    });
    assert.deepEqual(replaced.events, ["pr:merged"]);
    assert.equal(sim.webhooks({ project: "PRJ", repo: "app" }).find((h) => h.id === created.id)?.secret, null);

    assert.equal(await repoAdmin.webhooks.delete(app, created.id), true);
    assert.equal(await repoAdmin.webhooks.delete(app, created.id), false);
    await assert.rejects(repoAdmin.webhooks.get(app, created.id), NotFoundError);
  });

  test("an empty secret is left out instead of failing with 500", async () => {
    const created = await repoAdmin.webhooks.create(app, {
      ...desired,
      name: "no-secret",
      configuration: { secret: "" },
    });
    assert.equal(created.configuration?.secret, undefined);
    await repoAdmin.webhooks.delete(app, created.id);
  });

  test("project webhooks and paging across pages", async () => {
    const ids: number[] = [];
    for (let i = 0; i < 5; i++)
      ids.push((await projectAdmin.webhooks.create({ project: "PRJ" }, { ...desired, name: `p${i}` })).id);
    const mark = sim.markRequests();
    const listed = await projectAdmin.webhooks.list({ project: "PRJ" }, { pageSize: 2 });
    assert.deepEqual(
      listed.map((h) => h.id),
      ids,
    );
    assert.ok(listed.every((h) => h.scopeType === "project"));
    assert.equal(sim.requestCount({ since: mark, group: "webhooks" }), 3);
    for (const id of ids) await projectAdmin.webhooks.delete({ project: "PRJ" }, id);
  });
});

describe("build status", () => {
  test("post, read back by key, capabilities (REPO_READ is enough)", async () => {
    await repoRead.buildStatus.set(app, head, {
      key: "baton-pipeline",
      state: "INPROGRESS",
      url: "https://tekton.example.com/run/1",
      name: "pipeline",
      ref: "refs/heads/main",
    });
    await repoRead.buildStatus.set(app, head, {
      key: "baton-pipeline",
      state: "SUCCESSFUL",
      url: "https://tekton.example.com/run/1",
      duration: 1200,
    });
    const status = await repoRead.buildStatus.get(app, head, "baton-pipeline");
    assert.equal(status.state, "SUCCESSFUL");
    assert.equal(typeof status.createdDate, "number");
    assert.equal(sim.buildStatuses({ commit: head, key: "baton-pipeline" }).length, 1);
    assert.ok((await repoRead.buildStatus.capabilities()).buildStatus.includes("cancelledStatus"));
  });

  test("an unknown key is a NotFoundError", async () => {
    await assert.rejects(repoRead.buildStatus.get(app, head, "never-posted"), NotFoundError);
  });
});

describe("content", () => {
  test("files under a path, across pages", async () => {
    const mark = sim.markRequests();
    const files = await repoRead.content.listFiles(app, "many", { at: head, pageSize: 2 });
    assert.deepEqual(
      files,
      Array.from({ length: 7 }, (_, i) => `file-${i}.txt`),
    );
    assert.equal(sim.requestCount({ since: mark, group: "content" }), 4);
  });

  test("changes between two commits, paged; a new branch's head against its parent", async () => {
    const first = await sim.push({ project: "PRJ", repo: "app", branch: "ranges", files: { "r/a.txt": "a\n" } });
    const second = await sim.push({
      project: "PRJ",
      repo: "app",
      branch: "ranges",
      files: { "r/b.txt": "b\n", "r/c.txt": "c\n", "r/a.txt": "a2\n" },
    });
    const mark = sim.markRequests();
    const range = await repoRead.content.listChanges(
      app,
      { since: first.parent ?? undefined, until: second.sha },
      { pageSize: 2 },
    );
    assert.deepEqual(range.map((c) => `${c.type} ${c.path}`).sort(), ["ADD r/a.txt", "ADD r/b.txt", "ADD r/c.txt"]);
    assert.equal(sim.requestCount({ since: mark, group: "content" }), 2, "two pages of two");
    const head = await repoRead.content.listChanges(app, { until: second.sha });
    assert.deepEqual(head.map((c) => `${c.type} ${c.path}`).sort(), ["ADD r/b.txt", "ADD r/c.txt", "MODIFY r/a.txt"]);
    await assert.rejects(repoRead.content.listChanges(app, { until: "0".repeat(40) }), NotFoundError);
  });

  test("a directory's entries with blob ids, across pages; a file is not a directory", async () => {
    const mark = sim.markRequests();
    const entries = await repoRead.content.listDirectory(app, "many", { at: head, pageSize: 3 });
    assert.deepEqual(
      entries?.map((e) => e.path),
      Array.from({ length: 7 }, (_, i) => `file-${i}.txt`),
    );
    assert.ok(entries?.every((e) => e.type === "FILE" && /^[0-9a-f]{40}$/.test(e.contentId ?? "")));
    assert.equal(sim.requestCount({ since: mark, group: "content" }), 3);
    assert.equal(await repoRead.content.listDirectory(app, "many/file-0.txt", { at: head }), undefined);
    await assert.rejects(repoRead.content.listDirectory(app, "nowhere", { at: head }), NotFoundError);
  });

  test("paths with spaces and unicode", async () => {
    const files = await repoRead.content.listFiles(app, ".tekton");
    assert.deepEqual(files.sort(), ["pipeline run.yaml", "ünï/ß.yaml"]);
    assert.equal(await repoRead.content.rawText(app, ".tekton/pipeline run.yaml", { at: head }), PIPELINE);
    assert.equal(await repoRead.content.rawText(app, ".tekton/ünï/ß.yaml"), PIPELINE);
    assert.deepEqual(await repoRead.content.raw(app, "README.md"), Buffer.from("# app\n"));
  });

  test("path types, commits, 404 for what does not exist", async () => {
    assert.equal(await repoRead.content.pathType(app, ".tekton", { at: head }), "DIRECTORY");
    assert.equal(await repoRead.content.pathType(app, "README.md"), "FILE");
    await assert.rejects(repoRead.content.pathType(app, "nope"), NotFoundError);
    await assert.rejects(repoRead.content.listFiles(app, ".tekton-missing"), NotFoundError);
    await assert.rejects(repoRead.content.rawText(app, "missing.yaml"), NotFoundError);
    const commit = await repoRead.content.commit(app, head);
    assert.equal(commit.id, head);
    assert.equal(typeof commit.authorTimestamp, "number");
  });

  test("a personal project's fork", async () => {
    await sim.fork({ project: "PRJ", repo: "app", user: "carol" });
    const carolClient = client(carol);
    const fork = await carolClient.repos.get({ project: "~carol", repository: "app" });
    assert.equal(fork.project.key, "~CAROL");
    assert.equal(fork.origin?.slug, "app");
    assert.deepEqual(
      (await carolClient.repos.list({ project: "~carol" })).map((r) => r.slug),
      ["app"],
    );
    assert.ok((await carolClient.content.listFiles({ project: "~carol", repository: "app" }, ".tekton")).length > 0);
  });
});

describe("pull requests", () => {
  const prIds: number[] = [];

  before(async () => {
    for (let i = 0; i < 5; i++) {
      await sim.push({
        project: "PRJ",
        repo: "app",
        branch: `feature-${i}`,
        as: "bob",
        files: Object.fromEntries(Array.from({ length: 3 }, (_, j) => [`f${i}/new-${j}.txt`, `${j}\n`])),
      });
      const pr = await sim.openPullRequest({
        project: "PRJ",
        repo: "app",
        from: { branch: `feature-${i}` },
        title: `Feature ${i}`,
        as: "bob",
      });
      prIds.push(pr.id);
    }
  });

  test("get and list open across pages", async () => {
    const pr = await repoRead.pullRequests.get(app, prIds[0] ?? 0);
    assert.equal(pr.title, "Feature 0");
    assert.equal(pr.author.user.name, "bob");
    assert.equal(pr.state, "OPEN");
    const mark = sim.markRequests();
    const open = await repoRead.pullRequests.listOpen(app, { pageSize: 2 });
    assert.deepEqual(open.map((p) => p.id).sort(), [...prIds].sort());
    assert.equal(sim.requestCount({ since: mark, group: "pull-requests" }), 3);
  });

  test("changes: one page, truncation reported", async () => {
    const id = prIds[1] ?? 0;
    const all = await repoRead.pullRequests.changes(app, id);
    assert.equal(all.truncated, false);
    assert.deepEqual(all.changes.map((c) => c.path).sort(), ["f1/new-0.txt", "f1/new-1.txt", "f1/new-2.txt"]);
    assert.ok(all.changes.every((c) => c.type === "ADD" && c.contentId));
    const cut = await repoRead.pullRequests.changes(app, id, { limit: 2 });
    assert.equal(cut.truncated, true);
    assert.equal(cut.changes.length, 2);
  });

  test("comment (201) as the token's user", async () => {
    const comment = await repoRead.pullRequests.comment(app, prIds[2] ?? 0, "Pipeline **failed**: see the run.");
    assert.equal(comment.text, "Pipeline **failed**: see the run.");
    const stored = sim.comments({ project: "PRJ", repo: "app", id: prIds[2] ?? 0 });
    assert.equal(stored.length, 1);
    assert.equal(stored[0]?.author, comment.author?.name);
  });

  test("an unknown pull request is a NotFoundError", async () => {
    await assert.rejects(repoRead.pullRequests.get(app, 9999), (err) => {
      assert.ok(err instanceof NotFoundError);
      assert.match(err.exceptionName ?? "", /NoSuchPullRequestException/);
      return true;
    });
  });
});

describe("users: permission check without admin rights", () => {
  test("exact user with REPO_WRITE, not a substring match", async () => {
    const ask = async (user: string) =>
      (await repoRead.users.hasPermission({ user, permission: "REPO_WRITE", project: "PRJ", repository: "app" }))
        .granted;
    assert.equal(await ask("bob"), true);
    assert.equal(await ask("BOB"), true);
    assert.equal(await ask("bobby"), false);
    assert.equal(await ask("carol"), false);
    assert.equal(await ask("alice"), true, "project admins can write");
    assert.equal(await ask("nobody"), false);
  });

  test("search lists the matching users", async () => {
    const found = await repoRead.users.search({
      filter: "bob",
      permission: { permission: "REPO_READ", project: "PRJ", repository: "app" },
    });
    assert.deepEqual(
      found.map((u) => u.slug),
      ["bob"],
    );
  });
});

describe("repositories", () => {
  test("get, and one paged listing per project", async () => {
    const repo = await repoRead.repos.get(app);
    assert.equal(repo.project.key, "PRJ");
    assert.ok(repo.links?.clone?.some((l) => l.name === "http"));
    const mark = sim.markRequests();
    const listed = await projectAdmin.repos.list({ project: "PRJ" }, { pageSize: 2 });
    assert.deepEqual(
      listed.map((r) => r.slug),
      ["app", "svc-a", "svc-b", "svc-c", "svc-d"],
    );
    assert.equal(sim.requestCount({ since: mark, group: "repos" }), 3);
  });

  test("a repository token sees only its own repository in the project listing", async () => {
    assert.deepEqual(
      (await repoRead.repos.list({ project: "PRJ" })).map((r) => r.slug),
      ["app"],
    );
  });

  test("unknown repository and project are 404 for someone who may look", async () => {
    await assert.rejects(client(admin).repos.get({ project: "PRJ", repository: "ghost" }), NotFoundError);
    await assert.rejects(client(admin).repos.list({ project: "NOPE" }), NotFoundError);
  });
});

describe("401 for each missing permission", () => {
  const cases: [string, () => Promise<unknown>][] = [
    ["repository webhooks need REPO_ADMIN", () => repoRead.webhooks.list(app)],
    ["project webhooks need PROJECT_ADMIN", () => repoAdmin.webhooks.list({ project: "PRJ" })],
    [
      "a repository token cannot create a project webhook",
      () =>
        repoAdmin.webhooks.create(
          { project: "PRJ" },
          { name: "x", url: "https://x.example", events: ["pr:opened"], active: true },
        ),
    ],
    ["content of another project", () => otherProject.content.listFiles(app, "")],
    ["raw file of another project", () => otherProject.content.rawText(app, "README.md")],
    [
      "build status on another project",
      () => otherProject.buildStatus.set(app, head, { key: "k", state: "FAILED", url: "https://x.example" }),
    ],
    ["pull requests of another project", () => otherProject.pullRequests.listOpen(app)],
    ["repository of another project", () => otherProject.repos.get(app)],
    ["user search needs authentication", () => client().users.search({ filter: "bob" })],
    ["access tokens API with a token", () => projectAdmin.accessTokens.list(app)],
    ["access tokens API for a read-only user", () => client(carol).accessTokens.list({ project: "PRJ" })],
  ];
  for (const [name, call] of cases) {
    test(name, async () => {
      await assert.rejects(call(), (err) => {
        assert.ok(err instanceof UnauthorizedError, String(err));
        assert.equal(err.status, 401);
        return true;
      });
    });
  }

  test("the 401 message names the permission needed", async () => {
    await assert.rejects(repoRead.webhooks.list(app), /lack REPO_ADMIN/);
    await assert.rejects(repoAdmin.webhooks.list({ project: "PRJ" }), /lack PROJECT_ADMIN/);
  });
});

describe("rate limiting", () => {
  test("429 back-off honours Retry-After and the calls succeed", async () => {
    sim.configureRateLimit({ enabled: true, capacity: 2, refillPerSecond: 0.5 });
    try {
      const events: ResponseEvent[] = [];
      const created = token(app, ["REPO_READ"]);
      const c = client(bearer(created.token), { onResponse: (e) => events.push(e) });
      waits.length = 0;
      for (let i = 0; i < 5; i++) assert.equal((await c.repos.get(app)).slug, "app");
      const limited = events.filter((e) => e.rateLimited);
      assert.ok(limited.length >= 3, `expected 429s, saw ${limited.length}`);
      assert.ok(waits.length >= 3 && waits.every((ms) => ms === 2000), `waits ${waits.join(",")}`);
      assert.equal(sim.requests({ tokenId: created.id, status: 429 }).length, limited.length);
    } finally {
      sim.configureRateLimit({ enabled: false });
    }
  });

  test("a bounded number of attempts ends in RateLimitedError", async () => {
    sim.configureRateLimit({ enabled: true, capacity: 1, refillPerSecond: 0.1 });
    try {
      const c = client(bearer(token(app, ["REPO_READ"]).token), {
        rateLimit: { maxAttempts: 2, maxTotalWaitMs: 5_000 },
      });
      await c.repos.get(app);
      await assert.rejects(c.repos.get(app), (err) => {
        assert.ok(err instanceof RateLimitedError);
        assert.equal(err.retryAfterMs, 10_000);
        return true;
      });
    } finally {
      sim.configureRateLimit({ enabled: false });
    }
  });
});
