import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { eventLabel, targetIdentities } from "./route.ts";

describe("targetIdentities", () => {
  it("tries the full identity first, then project and slug alone (old payloads carry no links)", () => {
    assert.deepEqual(targetIdentities({ server: "https://BB.example.com/ctx/", project: "PRJ", slug: "app" }), [
      "https://bb.example.com/ctx|PRJ|app",
      "|PRJ|app",
    ]);
    assert.deepEqual(targetIdentities({ project: "prj", slug: "App" }), ["|PRJ|app"]);
  });
});

describe("eventLabel", () => {
  it("keeps the metric's label set bounded", () => {
    assert.equal(eventLabel("pr:opened", ["pr:opened"]), "pr:opened");
    assert.equal(eventLabel("anything:else", ["pr:opened"]), "other");
    assert.equal(eventLabel("", ["pr:opened"]), "none");
  });
});
