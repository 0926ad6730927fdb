import assert from "node:assert/strict";
import { describe, it } from "node:test";
import type { BatonEvent } from "./model.ts";
import { commentEvent, pullRequestEvent, pushEvent } from "./testdata.ts";
import {
  decideTrust,
  nextFactToFetch,
  okToTestFor,
  resolveTrust,
  type TrustFacts,
  type TrustLookups,
  type TrustPolicy,
} from "./trust.ts";

const head = "ae17c5f68ea2e503a8ee40931f4a2c90db2ebe8e";
// The nttd capture's target commit (main) when the PR was updated.
const targetCommit = "ce5fff19cf2ad1f04a8033fcc69b37010cae930f";

describe("decideTrust", () => {
  const cases: {
    name: string;
    event: BatonEvent;
    facts?: TrustFacts;
    policy?: TrustPolicy;
    trusted: boolean;
    reason: string;
    from: "head" | "target";
    needed?: RegExp;
  }[] = [
    { name: "push", event: pushEvent({ sha: head }), trusted: true, reason: "push", from: "head" },
    {
      name: "same-repository PR, no facts needed",
      event: pullRequestEvent(),
      trusted: true,
      reason: "same-repository",
      from: "head",
    },
    {
      name: "fork PR, author unknown",
      event: pullRequestEvent({ fork: true }),
      trusted: false,
      reason: "fork-author-not-trusted",
      from: "target",
      needed:
        /from the fork ~JDOE\/test-app-fork, and its author jdoe has no write access to DSO\/test-app\. Someone with write access can comment \/ok-to-test to run the pipelines for commit ae17c5f68ea\./,
    },
    {
      name: "fork PR, author lacks REPO_WRITE",
      event: pullRequestEvent({ fork: true }),
      facts: { authorHasWrite: false },
      trusted: false,
      reason: "fork-author-not-trusted",
      from: "target",
    },
    {
      name: "fork PR, author has REPO_WRITE",
      event: pullRequestEvent({ fork: true }),
      facts: { authorHasWrite: true },
      trusted: true,
      reason: "author-has-write",
      from: "head",
    },
    {
      name: "fork PR, author in trustedUsers (case-insensitive)",
      event: pullRequestEvent({ fork: true }),
      policy: { trustedUsers: ["JDoe"] },
      trusted: true,
      reason: "trusted-user",
      from: "head",
    },
    {
      name: "fork PR, author in a trusted group",
      event: pullRequestEvent({ fork: true }),
      facts: { authorGroups: ["contractors", "release-team"] },
      policy: { trustedGroups: ["release-team"] },
      trusted: true,
      reason: "trusted-group",
      from: "head",
    },
    {
      name: "fork PR, author's groups are not trusted",
      event: pullRequestEvent({ fork: true }),
      facts: { authorGroups: ["contractors"] },
      policy: { trustedGroups: ["release-team"] },
      trusted: false,
      reason: "fork-author-not-trusted",
      from: "target",
    },
    {
      name: "fork PR with a covering /ok-to-test",
      event: pullRequestEvent({ fork: true }),
      facts: { authorHasWrite: false, okToTest: { by: "maintainer" } },
      trusted: true,
      reason: "ok-to-test",
      from: "head",
    },
    {
      name: "/test from a REPO_WRITE user on a fork PR",
      event: commentEvent("/test", { fork: true }),
      facts: { commenterHasWrite: true },
      trusted: true,
      reason: "commenter-has-write",
      from: "head",
    },
    {
      name: "/retest from the untrusted fork author",
      event: commentEvent("/retest", { fork: true, author: "jdoe" }),
      facts: { commenterHasWrite: false, authorHasWrite: false },
      trusted: false,
      reason: "fork-author-not-trusted",
      from: "target",
      needed: /^Pull request #4 comes from the fork ~JDOE\/test-app-fork, and its author jdoe has no write access/,
    },
    {
      name: "/retest from the fork author after an /ok-to-test for this head",
      event: commentEvent("/retest", { fork: true, author: "jdoe" }),
      facts: { commenterHasWrite: false, authorHasWrite: false, okToTest: { by: "maintainer" } },
      trusted: true,
      reason: "ok-to-test",
      from: "head",
    },
    {
      name: "/test by the author of a same-repository PR",
      event: commentEvent("/test", { author: "example" }),
      facts: { commenterHasWrite: false },
      trusted: true,
      reason: "same-repository",
      from: "head",
    },
    {
      name: "/test by a read-only stranger on a same-repository PR",
      event: commentEvent("/test", { author: "visitor" }),
      facts: { commenterHasWrite: false },
      trusted: false,
      reason: "commenter-not-allowed",
      from: "head",
      needed:
        /^Only the author of pull request #4 or a user with write access to DSO\/test-app can start its runs with \/test\.$/,
    },
    {
      name: "/ok-to-test by the fork author on their own PR",
      event: commentEvent("/ok-to-test", { fork: true, author: "jdoe" }),
      facts: { commenterHasWrite: false, authorHasWrite: false, okToTest: null },
      trusted: false,
      reason: "commenter-not-allowed",
      from: "target",
      needed: /^An author cannot vouch for their own pull request; Pull request #4 comes from the fork/,
    },
    {
      name: "/ok-to-test from a REPO_WRITE user",
      event: commentEvent("/ok-to-test", { fork: true }),
      facts: { commenterHasWrite: true },
      trusted: true,
      reason: "ok-to-test",
      from: "head",
    },
    {
      name: "/ok-to-test from a user listed in spec.policy.trustedUsers whose permission cannot be asked (Cloud)",
      event: commentEvent("/ok-to-test", { fork: true, author: "maintainer" }),
      facts: { commenterHasWrite: false, lookupRefused: "an access token cannot ask another user's permission" },
      policy: { trustedUsers: ["Maintainer"] },
      trusted: true,
      reason: "ok-to-test",
      from: "head",
    },
    {
      name: "/ok-to-test from an unlisted user whose permission cannot be asked",
      event: commentEvent("/ok-to-test", { fork: true, author: "passer-by" }),
      facts: { commenterHasWrite: false, lookupRefused: "an access token cannot ask another user's permission" },
      policy: { trustedUsers: ["maintainer"] },
      trusted: false,
      reason: "commenter-not-allowed",
      from: "target",
    },
    {
      name: "/ok-to-test naming the head commit",
      event: commentEvent(`/ok-to-test ${head.slice(0, 12)}`, { fork: true }),
      facts: { commenterHasWrite: true },
      trusted: true,
      reason: "ok-to-test",
      from: "head",
    },
    {
      name: "/ok-to-test naming an older commit",
      event: commentEvent("/ok-to-test 1234567", { fork: true }),
      facts: { commenterHasWrite: true },
      trusted: false,
      reason: "ok-to-test-other-commit",
      from: "target",
      needed: /names commit 1234567, but pull request #4 is now at ae17c5f68ea/,
    },
    {
      name: "/ok-to-test from a user without REPO_WRITE",
      event: commentEvent("/ok-to-test", { fork: true, author: "someone" }),
      facts: { commenterHasWrite: false },
      trusted: false,
      reason: "commenter-not-allowed",
      from: "target",
      needed: /^Only a user with write access to DSO\/test-app can vouch for a pull request with \/ok-to-test\.$/,
    },
    {
      name: "/cancel by the PR author",
      event: commentEvent("/cancel", { fork: true, author: "jdoe" }),
      facts: { commenterHasWrite: false },
      trusted: true,
      reason: "commenter-is-author",
      from: "head",
    },
    {
      name: "/cancel by a stranger",
      event: commentEvent("/cancel", { fork: true, author: "stranger" }),
      facts: { commenterHasWrite: false },
      trusted: false,
      reason: "commenter-not-allowed",
      from: "head",
      needed: /Only the author of pull request #4 or a user with write access to DSO\/test-app can cancel its runs\./,
    },
  ];
  for (const c of cases) {
    it(c.name, () => {
      const decision = decideTrust(c.event, c.facts ?? {}, c.policy ?? {});
      assert.equal(decision.trusted, c.trusted, decision.detail);
      assert.equal(decision.reason, c.reason);
      assert.equal(decision.definitionsFrom.from, c.from);
      assert.equal(decision.definitionsFrom.at, c.from === "head" ? head : targetCommit);
      if (c.needed) {
        assert.ok(!decision.trusted);
        assert.match(decision.whatIsNeeded, c.needed);
      }
    });
  }
});

