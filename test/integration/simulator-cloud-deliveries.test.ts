// Bitbucket Cloud simulator deliveries (shared/reference/bitbucket-cloud.md §3, §4): every event kind's body has the
// key set of its closest real capture in test/fixtures/bitbucket-cloud/, headers and signature as Cloud sends them,
// two immediate retries on 5xx under one X-Request-UUID, truncated push change lists, workspace hooks and forks.
import assert from "node:assert/strict";
import { createHmac } from "node:crypto";
import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import {
  type CloudSimulator,
  type CloudSimulatorOptions,
  type DeliveryRecord,
  startCloudSimulator,
  startWebhookReceiver,
  type WebhookReceiver,
} from "../../src/simulator/index.ts";
import { bearerAuth, git, http, tempDir } from "../../src/simulator/testing.ts";

const FIXTURES = join(import.meta.dirname, "..", "fixtures", "bitbucket-cloud");
const EVENTS = [
  "repo:push",
  "pullrequest:created",
  "pullrequest:updated",
  "pullrequest:fulfilled",
  "pullrequest:rejected",
  "pullrequest:comment_created",
  "repo:commit_status_created",
  "repo:commit_status_updated",
];

interface Capture {
  file: string;
  eventKey: string;
  keys: Set<string>;
  empties: Set<string>;
}

/** Every key path (`.a.b[].c`), arrays merged; `empties` are arrays seen empty, whose element shape is unknown. */
function shape(value: unknown): { keys: Set<string>; empties: Set<string> } {
  const keys = new Set<string>();
  const empties = new Set<string>();
  const walk = (v: unknown, path: string): void => {
    if (Array.isArray(v)) {
      if (v.length === 0) empties.add(`${path}[]`);
      for (const e of v) walk(e, `${path}[]`);
    } else if (v !== null && typeof v === "object")
      for (const [k, x] of Object.entries(v)) {
        keys.add(`${path}.${k}`);
        walk(x, `${path}.${k}`);
      }
  };
  walk(value, "");
  return { keys, empties };
}

/** The event key from the capture's file name (`webhook-repo-push-…` → `repo:push`). */
function eventKeyOf(file: string): string {
  const m =
    /^webhook-(repo|pullrequest)-(push|created|updated|fulfilled|rejected|comment_created|commit_status_created|commit_status_updated|approved|comment_deleted)[-.]/.exec(
      file,
    );
  return m ? `${m[1]}:${m[2]}` : "";
}

const captures: Capture[] = readdirSync(FIXTURES)
  .filter((f) => f.startsWith("webhook-"))
  .map((file) => ({
    file,
    eventKey: eventKeyOf(file),
    ...shape(JSON.parse(readFileSync(join(FIXTURES, file), "utf8"))),
  }));

/** Keys of one side that the other cannot be judged on: under an array that is empty on either side. */
function comparable(keys: Set<string>, empties: Set<string>): Set<string> {
  return new Set([...keys].filter((k) => ![...empties].some((e) => k.startsWith(e))));
}

function closest(body: unknown, eventKey: string): { file: string; missing: string[]; extra: string[] } {
  const ours = shape(body);
  let best: { file: string; missing: string[]; extra: string[] } | null = null;
  for (const c of captures.filter((x) => x.eventKey === eventKey)) {
    const empties = new Set([...ours.empties, ...c.empties]);
    const mine = comparable(ours.keys, empties);
    const theirs = comparable(c.keys, empties);
    const missing = [...theirs].filter((k) => !mine.has(k)).sort();
    const extra = [...mine].filter((k) => !theirs.has(k)).sort();
    if (!best || missing.length + extra.length < best.missing.length + best.extra.length)
      best = { file: c.file, missing, extra };
  }
  assert.ok(best, `no capture for ${eventKey}`);
  return best;
}

/** Keys of a capture file, for the allowance of keys Cloud added after an older closest capture was taken. */
const keysOf = (file: string): Set<string> => captures.find((c) => c.file === file)?.keys ?? new Set();

let work: { path: string; remove: () => Promise<void> };
const sims: CloudSimulator[] = [];
const receivers: WebhookReceiver[] = [];

