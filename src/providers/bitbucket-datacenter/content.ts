import { z } from "zod";
import type { CallOptions } from "../http/http.ts";
import { segment, withSubPath } from "../http/url.ts";
import { API, Endpoints, type ListOptions } from "./endpoints.ts";
import { collect, DEFAULT_MAX_ITEMS, DEFAULT_PAGE_SIZE, paginate } from "./paging.ts";
import { type FileChange, fileChange } from "./pull-requests.ts";
import { BrowseSchema, ChangeSchema, type Commit, CommitSchema, PathTypeSchema } from "./schemas.ts";
import { type RepositoryRef, repositoryPath } from "./url.ts";

export interface AtOptions extends CallOptions {
  /** Commit id or ref; Bitbucket uses the default branch when absent. */
  at?: string;
}

export interface RawOptions extends AtOptions {
  /** Larger files fail with ResponseTooLargeError. Default 1 MiB. */
  maxBytes?: number;
}

export type PathType = "FILE" | "DIRECTORY" | "SUBMODULE";

export interface DirectoryEntry {
  /** Name relative to the directory. */
  path: string;
  /** `FILE`, `DIRECTORY` or `SUBMODULE`. */
  type: string;
  /** The git blob (or tree) id: what a cache of file contents can key on across commits. */
  contentId?: string;
  size?: number;
}

const DEFAULT_RAW_LIMIT = 1024 * 1024;

/** Repository content at a commit; everything here needs REPO_READ. */
export class ContentApi extends Endpoints {
  /** File paths under `path` (recursive), relative to it. 400 if `path` is a file, 404 if absent. */
  async *iterateFiles(
    repo: RepositoryRef,
    path: string,
    options: AtOptions & ListOptions = {},
  ): AsyncGenerator<string, void, undefined> {
    yield* this.paged(this.#filesSpec(repo, path, options), z.string(), options);
  }

  async listFiles(repo: RepositoryRef, path: string, options: AtOptions & ListOptions = {}): Promise<string[]> {
    return this.listAll(this.#filesSpec(repo, path, options), z.string(), options);
  }

  /** The file's bytes. */
  async raw(repo: RepositoryRef, path: string, options: RawOptions = {}): Promise<Buffer> {
    const res = await this.http.send(
      {
        group: "content",
        method: "GET",
        path: withSubPath(`${API}${repositoryPath(repo)}/raw`, path),
        query: { at: options.at },
        maxBytes: options.maxBytes ?? DEFAULT_RAW_LIMIT,
        needs: "REPO_READ",
      },
      options,
    );
    return res.body;
  }

  /** The file decoded as UTF-8. */
  async rawText(repo: RepositoryRef, path: string, options: RawOptions = {}): Promise<string> {
    return (await this.raw(repo, path, options)).toString("utf8");
  }

  /** Whether `path` is a file, directory or submodule; NotFoundError when it does not exist. */
  async pathType(repo: RepositoryRef, path: string, options: AtOptions = {}): Promise<PathType> {
    const spec = {
      group: "content",
      method: "GET",
      path: withSubPath(`${API}${repositoryPath(repo)}/browse`, path),
      query: { at: options.at, type: true },
      needs: "REPO_READ",
    } as const;
    return (await this.http.json(spec, PathTypeSchema, options)).data.type;
  }

  /**
   * One level of a directory with each entry's blob id, or undefined when `path` is a file. Unlike `listFiles`,
   * which is recursive, this says which files are unchanged between two commits without reading them.
   */
  async listDirectory(
    repo: RepositoryRef,
    path: string,
    options: AtOptions & ListOptions = {},
  ): Promise<DirectoryEntry[] | undefined> {
    const spec = {
      group: "content",
      method: "GET",
      path: withSubPath(`${API}${repositoryPath(repo)}/browse`, path),
      query: { at: options.at },
      needs: "REPO_READ",
    } as const;
    const limit = options.pageSize ?? DEFAULT_PAGE_SIZE;
    let isFile = false;
    const entries = paginate(this.context(spec), async (start) => {
      const { children } = (
        await this.http.json({ ...spec, query: { ...spec.query, start, limit } }, BrowseSchema, options)
      ).data;
      if (children) return children;
      isFile = true;
      return { values: [], isLastPage: true };
    });
    const values = await collect(this.context(spec), entries, options.maxItems ?? DEFAULT_MAX_ITEMS);
    if (isFile) return undefined;
    return values.map((v) => ({
      path: v.path.toString,
      type: v.type,
      ...(v.contentId ? { contentId: v.contentId } : {}),
      ...(v.size === undefined ? {} : { size: v.size }),
    }));
  }

  /** A commit by id (not by ref name). */
  async commit(repo: RepositoryRef, commitId: string, call?: CallOptions): Promise<Commit> {
    const spec = {
      group: "content",
      method: "GET",
      path: `${API}${repositoryPath(repo)}/commits/${segment(commitId)}`,
      needs: "REPO_READ",
    } as const;
    return (await this.http.json(spec, CommitSchema, call)).data;
  }

  /**
   * Files changed from `since` to `until` (`git diff since until`); without `since`, against the first parent of
   * `until`. Paged, so a huge push ends in TooManyResultsError at `maxItems` rather than being read forever.
   */
  async listChanges(
    repo: RepositoryRef,
    range: { since?: string | undefined; until: string },
    options: ListOptions = {},
  ): Promise<FileChange[]> {
    const spec = {
      group: "content",
      method: "GET",
      path: `${API}${repositoryPath(repo)}/changes`,
      query: { since: range.since, until: range.until },
      needs: "REPO_READ",
    } as const;
    return (await this.listAll(spec, ChangeSchema, options)).map(fileChange);
  }

  #filesSpec(repo: RepositoryRef, path: string, options: AtOptions) {
    return {
      group: "content",
      method: "GET",
      path: withSubPath(`${API}${repositoryPath(repo)}/files`, path),
      query: { at: options.at },
      needs: "REPO_READ",
    } as const;
  }
}
