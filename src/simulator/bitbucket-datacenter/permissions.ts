/**
 * Bitbucket's permission ladder and the HTTP-access-token combination table (reference §1.2), as pure functions.
 * Levels are numbers so "at least" is a comparison: 0 none, 1 read, 2 write, 3 admin.
 */
export const PROJECT_PERMISSIONS = ["PROJECT_READ", "PROJECT_WRITE", "PROJECT_ADMIN"] as const;
export const REPO_PERMISSIONS = ["REPO_READ", "REPO_WRITE", "REPO_ADMIN"] as const;
export const TOKEN_PERMISSIONS = [...PROJECT_PERMISSIONS, ...REPO_PERMISSIONS] as const;
export const GLOBAL_PERMISSIONS = ["LICENSED_USER", "PROJECT_CREATE", "ADMIN", "SYS_ADMIN"] as const;

export type ProjectPermission = (typeof PROJECT_PERMISSIONS)[number];
export type RepoPermission = (typeof REPO_PERMISSIONS)[number];
export type TokenPermission = (typeof TOKEN_PERMISSIONS)[number];
export type GlobalPermission = (typeof GLOBAL_PERMISSIONS)[number];
export type Level = 0 | 1 | 2 | 3;

export const READ: Level = 1;
export const WRITE: Level = 2;
export const ADMIN: Level = 3;

export function levelOf(permission: ProjectPermission | RepoPermission): Level {
  if (permission.endsWith("_ADMIN")) return ADMIN;
  if (permission.endsWith("_WRITE")) return WRITE;
  return READ;
}

export function repoPermissionOf(level: Level): RepoPermission | null {
  return level === 0 ? null : (REPO_PERMISSIONS[level - 1] ?? null);
}

export function isTokenPermission(value: string): value is TokenPermission {
  return (TOKEN_PERMISSIONS as readonly string[]).includes(value);
}

/** Highest repository level a token's permission list grants (0 when it names no REPO_*). */
export function tokenRepoLevel(permissions: readonly TokenPermission[]): Level {
  let level: Level = 0;
  for (const p of permissions)
    if (p.startsWith("REPO_")) level = Math.max(level, levelOf(p as RepoPermission)) as Level;
  return level;
}

export function tokenProjectLevel(permissions: readonly TokenPermission[]): Level {
  let level: Level = 0;
  for (const p of permissions)
    if (p.startsWith("PROJECT_")) level = Math.max(level, levelOf(p as ProjectPermission)) as Level;
  return level;
}

export type TokenScopeKind = "user" | "project" | "repository";

/**
 * Returns why a token permission list is refused, or null when it is valid. The rule: the repository level must
 * be at least the project level (PROJECT_WRITE needs REPO_WRITE or REPO_ADMIN, PROJECT_ADMIN needs REPO_ADMIN), and
 * repository-scoped tokens take no PROJECT_* permission.
 */
export function tokenPermissionProblem(scope: TokenScopeKind, permissions: readonly string[]): string | null {
  if (permissions.length === 0) return "At least one permission is required.";
  const unknown = permissions.filter((p) => !isTokenPermission(p));
  if (unknown.length > 0) return `Unknown permission(s): ${unknown.join(", ")}.`;
  const valid = permissions as readonly TokenPermission[];
  const projectLevel = tokenProjectLevel(valid);
  const repoLevel = tokenRepoLevel(valid);
  if (scope === "repository" && projectLevel > 0) return "Repository access tokens cannot have project permissions.";
  if (repoLevel === 0) return "A repository permission (REPO_READ, REPO_WRITE or REPO_ADMIN) is required.";
  if (repoLevel < projectLevel)
    return "The repository permission must be at least the project permission (PROJECT_WRITE needs REPO_WRITE, PROJECT_ADMIN needs REPO_ADMIN).";
  return null;
}