async function world(options: CloudSimulatorOptions, personal: boolean) {
  const sim = await startCloudSimulator({ clock: { start: Date.parse("2026-06-01T10:00:00Z") }, ...options });
  const receiver = await startWebhookReceiver();
  sims.push(sim);
  receivers.push(receiver);
  sim.createUser({ nickname: "ana", displayName: "Ana Núñez", email: "ana@example.com", password: "pw" });
  sim.createUser({ nickname: "bo", displayName: "Bo 🐙", email: "bo@example.com", password: "pw" });
  sim.createWorkspace({ slug: "acme", owner: "ana", personal, members: ["bo"] });
  sim.createProject({ workspace: "acme", key: "PRJ" });
  await sim.createRepository({ workspace: "acme", slug: "app", project: "PRJ" });
  const hook = sim.createWebhook({
    workspace: "acme",
    repo: "app",
    url: receiver.url,
    events: EVENTS,
    secret: "Gkvl$k$wyNpQAF42",
  }) as {
    uuid: string;
  };
  return { sim, receiver, hookUuid: hook.uuid };
}

const bodies = (sim: CloudSimulator, eventKey: string): unknown[] =>
  sim.deliveries({ eventKey }).map((d) => JSON.parse(d.body));

before(async () => {
  work = await tempDir("sim-cloud-deliveries-");
});

after(async () => {
  for (const r of receivers) await r.close();
  for (const s of sims) await s.close();
  await work?.remove();
});