describe("nextFactToFetch: only the lookups that can change the answer", () => {
  const cases: {
    name: string;
    event: BatonEvent;
    facts: TrustFacts;
    policy?: TrustPolicy;
    next: string | undefined;
  }[] = [
    { name: "push: none", event: pushEvent(), facts: {}, next: undefined },
    { name: "same-repo PR: none", event: pullRequestEvent(), facts: {}, next: undefined },
    {
      name: "fork PR: the author's permission first",
      event: pullRequestEvent({ fork: true }),
      facts: {},
      next: "authorHasWrite",
    },
    {
      name: "fork PR, author in trustedUsers: none",
      event: pullRequestEvent({ fork: true }),
      facts: {},
      policy: { trustedUsers: ["jdoe"] },
      next: undefined,
    },
    {
      name: "fork PR, author lacks write: look for /ok-to-test",
      event: pullRequestEvent({ fork: true }),
      facts: { authorHasWrite: false },
      next: "okToTest",
    },
    {
      name: "fork PR, nothing found: decide",
      event: pullRequestEvent({ fork: true }),
      facts: { authorHasWrite: false, okToTest: null },
      next: undefined,
    },
    {
      name: "comment: the commenter's permission first",
      event: commentEvent("/test", { fork: true }),
      facts: {},
      next: "commenterHasWrite",
    },
    {
      name: "/test by a non-writer who is not the author: nothing else helps",
      event: commentEvent("/test", { fork: true }),
      facts: { commenterHasWrite: false },
      next: undefined,
    },
    {
      name: "/ok-to-test by a non-writer: nothing else helps",
      event: commentEvent("/ok-to-test", { fork: true, author: "someone" }),
      facts: { commenterHasWrite: false },
      next: undefined,
    },
    {
      name: "/retest by the fork author without write: the PR's own trust",
      event: commentEvent("/retest", { fork: true, author: "jdoe" }),
      facts: { commenterHasWrite: false },
      next: "authorHasWrite",
    },
    {
      name: "/test on a same-repo PR by its author: no lookup",
      event: commentEvent("/test", { author: "example" }),
      facts: {},
      next: undefined,
    },
    {
      name: "/test on a same-repo PR by someone else: the commenter's permission",
      event: commentEvent("/test"),
      facts: {},
      next: "commenterHasWrite",
    },
    {
      name: "/cancel by a stranger: only the commenter's permission matters",
      event: commentEvent("/cancel", { fork: true, author: "stranger" }),
      facts: { commenterHasWrite: false },
      next: undefined,
    },
  ];
  for (const c of cases) {
    it(c.name, () => assert.equal(nextFactToFetch(c.event, c.facts, c.policy ?? {}), c.next));
  }
});

