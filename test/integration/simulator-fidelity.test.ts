// Fixture fidelity: the payloads the simulator delivers have the same keys, with the same JSON types, as real
// Bitbucket Server / Data Center deliveries captured in test/fixtures/bitbucket-dc/ (see its README for where each
// capture comes from). Two checks per capture:
//  1. every path Baton reads exists in the simulator's payload with the capture's JSON type;
//  2. every key path of the capture exists in the simulator's payload with the same JSON type (the simulator may
//     send more, as newer servers do; a `null` in a capture matches any type).
import assert from "node:assert/strict";
import { readFile } from "node:fs/promises";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import { type Simulator, startSimulator } from "../../src/simulator/index.ts";

const FIXTURES = join(import.meta.dirname, "..", "fixtures", "bitbucket-dc");

/** JSON type of every key path; arrays are described by their first element (`a[]`). */
function shape(value: unknown, prefix = "", out = new Map<string, string>()): Map<string, string> {
  if (Array.isArray(value)) {
    out.set(prefix, "array");
    if (value.length > 0) shape(value[0], `${prefix}[]`, out);
  } else if (value !== null && typeof value === "object") {
    out.set(prefix, "object");
    for (const [k, v] of Object.entries(value)) shape(v, prefix ? `${prefix}.${k}` : k, out);
  } else out.set(prefix, value === null ? "null" : typeof value);
  return out;
}

const REF_PATHS = [
  "id",
  "displayId",
  "latestCommit",
  "repository.slug",
  "repository.project.key",
  "repository.project.type",
  "repository.links",
  "repository.links.clone",
];
const PR_PATHS = [
  "eventKey",
  "date",
  "actor.name",
  "actor.slug",
  "pullRequest.id",
  "pullRequest.version",
  "pullRequest.title",
  "pullRequest.state",
  ...REF_PATHS.map((p) => `pullRequest.fromRef.${p}`),
  ...REF_PATHS.map((p) => `pullRequest.toRef.${p}`),
  "pullRequest.author.user",
  "pullRequest.author.user.name",
  "pullRequest.author.user.slug",
];
/** Paths Baton reads, per event. Every one must be in the simulator's payload. */
const BATON_PATHS: Record<string, string[]> = {
  "repo:refs_changed": [
    "eventKey",
    "date",
    "actor.name",
    "actor.slug",
    "changes[].ref",
    "changes[].ref.id",
    "changes[].ref.displayId",
    "changes[].ref.type",
    "changes[].refId",
    "changes[].fromHash",
    "changes[].toHash",
    "changes[].type",
    "repository.slug",
    "repository.project.key",
    "repository.links.clone",
    "repository.links.clone[].href",
    "repository.links.clone[].name",
  ],
  "pr:opened": PR_PATHS,
  "pr:from_ref_updated": [...PR_PATHS, "previousFromHash"],
  "pr:modified": [...PR_PATHS, "previousTarget", "previousTarget.id", "previousTarget.latestCommit"],
  "pr:merged": [...PR_PATHS, "pullRequest.properties.mergeCommit.id"],
  "pr:declined": PR_PATHS,
  "pr:deleted": PR_PATHS,
  "pr:comment:added": [...PR_PATHS, "comment.id", "comment.text", "comment.author", "comment.author.name"],
};

interface Capture {
  file: string;
  eventKey: string;
  /** Picks the simulator payload to compare with. */
  pick: string;
}

/** Captures compared, chosen from the README: real deliveries, the newest per event, forks where available. */
const CAPTURES: Capture[] = [
  {
    file: "webhook-refs-changed-branch-update-with-commits.bbs-plugin.json",
    eventKey: "repo:refs_changed",
    pick: "update",
  },
  { file: "webhook-refs-changed-branch-update.nttd.json", eventKey: "repo:refs_changed", pick: "update" },
  {
    file: "webhook-refs-changed-branch-add-dc10-iso-dates.bbs-plugin.json",
    eventKey: "repo:refs_changed",
    pick: "add-iso",
  },
  { file: "webhook-refs-changed-branch-delete-dc10.bbs-plugin.json", eventKey: "repo:refs_changed", pick: "delete" },
  { file: "webhook-refs-changed-tag-add-annotated-dc9.bbs-plugin.json", eventKey: "repo:refs_changed", pick: "tag" },
  { file: "webhook-pr-opened.nttd.json", eventKey: "pr:opened", pick: "same-repo" },
  { file: "webhook-pr-opened-dc10-iso-dates.bbs-plugin.json", eventKey: "pr:opened", pick: "iso" },
  { file: "webhook-pr-opened-fork.zulip.json", eventKey: "pr:opened", pick: "fork" },
  { file: "webhook-pr-from-ref-updated.nttd.json", eventKey: "pr:from_ref_updated", pick: "same-repo" },
  { file: "webhook-pr-from-ref-updated.drone-go-scm.json", eventKey: "pr:from_ref_updated", pick: "same-repo" },
  { file: "webhook-pr-modified-target-branch.drone-go-scm.json", eventKey: "pr:modified", pick: "same-repo" },
  { file: "webhook-pr-modified-title-description.drone-go-scm.json", eventKey: "pr:modified", pick: "fork" },
  { file: "webhook-pr-modified-fork.zulip.json", eventKey: "pr:modified", pick: "fork" },
  { file: "webhook-pr-merged.nttd.json", eventKey: "pr:merged", pick: "same-repo" },
  { file: "webhook-pr-merged-fork.zulip.json", eventKey: "pr:merged", pick: "fork" },
  { file: "webhook-pr-declined.go-playground.json", eventKey: "pr:declined", pick: "personal" },
  { file: "webhook-pr-declined.go-scm.json", eventKey: "pr:declined", pick: "same-repo" },
  { file: "webhook-pr-deleted-dc10-iso-dates.bbs-plugin.json", eventKey: "pr:deleted", pick: "iso" },
  { file: "webhook-pr-deleted.go-playground.json", eventKey: "pr:deleted", pick: "personal" },
  { file: "webhook-pr-deleted.go-scm.json", eventKey: "pr:deleted", pick: "same-repo" },
  { file: "webhook-pr-comment-added.go-playground.json", eventKey: "pr:comment:added", pick: "personal" },
  { file: "webhook-pr-comment-added.atlantis.json", eventKey: "pr:comment:added", pick: "same-repo" },
];

