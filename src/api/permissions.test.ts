import assert from "node:assert/strict";
import { test } from "node:test";
import { messages, type Permission, permissionProblems } from "./permissions.ts";

const cases: { permissions: Permission[]; repositoryScoped: boolean; problems: string[] }[] = [
  { permissions: ["REPO_READ"], repositoryScoped: false, problems: [] },
  { permissions: ["PROJECT_READ", "REPO_READ"], repositoryScoped: false, problems: [] },
  { permissions: ["PROJECT_READ", "REPO_ADMIN"], repositoryScoped: false, problems: [] },
  { permissions: ["PROJECT_WRITE", "REPO_WRITE"], repositoryScoped: false, problems: [] },
  { permissions: ["PROJECT_ADMIN", "REPO_ADMIN"], repositoryScoped: false, problems: [] },
  { permissions: ["PROJECT_READ"], repositoryScoped: false, problems: [messages.combination] },
  { permissions: ["PROJECT_WRITE", "REPO_READ"], repositoryScoped: false, problems: [messages.combination] },
  { permissions: ["PROJECT_ADMIN", "REPO_WRITE"], repositoryScoped: false, problems: [messages.combination] },
  { permissions: ["REPO_WRITE"], repositoryScoped: true, problems: [] },
  { permissions: ["REPO_ADMIN"], repositoryScoped: true, problems: [] },
  { permissions: ["PROJECT_READ", "REPO_READ"], repositoryScoped: true, problems: [messages.repositoryScope] },
  {
    permissions: ["PROJECT_ADMIN", "REPO_READ"],
    repositoryScoped: true,
    problems: [messages.repositoryScope, messages.combination],
  },
  { permissions: [], repositoryScoped: false, problems: [messages.empty] },
];

for (const c of cases) {
  test(`${c.repositoryScoped ? "repository" : "project"} token with [${c.permissions.join(", ")}]`, () => {
    assert.deepEqual(permissionProblems(c.permissions, c.repositoryScoped), c.problems);
  });
}
