import assert from "node:assert/strict";
import { readdirSync, readFileSync } from "node:fs";
import { describe, it } from "node:test";
import { parseBitbucketDate, parsePayload } from "./payloads.ts";
import { TimestampSchema } from "./schemas.ts";

const fixtures = new URL("../../../test/fixtures/bitbucket-dc/", import.meta.url);
const webhookFiles = readdirSync(fixtures).filter((f) => f.startsWith("webhook-") && f.endsWith(".json"));

function load(file: string): Record<string, unknown> {
  return JSON.parse(readFileSync(new URL(file, fixtures), "utf8")) as Record<string, unknown>;
}

describe("payload schemas accept every real capture", () => {
  assert.ok(webhookFiles.length >= 60, `expected the captured webhooks, found ${webhookFiles.length}`);
  for (const file of webhookFiles) {
    const body = load(file);
    // The ping capture has no eventKey in its body: Bitbucket names it only in the X-Event-Key header.
    const eventKey = typeof body.eventKey === "string" ? body.eventKey : "diagnostics:ping";
    it(`${eventKey} ← ${file}`, () => {
      const result = parsePayload(eventKey, body);
      assert.ok(result.ok, result.ok ? "" : result.error);
      assert.equal(result.value.eventKey, eventKey);
      // Events Baton acts on are read with their full schema, never the catch-all.
      const actedOn = [
        "repo:refs_changed",
        "pr:opened",
        "pr:from_ref_updated",
        "pr:modified",
        "pr:declined",
        "pr:merged",
        "pr:deleted",
        "pr:comment:added",
        "diagnostics:ping",
      ];
      assert.equal("other" in result.value, !actedOn.includes(eventKey));
    });
  }
});

describe("payload schemas reject what Baton cannot act on, saying where", () => {
  const opened = load("webhook-pr-opened.go-scm.json");
  const cases: { name: string; key: string; body: unknown; error: RegExp }[] = [
    { name: "not an object", key: "pr:opened", body: [1, 2], error: /not a JSON object/ },
    { name: "null", key: "pr:opened", body: null, error: /not a JSON object/ },
    {
      name: "header and body disagree (signed comment replayed as pr:opened)",
      key: "pr:opened",
      body: { ...opened, eventKey: "pr:comment:added" },
      error: /X-Event-Key header \("pr:opened"\) does not match the body's eventKey \("pr:comment:added"\)/,
    },
    {
      name: "pull request without fromRef",
      key: "pr:opened",
      body: { ...opened, pullRequest: { ...(opened.pullRequest as object), fromRef: undefined } },
      error: /pullRequest\.fromRef/,
    },
    {
      name: "date that is not a date",
      key: "pr:opened",
      body: { ...opened, date: "yesterday" },
      error: /date: expected a date such as 2018-07-05T18:22:00\+0000/,
    },
    {
      name: "refs_changed without changes",
      key: "repo:refs_changed",
      body: { eventKey: "repo:refs_changed", date: "2018-07-05T18:22:00+0000", actor: { name: "a" }, repository: {} },
      error: /invalid repo:refs_changed payload: .*repository\.slug/,
    },
  ];
  for (const c of cases) {
    it(c.name, () => {
      const result = parsePayload(c.key, c.body);
      assert.equal(result.ok, false);
      assert.match(result.ok ? "" : result.error, c.error);
    });
  }
});

describe("timestamps", () => {
  const dates: [string, string][] = [
    ["2018-07-05T18:22:00+0000", "2018-07-05T18:22:00.000Z"],
    ["2019-03-21T18:22:20+0530", "2019-03-21T12:52:20.000Z"],
    ["2023-05-30T15:40:47-0400", "2023-05-30T19:40:47.000Z"],
    ["2026-08-19T17:27:55.266Z", "2026-08-19T17:27:55.266Z"],
  ];
  for (const [text, iso] of dates) {
    it(`payload date ${text}`, () => assert.equal(new Date(parseBitbucketDate(text)).toISOString(), iso));
  }
  it("entity timestamps: epoch ms (≤ 9.x) and ISO strings (some 10.x) give the same instant", () => {
    assert.equal(TimestampSchema.parse(1553172738844), 1553172738844);
    assert.equal(TimestampSchema.parse("2026-08-19T17:27:55.266Z"), Date.parse("2026-08-19T17:27:55.266Z"));
    assert.equal(TimestampSchema.safeParse("soon").success, false);
  });
  it("the DC 10 capture's ISO createdDate is read as epoch ms", () => {
    const result = parsePayload("pr:opened", load("webhook-pr-opened-dc10-iso-dates.bbs-plugin.json"));
    assert.ok(result.ok && result.value.eventKey === "pr:opened");
    assert.equal(
      (result.value.payload as { pullRequest: { createdDate?: number } }).pullRequest.createdDate,
      Date.parse("2026-08-19T17:27:55.266Z"),
    );
  });
});