let sim: Simulator;
/** Delivered payloads by `${eventKey}/${pick}`. */
const delivered = new Map<string, Record<string, unknown>>();

async function record(pick: string, action: () => Promise<unknown>, iso = false): Promise<void> {
  await sim.settled();
  const mark = sim.deliveries().at(-1)?.seq ?? 0;
  sim.configure({ isoEntityTimestamps: iso });
  try {
    await action();
    await sim.settled();
  } finally {
    sim.configure({ isoEntityTimestamps: false });
  }
  const fresh = sim.deliveries({ since: mark });
  assert.ok(fresh.length > 0, `no delivery for ${pick}`);
  for (const d of fresh) {
    assert.equal(d.status, 200, `${d.eventKey} was delivered`);
    // The last of each kind: a reply comes after the comment it answers.
    delivered.set(`${d.eventKey}/${pick}`, JSON.parse(d.body));
  }
}

before(async () => {
  sim = await startSimulator({ version: "9.4.0" });
  // A receiver that accepts everything: the simulator's own delivery log keeps the exact bytes sent.
  const { startWebhookReceiver } = await import("../../src/simulator/index.ts");
  const receiver = await startWebhookReceiver();
  after(() => receiver.close());

  sim.createUser({ name: "admin", password: "pw", admin: true, displayName: "Administrator" });
  sim.createUser({ name: "dev", displayName: "Developer" });
  sim.createUser({ name: "rev", displayName: "Reviewer" });
  sim.createUser({ name: "alice", displayName: "Alice" });
  sim.createProject({ key: "PRJ", name: "Project" });
  await sim.createRepository({ project: "PRJ", slug: "app", as: "admin", files: { "README.md": "# app\n" } });
  const events = Object.keys(BATON_PATHS);
  sim.createWebhook({
    project: "PRJ",
    repo: "app",
    name: "all",
    url: receiver.url,
    events,
    configuration: { secret: "s" },
  });
  const repo = { project: "PRJ", repo: "app" };

  // Two commits first, so toCommit's parent has a parent of its own, as in the captures.
  await sim.push({ ...repo, branch: "main", files: { a: "0" }, as: "dev" });
  await record("update", () => sim.push({ ...repo, branch: "main", files: { a: "1" }, as: "dev" }));
  await record("tag", () => sim.createTag({ ...repo, tag: "v1", message: "Release 1", as: "dev" }));
  await record("add-iso", () => sim.push({ ...repo, branch: "feature/x", files: { b: "1" }, as: "dev" }), true);
  await record("delete", () => sim.deleteRef({ ...repo, ref: "feature/x", as: "dev" }));

  await sim.push({ ...repo, branch: "release", files: { r: "1" }, as: "admin" });
  await sim.push({ ...repo, branch: "topic", files: { t: "1" }, as: "dev" });
  let id = 0;
  await record("same-repo", async () => {
    id = (
      await sim.openPullRequest({
        ...repo,
        from: { branch: "topic" },
        title: "Topic",
        description: "Some work",
        as: "dev",
        reviewers: ["rev"],
      })
    ).id;
    await sim.push({ ...repo, branch: "topic", files: { t: "2" }, as: "dev" });
    await sim.updatePullRequest({ ...repo, id, to: "release", as: "dev" });
    sim.comment({ ...repo, id, text: "Looks good", as: "rev" });
    await sim.mergePullRequest({ ...repo, id, as: "admin" });
    await sim.push({ ...repo, branch: "dropped", files: { d: "1" }, as: "dev" });
    const dropped = await sim.openPullRequest({
      ...repo,
      from: { branch: "dropped" },
      title: "Dropped",
      description: "no",
      as: "dev",
      reviewers: ["rev"],
    });
    await sim.declinePullRequest({ ...repo, id: dropped.id, as: "admin" });
    await sim.deletePullRequest({ ...repo, id: dropped.id, as: "admin" });
  });
  // The go-playground captures are pull requests inside a personal repository (~gopher/webhook-test).
  const personal = { project: "~ALICE", repo: "notes" };
  await sim.createRepository({ project: "~alice", slug: "notes", as: "alice", files: { "notes.md": "notes\n" } });
  sim.createWebhook({ ...personal, name: "personal", url: receiver.url, events, configuration: { secret: "s" } });
  await record("personal", async () => {
    await sim.push({ ...personal, branch: "talk", files: { c: "1" }, as: "alice" });
    const pr = await sim.openPullRequest({
      ...personal,
      from: { branch: "talk" },
      title: "Talk",
      description: "Let's talk",
      as: "alice",
    });
    const first = sim.comment({ ...personal, id: pr.id, text: "/test", as: "rev" });
    sim.comment({ ...personal, id: pr.id, text: "ok", as: "alice", parentId: first.id });
    await sim.declinePullRequest({ ...personal, id: pr.id, as: "rev" });
    await sim.deletePullRequest({ ...personal, id: pr.id, as: "alice" });
  });
  await record(
    "iso",
    async () => {
      await sim.push({ ...repo, branch: "iso", files: { i: "1" }, as: "dev" });
      const pr = await sim.openPullRequest({
        ...repo,
        from: { branch: "iso" },
        title: "ISO",
        description: "dates",
        as: "dev",
      });
      await sim.deletePullRequest({ ...repo, id: pr.id, as: "admin" });
    },
    true,
  );
  await sim.fork({ ...repo, user: "alice" });
  await record("fork", async () => {
    await sim.push({ project: "~ALICE", repo: "app", branch: "fix", files: { f: "1" }, as: "alice" });
    const pr = await sim.openPullRequest({
      ...repo,
      from: { project: "~ALICE", repo: "app", branch: "fix" },
      title: "Fix",
      description: "from a fork",
      as: "alice",
      reviewers: ["rev"],
    });
    await sim.updatePullRequest({
      ...repo,
      id: pr.id,
      title: "Fix it",
      description: "from a fork, really",
      as: "alice",
    });
    await sim.mergePullRequest({ ...repo, id: pr.id, as: "admin" });
  });
});

