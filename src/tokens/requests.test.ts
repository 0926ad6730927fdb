import assert from "node:assert/strict";
import { test } from "node:test";
import { pendingRequests } from "./requests.ts";

test("pendingRequests: each annotation value is acted on once; empty values ask for nothing", () => {
  const renew = "baton.dev/renew-requested-at";
  const revoke = "baton.dev/revoke-previous-requested-at";
  const cases: {
    name: string;
    annotations?: Record<string, string>;
    handled?: { renew?: string; revokePrevious?: string };
    want: object;
  }[] = [
    { name: "no annotations", want: {} },
    {
      name: "a new renew request",
      annotations: { [renew]: "2026-12-03T12:00:00Z" },
      want: { renew: "2026-12-03T12:00:00Z" },
    },
    {
      name: "the same value again",
      annotations: { [renew]: "2026-12-03T12:00:00Z" },
      handled: { renew: "2026-12-03T12:00:00Z" },
      want: {},
    },
    {
      name: "a new value after a handled one",
      annotations: { [renew]: "b" },
      handled: { renew: "a" },
      want: { renew: "b" },
    },
    { name: "empty", annotations: { [renew]: " ", [revoke]: "" }, want: {} },
    {
      name: "both",
      annotations: { [renew]: "1", [revoke]: "1" },
      handled: { revokePrevious: "0" },
      want: { renew: "1", revokePrevious: "1" },
    },
  ];
  for (const c of cases) assert.deepEqual(pendingRequests(c.annotations, c.handled), c.want, c.name);
});
