// Webhooks of the Bitbucket DC simulator over real HTTP: the REST quirks (PUT replaces, empty secret → 500, secret
// readable, password never returned), signed deliveries without retry, project webhooks for every repository,
// lost deliveries, the test ping, and the events of pushes and pull requests.
import assert from "node:assert/strict";
import { createHmac } from "node:crypto";
import { after, before, beforeEach, describe, test } from "node:test";
import {
  type ReceivedRequest,
  type Simulator,
  startSimulator,
  startWebhookReceiver,
  type WebhookReceiver,
} from "../../src/simulator/index.ts";
import { basicAuth, bearerAuth, http } from "../../src/simulator/testing.ts";

const ZERO = "0".repeat(40);
let sim: Simulator;
let receiver: WebhookReceiver;
let repoAdmin: string;
let projectAdmin: string;
const admin = basicAuth("admin", "admin-pw");
const api = "/rest/api/latest";
const appHooks = `${api}/projects/PRJ/repos/app/webhooks`;
const projectHooks = `${api}/projects/PRJ/webhooks`;

const call = (method: string, path: string, auth: string, body?: unknown) =>
  http(sim.url, method, path, { auth, body });
const json = (r: ReceivedRequest) => JSON.parse(r.body) as Record<string, unknown>;
/** Reads a dotted path out of a parsed payload. */
const get = (value: unknown, path: string): unknown =>
  path.split(".").reduce<unknown>((o, k) => (o as Record<string, unknown> | undefined)?.[k], value);
const hmac = (secret: string, body: string) => `sha256=${createHmac("sha256", secret).update(body).digest("hex")}`;

/** Receiver requests for one webhook, told apart by the `?h=` query each webhook's URL carries. */
const to = (name: string) => receiver.received.filter((r) => r.path === `/hook?h=${name}`);

async function hook(path: string, auth: string, name: string, events: string[], extra: Record<string, unknown> = {}) {
  const res = await call("POST", path, auth, { name, url: `${receiver.url}?h=${name}`, events, ...extra });
  assert.equal(res.status, 200, res.text);
  return res.json as { id: number };
}

before(async () => {
  sim = await startSimulator();
  receiver = await startWebhookReceiver();
  sim.createUser({ name: "admin", password: "admin-pw", admin: true, displayName: "Administrator" });
  sim.createUser({ name: "dev", password: "dev-pw", displayName: "Developer" });
  sim.createProject({ key: "PRJ" });
  sim.createProject({ key: "OTHER" });
  await sim.createRepository({ project: "PRJ", slug: "app", as: "admin", files: { "README.md": "# app\n" } });
  sim.grant({ permission: "REPO_WRITE", user: "dev", project: "PRJ", repo: "app" });
  await sim.createRepository({ project: "PRJ", slug: "svc", as: "admin", files: { "README.md": "# svc\n" } });
  await sim.createRepository({ project: "OTHER", slug: "lib", as: "admin", files: { "README.md": "# lib\n" } });
  repoAdmin = bearerAuth(
    sim.createToken({
      scope: { kind: "repository", project: "PRJ", repo: "app" },
      name: "hooks",
      permissions: ["REPO_ADMIN"],
    }).token,
  );
  projectAdmin = bearerAuth(
    sim.createToken({
      scope: { kind: "project", project: "PRJ" },
      name: "phooks",
      permissions: ["PROJECT_ADMIN", "REPO_ADMIN"],
    }).token,
  );
});

after(async () => {
  await sim?.close();
  await receiver?.close();
});

beforeEach(async () => {
  await sim.settled();
  receiver.received.length = 0;
  receiver.respondWith(200);
  for (const h of sim.webhooks()) {
    const path =
      h.scope === "project"
        ? `${api}/projects/${h.project}/webhooks/${h.id}`
        : `${api}/projects/${h.project}/repos/${h.repo}/webhooks/${h.id}`;
    await call("DELETE", path, admin);
  }
  sim.clearDeliveries();
});

