// Every Bitbucket Cloud capture in test/fixtures/bitbucket-cloud/ is parsed, and what Baton maps from it is checked
// against the capture's own values. The event key of a webhook body is not in the body (Cloud sends it as a
// header), so it is read from the fixtures README, which records it per file.
import assert from "node:assert/strict";
import { readdirSync, readFileSync } from "node:fs";
import { describe, it } from "node:test";
import type { z } from "zod";
import { deliveryKeys } from "../../events/dedupe.ts";
import { type BatonEvent, isPullRequestScoped } from "../../events/model.ts";
import { verifySignature } from "../../events/signature.ts";
import { changedFilesFromDiffstat } from "./changes.ts";
import { classifyDelivery, completeEvent, type DraftEvent } from "./classify.ts";
import { deliveryIdentity } from "./delivery.ts";
import { parsePayload } from "./payloads.ts";
import { CommitStatus, Diffstat, ErrorBody, pageOf, SourceEntry, Webhook } from "./schemas.ts";

const folder = new URL("../../../test/fixtures/bitbucket-cloud/", import.meta.url);
const files = readdirSync(folder).filter((f) => f.endsWith(".json"));
const readme = readFileSync(new URL("README.md", folder), "utf8");

/** File → second column of its README table row (event key for webhooks, endpoint for REST bodies). */
const described = new Map<string, string>();
for (const line of readme.split("\n")) {
  const m = /^\| `([^`]+\.json)` \| ([^|]+) \|/.exec(line);
  if (m) described.set(m[1] as string, (m[2] as string).trim());
}

const raw = (file: string) => readFileSync(new URL(file, folder));
// biome-ignore lint/suspicious/noExplicitAny: captures are read field by field and compared with what Baton maps.
type Capture = any;
const json = (file: string): Capture => JSON.parse(raw(file).toString("utf8"));

const receivedAt = new Date("2026-12-01T00:00:00Z");
const server = "https://bitbucket.org";

function eventKeyOf(file: string): string {
  const text = described.get(file);
  assert.ok(text, `${file} has no row in the fixtures README`);
  return text.replace(/\(inferred\)/, "").trim();
}

describe("the fixtures README describes every capture", () => {
  it("all 56 files, each once", () => {
    assert.equal(files.length, 56);
    for (const file of files) assert.ok(described.has(file), `${file} is not in the README`);
  });
});

const acted = new Set([
  "repo:push",
  "pullrequest:created",
  "pullrequest:updated",
  "pullrequest:fulfilled",
  "pullrequest:rejected",
  "pullrequest:comment_created",
]);

function drafts(file: string, key: string): { events: DraftEvent[]; ignored: { reason: string }[] } {
  const result = classifyDelivery(
    key,
    json(file),
    { "x-event-key": key, "x-request-uuid": "r-1" },
    {
      receivedAt,
      serverUrl: server,
    },
  );
  assert.ok(result.ok, result.ok ? "" : result.error);
  return result;
}

describe("webhook captures: parsed and mapped from their own values", () => {
  for (const file of files.filter((f) => f.startsWith("webhook-"))) {
    const key = eventKeyOf(file);
    it(`${key} ← ${file}`, () => {
      const body = json(file);
      const parsed = parsePayload(key, body);
      assert.ok(parsed.ok, parsed.ok ? "" : parsed.error);
      assert.equal("other" in parsed.value, !acted.has(key), "acted-on events use their full schema");
      const { events, ignored } = drafts(file, key);
      for (const { event } of events) {
        assert.equal(event.provider, "bitbucket-cloud");
        assert.equal(event.eventKey, key);
        assert.equal(event.requestId, "r-1");
        if (event.type !== "ping") {
          const [workspace, slug] = body.repository.full_name.split("/");
          assert.equal(event.repository.project, workspace);
          assert.equal(event.repository.slug, slug);
          assert.equal(event.repository.cloneUrl, `${server}/${body.repository.full_name}.git`);
        }
        assert.equal(event.sender.slug, body.actor.account_id ?? body.actor.uuid);
      }

      if (key === "repo:push") checkPush(body, events, ignored);
      else if (key.startsWith("pullrequest:") && acted.has(key)) checkPullRequest(key, body, events, ignored);
      else {
        assert.equal(events.length, 0);
        assert.deepEqual(
          ignored.map((i) => i.reason),
          ["unsupported-event"],
        );
      }
    });
  }
});

function checkPush(body: Capture, events: DraftEvent[], ignored: { reason: string }[]) {
  const changes: Capture[] = body.push.changes;
  const built = changes.filter((c) => c.new !== null);
  assert.equal(events.length, built.length, "one push event per ref that still exists");
  assert.equal(ignored.length, changes.length - built.length, "one ignored entry per deletion");
  changes.forEach((change, i) => {
    if (change.new === null) return;
    const { event, needs } = events[built.indexOf(change)] as DraftEvent;
    assert.equal(event.type, "push");
    if (event.type !== "push") return;
    const prefix = change.new.type === "tag" ? "refs/tags/" : "refs/heads/";
    assert.equal(event.ref, prefix + change.new.name, `change ${i}`);
    assert.equal(event.refKind, change.new.type);
    assert.equal(event.sha, change.new.target.hash);
    assert.match(event.sha, /^[0-9a-f]{40}$/, "push targets carry full hashes");
    assert.equal(event.previousSha, change.old?.target.hash);
    assert.equal(event.action, change.created ? "created" : "updated");
    assert.equal(event.commitTitle, change.new.target.message?.split("\n")[0] || undefined);
    assert.deepEqual(needs.commits, [], "nothing to resolve on a push");
    assert.deepEqual(needs.changes, {
      kind: "range",
      repository: { workspace: event.repository.project, slug: event.repository.slug },
      to: change.new.target.hash,
      ...(change.created ? {} : { from: change.old.target.hash }),
    });
  });
  const deletions = changes.filter((c) => c.new === null);
  assert.deepEqual(
    ignored.map((i) => i.reason),
    deletions.map((c) => (c.old.type === "tag" ? "tag-deleted" : "branch-deleted")),
  );
}

function checkPullRequest(key: string, body: Capture, events: DraftEvent[], ignored: { reason: string }[]) {
  const pr = body.pullrequest;
  if (
    key === "pullrequest:comment_created" &&
    !/^\s*\/(test|retest|cancel|ok-to-test)\b/m.test(body.comment.content.raw)
  ) {
    assert.deepEqual(
      ignored.map((i) => i.reason),
      ["comment-without-command"],
    );
    return;
  }
  assert.equal(events.length, 1);
  const { event, needs } = events[0] as DraftEvent;
  assert.ok(isPullRequestScoped(event), `${key} maps to a pull-request event`);
  const info = event.pullRequest;
  assert.equal(info.number, pr.id);
  assert.equal(info.title, pr.title);
  assert.equal(info.state, pr.state.toLowerCase());
  assert.equal(info.sourceBranch, pr.source.branch.name);
  assert.equal(info.targetBranch, pr.destination.branch.name);
  assert.equal(info.author.slug, pr.author.account_id ?? pr.author.uuid);
  const fork = pr.source.repository.uuid !== pr.destination.repository.uuid;
  assert.equal(info.fromRepository.fork, fork);
  assert.equal(`${info.fromRepository.project}/${info.fromRepository.slug}`, pr.source.repository.full_name);
  // Closing a pull request cancels runs only, so the fork is not worth checking then.
  const closing = key === "pullrequest:fulfilled" || key === "pullrequest:rejected";
  assert.equal(needs.fork?.fullName, fork && !closing ? pr.source.repository.full_name : undefined);
  assert.equal(info.url, pr.links.html.href);
  assert.equal(event.sha, pr.source.commit.hash);
  if (closing) {
    // Closing cancels runs found by the pull request's number: nothing to resolve, read or check.
    assert.deepEqual(needs, { commits: [] });
  } else {
    // The payload's abbreviations are listed for resolution, and the completed event carries full hashes.
    assert.deepEqual(
      needs.commits.map((c) => [c.field, c.abbreviated]),
      [
        ["head", pr.source.commit.hash],
        ["target", pr.destination.commit.hash],
      ].filter(([field, hash]) => hash.length < 40 && (field === "head" || fork)),
    );
    const resolved = new Map(needs.commits.map((c) => [c.abbreviated, c.abbreviated.padEnd(40, "0")]));
    const complete: BatonEvent = completeEvent({ event, needs }, resolved);
    assert.ok(isPullRequestScoped(complete));
    assert.match(complete.sha, /^[0-9a-f]{40}$/);
    assert.ok(complete.sha.startsWith(pr.source.commit.hash));
    // A same-repository pull request's target commit is not used, so it is dropped rather than left abbreviated.
    if (fork) assert.ok(complete.pullRequest.targetCommit?.startsWith(pr.destination.commit.hash));
    else assert.equal(complete.pullRequest.targetCommit, undefined);
    assert.throws(() => completeEvent({ event, needs }, new Map()), /was not resolved/);
  }
  switch (key) {
    case "pullrequest:created":
      assert.equal(event.type, "pull_request");
      assert.equal(event.action, "opened");
      break;
    case "pullrequest:updated":
      assert.equal(event.type, "pull_request");
      assert.equal(event.action, "updated");
      break;
    case "pullrequest:fulfilled":
      assert.deepEqual([event.type, event.action], ["pull_request_closed", "merged"]);
      break;
    case "pullrequest:rejected":
      assert.deepEqual([event.type, event.action], ["pull_request_closed", "declined"]);
      break;
    case "pullrequest:comment_created":
      assert.equal(event.type, "comment");
      if (event.type === "comment") {
        assert.equal(event.comment.id, body.comment.id);
        assert.equal(event.comment.text, body.comment.content.raw);
      }
  }
}

describe("the published signature test vector", () => {
  const secret = /Secret:\s*`([^`]+)`/.exec(readme)?.[1];
  const header = /Header:\s*`X-Hub-Signature: (sha256=[0-9a-f]{64})`/.exec(readme)?.[1];
  const file = "webhook-repo-push-branch-create-signed-compact.bbs-plugin.json";
  it("verifies over the raw bytes of the compact capture", () => {
    assert.ok(secret && header, "the README states the secret and the header");
    assert.deepEqual(verifySignature(raw(file), header, secret), { ok: true });
  });
  it("fails once the body is re-serialised, one byte is changed, or the secret differs", () => {
    assert.ok(secret && header);
    const pretty = Buffer.from(JSON.stringify(json(file), null, 1));
    assert.deepEqual(verifySignature(pretty, header, secret), { ok: false, reason: "mismatch" });
    const flipped = Buffer.from(raw(file));
    flipped[100] = (flipped[100] as number) ^ 1;
    assert.deepEqual(verifySignature(flipped, header, secret), { ok: false, reason: "mismatch" });
    assert.deepEqual(verifySignature(raw(file), header, `${secret}x`), {
      ok: false,
      reason: "mismatch",
    });
    assert.deepEqual(verifySignature(raw(file), undefined, secret), { ok: false, reason: "missing" });
  });
  it("Cloud's retries of that delivery are one delivery", () => {
    const headers = (attempt: string) => ({
      "x-event-key": "repo:push",
      "x-hook-uuid":
        attempt === "1" ? "0302255C-F4F0-4D4F-A9A8-1B8C1F1B6A1E" : "{0302255c-f4f0-4d4f-a9a8-1b8c1f1b6a1e}",
      "x-request-uuid": "9f1c2a4e-5b6d-4e7f-8a9b-0c1d2e3f4a5b",
      "x-attempt-number": attempt,
    });
    const keysOf = (attempt: string) => {
      const result = classifyDelivery("repo:push", json(file), headers(attempt), { receivedAt });
      assert.ok(result.ok && result.events[0]);
      return deliveryKeys(result.events[0].event);
    };
    assert.deepEqual(keysOf("1"), keysOf("3"));
    assert.equal(deliveryIdentity(headers("3")).attempt, 3);
    assert.equal(deliveryIdentity(headers("1")).hookUuid, deliveryIdentity(headers("3")).hookUuid);
  });
});