describe("payload shapes against the captures (§4)", () => {
  test("repo:push for branch create, update, force, delete and tag create/delete matches the 2025 captures key for key", async () => {
    const { sim } = await world({}, true);
    await sim.push({ workspace: "acme", repo: "app", branch: "main", files: { "a.txt": "1\n" }, as: "ana" });
    await sim.push({ workspace: "acme", repo: "app", branch: "main", files: { "b.txt": "2\n" }, as: "ana" });
    await sim.push({ workspace: "acme", repo: "app", branch: "topic", files: { "c.txt": "3\n" }, as: "ana" });
    await sim.createTag({ workspace: "acme", repo: "app", name: "v1", at: "main", as: "ana" });
    await sim.createTag({ workspace: "acme", repo: "app", name: "v2", at: "main", message: "Release 2", as: "ana" });
    await sim.deleteBranch({ workspace: "acme", repo: "app", branch: "topic", as: "ana" });
    await sim.settled();
    const pushes = bodies(sim, "repo:push");
    assert.equal(pushes.length, 6);
    const kinds = new Set<string>();
    for (const body of pushes) {
      const change = (
        body as {
          push: {
            changes: {
              new: { type: string } | null;
              old: { type: string } | null;
              created: boolean;
              closed: boolean;
            }[];
          };
        }
      ).push.changes[0];
      kinds.add(
        `${(change?.new ?? change?.old)?.type}:${change?.created ? "create" : change?.closed ? "delete" : "update"}`,
      );
      const { file, missing, extra } = closest(body, "repo:push");
      assert.deepEqual({ missing, extra }, { missing: [], extra: [] }, `against ${file}`);
    }
    assert.deepEqual([...kinds].sort(), ["branch:create", "branch:delete", "branch:update", "tag:create"]);
  });

  test("pullrequest:created and :rejected match the 2024 captures; :fulfilled the 2023 one plus only keys of the 2024 one", async () => {
    const { sim } = await world({ switches: { pullRequestDraftFields: false } }, false);
    await sim.push({ workspace: "acme", repo: "app", branch: "main", files: { "a.txt": "1\n" }, as: "ana" });
    await sim.push({ workspace: "acme", repo: "app", branch: "f1", files: { "b.txt": "2\n" }, as: "ana" });
    await sim.push({ workspace: "acme", repo: "app", branch: "f2", files: { "c.txt": "3\n" }, as: "ana" });
    await sim.openPullRequest({ workspace: "acme", repo: "app", title: "One", sourceBranch: "f1", author: "ana" });
    await sim.openPullRequest({
      workspace: "acme",
      repo: "app",
      title: "Two",
      sourceBranch: "f2",
      author: "ana",
      reviewers: ["bo"],
    });
    await sim.declinePullRequest({ workspace: "acme", repo: "app", id: 1, as: "ana" });
    await sim.mergePullRequest({ workspace: "acme", repo: "app", id: 2, as: "bo", closeSourceBranch: true });
    await sim.settled();
    for (const key of ["pullrequest:created", "pullrequest:rejected"]) {
      const first = bodies(sim, key)[0];
      const { file, missing, extra } = closest(first, key);
      assert.deepEqual({ missing, extra }, { missing: [], extra: [] }, `${key} against ${file}`);
    }
    const newer = keysOf("webhook-pullrequest-created.bbs-plugin.json");
    const fulfilled = closest(bodies(sim, "pullrequest:fulfilled")[0], "pullrequest:fulfilled");
    assert.deepEqual(fulfilled.missing, [], fulfilled.file);
    assert.ok(fulfilled.extra.length > 0 && fulfilled.extra.every((k) => newer.has(k)), JSON.stringify(fulfilled));
    // Merge with close source branch: push of the merge, push of the delete, then fulfilled (§4.1).
    const order = sim
      .deliveries()
      .slice(-3)
      .map((d) => d.eventKey);
    assert.deepEqual(order, ["repo:push", "repo:push", "pullrequest:fulfilled"]);
  });

  test("pullrequest:updated matches the 2026 capture (draft, queued, participants); comment_created the 2022 one plus only 2026 keys", async () => {
    const { sim } = await world({}, true);
    await sim.push({ workspace: "acme", repo: "app", branch: "main", files: { "a.txt": "1\n" }, as: "ana" });
    await sim.push({ workspace: "acme", repo: "app", branch: "feature", files: { "b.txt": "2\n" }, as: "ana" });
    await sim.openPullRequest({
      workspace: "acme",
      repo: "app",
      title: "Feature",
      sourceBranch: "feature",
      author: "ana",
    });
    await sim.comment({ workspace: "acme", repo: "app", id: 1, text: "/ok-to-test", as: "bo" });
    await sim.push({ workspace: "acme", repo: "app", branch: "feature", files: { "b.txt": "3\n" }, as: "ana" });
    await sim.settled();
    const updated = closest(bodies(sim, "pullrequest:updated")[0], "pullrequest:updated");
    assert.deepEqual({ missing: updated.missing, extra: updated.extra }, { missing: [], extra: [] }, updated.file);
    const newest = keysOf("webhook-pullrequest-updated-with-draft.bbs-plugin.json");
    const comment = closest(bodies(sim, "pullrequest:comment_created")[0], "pullrequest:comment_created");
    assert.deepEqual(comment.missing, [], comment.file);
    assert.ok(
      comment.extra.every((k) => newest.has(k)),
      JSON.stringify(comment),
    );
    const body = bodies(sim, "pullrequest:comment_created")[0] as {
      comment: { content: { raw: string } };
      actor: { nickname: string };
    };
    assert.equal(body.comment.content.raw, "/ok-to-test");
    assert.equal(body.actor.nickname, "bo");
  });

  test("repo:commit_status_created and _updated match the 2025 captures, the actor being an account rather than Pipelines' team", async () => {
    const { sim } = await world({}, false);
    const { commit } = await sim.push({
      workspace: "acme",
      repo: "app",
      branch: "main",
      files: { "a.txt": "1\n" },
      as: "ana",
    });
    const token = sim.createToken({ kind: "repository", workspace: "acme", repo: "app", scopes: ["repository"] });
    const path = `/repositories/acme/app/commit/${commit}/statuses/build`;
    const status = { key: "baton-1", refname: "main", url: "https://ci.example.com/1", name: "app" };
    await http(sim.apiUrl, "POST", path, { auth: bearerAuth(token.token), body: { ...status, state: "INPROGRESS" } });
    await http(sim.apiUrl, "POST", path, { auth: bearerAuth(token.token), body: { ...status, state: "SUCCESSFUL" } });
    await sim.settled();
    // The captured statuses were written by Bitbucket Pipelines, whose actor is the workspace (`type: "team"`); ours
    // are written by an access token, an account like the actor of every other capture.
    const accountActor = [...keysOf("webhook-pullrequest-created.bbs-plugin.json")]
      .filter((k) => k.startsWith(".actor."))
      .sort();
    for (const key of ["repo:commit_status_created", "repo:commit_status_updated"]) {
      const all = bodies(sim, key);
      assert.equal(all.length, 1, key);
      const { file, missing, extra } = closest(all[0], key);
      assert.ok(
        [...missing, ...extra].every((k) => k.startsWith(".actor.")),
        `${key} against ${file}: ${missing} / ${extra}`,
      );
      assert.deepEqual([...shape(all[0]).keys].filter((k) => k.startsWith(".actor.")).sort(), accountActor);
    }
  });
});