describe("webhook REST quirks", () => {
  test("create (200), get with the secret in plaintext, list by event, PUT replaces the whole webhook, delete (204)", async () => {
    const created = await call("POST", appHooks, repoAdmin, {
      name: "baton",
      url: "https://baton.example/hook",
      events: ["pr:opened", "repo:refs_changed"],
      configuration: { secret: "s3cr3t", createdBy: "baton" },
    });
    assert.equal(created.status, 200);
    const body = created.json as Record<string, unknown>;
    assert.equal(typeof body.id, "number");
    assert.deepEqual(
      [body.name, body.url, body.active, body.scopeType, body.sslVerificationRequired, typeof body.createdDate],
      ["baton", "https://baton.example/hook", true, "repository", true, "number"],
    );
    const got = await call("GET", `${appHooks}/${body.id}`, repoAdmin);
    assert.deepEqual((got.json as { configuration: unknown }).configuration, { secret: "s3cr3t", createdBy: "baton" });

    const byEvent = async (event: string) =>
      ((await call("GET", `${appHooks}?event=${event}`, repoAdmin)).json as { values: { id: number }[] }).values.map(
        (v) => v.id,
      );
    assert.deepEqual(await byEvent("pr:opened"), [body.id]);
    assert.deepEqual(await byEvent("pr:merged"), []);

    const replaced = await call("PUT", `${appHooks}/${body.id}`, repoAdmin, {
      name: "baton-2",
      url: "https://baton.example/hook2",
      events: ["pr:merged"],
    });
    assert.equal(replaced.status, 200);
    const after = (await call("GET", `${appHooks}/${body.id}`, repoAdmin)).json as Record<string, unknown>;
    assert.deepEqual(
      [after.name, after.url, after.events, after.configuration],
      ["baton-2", "https://baton.example/hook2", ["pr:merged"], {}],
    );
    assert.equal(sim.webhooks({ repo: "app" })[0]?.secret, null, "leaving out configuration cleared the secret");

    assert.equal((await call("DELETE", `${appHooks}/${body.id}`, repoAdmin)).status, 204);
    assert.equal((await call("GET", `${appHooks}/${body.id}`, repoAdmin)).status, 404);
    assert.equal((await call("DELETE", `${appHooks}/${body.id}`, repoAdmin)).status, 404);
  });

  test('"configuration":{"secret":""} fails with 500 and stores nothing', async () => {
    const res = await call("POST", appHooks, repoAdmin, {
      name: "empty",
      url: "https://baton.example/hook",
      events: ["pr:opened"],
      configuration: { secret: "" },
    });
    assert.equal(res.status, 500);
    assert.ok(Array.isArray((res.json as { errors: unknown[] }).errors));
    assert.equal(sim.webhooks().length, 0);
  });

  test("invalid webhooks are 400", async () => {
    const cases: [string, unknown][] = [
      ["no url", { name: "x", events: ["pr:opened"] }],
      ["not http", { name: "x", url: "ftp://x", events: ["pr:opened"] }],
      ["no events", { name: "x", url: "https://x", events: [] }],
      ["unknown event", { name: "x", url: "https://x", events: ["pr:exploded"] }],
      ["no name", { url: "https://x", events: ["pr:opened"] }],
    ];
    for (const [name, body] of cases) assert.equal((await call("POST", appHooks, repoAdmin, body)).status, 400, name);
  });

  test("the credentials password is never returned; PUT with only a username keeps it", async () => {
    const created = await hook(appHooks, repoAdmin, "creds", ["repo:refs_changed"], {
      credentials: { username: "baton", password: "hook-pass" },
    });
    const got = (await call("GET", `${appHooks}/${created.id}`, repoAdmin)).json as Record<string, unknown>;
    assert.deepEqual(got.credentials, { username: "baton" });
    assert.equal(JSON.stringify(got).includes("hook-pass"), false);

    await call("PUT", `${appHooks}/${created.id}`, repoAdmin, {
      name: "creds",
      url: `${receiver.url}?h=creds`,
      events: ["repo:refs_changed"],
      credentials: { username: "baton" },
    });
    await sim.push({ project: "PRJ", repo: "app", branch: "main", files: { "a.txt": "1" }, as: "dev" });
    await sim.settled();
    assert.equal(to("creds")[0]?.headers.authorization, basicAuth("baton", "hook-pass"));
  });
});

