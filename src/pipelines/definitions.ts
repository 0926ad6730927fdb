// Fetching the `.tekton` folder of a commit through REST, with a cache so repeated events cost as few Bitbucket
// calls as possible (DESIGN §6: list the folder, fetch only files not already cached).
//
// Cache keys:
// - a folder listing by (repository, folder, commit): a commit never changes, so the push and the pull-request
//   event Bitbucket sends for one `git push`, re-deliveries, /retest and catch-up list the folder once;
// - a file by (repository, path, blob id) when the listing gives blob ids, else by (repository, path, commit).
// Concurrent requests for the same key share one fetch. Both caches are bounded (entries and bytes).
//
// A folder with more YAML files than the loader accepts is refused whole, from its listing: reading the first N
// would spend N calls of the shared Bitbucket budget on one event, and which pipelines run would depend on how
// their files sort.
import { defaultLoadLimits, type LoadProblem } from "./load.ts";

export interface ListedFile {
  /** Repository-relative path, e.g. `.tekton/pull-request.yaml`. */
  path: string;
  /** Git blob id, when the listing says it. */
  blobId?: string;
}

/** What the cache needs from Bitbucket: one repository, at one commit. */
export interface TektonSource {
  /** Every file under `folder` (recursive), or undefined when the folder does not exist at `commit`. */
  list(folder: string, commit: string): Promise<ListedFile[] | undefined>;
  /** A file's text; throws FileTooLarge when it exceeds `maxBytes`. */
  read(path: string, commit: string, maxBytes: number): Promise<string>;
}

export class FileTooLarge extends Error {
  readonly limitBytes: number;
  constructor(path: string, limitBytes: number) {
    super(`${path} is larger than ${limitBytes} bytes`);
    this.name = "FileTooLarge";
    this.limitBytes = limitBytes;
  }
}

/** The folder lists more entries than the source is willing to page through. */
export class FolderTooLarge extends Error {
  readonly limit: number;
  constructor(folder: string, limit: number) {
    super(`${folder} lists more than ${limit} files`);
    this.name = "FolderTooLarge";
    this.limit = limit;
  }
}

export interface FetchedDefinitions {
  /** Path → text of the YAML files read. */
  files: Map<string, string>;
  /** Files that could not be read at all (too large); for the user, like load errors. */
  problems: LoadProblem[];
  /** False when the folder does not exist at the commit. */
  folderExists: boolean;
}

export interface DefinitionCacheOptions {
  maxListings?: number;
  maxFileBytes?: number;
  /** Per file; larger files are refused (the loader's limit). */
  fileLimitBytes?: number;
  /** YAML files per folder; a folder with more is refused without reading any. */
  maxFiles?: number;
}

function isYaml(path: string): boolean {
  return /\.ya?ml$/i.test(path);
}

/** A small LRU over a Map's insertion order. */
class Lru<V> {
  readonly #map = new Map<string, V>();
  readonly #maxEntries: number;
  readonly #maxWeight: number;
  readonly #weigh: (value: V) => number;
  #weight = 0;

  constructor(maxEntries: number, maxWeight: number, weigh: (value: V) => number) {
    this.#maxEntries = maxEntries;
    this.#maxWeight = maxWeight;
    this.#weigh = weigh;
  }

  get(key: string): V | undefined {
    const value = this.#map.get(key);
    if (value === undefined) return undefined;
    this.#map.delete(key);
    this.#map.set(key, value);
    return value;
  }

  set(key: string, value: V): void {
    const old = this.#map.get(key);
    if (old !== undefined) {
      this.#weight -= this.#weigh(old);
      this.#map.delete(key);
    }
    this.#map.set(key, value);
    this.#weight += this.#weigh(value);
    while (this.#map.size > this.#maxEntries || (this.#weight > this.#maxWeight && this.#map.size > 1)) {
      const [oldestKey, oldest] = this.#map.entries().next().value as [string, V];
      this.#map.delete(oldestKey);
      this.#weight -= this.#weigh(oldest);
    }
  }

  get size(): number {
    return this.#map.size;
  }
}

export class DefinitionCache {
  readonly #listings: Lru<ListedFile[] | null | FolderTooLarge>;
  readonly #files: Lru<string>;
  readonly #inflight = new Map<string, Promise<unknown>>();
  readonly #fileLimit: number;
  readonly #maxFiles: number;

  constructor(options: DefinitionCacheOptions = {}) {
    this.#listings = new Lru(options.maxListings ?? 2048, Number.POSITIVE_INFINITY, () => 1);
    this.#files = new Lru(100_000, options.maxFileBytes ?? 32 * 1024 * 1024, (text) => text.length + 200);
    this.#fileLimit = options.fileLimitBytes ?? defaultLoadLimits.maxFileBytes;
    this.#maxFiles = options.maxFiles ?? defaultLoadLimits.maxFiles;
  }

  /** The YAML files of `folder` at `commit` in `repository` (an identity string), fetched as needed. */
  async fetch(repository: string, folder: string, commit: string, source: TektonSource): Promise<FetchedDefinitions> {
    const listingKey = `${repository}|${folder}|${commit}`;
    let listing = this.#listings.get(listingKey);
    if (listing === undefined) {
      listing = await this.#once(listingKey, async () => {
        let listed: ListedFile[] | null | FolderTooLarge;
        try {
          listed = (await source.list(folder, commit)) ?? null;
        } catch (err) {
          if (!(err instanceof FolderTooLarge)) throw err;
          listed = err;
        }
        this.#listings.set(listingKey, listed);
        return listed;
      });
    }
    if (listing === null) return { files: new Map(), problems: [], folderExists: false };
    const files = new Map<string, string>();
    const problems: LoadProblem[] = [];
    if (listing instanceof FolderTooLarge) {
      problems.push({ file: folder, message: `holds more than ${listing.limit} files; none were read` });
      return { files, problems, folderExists: true };
    }

    const yaml = listing.filter((f) => isYaml(f.path)).sort((a, b) => (a.path < b.path ? -1 : 1));
    if (yaml.length > this.#maxFiles) {
      problems.push({
        file: folder,
        message: `holds ${yaml.length} YAML files, more than the limit of ${this.#maxFiles}; none were read`,
      });
      return { files, problems, folderExists: true };
    }
    await Promise.all(
      yaml.map(async (file) => {
        const key = `${repository}|${file.path}|${file.blobId ? `blob:${file.blobId}` : `commit:${commit}`}`;
        let text = this.#files.get(key);
        if (text === undefined) {
          try {
            text = await this.#once(key, async () => {
              const read = await source.read(file.path, commit, this.#fileLimit);
              this.#files.set(key, read);
              return read;
            });
          } catch (err) {
            if (!(err instanceof FileTooLarge)) throw err;
            problems.push({
              file: file.path,
              message: `is larger than the ${this.#fileLimit}-byte limit for a .tekton file`,
            });
            return;
          }
        }
        files.set(file.path, text);
      }),
    );
    return { files, problems, folderExists: true };
  }

  async #once<T>(key: string, load: () => Promise<T>): Promise<T> {
    const running = this.#inflight.get(key);
    if (running) return running as Promise<T>;
    const promise = load().finally(() => this.#inflight.delete(key));
    this.#inflight.set(key, promise);
    return promise;
  }
}
