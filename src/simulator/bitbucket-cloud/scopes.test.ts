import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { eventScope, grants, scopeAllowed } from "./scopes.ts";

describe("Cloud token scopes (reference §1.2)", () => {
  it("only workspace tokens hold account and project:admin; repository tokens never hold project", () => {
    assert.equal(scopeAllowed("repository", "project"), false);
    assert.equal(scopeAllowed("project", "project"), true);
    assert.equal(scopeAllowed("project", "account"), false);
    assert.equal(scopeAllowed("workspace", "account"), true);
    assert.equal(scopeAllowed("workspace", "project:admin"), true);
  });

  it("pullrequest implies repository read, pullrequest:write implies repository:write, admin implies no read", () => {
    assert.equal(grants(["pullrequest"], ["repository"]), true);
    assert.equal(grants(["pullrequest"], ["repository:write"]), false);
    assert.equal(grants(["pullrequest:write"], ["repository:write", "pullrequest"]), true);
    assert.equal(grants(["repository:admin"], ["repository"]), false);
    assert.equal(grants(["repository"], ["pullrequest"]), false);
  });

  it("hook subscriptions need the events' read scope", () => {
    assert.equal(eventScope("repo:push"), "repository");
    assert.equal(eventScope("pullrequest:created"), "pullrequest");
  });
});