after(async () => {
  await sim?.close();
});

describe("delivered payloads match the real captures", () => {
  for (const capture of CAPTURES) {
    test(`${capture.eventKey} (${capture.pick}) ~ ${capture.file}`, async () => {
      const real = JSON.parse(await readFile(join(FIXTURES, capture.file), "utf8")) as Record<string, unknown>;
      assert.equal(real.eventKey, capture.eventKey, "the capture is the event it claims to be");
      const ours = delivered.get(`${capture.eventKey}/${capture.pick}`);
      assert.ok(ours, `the simulator delivered ${capture.eventKey} for ${capture.pick}`);
      const realShape = shape(real);
      const ourShape = shape(ours);
      const problems: string[] = [];

      for (const path of BATON_PATHS[capture.eventKey] ?? []) {
        const mine = ourShape.get(path);
        if (mine === undefined || mine === "null") problems.push(`Baton path ${path} missing`);
        const theirs = realShape.get(path);
        if (theirs !== undefined && theirs !== "null" && mine !== theirs)
          problems.push(`Baton path ${path}: ${mine} vs ${theirs}`);
      }
      for (const [path, type] of realShape) {
        const mine = ourShape.get(path);
        if (mine === undefined) problems.push(`missing ${path} (${type})`);
        else if (type !== "null" && mine !== type) problems.push(`${path}: ${mine} vs ${type} in the capture`);
      }
      assert.deepEqual(problems, []);
      assert.match(String(ours.date), /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d[+-]\d{4}$/);
    });
  }

  test("the shapes being compared are not trivially empty", () => {
    const opened = shape(delivered.get("pr:opened/fork"));
    for (const path of [
      "pullRequest.fromRef.repository.origin.slug",
      "pullRequest.fromRef.repository.project.owner.name",
      "pullRequest.reviewers[].user.name",
    ])
      assert.ok(opened.has(path), path);
    const fork = delivered.get("pr:opened/fork") as {
      pullRequest: { fromRef: { repository: { project: { key: string; type: string } } } };
    };
    assert.deepEqual(fork.pullRequest.fromRef.repository.project, {
      ...fork.pullRequest.fromRef.repository.project,
      key: "~ALICE",
      type: "PERSONAL",
    });
    const merged = delivered.get("pr:merged/same-repo") as {
      pullRequest: { state: string; properties: { mergeCommit: { id: string } } };
    };
    assert.equal(merged.pullRequest.state, "MERGED");
    assert.match(merged.pullRequest.properties.mergeCommit.id, /^[0-9a-f]{40}$/);
    const iso = delivered.get("pr:opened/iso") as { pullRequest: { createdDate: unknown } };
    assert.equal(typeof iso.pullRequest.createdDate, "string");
    const epoch = delivered.get("pr:opened/same-repo") as { pullRequest: { createdDate: unknown } };
    assert.equal(typeof epoch.pullRequest.createdDate, "number");
  });
});
