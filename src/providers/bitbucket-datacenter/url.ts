import { segment } from "../http/url.ts";

/** A project by key; personal projects use `~username`. */
export interface ProjectRef {
  project: string;
}

export interface RepositoryRef extends ProjectRef {
  repository: string;
}

/** Project scope when `repository` is absent, repository scope otherwise. */
export interface ScopeRef extends ProjectRef {
  repository?: string | undefined;
}

export function projectPath(ref: ProjectRef): string {
  return `/projects/${segment(ref.project)}`;
}

export function repositoryPath(ref: RepositoryRef): string {
  return `${projectPath(ref)}/repos/${segment(ref.repository)}`;
}

export function scopePath(ref: ScopeRef): string {
  return ref.repository === undefined ? projectPath(ref) : repositoryPath({ ...ref, repository: ref.repository });
}
