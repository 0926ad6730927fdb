// Bitbucket Cloud simulator REST (shared/reference/bitbucket-cloud.md §2, §5, §6): paging with values/next, 429
// without Retry-After, hook secrets that are never returned, src and diffstat read from real git, 12-hex commit
// lookups and build statuses only their creator may overwrite.
import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { type CloudSimulator, type CreatedCloudToken, startCloudSimulator } from "../../src/simulator/index.ts";
import { bearerAuth, http } from "../../src/simulator/testing.ts";

let sim: CloudSimulator;
let main: string;
let feature: string;
const tokens: Record<string, CreatedCloudToken> = {};
const call = (method: string, path: string, token: string, body?: unknown) =>
  http(sim.apiUrl, method, path, { auth: bearerAuth(token), body });
const tok = (name: string): string => tokens[name]?.token ?? "";

interface Page {
  values: unknown[];
  next?: string;
  pagelen: number;
  page: number;
  size: number;
}

before(async () => {
  sim = await startCloudSimulator({ clock: { start: Date.parse("2026-05-01T00:00:00Z"), frozen: true } });
  sim.createUser({ nickname: "ana", email: "ana@example.com", password: "pw" });
  sim.createWorkspace({ slug: "acme", owner: "ana" });
  await sim.createRepository({ workspace: "acme", slug: "app" });
  main = (
    await sim.push({
      workspace: "acme",
      repo: "app",
      branch: "main",
      files: { "README.md": "one\n", ".tekton/pr.yaml": "kind: PipelineRun\n", "docs/ü 名前.md": "名前\n" },
      as: "ana",
    })
  ).commit;
  feature = (
    await sim.push({
      workspace: "acme",
      repo: "app",
      branch: "feature",
      files: { "README.md": "one\ntwo\n", "new.txt": "n\n", "docs/ü 名前.md": null },
      as: "ana",
    })
  ).commit;
  tokens.read = sim.createToken({ kind: "repository", workspace: "acme", repo: "app", scopes: ["repository"] });
  tokens.other = sim.createToken({
    kind: "repository",
    workspace: "acme",
    repo: "app",
    scopes: ["repository"],
    name: "other",
  });
  tokens.pr = sim.createToken({ kind: "repository", workspace: "acme", repo: "app", scopes: ["pullrequest:write"] });
  tokens.hooks = sim.createToken({
    kind: "repository",
    workspace: "acme",
    repo: "app",
    scopes: ["webhook", "repository", "pullrequest"],
  });
});

after(async () => {
  await sim?.close();
});

describe("paging (§6.4)", () => {
  test("25 pull requests come back over pages by following next; the last page has no next", async () => {
    for (let i = 0; i < 25; i++)
      await sim.push({
        workspace: "acme",
        repo: "app",
        branch: `topic-${i}`,
        files: { [`t${i}.txt`]: `${i}\n` },
        as: "ana",
      });
    for (let i = 0; i < 25; i++)
      await sim.openPullRequest({
        workspace: "acme",
        repo: "app",
        title: `PR ${i} ✨`,
        sourceBranch: `topic-${i}`,
        author: "ana",
      });
    const seen = new Set<number>();
    let url: string | undefined = `${sim.apiUrl}/repositories/acme/app/pullrequests?pagelen=10`;
    let pages = 0;
    while (url) {
      const res = await http(url, "GET", "", { auth: bearerAuth(tok("pr")) });
      assert.equal(res.status, 200);
      const page = res.json as Page;
      assert.ok(page.values.length <= 10);
      for (const v of page.values) seen.add((v as { id: number }).id);
      url = page.next;
      pages++;
    }
    assert.equal(pages, 3);
    assert.equal(seen.size, 25);
  });

  test("pagelen above the maximum is cut to 100", async () => {
    const res = await call("GET", "/repositories/acme/app/pullrequests?pagelen=500", tok("pr"));
    assert.equal((res.json as Page).pagelen, 100);
  });
});