/** REST bodies: the schema for each endpoint the README names, and the fields Baton reads. */
const restSchemas: { endpoint: RegExp; schema: z.ZodType; check: (parsed: Capture, body: Capture) => void }[] = [
  {
    endpoint: /statuses\/build\/\{key\}$/,
    schema: CommitStatus,
    check: (s, b) =>
      assert.deepEqual([s.key, s.state, s.commit.hash, s.refname], [b.key, b.state, b.commit.hash, b.refname]),
  },
  {
    endpoint: /\/diffstat\/\{spec\}$/,
    schema: pageOf(Diffstat),
    check: (page, b) => {
      const files = changedFilesFromDiffstat(page.values);
      const entries: Capture[] = b.values;
      assert.deepEqual(
        files.added,
        entries.filter((e) => e.status === "added").map((e) => e.new.path),
      );
      assert.deepEqual(
        files.renamed,
        entries.filter((e) => e.status === "renamed").map((e) => e.new.path),
      );
      assert.deepEqual(
        files.modified,
        entries.filter((e) => e.status === "modified").map((e) => e.new.path),
      );
      for (const e of entries) {
        if (e.old) assert.ok(files.all.includes(e.old.path));
        if (e.new) assert.ok(files.all.includes(e.new.path));
      }
      assert.equal(page.next, b.next);
    },
  },
  {
    endpoint: /404 error body/,
    schema: ErrorBody,
    check: (e, b) => assert.equal(e.error.message, b.error.message),
  },
  {
    endpoint: /\/hooks\/\{uid\}$/,
    schema: Webhook,
    check: (h, b) =>
      assert.deepEqual(
        [h.uuid, h.url, h.events, h.secret_set, h.active],
        [b.uuid, b.url, b.events, b.secret_set, b.active],
      ),
  },
  {
    endpoint: /\/hooks\?pagelen=100$/,
    schema: pageOf(Webhook),
    check: (p, b) => {
      assert.deepEqual(
        p.values.map((h: Capture) => [h.uuid, h.secret_set]),
        b.values.map((h: Capture) => [h.uuid, h.secret_set]),
      );
      assert.equal(p.next, b.next);
    },
  },
  {
    endpoint: /format=meta$/,
    schema: SourceEntry,
    check: (e, b) => assert.deepEqual([e.type, e.path, e.size, e.commit.hash], [b.type, b.path, b.size, b.commit.hash]),
  },
];

describe("REST captures: parsed with the schema of their endpoint", () => {
  for (const file of files.filter((f) => f.startsWith("rest-"))) {
    const endpoint = described.get(file) ?? "";
    it(`${endpoint} ← ${file}`, () => {
      const entry = restSchemas.find((r) => r.endpoint.test(endpoint));
      assert.ok(entry, `no schema for ${endpoint}`);
      const body = json(file);
      const parsed = entry.schema.safeParse(body);
      assert.ok(parsed.success, parsed.success ? "" : parsed.error.message);
      entry.check(parsed.data, body);
    });
  }
});
