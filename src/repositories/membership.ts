// Who holds a repository, and who shares a project's webhook, read from the Repository informer's cache: the
// oldest claim keeps a repository (the others are duplicates), and a project hook's members are derived, never
// counted, so the last one to go deletes it.
import type { Repository } from "../api/repository.ts";
import { oldestClaim } from "../runtime/claims.ts";
import type { Informer } from "../runtime/informer.ts";
import { isDeleting, keyOf } from "../runtime/kube.ts";
import { appIdentity } from "./app-hook.ts";
import { parseRepositoryUrl, projectIdentity, type RepositoryLocation, repositoryIdentity } from "./decisions.ts";

/** Informer indexes the reconciler and the controller's event mapping rely on. */
export const indexes = {
  /** repositoryIdentity: who else claims the same Bitbucket repository. */
  identity: "repositories.identity",
  /** projectIdentity: the Repositories sharing a project's listing and project webhook. */
  project: "repositories.project",
  /** `namespace/name` of the Secrets a Repository reads directly (secretRef, webhook.secretRef). */
  secret: "repositories.secret",
  /** `namespace/name` of the BitbucketProjectToken in tokenRef. */
  tokenRef: "repositories.tokenRef",
  /** `namespace/name` of the shared webhook Secret of a project-scope Repository's project. */
  projectSecret: "repositories.projectSecret",
  /** appIdentity of the GitHub App a Repository names: the Repositories sharing the App's one webhook. */
  app: "repositories.app",
} as const;

/** Where a cached object points, tolerating objects the reconciler has not validated. */
export function locate(repository: Pick<Repository, "spec"> | undefined): RepositoryLocation | undefined {
  const url = repository?.spec?.url;
  return typeof url === "string" ? parseRepositoryUrl(url, repository?.spec?.provider) : undefined;
}

export class Members {
  readonly #repositories: Informer<Repository>;

  /** `repositories`: the shared Repository informer, with `indexes` registered. */
  constructor(repositories: Informer<Repository>) {
    this.#repositories = repositories;
  }

  /** The Repository that keeps `location`: the oldest claim among those naming it. */
  winner(repo: Repository, location: RepositoryLocation): Repository | undefined {
    const identity = repositoryIdentity(location);
    const self = keyOf(repo);
    const claimants = this.#repositories
      .byIndex(indexes.identity, identity)
      .filter((other) => keyOf(other) !== self && sameIdentity(other, identity));
    return oldestClaim([repo, ...claimants]);
  }

  /** Live, managed, project-scope Repositories of the project that keep their repository (no duplicates). */
  project(group: string, self: Repository | undefined, exclude: string | undefined): Repository[] {
    const selfKey = self ? keyOf(self) : undefined;
    const members: Repository[] = self ? [self] : [];
    for (const other of this.#repositories.byIndex(indexes.project, group)) {
      const key = keyOf(other);
      if (key === selfKey || key === exclude || isDeleting(other)) continue;
      if (other.spec?.webhook?.managed === false || other.spec?.webhook?.scope !== "project") continue;
      const location = locate(other);
      if (!location || projectIdentity(location) !== group) continue;
      const winner = this.winner(other, location);
      if (winner && keyOf(winner) !== key) continue;
      members.push(other);
    }
    return members;
  }

  /** Live Repositories with a managed webhook naming the App `app` that keep their repository (no duplicates). */
  app(app: string): Repository[] {
    return this.#repositories.byIndex(indexes.app, app).filter((other) => {
      if (isDeleting(other) || other.spec?.webhook?.managed === false || appOf(other) !== app) return false;
      const location = locate(other);
      const winner = location ? this.winner(other, location) : undefined;
      return winner !== undefined && keyOf(winner) === keyOf(other);
    });
  }
}

/** The appIdentity of the GitHub App a cached Repository names, if it names one. */
export function appOf(repository: Pick<Repository, "spec"> | undefined): string | undefined {
  const appId = repository?.spec?.githubApp?.appId;
  const location = locate(repository);
  return typeof appId === "string" && location ? appIdentity(location.server, appId) : undefined;
}

function sameIdentity(repo: Repository, identity: string): boolean {
  const location = locate(repo);
  return location !== undefined && repositoryIdentity(location) === identity;
}
