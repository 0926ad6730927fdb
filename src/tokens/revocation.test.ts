import assert from "node:assert/strict";
import { test } from "node:test";
import type { BitbucketProjectToken, TokenStatus } from "../api/token.ts";
import type { GitProvider } from "../providers/provider.ts";
import type { ReconcileContext } from "../runtime/controller.ts";
import { policyOf } from "./lifecycle.ts";
import { describeHolders, heldCondition, revokePreviousWhenFree } from "./revocation.ts";

const hour = 3_600_000;
const due = Date.parse("2026-12-03T12:00:00Z");

function setup(options: { holders?: () => Promise<string[]>; held?: boolean; holdLimit?: string } = {}) {
  const deleted: string[] = [];
  const events: [string, string, string][] = [];
  const client = {
    tokens: {
      revoke: async (_scope: unknown, id: string) => {
        deleted.push(id);
        return true;
      },
    },
  } as unknown as GitProvider;
  const token = {
    apiVersion: "baton.dev/v1alpha1",
    kind: "BitbucketProjectToken",
    metadata: { name: "ci", namespace: "team" },
    spec: {
      server: "https://bitbucket.example.com",
      project: "PRJ",
      permissions: ["REPO_READ"],
      lifetime: "720h",
      revocationGracePeriod: "2h",
      ...(options.holdLimit ? { revocationHoldLimit: options.holdLimit } : {}),
      secretName: "ci-token",
      deletionPolicy: "Revoke",
    },
    status: options.held
      ? { conditions: [{ type: heldCondition, status: "True", reason: "RunsInProgress", lastTransitionTime: "" }] }
      : {},
  } as BitbucketProjectToken;
  const deps = {
    events: {
      normal: (_o: unknown, reason: string, message: string) => events.push(["Normal", reason, message]),
      warning: (_o: unknown, reason: string, message: string) => events.push(["Warning", reason, message]),
    },
    holders: options.holders ? async () => (options.holders as () => Promise<string[]>)() : undefined,
  };
  const ctx = { signal: new AbortController().signal } as ReconcileContext;
  const run = (status: TokenStatus, now: number) =>
    revokePreviousWhenFree(
      deps,
      token,
      status,
      policyOf(token.spec),
      { kind: "basic", username: "a", password: "b" },
      client,
      now,
      ctx,
    );
  return { deleted, events, run };
}

const previous = () => ({ previousToken: { id: "41", revokeAt: new Date(due).toISOString() } }) as TokenStatus;

test("describeHolders: a count and the first three names", () => {
  assert.equal(describeHolders(["a"]), "1 PipelineRun (a)");
  assert.equal(describeHolders(["a", "b", "c", "d", "e"]), "5 PipelineRuns (a, b, c and 2 more)");
});

test("before revokeAt nothing is asked or revoked; the answer is when to look again", async () => {
  const asked: number[] = [];
  const { deleted, run } = setup({
    holders: async () => {
      asked.push(1);
      return ["a"];
    },
  });
  const outcome = await run(previous(), due - 1000);
  assert.deepEqual([deleted, asked, outcome.conditions, outcome.requeueAt], [[], [], [], due]);
});

test("runs holding the token hold its revocation until the limit, said once per count", async () => {
  let holders = ["run-a", "run-b"];
  const { deleted, events, run } = setup({ holders: async () => holders });
  const status = previous();
  const first = await run(status, due + 1000);
  assert.deepEqual(deleted, []);
  assert.equal(status.previousToken?.heldBy, 2);
  assert.equal(first.conditions[0]?.status, "True");
  assert.match(
    first.conditions[0]?.message ?? "",
    /^2 PipelineRuns \(run-a, run-b\) still use the previous token 41; .* at the latest at 2026-12-04T12:00:00Z/,
  );
  assert.ok(first.requeueAt <= due + 1000 + 60_000);
  await run(status, due + 2000);
  assert.equal(
    events.filter(([, reason]) => reason === "RevocationHeld").length,
    1,
    "the same count is not said twice",
  );
  holders = ["run-a"];
  await run(status, due + 3000);
  assert.equal(events.filter(([, reason]) => reason === "RevocationHeld").length, 2);
  holders = [];
  const last = await run(status, due + 4000);
  assert.deepEqual(deleted, ["41"]);
  assert.equal(status.previousToken, undefined);
  assert.deepEqual(
    [last.conditions[0]?.status, last.conditions[0]?.reason, last.requeueAt],
    ["False", "Revoked", Number.POSITIVE_INFINITY],
  );
  assert.match(events.at(-1)?.[2] ?? "", /after its grace period and the PipelineRuns that used it finished/);
});

test("at the hold limit the token is revoked anyway, with a Warning naming the runs", async () => {
  const { deleted, events, run } = setup({ holders: async () => ["run-a"], holdLimit: "1h" });
  const status = previous();
  await run(status, due + hour - 1000);
  assert.deepEqual(deleted, []);
  const outcome = await run(status, due + hour);
  assert.deepEqual(deleted, ["41"]);
  assert.deepEqual(events.at(-1)?.slice(0, 2), ["Warning", "RevocationHoldExpired"]);
  assert.match(events.at(-1)?.[2] ?? "", /1 PipelineRun \(run-a\) still used it/);
  assert.equal(outcome.conditions[0]?.reason, "HoldLimitReached");
});

test("a failure to ask which runs hold it keeps the token before the limit, never after", async () => {
  const { deleted, run } = setup({ holders: async () => Promise.reject(new Error("API server unavailable")) });
  await assert.rejects(run(previous(), due + 1000), /API server unavailable/);
  assert.deepEqual(deleted, []);
  await run(previous(), due + 25 * hour);
  assert.deepEqual(deleted, ["41"]);
});

test("0s never holds; no previous token clears a hold said before", async () => {
  const { deleted, run } = setup({ holders: async () => ["run-a"], holdLimit: "0s" });
  await run(previous(), due);
  assert.deepEqual(deleted, ["41"]);
  const cleared = await setup({ held: true }).run({}, due);
  assert.deepEqual(
    cleared.conditions.map((c) => [c.status, c.reason]),
    [["False", "NoPreviousToken"]],
  );
  assert.deepEqual((await setup().run({}, due)).conditions, [], "nothing said when nothing was held");
});