describe("delivery requests (§3)", () => {
  test("headers: X-Event-Key (not in the body), X-Hook-UUID without braces, X-Request-UUID, X-Attempt-Number, User-Agent, signature over the raw body", async () => {
    const { sim, receiver, hookUuid } = await world({}, false);
    await sim.push({ workspace: "acme", repo: "app", branch: "main", files: { "a.txt": "1\n" }, as: "ana" });
    await sim.settled();
    const got = receiver.received.at(-1);
    assert.ok(got);
    assert.equal(got.headers["x-event-key"], "repo:push");
    assert.equal(got.headers["x-hook-uuid"], hookUuid.replace(/[{}]/g, ""));
    assert.match(String(got.headers["x-request-uuid"]), /^[0-9a-f-]{36}$/);
    assert.equal(got.headers["x-attempt-number"], "1");
    assert.equal(got.headers["user-agent"], "Bitbucket-Webhooks/2.0");
    const expected = `sha256=${createHmac("sha256", "Gkvl$k$wyNpQAF42").update(got.body).digest("hex")}`;
    assert.equal(got.headers["x-hub-signature"], expected);
    assert.doesNotMatch(got.body, /repo:push/);
    assert.doesNotMatch(got.body, /\n$/);
  });

  test("a 5xx answer is retried twice at once with the same X-Request-UUID and a rising X-Attempt-Number; a 4xx is not", async () => {
    const { sim, receiver } = await world({}, false);
    receiver.respondWith(503);
    await sim.push({ workspace: "acme", repo: "app", branch: "main", files: { "a.txt": "1\n" }, as: "ana" });
    await sim.settled();
    assert.equal(receiver.received.length, 3);
    assert.deepEqual(
      receiver.received.map((r) => r.headers["x-attempt-number"]),
      ["1", "2", "3"],
    );
    assert.equal(new Set(receiver.received.map((r) => r.headers["x-request-uuid"])).size, 1);
    assert.equal(new Set(receiver.received.map((r) => r.body)).size, 1);
    const record = sim.deliveries().at(-1) as DeliveryRecord;
    assert.deepEqual(
      record.attempts.map((a) => a.status),
      [503, 503, 503],
    );
    receiver.received.length = 0;
    receiver.respondWith(404);
    await sim.push({ workspace: "acme", repo: "app", branch: "main", files: { "b.txt": "2\n" }, as: "ana" });
    await sim.settled();
    assert.equal(receiver.received.length, 1);
    receiver.received.length = 0;
    receiver.respondWith(500);
    sim.configure({ retryKeepsRequestUuid: false });
    await sim.push({ workspace: "acme", repo: "app", branch: "main", files: { "c.txt": "3\n" }, as: "ana" });
    await sim.settled();
    assert.equal(
      new Set(receiver.received.map((r) => r.headers["x-request-uuid"])).size,
      3,
      "the switch gives each attempt its own id",
    );
  });

  test("a git push of 7 commits lists the newest 5 with truncated: true; PR payloads carry 12-hex hashes that resolve", async () => {
    const { sim } = await world({}, false);
    await sim.push({ workspace: "acme", repo: "app", branch: "main", files: { "a.txt": "0\n" }, as: "ana" });
    const token = sim.createToken({
      kind: "repository",
      workspace: "acme",
      repo: "app",
      scopes: ["repository:write", "pullrequest"],
    });
    const url = sim
      .cloneUrl("acme", "app")
      .replace("http://", `http://x-token-auth:${encodeURIComponent(token.token)}@`);
    const dir = join(work.path, "seven");
    const run = (args: string[]) => git(args, { cwd: dir, home: work.path });
    assert.equal((await git(["clone", "--quiet", url, dir], { home: work.path })).code, 0);
    await run(["checkout", "-q", "-b", "seven"]);
    for (let i = 1; i <= 7; i++) await run(["commit", "-q", "--allow-empty", "-m", `commit ${i} ✓`]);
    const pushed = await run(["push", "-q", "origin", "seven"]);
    assert.equal(pushed.code, 0, pushed.stderr);
    await sim.settled();
    const change = (
      bodies(sim, "repo:push").at(-1) as { push: { changes: { truncated: boolean; commits: { message: string }[] }[] } }
    ).push.changes[0];
    assert.equal(change?.truncated, true);
    assert.equal(change?.commits.length, 5);
    assert.equal(change?.commits[0]?.message, "commit 7 ✓\n");
    await sim.openPullRequest({ workspace: "acme", repo: "app", title: "Seven", sourceBranch: "seven", author: "ana" });
    await sim.settled();
    const pr = (bodies(sim, "pullrequest:created")[0] as { pullrequest: { source: { commit: { hash: string } } } })
      .pullrequest;
    assert.match(pr.source.commit.hash, /^[0-9a-f]{12}$/);
    const full = await http(sim.apiUrl, "GET", `/repositories/acme/app/commit/${pr.source.commit.hash}`, {
      auth: bearerAuth(token.token),
    });
    assert.equal(
      (full.json as { hash: string }).hash,
      await sim.resolve({ workspace: "acme", repo: "app", rev: "seven" }),
    );
  });

  test("a workspace hook hears every repository of the workspace; a fork PR names the fork, which the destination token cannot clone", async () => {
    const { sim } = await world({}, false);
    const wsReceiver = await startWebhookReceiver();
    receivers.push(wsReceiver);
    sim.createWebhook({ workspace: "acme", url: wsReceiver.url, events: ["repo:push", "pullrequest:created"] });
    await sim.createRepository({ workspace: "acme", slug: "second", project: "PRJ" });
    await sim.push({ workspace: "acme", repo: "app", branch: "main", files: { "a.txt": "1\n" }, as: "ana" });
    await sim.push({ workspace: "acme", repo: "second", branch: "main", files: { "a.txt": "1\n" }, as: "ana" });
    sim.createWorkspace({ slug: "bo-ws", owner: "bo", personal: true });
    await sim.fork({ from: { workspace: "acme", repo: "app" }, workspace: "bo-ws", slug: "app-fork" });
    await sim.push({ workspace: "bo-ws", repo: "app-fork", branch: "fix", files: { "fix.txt": "fixed\n" }, as: "bo" });
    await sim.openPullRequest({
      workspace: "acme",
      repo: "app",
      title: "From a fork",
      sourceBranch: "fix",
      sourceRepo: { workspace: "bo-ws", repo: "app-fork" },
      author: "bo",
    });
    await sim.settled();
    const repos = wsReceiver.received.map(
      (r) => (JSON.parse(r.body) as { repository: { full_name: string } }).repository.full_name,
    );
    assert.deepEqual([...new Set(repos)].sort(), ["acme/app", "acme/second"], "the fork's push is another workspace's");
    const pr = (
      bodies(sim, "pullrequest:created").at(-1) as {
        pullrequest: {
          source: { repository: { full_name: string; uuid: string } };
          destination: { repository: { uuid: string } };
        };
      }
    ).pullrequest;
    assert.equal(pr.source.repository.full_name, "bo-ws/app-fork");
    assert.notEqual(pr.source.repository.uuid, pr.destination.repository.uuid);
    const token = sim.createToken({ kind: "repository", workspace: "acme", repo: "app", scopes: ["pullrequest"] });
    const url = sim
      .cloneUrl("bo-ws", "app-fork")
      .replace("http://", `http://x-token-auth:${encodeURIComponent(token.token)}@`);
    const clone = await git(["clone", "--quiet", url, join(work.path, "fork")], { home: work.path });
    assert.notEqual(clone.code, 0);
    const diffstat = await http(sim.apiUrl, "GET", "/repositories/acme/app/pullrequests/1/diffstat", {
      auth: bearerAuth(token.token),
    });
    assert.equal(diffstat.status, 200, "followed redirect; fork PR endpoints are readable (a switch)");
    assert.deepEqual(
      (diffstat.json as { values: { new: { path: string } }[] }).values.map((v) => v.new.path),
      ["fix.txt"],
    );
  });
});
