import assert from "node:assert/strict";
import { readdirSync, readFileSync } from "node:fs";
import { describe, it } from "node:test";
import type { BatonEvent } from "../../events/model.ts";
import { BatonEvent as BatonEventSchema } from "../../events/model.ts";
import { changedFilesFromBitbucket } from "./changes.ts";
import { classifyDelivery, repositoryUrls, serverFromLinks } from "./classify.ts";

const fixtures = new URL("../../../test/fixtures/bitbucket-dc/", import.meta.url);
function load(file: string): Record<string, unknown> {
  return JSON.parse(readFileSync(new URL(file, fixtures), "utf8")) as Record<string, unknown>;
}
const receivedAt = new Date("2030-01-01T00:00:00Z");

/** What a user would see from each capture: the event(s) and their concrete facts, or why nothing runs. */
type Expected =
  | { ignored: string[] }
  | {
      events: {
        type: BatonEvent["type"];
        action: string;
        sha?: string;
        ref?: string;
        refKind?: "branch" | "tag";
        tagObject?: boolean;
        pr?: number;
        source?: string;
        target?: string;
        fork?: boolean;
        fromProject?: string;
        repo: string;
      }[];
    };

const pr = (
  type: "pull_request" | "pull_request_closed",
  action: string,
  sha: string,
  n: number,
  source: string,
  target: string,
  repo: string,
  fork = false,
  fromProject = repo.split("/")[0] as string,
) => ({ events: [{ type, action, sha, pr: n, source, target, fork, fromProject, repo }] });
const push = (action: string, sha: string, ref: string, repo: string, tagObject = false) => ({
  events: [
    {
      type: "push" as const,
      action,
      sha,
      ref,
      refKind: ref.startsWith("refs/tags/") ? ("tag" as const) : ("branch" as const),
      tagObject,
      repo,
    },
  ],
});

