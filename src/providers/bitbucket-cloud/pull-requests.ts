// Pull requests of a repository: read, list open, comment (reference §6.2–§6.3). The `pullrequest` scope covers all
// of it, commenting included.

import type { ChangedFiles } from "../../events/model.ts";
import type { CallOptions } from "../http/http.ts";
import type { ContentApi } from "./content.ts";
import { type CloudRepository, repositoryPath } from "./paths.ts";
import type { CloudRest, ListOptions } from "./rest.ts";
import { Comment, Commit, PullRequest } from "./schemas.ts";

export class PullRequestsApi {
  readonly #rest: CloudRest;
  readonly #content: ContentApi;

  constructor(rest: CloudRest, content: ContentApi) {
    this.#rest = rest;
    this.#content = content;
  }

  async get(repo: CloudRepository, id: number, call?: CallOptions): Promise<PullRequest> {
    return (await this.#rest.json(this.#spec(repo, `/${id}`), PullRequest, call)).data;
  }

  /** Open pull requests, most recently updated first; `sourceBranch`: only those from that branch. */
  listOpen(repo: CloudRepository, options: ListOptions & { sourceBranch?: string } = {}): Promise<PullRequest[]> {
    const { sourceBranch, ...list } = options;
    // BBQL string literals are double-quoted; a branch name may hold quotes and backslashes.
    const q = sourceBranch === undefined ? undefined : `source.branch.name = ${JSON.stringify(sourceBranch)}`;
    const query = { state: "OPEN", sort: "-updated_on", ...(q === undefined ? {} : { q }) };
    return this.#rest.list({ ...this.#spec(repo, ""), query }, PullRequest, list);
  }

  /** Newest first; for a fork pull request this reads the fork's commits through the destination. */
  async latestCommit(repo: CloudRepository, id: number, call?: CallOptions): Promise<Commit | undefined> {
    const spec = { ...this.#spec(repo, `/${id}/commits`), query: { pagelen: 1 } };
    const page = this.#rest.paged(spec, Commit, call);
    const first = await page.next();
    await page.return();
    return first.done ? undefined : first.value;
  }

  /**
   * Changed files as the pull request shows them. `…/pullrequests/{id}/diffstat` answers with a redirect to the
   * revspec the pull request's own `links.diffstat` names, so that link is read directly (one call fewer, and the
   * transport follows no redirect with the token).
   */
  async changedFiles(repo: CloudRepository, id: number, options?: ListOptions): Promise<ChangedFiles> {
    const pr = await this.get(repo, id, options);
    const link = pr.links?.diffstat?.href;
    if (link !== undefined) return this.#content.diffstatAt(link, options);
    // No link: source against destination from their merge base, as the pull request view shows it.
    const spec = `${pr.source.commit.hash}..${pr.destination.commit.hash}`;
    return this.#content.revspec(repo, spec, { topic: true }, options);
  }

  /** Posts a general comment (201); not retried, so a timeout may or may not have posted it. */
  async comment(repo: CloudRepository, id: number, text: string, call?: CallOptions): Promise<Comment> {
    const spec = { ...this.#spec(repo, `/${id}/comments`), method: "POST", body: { content: { raw: text } } } as const;
    return (await this.#rest.json(spec, Comment, call)).data;
  }

  #spec(repo: CloudRepository, suffix: string) {
    return {
      group: "pull-requests",
      method: "GET",
      path: `${repositoryPath(repo)}/pullrequests${suffix}`,
      needs: "the pullrequest scope",
    } as const;
  }
}
