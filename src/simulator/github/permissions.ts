import { z } from "zod";

/**
 * GitHub App permissions (the repository ones the simulator enforces) and the narrowing rules of installation
 * tokens: a token may ask for a subset of its installation's permissions and repositories, never more.
 */

export const APP_PERMISSIONS = [
  "metadata",
  "contents",
  "pull_requests",
  "issues",
  "statuses",
  "checks",
  "repository_hooks",
  "administration",
] as const;
export type AppPermission = (typeof APP_PERMISSIONS)[number];

export const ACCESS_LEVELS = ["read", "write", "admin"] as const;
export type AccessLevel = (typeof ACCESS_LEVELS)[number];

export const permissionSetSchema = z.record(z.string(), z.enum(ACCESS_LEVELS));
/** Permission name → level, as GitHub writes it (`{"contents":"read"}`). Unknown names are kept to be refused. */
export type PermissionSet = Partial<Record<string, AccessLevel>>;

export function rank(level: AccessLevel | undefined): number {
  return level === undefined ? 0 : ACCESS_LEVELS.indexOf(level) + 1;
}

/** True when `held` grants at least `level` of `permission`. */
export function grants(held: PermissionSet, permission: AppPermission, level: AccessLevel): boolean {
  return rank(held[permission]) >= rank(level);
}

/**
 * The permissions a token asks for, checked against its installation's: null when every requested permission is
 * known and held at least at the requested level; otherwise the first offending name.
 */
export function excessPermission(requested: PermissionSet, installation: PermissionSet): string | null {
  for (const [name, level] of Object.entries(requested)) {
    if (!(APP_PERMISSIONS as readonly string[]).includes(name)) return name;
    if (rank(installation[name]) < rank(level)) return name;
  }
  return null;
}

/** Every installation can read metadata: GitHub grants it with any repository permission. */
export function withMetadata(permissions: PermissionSet): PermissionSet {
  return permissions.metadata ? { ...permissions } : { metadata: "read", ...permissions };
}

/** A repository role (collaborator permission) and what it allows. */
export const ROLES = ["read", "triage", "write", "maintain", "admin"] as const;
export type Role = (typeof ROLES)[number];

/** The legacy `permission` field of the collaborator-permission endpoint folds triage into read, maintain into write. */
export function legacyPermission(role: Role | null): "admin" | "write" | "read" | "none" {
  if (role === null) return "none";
  if (role === "admin") return "admin";
  return role === "write" || role === "maintain" ? "write" : "read";
}

/** What a role may do with a repository permission: read for every role, write from `write` up, admin for admin. */
export function roleAllows(role: Role | null, level: AccessLevel): boolean {
  if (role === null) return false;
  if (level === "read") return true;
  if (level === "write") return role === "write" || role === "maintain" || role === "admin";
  return role === "admin";
}