const table: Record<string, Expected> = {
  "webhook-diagnostics-ping.bbs-plugin.json": { events: [{ type: "ping", action: "ping", repo: "" }] },
  "webhook-pr-comment-added.atlantis.json": { ignored: ["comment-without-command"] },
  "webhook-pr-comment-added.atlassian-docs.go-scm.json": { ignored: ["comment-without-command"] },
  "webhook-pr-comment-added.go-playground.json": { ignored: ["comment-without-command"] },
  "webhook-pr-comment-deleted.go-playground.json": { ignored: ["unsupported-event"] },
  "webhook-pr-comment-edited.go-playground.json": { ignored: ["unsupported-event"] },
  "webhook-pr-declined.atlantis.json": pr(
    "pull_request_closed",
    "declined",
    "46955afd9b6c5dfa8753727d0669925e057e69b1",
    1,
    "branch",
    "master",
    "AT/atlantis-example",
  ),
  "webhook-pr-declined.atlassian-docs.jenkins-atlassian.json": pr(
    "pull_request_closed",
    "declined",
    "2d9fb6b9a46eafb1dcef7b008d1a429d45ca742c",
    10,
    "decline-me",
    "master",
    "PROJ/repository",
  ),
  "webhook-pr-declined.go-playground.json": pr(
    "pull_request_closed",
    "declined",
    "50a8ee1fae3abf75738a85f9039b4b2de4947174",
    2,
    "feature/wip",
    "master",
    "~gopher/webhook-test",
  ),
  "webhook-pr-declined.go-scm.json": pr(
    "pull_request_closed",
    "declined",
    "b9eaed50a03c073b20dfa82e5e753d295e7f0e56",
    2,
    "develop",
    "master",
    "PRJ/my-repo",
  ),
  "webhook-pr-deleted-dc10-iso-dates.bbs-plugin.json": pr(
    "pull_request_closed",
    "deleted",
    "251fce291f086cdde68ae2a896148abb5b58033e",
    1,
    "feature/diffstat",
    "master",
    "AMUNIZ/test-repos",
  ),
  "webhook-pr-deleted.atlassian-docs.jenkins-atlassian.json": pr(
    "pull_request_closed",
    "deleted",
    "2d9fb6b9a46eafb1dcef7b008d1a429d45ca742c",
    10,
    "decline-me",
    "master",
    "PROJ/repository",
  ),
  "webhook-pr-deleted.go-playground.json": pr(
    "pull_request_closed",
    "deleted",
    "50a8ee1fae3abf75738a85f9039b4b2de4947174",
    2,
    "feature/wip",
    "master",
    "~gopher/webhook-test",
  ),
  "webhook-pr-deleted.go-scm.json": pr(
    "pull_request_closed",
    "deleted",
    "b9eaed50a03c073b20dfa82e5e753d295e7f0e56",
    2,
    "develop",
    "master",
    "PRJ/my-repo",
  ),
  "webhook-pr-from-ref-updated.drone-go-scm.json": pr(
    "pull_request",
    "updated",
    "c00d0f269a9844dd168f72f6a9d78a9cff49a318",
    2,
    "feature-2",
    "master",
    "PRJ/my-repo",
  ),
  "webhook-pr-from-ref-updated.nttd.json": pr(
    "pull_request",
    "updated",
    "ae17c5f68ea2e503a8ee40931f4a2c90db2ebe8e",
    4,
    "feature/test",
    "main",
    "DSO/test-app",
  ),
  "webhook-pr-merged-fork.atlantis.json": pr(
    "pull_request_closed",
    "merged",
    "86a574157f5a2dadaf595b9f06c70fdfdd039912",
    2,
    "branch",
    "master",
    "AT/atlantis-example",
    true,
    "~LKYSOW",
  ),
  "webhook-pr-merged-fork.zulip.json": pr(
    "pull_request_closed",
    "merged",
    "556bde1a2442562568fce6016de570516ac1c4f6",
    6,
    "master",
    "master",
    "SBOX/sandbox",
    true,
    "~HYPRO999",
  ),
  "webhook-pr-merged.atlassian-docs.jenkins-atlassian.json": pr(
    "pull_request_closed",
    "merged",
    "45f9690c928915a5e1c4366d5ee1985eea03f05d",
    9,
    "admin/file-1505781548644",
    "master",
    "PROJ/repository",
  ),
  "webhook-pr-merged.go-playground.json": pr(
    "pull_request_closed",
    "merged",
    "32a0b8a740c2963c6f56bd8baf3dc05683d299e0",
    5,
    "feature/wip",
    "master",
    "~gopher/webhook-test",
  ),
  "webhook-pr-merged.go-scm.json": pr(
    "pull_request_closed",
    "merged",
    "b9eaed50a03c073b20dfa82e5e753d295e7f0e56",
    3,
    "develop",
    "master",
    "PRJ/my-repo",
  ),
  "webhook-pr-merged.nttd.json": pr(
    "pull_request_closed",
    "merged",
    "5860327d5635453fad8f6f97d7bfbb2b11ad3538",
    6,
    "feature/test-merge-1",
    "feature/test",
    "DSO/test-app",
  ),
  "webhook-pr-modified-fork.zulip.json": { ignored: ["pr-modified-without-retarget"] },
  "webhook-pr-modified-target-branch.drone-go-scm.json": pr(
    "pull_request",
    "retargeted",
    "c00d0f269a9844dd168f72f6a9d78a9cff49a318",
    2,
    "feature-2",
    "master",
    "PRJ/my-repo",
  ),
  "webhook-pr-modified-title-description.drone-go-scm.json": { ignored: ["pr-modified-without-retarget"] },
  "webhook-pr-modified.go-playground.json": { ignored: ["pr-modified-without-retarget"] },
  "webhook-pr-modified.go-scm.json": { ignored: ["pr-modified-without-retarget"] },
  "webhook-pr-opened-dc10-iso-dates.bbs-plugin.json": pr(
    "pull_request",
    "opened",
    "251fce291f086cdde68ae2a896148abb5b58033e",
    1,
    "feature/diffstat",
    "master",
    "AMUNIZ/test-repos",
  ),
  "webhook-pr-opened-fork.zulip.json": pr(
    "pull_request",
    "opened",
    "3980c2be32a7e23c795741d5dc1a2eecb9b85d6d",
    1,
    "branch1",
    "master",
    "SBOX/sandbox",
    true,
    "~HYPRO999",
  ),
  "webhook-pr-opened-from-tag-dc9.bbs-plugin.json": pr(
    "pull_request",
    "opened",
    "f0d122cd8b8bc393eb1953f4127a4addeae8fe97",
    1,
    "v1.0",
    "master",
    "AMUNIZ/test-repos",
  ),
  "webhook-pr-opened.atlantis.json": pr(
    "pull_request",
    "opened",
    "bfb1af1ba9c2a2fa84cd61af67e6e1b60a22e060",
    1,
    "branch",
    "master",
    "AT/atlantis-example",
  ),
  "webhook-pr-opened.atlassian-docs.jenkins-atlassian.json": pr(
    "pull_request",
    "opened",
    "ef8755f06ee4b28c96a847a95cb8ec8ed6ddd1ca",
    1,
    "a-branch",
    "master",
    "PROJ/repository",
  ),
  "webhook-pr-opened.go-playground.json": pr(
    "pull_request",
    "opened",
    "32a0b8a740c2963c6f56bd8baf3dc05683d299e0",
    5,
    "feature/wip",
    "master",
    "~gopher/webhook-test",
  ),
  "webhook-pr-opened.go-scm.json": pr(
    "pull_request",
    "opened",
    "208b0a5c05eddadad01f2aed8802fe0c3b3eaf5e",
    2,
    "develop",
    "master",
    "PRJ/my-repo",
  ),
  "webhook-pr-opened.nttd.json": pr(
    "pull_request",
    "opened",
    "d2425cfc511370486af6ce879b8bf48a822cb0cb",
    4,
    "feature/test",
    "main",
    "DSO/test-app",
  ),
  "webhook-pr-reviewer-approved-fork.zulip.json": { ignored: ["unsupported-event"] },
  "webhook-pr-reviewer-approved.atlassian-docs.go-scm.json": { ignored: ["unsupported-event"] },
  "webhook-pr-reviewer-approved.go-playground.json": { ignored: ["unsupported-event"] },
  "webhook-pr-reviewer-needs-work.go-playground.json": { ignored: ["unsupported-event"] },
  "webhook-pr-reviewer-unapproved.go-playground.json": { ignored: ["unsupported-event"] },
  "webhook-pr-reviewer-updated.go-playground.json": { ignored: ["unsupported-event"] },
  "webhook-refs-changed-branch-add-dc10-iso-dates.bbs-plugin.json": push(
    "created",
    "fb522a6f08c7c7df337312e4e65ec1b57710672e",
    "refs/heads/feature/BB-1",
    "AMUNIZ/test-repos",
  ),
  "webhook-refs-changed-branch-add-dc10.drone-go-scm.json": push(
    "created",
    "b8ba6d6045f85379a2dc5b556d8a9ea23a69ac13",
    "refs/heads/idpdocs",
    "TSG/nova-ui",
  ),
  "webhook-refs-changed-branch-add.go-scm.json": push(
    "created",
    "208b0a5c05eddadad01f2aed8802fe0c3b3eaf5e",
    "refs/heads/develop",
    "PRJ/my-repo",
  ),
  "webhook-refs-changed-branch-add.zulip.json": push(
    "created",
    "c7fccd35e163571148c42a3e8b11aef6661d19b8",
    "refs/heads/branch2",
    "SBOX/sandbox",
  ),
  "webhook-refs-changed-branch-delete-compact-dc9.bbs-plugin.json": { ignored: ["branch-deleted"] },
  "webhook-refs-changed-branch-delete-dc10.bbs-plugin.json": { ignored: ["branch-deleted"] },
  "webhook-refs-changed-branch-delete.go-playground.json": { ignored: ["branch-deleted"] },
  "webhook-refs-changed-branch-delete.go-scm.json": { ignored: ["branch-deleted"] },
  "webhook-refs-changed-branch-delete.zulip.json": { ignored: ["branch-deleted"] },
  "webhook-refs-changed-branch-update-dc10-iso-dates.drone-go-scm.json": push(
    "updated",
    "d29fa17bbe9979c3f603e0f11574735da88bf27f",
    "refs/heads/develop",
    "PENGINE/product-engine",
  ),
  "webhook-refs-changed-branch-update-v5.drone-go-scm.json": push(
    "updated",
    "51a33664b6d7fb5aa15063064eb230362cd02e9e",
    "refs/heads/trangineni/devtfvars-1685475548410",
    "ISCLOUD/transamerica.cloud.individual.tftest",
  ),
  "webhook-refs-changed-branch-update-with-commits.bbs-plugin.json": push(
    "updated",
    "9fdd7b96d3f5c276d0b9e0bf38c879eb112d889a",
    "refs/heads/main",
    "AMUNIZ/test-repos",
  ),
  "webhook-refs-changed-branch-update.argo-cd.json": push(
    "updated",
    "22671f0349857934857983457983475ec39f196b",
    "refs/heads/master",
    "MYPROJECT/test-repo",
  ),
  "webhook-refs-changed-branch-update.atlassian-docs.jenkins-atlassian.json": push(
    "updated",
    "178864a7d521b6f5e720b386b2c2b0ef8563e0dc",
    "refs/heads/master",
    "PROJ/repository",
  ),
  "webhook-refs-changed-branch-update.go-scm.json": push(
    "updated",
    "823b2230a56056231c9425d63758fa87078a66b4",
    "refs/heads/master",
    "PRJ/my-repo",
  ),
  "webhook-refs-changed-branch-update.nttd.json": push(
    "updated",
    "4e72bc1ec9688f2f0ad0870446793c3aa2bc286e",
    "refs/heads/feature/test",
    "DSO/test-app",
  ),
  "webhook-refs-changed-multiple-branches.zulip.json": {
    events: [
      ...push("updated", "3980c2be32a7e23c795741d5dc1a2eecb9b85d6d", "refs/heads/branch1", "SBOX/sandbox").events,
      ...push("updated", "fc43d13cff1abb28631196944ba4fc4ad06a2cf2", "refs/heads/master", "SBOX/sandbox").events,
    ],
  },
  // Annotated tag: toHash is the tag object 118cc365…; the payload's toCommit gives the commit to build.
  "webhook-refs-changed-tag-add-annotated-dc9.bbs-plugin.json": push(
    "created",
    "fb522a6f08c7c7df337312e4e65ec1b57710672e",
    "refs/tags/annotated-tag",
    "AMUNIZ/test-repos",
  ),
  "webhook-refs-changed-tag-add-lightweight-dc9.bbs-plugin.json": push(
    "created",
    "fb522a6f08c7c7df337312e4e65ec1b57710672e",
    "refs/tags/simple-tag",
    "AMUNIZ/test-repos",
  ),
  // Old payloads without toCommit: the hash may be a tag object, and the event says so.
  "webhook-refs-changed-tag-add.go-scm.json": push(
    "created",
    "823b2230a56056231c9425d63758fa87078a66b4",
    "refs/tags/v1.1.0",
    "PRJ/my-repo",
    true,
  ),
  "webhook-refs-changed-tag-add.zulip.json": push(
    "created",
    "9b5565bec1d0e8d5d60d423fe70b54849d3aacc4",
    "refs/tags/newtag",
    "SBOX/sandbox",
    true,
  ),
  "webhook-refs-changed-tag-delete-dc9.bbs-plugin.json": { ignored: ["tag-deleted"] },
  "webhook-refs-changed-tag-delete.go-scm.json": { ignored: ["tag-deleted"] },
  "webhook-refs-changed-tag-delete.zulip.json": { ignored: ["tag-deleted"] },
  "webhook-repo-comment-added.go-playground.json": { ignored: ["unsupported-event"] },
  "webhook-repo-comment-deleted.go-playground.json": { ignored: ["unsupported-event"] },
  "webhook-repo-comment-edited.go-playground.json": { ignored: ["unsupported-event"] },
  "webhook-repo-forked.go-playground.json": { ignored: ["unsupported-event"] },
  "webhook-repo-modified.go-playground.json": { ignored: ["unsupported-event"] },
};

