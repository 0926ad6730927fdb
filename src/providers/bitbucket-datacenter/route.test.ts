import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { loadFixture } from "../../events/testdata.ts";
import { deliveryTarget } from "./route.ts";

describe("deliveryTarget", () => {
  it("is the pull request's target repository, with the server from its links", () => {
    const target = deliveryTarget(loadFixture("webhook-pr-opened-fork.zulip.json"));
    assert.equal(target?.project, "SBOX");
    assert.equal(target?.slug, "sandbox");
    assert.match(target?.server ?? "", /^https?:\/\/[^/]+/);
  });

  it("is the pushed repository, and the repository as it is now for repo:modified", () => {
    assert.equal(deliveryTarget(loadFixture("webhook-refs-changed-branch-update.nttd.json"))?.slug, "test-app");
    assert.equal(deliveryTarget(loadFixture("webhook-repo-modified.go-playground.json"))?.slug, "webhook-test");
  });

  it("is undefined for a body without a repository", () => {
    for (const body of [null, [], "x", { test: true }, { repository: { slug: "a" } }]) {
      assert.equal(deliveryTarget(body), undefined, JSON.stringify(body));
    }
  });
});
