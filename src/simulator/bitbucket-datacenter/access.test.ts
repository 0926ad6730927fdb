import assert from "node:assert/strict";
import { test } from "node:test";
import { canViewProject, type Principal, projectLevel, repoLevel, userRepoLevel } from "./access.ts";
import { type AccessToken, type Project, type Repository, SimState } from "./state.ts";

function project(state: SimState, key: string): Project {
  const p: Project = {
    id: state.nextId(),
    key,
    name: key,
    description: null,
    public: false,
    type: "NORMAL",
    ownerId: null,
  };
  state.projects.set(p.id, p);
  return p;
}

function repo(state: SimState, p: Project, slug: string): Repository {
  const r: Repository = {
    id: state.nextId(),
    slug,
    name: slug,
    projectId: p.id,
    hierarchyId: "h",
    originId: null,
    public: false,
    forkable: true,
    defaultBranch: "main",
    gitPath: `r/${slug}.git`,
    nextPullRequestId: 1,
  };
  state.repositories.set(r.id, r);
  return r;
}

function tokenPrincipal(
  state: SimState,
  scope: AccessToken["scope"],
  permissions: AccessToken["permissions"],
  userId: number,
): Principal {
  const token: AccessToken = {
    id: String(state.nextId()),
    name: "t",
    scope,
    userId,
    permissions,
    createdDate: 0,
    expiryDays: null,
    lastAuthenticated: null,
    secretHash: "x",
  };
  return { user: state.user(userId), authKind: "bearer", credential: "project-token", token };
}

test("grants to groups and projects flow down to repositories", () => {
  const state = new SimState();
  const prj = project(state, "PRJ");
  const app = repo(state, prj, "app");
  const dev = state.addUser({ name: "dev" });
  state.groups.set("devs", { name: "devs", members: new Set([dev.id]) });
  assert.equal(userRepoLevel(state, dev, app), 0);
  state.grants.push({
    subject: { kind: "group", group: "devs" },
    target: { kind: "project", projectId: prj.id, level: 2 },
  });
  assert.equal(userRepoLevel(state, dev, app), 2);
  state.grants.push({
    subject: { kind: "user", userId: dev.id },
    target: { kind: "repository", repositoryId: app.id, level: 3 },
  });
  assert.equal(userRepoLevel(state, dev, app), 3);
});

test("project and repository tokens act only inside their scope; user tokens cap their owner", () => {
  const state = new SimState();
  const prj = project(state, "PRJ");
  const other = project(state, "OTHER");
  const app = repo(state, prj, "app");
  const svc = repo(state, prj, "svc");
  const lib = repo(state, other, "lib");
  const service = state.addUser({ name: "bbdc-prj", type: "SERVICE", email: null });
  const projectToken = tokenPrincipal(state, { kind: "project", projectId: prj.id }, ["REPO_WRITE"], service.id);
  assert.deepEqual(
    [repoLevel(state, projectToken, app), repoLevel(state, projectToken, svc), repoLevel(state, projectToken, lib)],
    [2, 2, 0],
  );
  assert.equal(projectLevel(state, projectToken, prj), 0);
  assert.equal(canViewProject(state, projectToken, prj), true);
  assert.equal(canViewProject(state, projectToken, other), false);

  const repoToken = tokenPrincipal(
    state,
    { kind: "repository", projectId: prj.id, repositoryId: app.id },
    ["REPO_ADMIN"],
    service.id,
  );
  assert.deepEqual([repoLevel(state, repoToken, app), repoLevel(state, repoToken, svc)], [3, 0]);

  const owner = state.addUser({ name: "owner" });
  state.grants.push({
    subject: { kind: "user", userId: owner.id },
    target: { kind: "project", projectId: prj.id, level: 3 },
  });
  const personal = tokenPrincipal(state, { kind: "user", userId: owner.id }, ["REPO_READ"], owner.id);
  assert.equal(repoLevel(state, personal, app), 1, "a personal token never exceeds its permissions");
  assert.equal(repoLevel(state, personal, lib), 0, "nor its owner's access");
});

test("anonymous callers read only public repositories", () => {
  const state = new SimState();
  const prj = project(state, "PRJ");
  const app = repo(state, prj, "app");
  assert.equal(repoLevel(state, null, app), 0);
  app.public = true;
  assert.equal(repoLevel(state, null, app), 1);
});