describe("rate limiting per hour (§6.6)", () => {
  test("the request over the hourly budget gets a text/plain 429 with no Retry-After; an hour later it passes", async () => {
    const token = sim.createToken({ kind: "repository", workspace: "acme", repo: "app", scopes: ["repository"] });
    sim.configureRateLimit({ enabled: true, repositoriesPerHour: 5 });
    try {
      for (let i = 0; i < 5; i++) {
        const ok = await call("GET", "/repositories/acme/app", token.token);
        assert.equal(ok.status, 200);
        assert.equal(ok.headers.get("x-ratelimit-limit"), "5");
      }
      const limited = await call("GET", "/repositories/acme/app", token.token);
      assert.equal(limited.status, 429);
      assert.equal(limited.headers.get("retry-after"), null);
      assert.match(limited.headers.get("content-type") ?? "", /^text\/plain/);
      assert.equal(limited.text, "Rate limit for this resource has been exceeded");
      assert.equal(sim.requests({ status: 429 }).at(-1)?.rateLimited, true);
      assert.equal(
        (await call("GET", "/repositories/acme/app", tok("read"))).status,
        200,
        "each token has its own budget",
      );
      sim.clock.advance(3_600_001);
      assert.equal((await call("GET", "/repositories/acme/app", token.token)).status, 200);
    } finally {
      sim.configureRateLimit({ enabled: false });
    }
  });
});

describe("injected faults on the Cloud personality", () => {
  test("an injected 429 is Cloud's (text/plain, no Retry-After); a late 503 replaces a finished answer", async () => {
    sim.injectFaults({ status: 429, count: 1, pathPrefix: "/2.0/repositories/acme/app" });
    const limited = await call("GET", "/repositories/acme/app", tok("read"));
    assert.equal(limited.status, 429);
    assert.equal(limited.headers.get("retry-after"), null);
    assert.match(limited.headers.get("content-type") ?? "", /^text\/plain/);
    sim.injectFaults({ status: 503, count: 1, when: "after", pathPrefix: "/2.0/repositories/acme/app/commit" });
    const lost = await call("POST", `/repositories/acme/app/commit/${main}/statuses/build`, tok("read"), {
      key: "late",
      state: "FAILED",
    });
    assert.equal(lost.status, 503);
    assert.equal((lost.json as { type: string }).type, "error");
    assert.equal(
      (await call("GET", `/repositories/acme/app/commit/${main}/statuses/build/late`, tok("read"))).status,
      200,
      "the status was stored",
    );
  });
});

describe("webhooks: the secret is write-only (§2.2)", () => {
  test("create answers 201; no answer ever carries the secret; PUT without secret keeps it, null removes it", async () => {
    const created = await call("POST", "/repositories/acme/app/hooks", tok("hooks"), {
      description: "baton",
      url: "https://baton.example.com/hooks/cloud",
      active: true,
      secret: "sup3r-s3cret-✓",
      events: ["repo:push", "pullrequest:created"],
    });
    assert.equal(created.status, 201);
    const hook = created.json as { uuid: string; secret_set: boolean };
    assert.match(hook.uuid, /^\{[0-9a-f-]{36}\}$/);
    assert.equal(hook.secret_set, true);
    const uid = encodeURIComponent(hook.uuid);
    const answers = [
      created.text,
      (await call("GET", "/repositories/acme/app/hooks", tok("hooks"))).text,
      (await call("GET", `/repositories/acme/app/hooks/${uid}`, tok("hooks"))).text,
    ];
    const kept = await call("PUT", `/repositories/acme/app/hooks/${uid}`, tok("hooks"), {
      url: "https://baton.example.com/hooks/cloud2",
      events: ["repo:push"],
    });
    assert.equal(kept.status, 200);
    assert.equal((kept.json as { secret_set: boolean }).secret_set, true);
    answers.push(kept.text);
    for (const text of answers) {
      assert.doesNotMatch(text, /sup3r-s3cret/);
      assert.doesNotMatch(text, /"secret"\s*:/);
    }
    const cleared = await call("PUT", `/repositories/acme/app/hooks/${uid}`, tok("hooks"), { secret: null });
    assert.equal((cleared.json as { secret_set: boolean; events: string[] }).secret_set, false);
    assert.deepEqual((cleared.json as { events: string[] }).events, ["repo:push"], "omitted fields are kept");
    assert.equal((await call("DELETE", `/repositories/acme/app/hooks/${uid}`, tok("hooks"))).status, 204);
    assert.equal((await call("GET", `/repositories/acme/app/hooks/${uid}`, tok("hooks"))).status, 404);
  });

  test("subscribing to pullrequest:* needs pullrequest besides webhook; unknown events are a 400", async () => {
    const onlyHooks = sim.createToken({
      kind: "repository",
      workspace: "acme",
      repo: "app",
      scopes: ["webhook", "repository"],
    });
    const body = { url: "https://x.example.com/", events: ["pullrequest:created"] };
    assert.equal((await call("POST", "/repositories/acme/app/hooks", onlyHooks.token, body)).status, 403);
    assert.equal((await call("GET", "/repositories/acme/app/hooks", onlyHooks.token)).status, 200);
    const bad = await call("POST", "/repositories/acme/app/hooks", tok("hooks"), {
      url: "https://x.example.com/",
      events: ["pr:opened"],
    });
    assert.equal(bad.status, 400);
  });
});

