// Bitbucket's permission combination table for HTTP access tokens (reference §1.2). The same rules are
// enforced twice on purpose: as CEL in the CRD, so `kubectl apply` refuses a bad object at once, and here, for
// the reconciler and for a test that proves both agree on every combination.
import { z } from "zod";

export const Permission = z.enum([
  "PROJECT_READ",
  "PROJECT_WRITE",
  "PROJECT_ADMIN",
  "REPO_READ",
  "REPO_WRITE",
  "REPO_ADMIN",
]);
export type Permission = z.infer<typeof Permission>;

const levels: Record<Permission, number> = {
  PROJECT_READ: 1,
  PROJECT_WRITE: 2,
  PROJECT_ADMIN: 3,
  REPO_READ: 1,
  REPO_WRITE: 2,
  REPO_ADMIN: 3,
};

function highest(permissions: readonly Permission[], prefix: "PROJECT_" | "REPO_"): number {
  return Math.max(0, ...permissions.filter((p) => p.startsWith(prefix)).map((p) => levels[p]));
}

/** Returns what is wrong with a permission set, in the words the CRD's CEL rules use; empty when valid. */
export function permissionProblems(permissions: readonly Permission[], repositoryScoped: boolean): string[] {
  const problems: string[] = [];
  if (permissions.length === 0) problems.push(messages.empty);
  if (repositoryScoped && permissions.some((p) => p.startsWith("PROJECT_"))) problems.push(messages.repositoryScope);
  if (highest(permissions, "REPO_") < highest(permissions, "PROJECT_")) problems.push(messages.combination);
  return problems;
}

export const messages = {
  empty: "permissions must name at least one permission",
  repositoryScope: "a repository token (spec.repository set) cannot hold PROJECT_* permissions",
  combination:
    "the repository permission must be at least the project permission: PROJECT_READ needs REPO_READ or higher, " +
    "PROJECT_WRITE needs REPO_WRITE or REPO_ADMIN, PROJECT_ADMIN needs REPO_ADMIN",
} as const;

/** CEL over `self` = the spec, computing the highest level of one kind ("PROJECT_" or "REPO_"). */
function celLevel(prefix: "PROJECT" | "REPO"): string {
  return (
    `(self.permissions.exists(p, p == '${prefix}_ADMIN') ? 3 : ` +
    `self.permissions.exists(p, p == '${prefix}_WRITE') ? 2 : ` +
    `self.permissions.exists(p, p == '${prefix}_READ') ? 1 : 0)`
  );
}

export const permissionRules = [
  {
    rule: `${celLevel("REPO")} >= ${celLevel("PROJECT")}`,
    message: messages.combination,
    fieldPath: ".permissions",
  },
  {
    rule: "!has(self.repository) || !self.permissions.exists(p, p.startsWith('PROJECT_'))",
    message: messages.repositoryScope,
    fieldPath: ".permissions",
  },
];
