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

const browse =
  /^(https?:\/\/[^/]+(?:\/[^?#]*?)?)\/projects\/([A-Za-z0-9_]+)\/repos\/([A-Za-z0-9._-]+)(?:\/browse)?\/?$/;
const clone = /^(https?:\/\/[^/]+(?:\/[^?#]*?)?)\/scm\/([A-Za-z0-9_]+)\/([A-Za-z0-9._-]+?)(?:\.git)?\/?$/;

/**
 * Server, project and slug from a browse URL (what Pipelines-as-Code uses) or an HTTP clone URL. Clone URLs spell
 * the project key in lower case; Bitbucket keys are upper case, so it is normalised.
 */
export function parseDataCenterRepositoryUrl(url: string): { server: string; owner: string; name: string } | undefined {
  const match = browse.exec(url) ?? clone.exec(url);
  if (!match?.[1] || !match[2] || !match[3]) return undefined;
  return { server: match[1], owner: match[2].toUpperCase(), name: match[3].toLowerCase() };
}
