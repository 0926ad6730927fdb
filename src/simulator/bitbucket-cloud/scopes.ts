/**
 * Classic scopes of Cloud access tokens (reference §1.2): which kind may hold which, and what each implies.
 * Pure: the routes ask `grants(held, needed)`.
 */
export const SCOPES = [
  "repository",
  "repository:write",
  "repository:admin",
  "repository:delete",
  "pullrequest",
  "pullrequest:write",
  "webhook",
  "pipeline",
  "pipeline:write",
  "pipeline:variable",
  "runner",
  "runner:write",
  "project",
  "project:admin",
  "account",
] as const;

export type Scope = (typeof SCOPES)[number];
export type TokenKind = "repository" | "project" | "workspace";

/** §1.2's table: `project` needs a project or workspace token, `project:admin` and `account` a workspace token. */
export function scopeAllowed(kind: TokenKind, scope: Scope): boolean {
  if (scope === "project") return kind !== "repository";
  if (scope === "project:admin" || scope === "account") return kind === "workspace";
  return true;
}

/**
 * What holding a scope also grants: write implies read; `pullrequest` implies `repository` (read);
 * `pullrequest:write` implies `pullrequest` and `repository:write`. `repository:admin` does NOT imply read.
 */
const IMPLIES: Partial<Record<Scope, Scope[]>> = {
  "repository:write": ["repository"],
  pullrequest: ["repository"],
  "pullrequest:write": ["pullrequest", "repository:write", "repository"],
  "project:admin": ["project"],
  "pipeline:write": ["pipeline"],
  "runner:write": ["runner"],
};

export function effectiveScopes(held: readonly Scope[]): Set<Scope> {
  const out = new Set<Scope>();
  const add = (s: Scope): void => {
    if (out.has(s)) return;
    out.add(s);
    for (const t of IMPLIES[s] ?? []) add(t);
  };
  for (const s of held) add(s);
  return out;
}

/** True when `held` covers every scope in `needed`. */
export function grants(held: readonly Scope[], needed: readonly Scope[]): boolean {
  const have = effectiveScopes(held);
  return needed.every((s) => have.has(s));
}

/** Scope a subscription to `event` needs besides `webhook` (§1.2: creating a hook needs the events' read scope). */
export function eventScope(event: string): Scope | null {
  if (event.startsWith("repo:")) return "repository";
  if (event.startsWith("pullrequest:")) return "pullrequest";
  if (event.startsWith("issue:")) return "repository";
  if (event.startsWith("project:")) return "project";
  if (event.startsWith("pipeline:")) return "pipeline";
  return null;
}