describe("content read from git (§6.1, §6.2)", () => {
  test("commit lookup accepts the 12-hex short hash of PR payloads", async () => {
    const res = await call("GET", `/repositories/acme/app/commit/${feature.slice(0, 12)}`, tok("read"));
    assert.equal(res.status, 200);
    assert.equal((res.json as { hash: string }).hash, feature);
    assert.equal((await call("GET", "/repositories/acme/app/commit/0123456789ab", tok("read"))).status, 404);
  });

  test("src lists a directory (paths from the root) and serves a file's raw bytes", async () => {
    const root = await call("GET", `/repositories/acme/app/src/${main}/`, tok("read"));
    assert.equal(root.status, 200);
    const paths = (root.json as Page).values.map((v) => (v as { path: string; type: string }).path);
    assert.deepEqual(paths.sort(), [".tekton", "README.md", "docs"]);
    const dir = await call("GET", `/repositories/acme/app/src/${main}/docs/`, tok("read"));
    assert.equal(((dir.json as Page).values[0] as { path: string }).path, "docs/ü 名前.md");
    const file = await call("GET", `/repositories/acme/app/src/${main}/${encodeURI("docs/ü 名前.md")}`, tok("read"));
    assert.equal(file.text, "名前\n");
    assert.equal(file.headers.get("content-disposition"), "attachment");
    const meta = await call("GET", `/repositories/acme/app/src/${main}/.tekton/pr.yaml?format=meta`, tok("read"));
    assert.equal((meta.json as { type: string; size: number }).type, "commit_file");
    assert.equal((await call("GET", `/repositories/acme/app/src/${main}/missing.txt`, tok("read"))).status, 404);
  });

  test("PR diffstat redirects to the repository diffstat, which names added, modified and removed files", async () => {
    const pr = (await sim.openPullRequest({
      workspace: "acme",
      repo: "app",
      title: "Feature",
      sourceBranch: "feature",
      author: "ana",
    })) as { id: number };
    const redirect = await fetch(`${sim.apiUrl}/repositories/acme/app/pullrequests/${pr.id}/diffstat`, {
      headers: { Authorization: bearerAuth(tok("pr")) },
      redirect: "manual",
    });
    assert.equal(redirect.status, 302);
    const location = redirect.headers.get("location") ?? "";
    assert.match(location, /\/diffstat\/acme\/app:[0-9a-f]{12}%0D[0-9a-f]{12}\?from_pullrequest_id=\d+&topic=true$/);
    const res = await http(location, "GET", "", { auth: bearerAuth(tok("read")) });
    const values = (res.json as Page).values as {
      status: string;
      old: { path: string } | null;
      new: { path: string } | null;
      lines_added: number;
    }[];
    const byPath = new Map(values.map((v) => [v.new?.path ?? v.old?.path, v]));
    assert.equal(byPath.get("new.txt")?.status, "added");
    assert.equal(byPath.get("new.txt")?.old, null);
    assert.equal(byPath.get("README.md")?.status, "modified");
    assert.equal(byPath.get("README.md")?.lines_added, 1);
    assert.equal(byPath.get("docs/ü 名前.md")?.status, "removed");
    assert.equal(byPath.get("docs/ü 名前.md")?.new, null);
    const range = await call("GET", `/repositories/acme/app/diffstat/${feature}..${main}`, tok("read"));
    assert.equal((range.json as Page).values.length, 3);
  });
});