describe("deliveries", () => {
  test("signed with the secret over the exact body, with the documented headers", async () => {
    await hook(appHooks, repoAdmin, "signed", ["repo:refs_changed"], { configuration: { secret: "k3y" } });
    await hook(appHooks, repoAdmin, "unsigned", ["repo:refs_changed"]);
    const pushed = await sim.push({ project: "PRJ", repo: "app", branch: "main", files: { "b.txt": "2" }, as: "dev" });
    await sim.settled();
    const [signed] = to("signed");
    const [unsigned] = to("unsigned");
    assert.ok(signed && unsigned);
    assert.equal(signed.method, "POST");
    assert.equal(signed.headers["content-type"], "application/json; charset=utf-8");
    assert.equal(signed.headers["x-event-key"], "repo:refs_changed");
    assert.match(
      String(signed.headers["x-request-id"]),
      /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/,
    );
    assert.equal(signed.headers["x-hub-signature"], hmac("k3y", signed.body));
    assert.notEqual(signed.headers["x-hub-signature"], hmac("wrong", signed.body));
    assert.equal(unsigned.headers["x-hub-signature"], undefined);
    assert.equal(unsigned.headers.authorization, undefined);
    assert.notEqual(signed.headers["x-request-id"], unsigned.headers["x-request-id"]);
    assert.equal((json(signed).changes as { toHash: string }[])[0]?.toHash, pushed.sha);
    assert.match(String(json(signed).date), /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\+0000$/);
    const log = sim.deliveries({ eventKey: "repo:refs_changed" });
    assert.equal(log.length, 2);
    assert.deepEqual(
      log.map((d) => [d.status, d.signature !== null, d.requestId === d.headers["X-Request-Id"]]),
      [
        [200, true, true],
        [200, false, true],
      ],
    );
  });

  test("no retry: a failing receiver gets each event exactly once", async () => {
    await hook(appHooks, repoAdmin, "failing", ["repo:refs_changed"]);
    receiver.respondWith(500);
    await sim.push({ project: "PRJ", repo: "app", branch: "main", files: { "c.txt": "3" }, as: "dev" });
    await sim.settled();
    assert.equal(to("failing").length, 1);
    assert.deepEqual(
      sim.deliveries().map((d) => [d.eventKey, d.status, d.error]),
      [["repo:refs_changed", 500, null]],
    );
    await call("PUT", `${appHooks}/${sim.webhooks()[0]?.id}`, repoAdmin, {
      name: "unreachable",
      url: "http://127.0.0.1:9/nothing-listens",
      events: ["repo:refs_changed"],
    });
    await sim.push({ project: "PRJ", repo: "app", branch: "main", files: { "c.txt": "4" }, as: "dev" });
    await sim.settled();
    const last = sim.deliveries().at(-1);
    assert.equal(last?.status, null);
    assert.match(last?.error ?? "", /ECONNREFUSED/);
  });

  test("project webhooks fire for every repository of the project, and for no other", async () => {
    await hook(projectHooks, projectAdmin, "project", ["repo:refs_changed"]);
    await hook(appHooks, repoAdmin, "app-only", ["repo:refs_changed"]);
    for (const [project, repo] of [
      ["PRJ", "app"],
      ["PRJ", "svc"],
      ["OTHER", "lib"],
    ] as const)
      await sim.push({ project, repo, branch: "main", files: { "d.txt": repo }, as: "admin" });
    await sim.settled();
    assert.deepEqual(
      to("project").map((r) => (json(r).repository as { slug: string }).slug),
      ["app", "svc"],
    );
    assert.deepEqual(
      to("app-only").map((r) => (json(r).repository as { slug: string }).slug),
      ["app"],
    );
    const listed = (await call("GET", projectHooks, projectAdmin)).json as { values: { scopeType: string }[] };
    assert.deepEqual(
      listed.values.map((v) => v.scopeType),
      ["project"],
    );
  });

  test("dropped deliveries are logged as lost and never sent; inactive webhooks get nothing", async () => {
    await hook(appHooks, repoAdmin, "lossy", ["repo:refs_changed"]);
    await hook(appHooks, repoAdmin, "inactive", ["repo:refs_changed"], { active: false });
    sim.dropNextDeliveries(1);
    const first = await sim.push({ project: "PRJ", repo: "app", branch: "main", files: { "e.txt": "1" }, as: "dev" });
    const second = await sim.push({ project: "PRJ", repo: "app", branch: "main", files: { "e.txt": "2" }, as: "dev" });
    await sim.settled();
    assert.deepEqual(
      to("lossy").map((r) => (json(r).changes as { toHash: string }[])[0]?.toHash),
      [second.sha],
    );
    assert.equal(to("inactive").length, 0);
    const log = sim.deliveries();
    assert.deepEqual(
      log.map((d) => [d.dropped, d.status, (JSON.parse(d.body).changes as { toHash: string }[])[0]?.toHash]),
      [
        [true, null, first.sha],
        [false, 200, second.sha],
      ],
    );
  });

  test("the test endpoint sends diagnostics:ping, signed with the webhook's secret when named", async () => {
    const created = await hook(appHooks, repoAdmin, "pinged", ["repo:refs_changed"], {
      configuration: { secret: "p1ng" },
    });
    const named = await call("POST", `${appHooks}/test?webhookId=${created.id}`, repoAdmin);
    assert.equal(named.status, 200);
    assert.equal((named.json as { response: { statusCode: number } }).response.statusCode, 200);
    const byUrl = await call(
      "POST",
      `${appHooks}/test?url=${encodeURIComponent(`${receiver.url}?h=adhoc`)}`,
      repoAdmin,
    );
    assert.equal(byUrl.status, 200);
    const [ping] = to("pinged");
    const [adhoc] = to("adhoc");
    assert.ok(ping && adhoc);
    assert.equal(ping.headers["x-event-key"], "diagnostics:ping");
    assert.deepEqual(JSON.parse(ping.body), { test: true });
    assert.equal(ping.headers["x-hub-signature"], hmac("p1ng", ping.body));
    assert.equal(adhoc.headers["x-hub-signature"], undefined);
    assert.equal((await call("POST", `${appHooks}/test?webhookId=${created.id}`, bearerAuth("nope"))).status, 401);
  });
});