describe("resolveTrust: asks each lookup at most once, cheapest first", () => {
  const cases: {
    name: string;
    event: BatonEvent;
    write: { granted: boolean; refused?: string };
    trusted: boolean;
    asked: string[];
    detail?: RegExp;
  }[] = [
    { name: "same-repo PR: no lookup", event: pullRequestEvent(), write: { granted: false }, trusted: true, asked: [] },
    {
      name: "fork PR, writer author",
      event: pullRequestEvent({ fork: true }),
      write: { granted: true },
      trusted: true,
      asked: ["write:jdoe"],
    },
    {
      name: "fork PR, author without write, no /ok-to-test",
      event: pullRequestEvent({ fork: true }),
      write: { granted: false },
      trusted: false,
      asked: ["write:jdoe", "okToTest"],
      detail: /jdoe has no write access to DSO\/test-app/,
    },
    {
      name: "fork PR, Bitbucket refuses the lookup: no, and said so",
      event: pullRequestEvent({ fork: true }),
      write: { granted: false, refused: "Repository DSO/test-app does not exist." },
      trusted: false,
      asked: ["write:jdoe", "okToTest"],
      detail:
        /Bitbucket refused to say whether jdoe has write access to DSO\/test-app \(Repository DSO\/test-app does not exist\.\)/,
    },
    {
      name: "/test by a non-writer stranger: only the commenter",
      event: commentEvent("/test", { fork: true, author: "stranger" }),
      write: { granted: false, refused: "nope" },
      trusted: false,
      asked: ["write:stranger"],
    },
  ];
  for (const c of cases) {
    it(c.name, async () => {
      const asked: string[] = [];
      const lookups: TrustLookups = {
        hasWrite: async (user) => {
          asked.push(`write:${user.slug ?? user.name}`);
          return c.write;
        },
        okToTest: async () => {
          asked.push("okToTest");
          return null;
        },
      };
      const decision = await resolveTrust(c.event, lookups);
      assert.equal(decision.trusted, c.trusted);
      assert.deepEqual(asked, c.asked);
      if (c.detail) assert.match(decision.detail, c.detail);
    });
  }
});

describe("okToTestFor", () => {
  const since = 1_000_000;
  const sha = head;
  const cases: { name: string; comments: Parameters<typeof okToTestFor>[2]; by: string | undefined }[] = [
    { name: "none", comments: [], by: undefined },
    {
      name: "after the head moved, by a writer",
      comments: [{ author: "maint", authorHasWrite: true, text: "/ok-to-test", at: since }],
      by: "maint",
    },
    {
      name: "before the head moved (it vouched for older commits)",
      comments: [{ author: "maint", authorHasWrite: true, text: "/ok-to-test", at: since - 1 }],
      by: undefined,
    },
    {
      name: "before the head moved but naming this commit",
      comments: [{ author: "maint", authorHasWrite: true, text: `/ok-to-test ${sha.slice(0, 8)}`, at: since - 5000 }],
      by: "maint",
    },
    {
      name: "after the head moved but naming another commit",
      comments: [{ author: "maint", authorHasWrite: true, text: "/ok-to-test deadbeef", at: since + 5 }],
      by: undefined,
    },
    {
      name: "by a user without write access",
      comments: [{ author: "jdoe", authorHasWrite: false, text: "/ok-to-test", at: since + 5 }],
      by: undefined,
    },
    {
      name: "prose mentioning ok-to-test",
      comments: [{ author: "maint", authorHasWrite: true, text: "will /ok-to-test later", at: since + 5 }],
      by: undefined,
    },
  ];
  for (const c of cases) {
    it(c.name, () => assert.equal(okToTestFor(sha, since, c.comments)?.by, c.by));
  }
});
