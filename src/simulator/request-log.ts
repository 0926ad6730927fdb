/**
 * Every REST and git request the simulator answers (the `/_sim/` control API excluded), recorded when the status
 * is decided and before any byte reaches the client, so a caller that has its response can already count it.
 */

/** Coarse endpoint families, for counting "Bitbucket calls per reconcile". */
export type RequestGroup =
  | "access-tokens"
  | "application-properties"
  | "build-status"
  | "capabilities"
  | "content"
  | "git"
  | "projects"
  | "pull-requests"
  | "repos"
  | "users"
  | "workspaces"
  | "webhooks"
  | "unknown";

export interface RequestLogEntry {
  seq: number;
  /** Sim-clock time. */
  time: number;
  method: string;
  /** URL path without the query string. */
  path: string;
  /** Raw query string without "?" ("" when none). */
  query: string;
  /** The matched route pattern (e.g. `/rest/api/latest/projects/:projectKey/repos/:repositorySlug/webhooks`). */
  route: string | null;
  group: RequestGroup;
  /** User name of the authenticated principal (the generated service user for project/repository tokens). */
  principal: string | null;
  authKind: "none" | "basic" | "bearer";
  /** The personality's name for the credential kind (a DC `CredentialKind`, a Cloud token kind). */
  credential: string | null;
  tokenId: string | null;
  status: number;
  /** Answered 429 by the rate limiter. */
  rateLimited: boolean;
  /** Hit by an injected fault (faults.ts): `status` is what the fault answered, 0 for a dropped connection. */
  faulted: boolean;
}

export interface RequestFilter {
  group?: RequestGroup | RequestGroup[];
  method?: string;
  /** Prefix of `path`. */
  pathPrefix?: string;
  principal?: string;
  tokenId?: string;
  status?: number;
  /** Only faulted (true) or only unfaulted (false) requests. */
  faulted?: boolean;
  /** Only entries with `seq` greater than this (see `mark()`). */
  since?: number;
}

export class RequestLog {
  private readonly entries: RequestLogEntry[] = [];
  private seq = 0;

  add(entry: Omit<RequestLogEntry, "seq">): RequestLogEntry {
    const full = { ...entry, seq: ++this.seq };
    this.entries.push(full);
    return full;
  }

  /** The current position; pass it as `since` to count what happens afterwards. */
  mark(): number {
    return this.seq;
  }

  list(filter: RequestFilter = {}): RequestLogEntry[] {
    const groups = filter.group === undefined ? null : Array.isArray(filter.group) ? filter.group : [filter.group];
    return this.entries
      .filter(
        (e) =>
          (groups === null || groups.includes(e.group)) &&
          (filter.method === undefined || e.method === filter.method.toUpperCase()) &&
          (filter.pathPrefix === undefined || e.path.startsWith(filter.pathPrefix)) &&
          (filter.principal === undefined || e.principal === filter.principal) &&
          (filter.tokenId === undefined || e.tokenId === filter.tokenId) &&
          (filter.status === undefined || e.status === filter.status) &&
          (filter.faulted === undefined || e.faulted === filter.faulted) &&
          (filter.since === undefined || e.seq > filter.since),
      )
      .map((e) => ({ ...e }));
  }

  count(filter: RequestFilter = {}): number {
    return this.list(filter).length;
  }

  /** Forgets every entry (sequence numbers keep increasing, so old marks stay valid). */
  clear(): void {
    this.entries.length = 0;
  }
}
