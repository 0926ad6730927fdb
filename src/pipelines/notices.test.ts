import assert from "node:assert/strict";
import { describe, it } from "node:test";
import type { BatonEvent } from "../events/model.ts";
import { commentEvent, pullRequestEvent, pushEvent } from "../events/testdata.ts";
import { decideTrust, type TrustFacts } from "../events/trust.ts";
import { approvalGranted } from "./notices.ts";

describe("approvalGranted: what replaces a fork pull request's 'waiting for approval'", () => {
  const cases: { name: string; event: BatonEvent; facts: TrustFacts; runs: number; expected: string | undefined }[] = [
    {
      name: "a writer's /ok-to-test approves, whether or not a run started",
      event: commentEvent("/ok-to-test", { fork: true, author: "lead" }),
      facts: { commenterHasWrite: true },
      runs: 0,
      expected: "approved by lead with /ok-to-test",
    },
    {
      name: "a writer's /retest approves too",
      event: commentEvent("/retest", { fork: true, author: "lead" }),
      facts: { commenterHasWrite: true },
      runs: 1,
      expected: "approved by lead with /retest",
    },
    {
      name: "runs started for an author who has write access by now",
      event: pullRequestEvent({ fork: true }),
      facts: { authorHasWrite: true },
      runs: 2,
      expected: "runs started: jdoe has write access to DSO/test-app",
    },
    {
      name: "nothing started and nobody vouched: the status stays",
      event: pullRequestEvent({ fork: true }),
      facts: { authorHasWrite: true },
      runs: 0,
      expected: undefined,
    },
    {
      name: "a same-repository pull request never waits for approval",
      event: pullRequestEvent(),
      facts: {},
      runs: 1,
      expected: undefined,
    },
    { name: "a push has no pull request", event: pushEvent(), facts: {}, runs: 1, expected: undefined },
  ];
  for (const c of cases) {
    it(c.name, () => {
      const decision = decideTrust(c.event, c.facts);
      assert.ok(decision.trusted, decision.detail);
      assert.equal(approvalGranted(c.event, decision, c.runs), c.expected);
    });
  }
});