describe("build statuses (§5)", () => {
  const path = () => `/repositories/acme/app/commit/${main}/statuses/build`;

  test("POST creates (201), GET by key reads it back, the creator may overwrite it", async () => {
    const created = await call("POST", path(), tok("read"), {
      key: "baton-app",
      state: "INPROGRESS",
      name: "app",
      url: "https://ci.example.com/1",
    });
    assert.equal(created.status, 201);
    const got = await call("GET", `${path()}/baton-app`, tok("read"));
    assert.equal((got.json as { state: string }).state, "INPROGRESS");
    const again = await call("POST", path(), tok("read"), {
      key: "baton-app",
      state: "SUCCESSFUL",
      url: "https://ci.example.com/1",
    });
    assert.equal(again.status, 200);
    assert.equal(
      ((await call("GET", `${path()}/baton-app`, tok("read"))).json as { state: string }).state,
      "SUCCESSFUL",
    );
  });

  test("another identity cannot overwrite the status; an unknown state is a 400; a short hash is a 404", async () => {
    const foreign = await call("PUT", `${path()}/baton-app`, tok("other"), { state: "FAILED" });
    assert.equal(foreign.status, 403);
    assert.equal((await call("POST", path(), tok("read"), { key: "k", state: "CANCELLED" })).status, 400);
    const short = await call("POST", `/repositories/acme/app/commit/${main.slice(0, 12)}/statuses/build`, tok("read"), {
      key: "k",
      state: "FAILED",
    });
    assert.equal(short.status, 404);
    assert.equal((await call("GET", `${path()}/nope`, tok("read"))).status, 404);
  });
});

describe("workspace members (§6.5)", () => {
  test("a member is looked up by {uuid} (URL-encoded) or account_id; a nickname names no one", async () => {
    // Nicknames are not unique and may hold spaces (reference §4.2).
    const ana = sim.createUser({ nickname: "Ana Member", email: "ana.member@example.com" });
    sim.addMember({ workspace: "acme", user: "Ana Member" });
    const outsider = sim.createUser({ nickname: "Zoë 🚀 Outsider", email: "zoe@example.com" });
    const { token } = sim.createToken({ kind: "workspace", workspace: "acme", scopes: ["account"], name: "members" });
    const member = (key: string) => call("GET", `/workspaces/acme/members/${encodeURIComponent(key)}`, token);

    for (const key of [ana.uuid, ana.accountId]) {
      const found = await member(key);
      assert.equal(found.status, 200, `${key}: ${found.text}`);
      const body = found.json as { type: string; user: { uuid: string; account_id: string } };
      assert.equal(body.type, "workspace_membership");
      assert.equal(body.user.uuid, ana.uuid);
      assert.equal(body.user.account_id, ana.accountId);
    }
    const byNickname = await member("Ana Member");
    assert.equal(byNickname.status, 404, "nicknames are not unique: Cloud does not key members by them");
    assert.equal((byNickname.json as { type: string }).type, "error");
    assert.equal((await member(outsider.accountId)).status, 404, "not a member");
    assert.equal((await member(outsider.uuid)).status, 404, "not a member");
  });
});
