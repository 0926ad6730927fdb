import type { CallOptions } from "../http/http.ts";
import { API, Endpoints, type ListOptions } from "./endpoints.ts";
import { type Repository, RepositorySchema } from "./schemas.ts";
import { type ProjectRef, projectPath, type RepositoryRef, repositoryPath } from "./url.ts";

/** Repositories; listing a project checks many repositories' reachability with one paged call. */
export class ReposApi extends Endpoints {
  async get(repo: RepositoryRef, call?: CallOptions): Promise<Repository> {
    const spec = { group: "repos", method: "GET", path: `${API}${repositoryPath(repo)}`, needs: "REPO_READ" } as const;
    return (await this.http.json(spec, RepositorySchema, call)).data;
  }

  /** The repositories of a project these credentials can see. */
  async *iterate(project: ProjectRef, options?: ListOptions): AsyncGenerator<Repository, void, undefined> {
    yield* this.paged(listSpec(project), RepositorySchema, options);
  }

  async list(project: ProjectRef, options?: ListOptions): Promise<Repository[]> {
    return this.listAll(listSpec(project), RepositorySchema, options);
  }
}

function listSpec(project: ProjectRef) {
  return { group: "repos", method: "GET", path: `${API}${projectPath(project)}/repos`, needs: "PROJECT_READ" } as const;
}

/** The clone URL Bitbucket advertises for `http` (also https) or `ssh`. */
export function cloneUrl(repo: Repository, kind: "http" | "ssh"): string | undefined {
  return repo.links?.clone?.find((link) => link.name === kind)?.href;
}

/** The repository's browse URL, the form Repository `spec.url` uses. */
export function browseUrl(repo: Repository): string | undefined {
  return repo.links?.self?.[0]?.href;
}
