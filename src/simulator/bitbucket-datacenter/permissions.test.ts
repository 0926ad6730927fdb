import assert from "node:assert/strict";
import { test } from "node:test";
import { type TokenScopeKind, tokenPermissionProblem, tokenProjectLevel, tokenRepoLevel } from "./permissions.ts";

test("token permission combinations: the repository level must reach the project level", () => {
  const cases: [TokenScopeKind, string[], boolean][] = [
    ["project", ["REPO_READ"], true],
    ["project", ["REPO_WRITE"], true],
    ["project", ["PROJECT_READ", "REPO_READ"], true],
    ["project", ["PROJECT_WRITE", "REPO_WRITE"], true],
    ["project", ["PROJECT_WRITE", "REPO_ADMIN"], true],
    ["project", ["PROJECT_ADMIN", "REPO_ADMIN"], true],
    ["project", ["PROJECT_WRITE", "REPO_READ"], false],
    ["project", ["PROJECT_ADMIN", "REPO_WRITE"], false],
    ["project", ["PROJECT_READ"], false],
    ["project", [], false],
    ["project", ["REPO_PUSH"], false],
    ["repository", ["REPO_ADMIN"], true],
    ["repository", ["PROJECT_READ", "REPO_READ"], false],
    ["user", ["PROJECT_ADMIN", "REPO_ADMIN"], true],
    ["user", ["PROJECT_ADMIN", "REPO_READ"], false],
  ];
  for (const [scope, permissions, ok] of cases)
    assert.equal(tokenPermissionProblem(scope, permissions) === null, ok, `${scope} ${permissions.join(",")}`);
});

test("problems name what is wrong", () => {
  assert.match(tokenPermissionProblem("project", ["REPO_PUSH"]) ?? "", /Unknown permission.*REPO_PUSH/);
  assert.match(tokenPermissionProblem("repository", ["PROJECT_READ", "REPO_READ"]) ?? "", /cannot have project/);
  assert.match(tokenPermissionProblem("project", []) ?? "", /At least one/);
});

test("levels take the highest permission of each kind", () => {
  assert.equal(tokenRepoLevel(["REPO_READ", "REPO_ADMIN"]), 3);
  assert.equal(tokenRepoLevel(["PROJECT_ADMIN"]), 0);
  assert.equal(tokenProjectLevel(["PROJECT_WRITE", "REPO_ADMIN"]), 2);
});
