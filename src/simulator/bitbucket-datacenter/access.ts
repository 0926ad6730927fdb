import { ADMIN, type Level, READ, tokenProjectLevel, tokenRepoLevel } from "./permissions.ts";
import type { AccessToken, GrantSubject, Project, Repository, SimState, User } from "./state.ts";

/** Who made a request, and with which credential. */
export type CredentialKind = "password" | "user-token" | "project-token" | "repository-token";

export interface Principal {
  user: User;
  authKind: "basic" | "bearer";
  credential: CredentialKind;
  token: AccessToken | null;
}

function isSystemAdmin(user: User): boolean {
  return user.globalPermission === "ADMIN" || user.globalPermission === "SYS_ADMIN";
}

function subjects(state: SimState, user: User): { userId: number; groups: Set<string> } {
  return { userId: user.id, groups: new Set(state.groupsOf(user.id)) };
}

function grantApplies(state: SimState, user: User, subject: GrantSubject): boolean {
  const s = subjects(state, user);
  return subject.kind === "user" ? subject.userId === s.userId : s.groups.has(subject.group);
}

/** A user's own project level (grants to the user or any of their groups; owners of personal projects are admins). */
export function userProjectLevel(state: SimState, user: User, project: Project): Level {
  if (!user.active) return 0;
  if (isSystemAdmin(user)) return ADMIN;
  if (project.type === "PERSONAL" && project.ownerId === user.id) return ADMIN;
  let level: Level = 0;
  for (const g of state.grants)
    if (g.target.kind === "project" && g.target.projectId === project.id && grantApplies(state, user, g.subject))
      level = Math.max(level, g.target.level) as Level;
  return level;
}

/** A user's own repository level: repository grants, inherited project level, public read. */
export function userRepoLevel(state: SimState, user: User, repo: Repository): Level {
  if (!user.active) return 0;
  let level = userProjectLevel(state, user, state.project(repo.projectId));
  for (const g of state.grants)
    if (g.target.kind === "repository" && g.target.repositoryId === repo.id && grantApplies(state, user, g.subject))
      level = Math.max(level, g.target.level) as Level;
  if (level === 0 && isPublic(state, repo)) level = READ;
  return level;
}

function isPublic(state: SimState, repo: Repository): boolean {
  return repo.public || state.project(repo.projectId).public;
}

/**
 * What a request may do on a repository. Tokens cap the owner's access (user tokens) or grant exactly their level
 * inside their scope (project/repository tokens) and nothing outside it except public content.
 */
export function repoLevel(state: SimState, principal: Principal | null, repo: Repository): Level {
  if (!principal) return isPublic(state, repo) ? READ : 0;
  const { token, user } = principal;
  if (!token) return userRepoLevel(state, user, repo);
  const granted = tokenRepoLevel(token.permissions);
  const publicLevel: Level = isPublic(state, repo) ? READ : 0;
  switch (token.scope.kind) {
    case "user":
      return Math.max(Math.min(userRepoLevel(state, user, repo), granted), publicLevel) as Level;
    case "project":
      return repo.projectId === token.scope.projectId ? granted : publicLevel;
    case "repository":
      return repo.id === token.scope.repositoryId ? granted : publicLevel;
  }
}

export function projectLevel(state: SimState, principal: Principal | null, project: Project): Level {
  if (!principal) return 0;
  const { token, user } = principal;
  if (!token) return userProjectLevel(state, user, project);
  const granted = tokenProjectLevel(token.permissions);
  switch (token.scope.kind) {
    case "user":
      return Math.min(userProjectLevel(state, user, project), granted) as Level;
    case "project":
      return project.id === token.scope.projectId ? granted : 0;
    case "repository":
      return 0;
  }
}

/** Bitbucket lets anyone who can see one repository of a project see the project itself. */
export function canViewProject(state: SimState, principal: Principal | null, project: Project): boolean {
  if (project.public) return true;
  if (projectLevel(state, principal, project) > 0) return true;
  if (principal?.token?.scope.kind === "project" && principal.token.scope.projectId === project.id) return true;
  return state.repositoriesOf(project.id).some((r) => repoLevel(state, principal, r) > 0);
}

export function isSystemAdminPrincipal(principal: Principal | null): boolean {
  // Tokens never reach global admin endpoints (BSERV-19635).
  return principal !== null && principal.token === null && isSystemAdmin(principal.user);
}
