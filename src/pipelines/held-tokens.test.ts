import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { buildGitSecret, gitTokenExpiresAnnotation } from "./gitsecret.ts";
import { lapsesTooSoon, runTokenMinLifeMs } from "./held-tokens.ts";

const now = Date.parse("2026-12-03T12:00:00Z");

describe("a queued run's token at release", () => {
  it("a token minted for the run records when it lapses, and nothing of the token itself", () => {
    const token = "ghs_16CharactersOfTokenXyz";
    const secret = buildGitSecret({
      name: "baton-git-a",
      namespace: "n",
      serverUrl: "https://github.example.com",
      token,
      expiresAt: now + 3_600_000,
      git: { kind: "basic", username: "x-access-token" },
    });
    assert.deepEqual(secret.metadata.annotations, { [gitTokenExpiresAnnotation]: "2026-12-03T13:00:00.000Z" });
    assert.ok(!JSON.stringify(secret.metadata).includes(token));
    const longLived = buildGitSecret({
      name: "b",
      namespace: "n",
      serverUrl: "https://h",
      token,
      git: { kind: "header" },
    });
    assert.equal(longLived.metadata.annotations, undefined, "a long-lived clone token has no expiry to record");
  });

  it("is renewed when less than the minimum life is left, kept otherwise", () => {
    const at = (ms: number) => new Date(now + ms).toISOString();
    assert.equal(lapsesTooSoon(at(60 * 60_000), now), false, "freshly minted");
    assert.equal(lapsesTooSoon(at(runTokenMinLifeMs), now), false, "exactly the minimum left");
    assert.equal(lapsesTooSoon(at(runTokenMinLifeMs - 1_000), now), true, "queued a quarter of an hour");
    assert.equal(lapsesTooSoon(at(-10 * 60_000), now), true, "queued 70 minutes: lapsed already");
    assert.equal(lapsesTooSoon(undefined, now), false, "no expiry recorded: a long-lived token");
    assert.equal(lapsesTooSoon("not a date", now), true, "an unreadable expiry: the safe side");
  });
});
