// Repository content and history at a commit: folder listings, files, commit lookup, diffstat (reference §6.1–§6.2).
// Every call here needs the `repository` scope.

import type { ChangedFiles } from "../../events/model.ts";
import type { CallOptions } from "../http/http.ts";
import { segment } from "../http/url.ts";
import { changedFilesFromDiffstat } from "./changes.ts";
import { type CloudRepository, repositoryPath, sourcePath } from "./paths.ts";
import type { CloudRest, ListOptions } from "./rest.ts";
import { Commit, Diffstat, SourceEntry } from "./schemas.ts";

const defaultFileLimit = 1024 * 1024;

export class ContentApi {
  readonly #rest: CloudRest;

  constructor(rest: CloudRest) {
    this.#rest = rest;
  }

  /** Entries of a folder at `commit` (paths absolute from the repository root), every page. */
  listFolder(repo: CloudRepository, path: string, commit: string, options?: ListOptions): Promise<SourceEntry[]> {
    const spec = {
      group: "content",
      method: "GET",
      path: sourcePath(repo, commit, path, true),
      needs: "the repository scope",
    } as const;
    return this.#rest.list(spec, SourceEntry, options);
  }

  /** A file's bytes at `commit`; larger than `maxBytes` (default 1 MiB) fails with ResponseTooLargeError. */
  async readFile(
    repo: CloudRepository,
    path: string,
    commit: string,
    options: CallOptions & { maxBytes?: number } = {},
  ): Promise<Buffer> {
    const spec = {
      group: "content",
      method: "GET",
      path: sourcePath(repo, commit, path, false),
      maxBytes: options.maxBytes ?? defaultFileLimit,
      needs: "the repository scope",
    } as const;
    return (await this.#rest.send(spec, options)).body;
  }

  /** `?format=meta`: type, size and attributes of one path at `commit`. */
  async meta(repo: CloudRepository, path: string, commit: string, call?: CallOptions): Promise<SourceEntry> {
    const spec = {
      group: "content",
      method: "GET",
      path: sourcePath(repo, commit, path, false),
      query: { format: "meta" },
    } as const;
    return (await this.#rest.json(spec, SourceEntry, call)).data;
  }

  /** The commit an abbreviated (or full) hash names, with its full 40-hex hash. */
  async commit(repo: CloudRepository, hash: string, call?: CallOptions): Promise<Commit> {
    const spec = { group: "repos", method: "GET", path: `${repositoryPath(repo)}/commit/${segment(hash)}` } as const;
    return (await this.#rest.json(spec, Commit, call)).data;
  }

  /**
   * Changed files of a push: `to` against `from`, or `to` against its first parent for a new ref. Cloud's revspec
   * is `A..B` with A the new side (the reverse of `git diff`), so the range is written `to..from`.
   */
  pushChanges(repo: CloudRepository, to: string, from?: string, options?: ListOptions): Promise<ChangedFiles> {
    return this.revspec(repo, from === undefined ? to : `${to}..${from}`, {}, options);
  }

  /** Diffstat of a revspec (`A..B`, or one commit); `topic` diffs against the merge base (three-dot). */
  async revspec(
    repo: CloudRepository,
    spec: string,
    query: { topic?: boolean },
    options?: ListOptions,
  ): Promise<ChangedFiles> {
    const [a, b] = spec.split("..") as [string, string | undefined];
    const encoded = b === undefined ? segment(a) : `${segment(a)}..${segment(b)}`;
    const request = {
      group: "content",
      method: "GET",
      path: `${repositoryPath(repo)}/diffstat/${encoded}`,
      query,
    } as const;
    return changedFilesFromDiffstat(await this.#rest.list(request, Diffstat, options));
  }

  /** Diffstat entries at a link Cloud gave (a pull request's `links.diffstat`), every page. */
  async diffstatAt(link: string, options?: ListOptions): Promise<ChangedFiles> {
    const base = { group: "content", method: "GET", path: "/diffstat" } as const;
    const request = { ...base, ...this.#rest.below(link, base) };
    return changedFilesFromDiffstat(await this.#rest.list(request, Diffstat, options));
  }
}