describe("events", () => {
  test("repo:refs_changed for branch and tag ADD / UPDATE / DELETE, with toCommit and at most 5 commits", async () => {
    await hook(appHooks, repoAdmin, "refs", ["repo:refs_changed"]);
    let last = "";
    for (let i = 0; i < 7; i++)
      last = (await sim.push({ project: "PRJ", repo: "app", branch: "topic", files: { [`t${i}`]: `${i}` }, as: "dev" }))
        .sha;
    const tag = await sim.createTag({ project: "PRJ", repo: "app", tag: "v1", target: "topic", as: "dev" });
    const annotated = await sim.createTag({
      project: "PRJ",
      repo: "app",
      tag: "v1-notes",
      target: "topic",
      message: "Release",
      as: "dev",
    });
    await sim.deleteRef({ project: "PRJ", repo: "app", ref: "topic", as: "dev" });
    await sim.deleteRef({ project: "PRJ", repo: "app", ref: "refs/tags/v1", as: "dev" });
    await sim.settled();
    const events = to("refs").map(json);
    const change = (e: Record<string, unknown>) => (e.changes as Record<string, unknown>[])[0] ?? {};
    assert.deepEqual(
      events.map((e) => [(change(e).ref as { type: string }).type, change(e).type, change(e).refId]),
      [
        ["BRANCH", "ADD", "refs/heads/topic"],
        ...Array.from({ length: 6 }, () => ["BRANCH", "UPDATE", "refs/heads/topic"]),
        ["TAG", "ADD", "refs/tags/v1"],
        ["TAG", "ADD", "refs/tags/v1-notes"],
        ["BRANCH", "DELETE", "refs/heads/topic"],
        ["TAG", "DELETE", "refs/tags/v1"],
      ],
    );
    const [added, updated] = events;
    assert.equal(change(added ?? {}).fromHash, ZERO);
    assert.equal(get(updated, "commits.length"), 1, "an update lists only the new commits");
    assert.equal(get(events[6], "toCommit.id"), last);
    assert.equal(get(events[7], "commits.length"), 5, "at most 5 commits");
    assert.equal(change(events[7] ?? {}).toHash, tag.toHash);
    assert.notEqual(annotated.toHash, last, "an annotated tag points at a tag object");
    assert.equal(change(events[8] ?? {}).toHash, annotated.toHash);
    assert.equal(get(events[8], "toCommit.id"), last, "toCommit is the peeled commit");
    assert.equal(change(events[9] ?? {}).toHash, ZERO);
    assert.equal("toCommit" in (events[9] ?? {}), false);
    assert.deepEqual(
      events.map((e) => (e.actor as { name: string }).name),
      Array.from({ length: 11 }, () => "dev"),
    );
  });

  test("pull request lifecycle: opened, source pushed (refs_changed AND from_ref_updated), modified, comment, declined", async () => {
    await hook(appHooks, repoAdmin, "pr", [
      "repo:refs_changed",
      "pr:opened",
      "pr:from_ref_updated",
      "pr:modified",
      "pr:comment:added",
      "pr:declined",
    ]);
    const first = await sim.push({
      project: "PRJ",
      repo: "app",
      branch: "feature",
      files: { "f.txt": "1" },
      as: "dev",
    });
    await sim.push({ project: "PRJ", repo: "app", branch: "release", files: { "r.txt": "1" }, as: "admin" });
    const pr = await sim.openPullRequest({
      project: "PRJ",
      repo: "app",
      from: { branch: "feature" },
      title: "Feature",
      description: "first",
      as: "dev",
    });
    const second = await sim.push({
      project: "PRJ",
      repo: "app",
      branch: "feature",
      files: { "f.txt": "2" },
      as: "dev",
    });
    await sim.updatePullRequest({
      project: "PRJ",
      repo: "app",
      id: pr.id,
      title: "Feature!",
      to: "release",
      as: "dev",
    });
    const comment = sim.comment({ project: "PRJ", repo: "app", id: pr.id, text: "/retest", as: "admin" });
    sim.comment({ project: "PRJ", repo: "app", id: pr.id, text: "reply", as: "dev", parentId: comment.id });
    await sim.declinePullRequest({ project: "PRJ", repo: "app", id: pr.id, as: "admin" });
    await sim.settled();
    const events = to("pr").map(json);
    assert.deepEqual(
      events.map((e) => e.eventKey),
      [
        "repo:refs_changed",
        "repo:refs_changed",
        "pr:opened",
        "repo:refs_changed",
        "pr:from_ref_updated",
        "pr:modified",
        "pr:comment:added",
        "pr:comment:added",
        "pr:declined",
      ],
    );
    const [, , opened, , updated, modified, added, reply, declined] = events;
    const prOf = (e: Record<string, unknown> | undefined) => (e?.pullRequest ?? {}) as Record<string, unknown>;
    assert.deepEqual(
      [
        prOf(opened).id,
        prOf(opened).state,
        prOf(opened).version,
        (prOf(opened).fromRef as { latestCommit: string }).latestCommit,
      ],
      [pr.id, "OPEN", 0, first.sha],
    );
    assert.equal(updated?.previousFromHash, first.sha);
    assert.equal((prOf(updated).fromRef as { latestCommit: string }).latestCommit, second.sha);
    assert.equal(modified?.previousTitle, "Feature");
    assert.equal(modified?.previousDescription, "first");
    assert.deepEqual(
      [get(modified, "previousTarget.id"), (prOf(modified).toRef as { id: string }).id, prOf(modified).version],
      ["refs/heads/main", "refs/heads/release", 1],
    );
    assert.deepEqual(
      [get(added, "comment.text"), get(added, "actor.name"), "commentParentId" in (added ?? {})],
      ["/retest", "admin", false],
    );
    assert.equal(reply?.commentParentId, comment.id);
    assert.deepEqual(
      [prOf(declined).state, prOf(declined).closed, typeof prOf(declined).closedDate],
      ["DECLINED", true, "number"],
    );
  });

  test("merge: pr:merged with the merge commit, and refs_changed on the target; delete: pr:deleted", async () => {
    await hook(appHooks, repoAdmin, "merge", ["repo:refs_changed", "pr:merged", "pr:deleted", "pr:declined"]);
    const before = await sim.resolve({ project: "PRJ", repo: "app", rev: "main" });
    await sim.push({ project: "PRJ", repo: "app", branch: "to-merge", files: { "m.txt": "1" }, as: "dev" });
    const pr = await sim.openPullRequest({
      project: "PRJ",
      repo: "app",
      from: { branch: "to-merge" },
      title: "Merge me",
      as: "dev",
    });
    const merged = await sim.mergePullRequest({ project: "PRJ", repo: "app", id: pr.id, as: "admin" });
    assert.equal(merged.state, "MERGED");
    const after = await sim.resolve({ project: "PRJ", repo: "app", rev: "main" });
    assert.equal(merged.mergeCommit, after);
    await sim.push({ project: "PRJ", repo: "app", branch: "to-delete", files: { "x.txt": "1" }, as: "dev" });
    const doomed = await sim.openPullRequest({
      project: "PRJ",
      repo: "app",
      from: { branch: "to-delete" },
      title: "Doomed",
      as: "dev",
    });
    await sim.deletePullRequest({ project: "PRJ", repo: "app", id: doomed.id, as: "admin" });
    await sim.push({ project: "PRJ", repo: "app", branch: "abandoned", files: { "y.txt": "1" }, as: "dev" });
    const abandoned = await sim.openPullRequest({
      project: "PRJ",
      repo: "app",
      from: { branch: "abandoned" },
      title: "Abandoned",
      as: "dev",
    });
    await sim.deleteRef({ project: "PRJ", repo: "app", ref: "abandoned", as: "dev" });
    await sim.settled();
    const events = to("merge").map(json);
    const prEvents = events.filter((e) => String(e.eventKey).startsWith("pr:"));
    assert.deepEqual(
      prEvents.map((e) => [e.eventKey, (e.pullRequest as { id: number }).id]),
      [
        ["pr:merged", pr.id],
        ["pr:deleted", doomed.id],
        ["pr:declined", abandoned.id],
      ],
    );
    const mergedPr = prEvents[0]?.pullRequest as Record<string, unknown>;
    assert.deepEqual(mergedPr.properties, { mergeCommit: { displayId: after?.slice(0, 11), id: after } });
    assert.equal(
      (mergedPr.toRef as { latestCommit: string }).latestCommit,
      before,
      "toRef is the target as it was merged into",
    );
    const targetPush = events.find(
      (e) =>
        e.eventKey === "repo:refs_changed" && (e.changes as { refId: string; toHash: string }[])[0]?.toHash === after,
    );
    assert.ok(targetPush, "the merge moved main and said so");
    assert.equal((targetPush.changes as { fromHash: string }[])[0]?.fromHash, before);
  });

  test("DC 10.x emulation: ISO-8601 entity timestamps in payloads", async () => {
    await hook(appHooks, repoAdmin, "iso", ["pr:opened", "repo:refs_changed"]);
    sim.configure({ isoEntityTimestamps: true });
    try {
      await sim.push({ project: "PRJ", repo: "app", branch: "iso", files: { "i.txt": "1" }, as: "dev" });
      await sim.openPullRequest({ project: "PRJ", repo: "app", from: { branch: "iso" }, title: "ISO", as: "dev" });
      await sim.settled();
    } finally {
      sim.configure({ isoEntityTimestamps: false });
    }
    const [push, opened] = to("iso").map(json);
    const iso = /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/;
    assert.match(String(get(push, "toCommit.committerTimestamp")), iso);
    assert.match(String(get(opened, "pullRequest.createdDate")), iso);
    assert.match(String(opened?.date), /\+0000$/, "the top-level date keeps its own format");
  });
});
