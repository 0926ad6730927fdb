import type { CallOptions } from "../http/http.ts";
import { segment } from "../http/url.ts";
import { API, Endpoints, type ListOptions } from "./endpoints.ts";
import {
  type Change,
  ChangesPageSchema,
  type Comment,
  CommentSchema,
  type PullRequest,
  PullRequestSchema,
} from "./schemas.ts";
import { type RepositoryRef, repositoryPath } from "./url.ts";

export interface OpenPullRequestOptions extends ListOptions {
  /** Only pull requests whose source (OUTGOING) or target (INCOMING, default) is this ref. */
  at?: string;
  direction?: "INCOMING" | "OUTGOING";
}

export interface ChangesOptions extends CallOptions {
  /** Bitbucket returns one page only and ignores `start`, so ask for everything at once. Default 1000. */
  limit?: number;
  changeScope?: "ALL" | "UNREVIEWED" | "RANGE";
  sinceId?: string;
  untilId?: string;
}

export interface FileChange {
  /** Repository-relative path after the change. */
  path: string;
  /** Path before a move or copy. */
  srcPath?: string;
  /** `ADD`, `COPY`, `DELETE`, `MODIFY`, `MOVE` or `UNKNOWN`. */
  type: string;
  nodeType?: string;
  /** Blob id after the change. */
  contentId?: string;
}

export function fileChange(c: Change): FileChange {
  return {
    path: c.path.toString,
    ...(c.srcPath ? { srcPath: c.srcPath.toString } : {}),
    type: c.type,
    ...(c.nodeType ? { nodeType: c.nodeType } : {}),
    ...(c.contentId ? { contentId: c.contentId } : {}),
  };
}

export interface PullRequestChanges {
  fromHash: string | undefined;
  toHash: string | undefined;
  changes: FileChange[];
  /** True when Bitbucket cut the list (at `limit` or its own maximum); the list is then incomplete. */
  truncated: boolean;
}

/** Pull requests, their changed files and comments; REPO_READ is enough for all of them. */
export class PullRequestsApi extends Endpoints {
  async get(repo: RepositoryRef, id: number, call?: CallOptions): Promise<PullRequest> {
    return (await this.http.json(this.#spec(repo, `/${segment(String(id))}`), PullRequestSchema, call)).data;
  }

  async *iterateOpen(
    repo: RepositoryRef,
    options: OpenPullRequestOptions = {},
  ): AsyncGenerator<PullRequest, void, undefined> {
    yield* this.paged(this.#openSpec(repo, options), PullRequestSchema, options);
  }

  async listOpen(repo: RepositoryRef, options: OpenPullRequestOptions = {}): Promise<PullRequest[]> {
    return this.listAll(this.#openSpec(repo, options), PullRequestSchema, options);
  }

  async changes(repo: RepositoryRef, id: number, options: ChangesOptions = {}): Promise<PullRequestChanges> {
    const spec = {
      ...this.#spec(repo, `/${segment(String(id))}/changes`),
      query: {
        limit: options.limit ?? 1000,
        changeScope: options.changeScope,
        sinceId: options.sinceId,
        untilId: options.untilId,
      },
    };
    const page = (await this.http.json(spec, ChangesPageSchema, options)).data;
    return {
      fromHash: page.fromHash ?? undefined,
      toHash: page.toHash ?? undefined,
      changes: page.values.map(fileChange),
      truncated: !page.isLastPage,
    };
  }

  /** Adds a top-level comment (201). Not retried on 5xx or network errors, so it is never posted twice. */
  async comment(repo: RepositoryRef, id: number, text: string, call?: CallOptions): Promise<Comment> {
    const spec = { ...this.#spec(repo, `/${segment(String(id))}/comments`), method: "POST", body: { text } } as const;
    return (await this.http.json(spec, CommentSchema, call)).data;
  }

  #openSpec(repo: RepositoryRef, options: OpenPullRequestOptions) {
    return { ...this.#spec(repo, ""), query: { state: "OPEN", at: options.at, direction: options.direction } };
  }

  #spec(repo: RepositoryRef, suffix: string) {
    return {
      group: "pull-requests",
      method: "GET",
      path: `${API}${repositoryPath(repo)}/pull-requests${suffix}`,
      needs: "REPO_READ",
    } as const;
  }
}
