import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { computeSignature } from "../../events/signature.ts";
import { DataCenterProvider, dataCenterIntake, pullRequestFetchRefspec, pullRequestFromRef } from "./provider.ts";

describe("Data Center provider", () => {
  it("fetches a fork pull request's head from the target repository's refs/pull-requests/<id>/from", () => {
    assert.equal(pullRequestFromRef(7), "refs/pull-requests/7/from");
    assert.equal(pullRequestFetchRefspec(7), "+refs/pull-requests/7/from:refs/remotes/origin/pull-requests/7/from");
    assert.throws(() => pullRequestFromRef(0), /invalid pull request number/);
    const provider = new DataCenterProvider({ baseUrl: "https://bitbucket.example.com/bb" });
    assert.deepEqual(provider.forkHead({ owner: "PRJ", name: "app" }, 7, "https://x/scm/~jdoe/app.git"), {
      kind: "base-ref",
      ref: "refs/pull-requests/7/from",
      refspec: "+refs/pull-requests/7/from:refs/remotes/origin/pull-requests/7/from",
    });
    assert.equal(
      provider.cloneUrl("https://bitbucket.example.com/bb/", { owner: "PRJ", name: "app" }),
      "https://bitbucket.example.com/bb/scm/prj/app.git",
    );
  });

  it("serves /hooks/bitbucket with X-Hub-Signature and X-Request-Id, as before the provider layer", () => {
    assert.equal(dataCenterIntake.path, "/hooks/bitbucket");
    const body = '{"eventKey":"diagnostics:ping"}';
    const signature = computeSignature("s3cret", body);
    assert.deepEqual(dataCenterIntake.verify(body, signature, ["old", "s3cret"]), { ok: true });
    assert.deepEqual(dataCenterIntake.verify(body, [signature, signature], ["s3cret"]), {
      ok: false,
      reason: "malformed",
    });
    assert.deepEqual(dataCenterIntake.verify(body, signature, ["other"]), {
      ok: false,
      reason: "mismatch",
    });
    assert.deepEqual(dataCenterIntake.deliveryHeaders, ["x-request-id"]);
    assert.ok(dataCenterIntake.knownEvents.includes("pr:opened"));
  });
});