function classifyFixture(file: string, body = load(file), headers: Record<string, string> = {}) {
  const eventKey = typeof body.eventKey === "string" ? body.eventKey : "diagnostics:ping";
  const result = classifyDelivery(eventKey, body, { "X-Request-Id": "req-1", ...headers }, { receivedAt });
  assert.ok(result.ok, result.ok ? "" : result.error);
  return result;
}

describe("classification of every captured delivery", () => {
  it("the table covers every capture in the fixtures folder", () => {
    const files = readdirSync(fixtures).filter((f) => f.startsWith("webhook-") && f.endsWith(".json"));
    assert.deepEqual(files.sort(), Object.keys(table).sort());
  });

  for (const [file, expected] of Object.entries(table)) {
    it(file, () => {
      const result = classifyFixture(file);
      if ("ignored" in expected) {
        assert.deepEqual(result.events, []);
        assert.deepEqual(
          result.ignored.map((i) => i.reason),
          expected.ignored,
        );
        return;
      }
      assert.deepEqual(result.ignored, []);
      assert.equal(result.events.length, expected.events.length);
      expected.events.forEach((want, i) => {
        const got = result.events[i] as BatonEvent;
        // Every event is valid against the model's own schema.
        assert.ok(BatonEventSchema.safeParse(got).success, `event ${i} does not match the model schema`);
        assert.equal(got.type, want.type);
        assert.equal(got.action, want.action);
        assert.equal(got.requestId, "req-1");
        if (got.type === "ping") return;
        assert.equal(`${got.repository.project}/${got.repository.slug}`, want.repo);
        assert.equal(got.sha, want.sha);
        if (got.type === "push") {
          assert.equal(got.ref, want.ref);
          assert.equal(got.refKind, want.refKind);
          assert.equal(got.shaMayBeTagObject, want.tagObject);
          assert.equal(got.refName, want.ref?.replace(/^refs\/(heads|tags)\//, ""));
        } else {
          assert.equal(got.pullRequest.number, want.pr);
          assert.equal(got.pullRequest.sourceBranch, want.source);
          assert.equal(got.pullRequest.targetBranch, want.target);
          assert.equal(got.pullRequest.latestCommit, want.sha);
          assert.equal(got.pullRequest.fromRepository.fork, want.fork);
          assert.equal(got.pullRequest.fromRepository.project, want.fromProject);
        }
      });
    });
  }
});

describe("classification details", () => {
  it("a fork PR names the fork's personal project and keeps the target repository as the event's repository", () => {
    const [event] = classifyFixture("webhook-pr-opened-fork.zulip.json").events;
    assert.ok(event?.type === "pull_request");
    assert.deepEqual(event.pullRequest.fromRepository, {
      server: "http://139.59.64.214:7990",
      project: "~HYPRO999",
      slug: "sandbox-fork",
      name: "sandbox fork",
      id: 4,
      personal: true,
      cloneUrl: "http://139.59.64.214:7990/scm/~hypro999/sandbox-fork.git",
      browseUrl: "http://139.59.64.214:7990/users/hypro999/repos/sandbox-fork",
      fork: true,
    });
    assert.equal(event.repository.browseUrl, "http://139.59.64.214:7990/projects/SBOX/repos/sandbox");
    assert.equal(event.pullRequest.author.slug, "hypro999");
    assert.equal(event.pullRequest.author.displayName, "Hemanth V. Alluri");
    assert.equal(event.pullRequest.targetCommit, "508d1b67f1f8f3a25f543a030a7a178894aa9907");
    assert.equal(event.deliveredAt, "2019-03-21T12:52:20.000Z");
  });

  it("a push carries its head commit's title when the payload has it (DC 8+), not otherwise", () => {
    const [event] = classifyFixture("webhook-refs-changed-branch-add-dc10-iso-dates.bbs-plugin.json").events;
    assert.ok(event?.type === "push");
    assert.equal(event.commitTitle, "Suppress echo command part");
    const [old] = classifyFixture("webhook-refs-changed-branch-update.go-scm.json").events;
    assert.ok(old?.type === "push");
    assert.equal(old.commitTitle, undefined);
  });

  it("a PR opened from a tag keeps the tag ref", () => {
    const [event] = classifyFixture("webhook-pr-opened-from-tag-dc9.bbs-plugin.json").events;
    assert.ok(event?.type === "pull_request");
    assert.equal(event.pullRequest.sourceRef, "refs/tags/v1.0");
    assert.equal(event.pullRequest.sourceKind, "tag");
  });

  it("pr:from_ref_updated keeps the previous head; pr:modified the previous target", () => {
    const [updated] = classifyFixture("webhook-pr-from-ref-updated.nttd.json").events;
    assert.ok(updated?.type === "pull_request");
    assert.equal(updated.pullRequest.previousCommit, "d256b2cfb75eac432cc0a3bfdd681d2db37117a9");
    const [retargeted] = classifyFixture("webhook-pr-modified-target-branch.drone-go-scm.json").events;
    assert.ok(retargeted?.type === "pull_request");
    assert.equal(retargeted.pullRequest.previousTargetBranch, "wrong");
  });

  it("a context path is kept in clone and browse URLs (DC 10 capture under /bitbucket)", () => {
    const [event] = classifyFixture("webhook-pr-opened-dc10-iso-dates.bbs-plugin.json").events;
    assert.ok(event?.type === "pull_request");
    assert.equal(event.repository.server, "http://localhost:7990/bitbucket");
    assert.equal(event.repository.cloneUrl, "http://localhost:7990/bitbucket/scm/amuniz/test-repos.git");
    assert.equal(event.repository.browseUrl, "http://localhost:7990/bitbucket/projects/AMUNIZ/repos/test-repos");
    assert.equal(
      event.pullRequest.url,
      "http://localhost:7990/bitbucket/projects/AMUNIZ/repos/test-repos/pull-requests/1",
    );
  });

  it("the Repository's server URL wins over payload links, and fills them in for link-less 2018 payloads", () => {
    const body = load("webhook-refs-changed-branch-update.go-scm.json");
    const result = classifyDelivery(
      "repo:refs_changed",
      body,
      {},
      { receivedAt, serverUrl: "https://bb.example.com/ctx/" },
    );
    assert.ok(result.ok);
    const [event] = result.events;
    assert.ok(event?.type === "push");
    assert.equal(event.repository.server, "https://bb.example.com/ctx");
    assert.equal(event.repository.cloneUrl, "https://bb.example.com/ctx/scm/prj/my-repo.git");
    assert.equal(event.repository.browseUrl, "https://bb.example.com/ctx/projects/PRJ/repos/my-repo");
    // Without it, a payload with no links has no URLs rather than invented ones.
    const bare = classifyFixture("webhook-refs-changed-branch-update.go-scm.json").events[0];
    assert.ok(bare?.type === "push");
    assert.equal(bare.repository.cloneUrl, undefined);
  });

  it("a /test comment becomes a comment event carrying the command and the PR head", () => {
    const body = load("webhook-pr-comment-added.go-playground.json");
    const comment = { ...(body.comment as object), text: "LGTM\n/test unit-tests\nthanks" };
    const [event] = classifyFixture("webhook-pr-comment-added.go-playground.json", { ...body, comment }).events;
    assert.ok(event?.type === "comment");
    assert.deepEqual(event.comment.command, { kind: "test", pipeline: "unit-tests" });
    assert.equal(event.sha, event.pullRequest.latestCommit);
    assert.equal(event.comment.author.name, "gopher");
  });

  it("a push deleting one branch and updating another gives one event and one ignored entry", () => {
    const body = load("webhook-refs-changed-multiple-branches.zulip.json");
    const changes = body.changes as { toHash: string; type: string }[];
    const first = changes[0] as { toHash: string; type: string };
    const mixed = { ...body, changes: [{ ...first, toHash: "0".repeat(40), type: "DELETE" }, changes[1]] };
    const result = classifyFixture("webhook-refs-changed-multiple-branches.zulip.json", mixed);
    assert.equal(result.events.length, 1);
    assert.deepEqual(
      result.ignored.map((i) => [i.reason, i.ref]),
      [["branch-deleted", "refs/heads/branch1"]],
    );
  });

  it("refs that are neither branches nor tags are ignored", () => {
    const body = load("webhook-refs-changed-branch-update.go-scm.json");
    const change = (body.changes as object[])[0] as object;
    const notes = { ...body, changes: [{ ...change, refId: "refs/notes/commits", ref: undefined }] };
    const result = classifyFixture("webhook-refs-changed-branch-update.go-scm.json", notes);
    assert.deepEqual(
      result.ignored.map((i) => i.reason),
      ["unsupported-ref"],
    );
  });

  it("a stale delivery (a replay) is ignored when a maximum age is set", () => {
    const body = load("webhook-pr-opened.go-scm.json");
    const old = classifyDelivery("pr:opened", body, {}, { receivedAt, maxAgeMs: 3_600_000 });
    assert.ok(old.ok);
    assert.deepEqual(
      old.ignored.map((i) => i.reason),
      ["stale-delivery"],
    );
    const fresh = classifyDelivery(
      "pr:opened",
      body,
      {},
      { receivedAt: new Date("2018-07-05T19:22:00Z"), maxAgeMs: 3_600_000 },
    );
    assert.ok(fresh.ok);
    assert.equal(fresh.events.length, 1);
  });

  it("a bad payload is an error for a 400, not an exception", () => {
    const result = classifyDelivery("pr:opened", { eventKey: "pr:opened" }, {}, { receivedAt });
    assert.equal(result.ok, false);
  });

  it("the raw body is kept for CEL even where the schema drops fields", () => {
    const body = load("webhook-refs-changed-branch-update-with-commits.bbs-plugin.json");
    const [event] = classifyFixture("webhook-refs-changed-branch-update-with-commits.bbs-plugin.json", body).events;
    assert.ok(event);
    assert.equal(event.body, body);
    // statusMessage is not in the schema, yet CEL's body.repository.statusMessage must see it.
    assert.equal((event.body as { repository: { statusMessage: string } }).repository.statusMessage, "Available");
  });
});

describe("URL helpers", () => {
  it("server base from links: clone link up to /scm/, user info dropped; self link up to /projects/", () => {
    const project = { key: "PRJ" };
    assert.equal(
      serverFromLinks({
        slug: "r",
        project,
        links: { clone: [{ href: "https://admin@bb.example.com/ctx/scm/prj/r.git", name: "http" }] },
      }),
      "https://bb.example.com/ctx",
    );
    assert.equal(
      serverFromLinks({ slug: "r", project, links: { self: [{ href: "http://h:7990/projects/PRJ/repos/r/browse" }] } }),
      "http://h:7990",
    );
    assert.equal(serverFromLinks({ slug: "r", project }), undefined);
  });
  it("personal repositories use /users/ and a lower-case ~key", () => {
    assert.deepEqual(repositoryUrls("https://h", "~JDOE", "fork"), {
      cloneUrl: "https://h/scm/~jdoe/fork.git",
      browseUrl: "https://h/users/jdoe/repos/fork",
    });
  });
});

describe("changed files from Bitbucket changes", () => {
  it("sorts changes by kind; a move lists both paths under all", () => {
    const files = changedFilesFromBitbucket([
      { path: { toString: "a.txt" }, type: "ADD" },
      { path: { toString: "b.txt" }, type: "MODIFY" },
      { path: { toString: "c.txt" }, type: "DELETE" },
      { path: { toString: "src/new.ts" }, srcPath: { toString: "docs/old.ts" }, type: "MOVE" },
    ]);
    assert.deepEqual(files, {
      all: ["a.txt", "b.txt", "c.txt", "src/new.ts", "docs/old.ts"],
      added: ["a.txt"],
      deleted: ["c.txt"],
      modified: ["b.txt"],
      renamed: ["src/new.ts"],
    });
  });
});
