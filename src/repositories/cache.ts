// What the Repository controller remembers about the git host between reconciles, so that a thousand Repositories
// cost a handful of calls: one repository listing per (server, owner, token) answers "is it reachable?" for every
// Repository of that owner (DC project, Cloud workspace), a self-hosted server is described once, and each webhook
// (one per repository, or one per owner) is synchronised by one caller at a time while the others reuse its result.
import type { GitProvider, ServerDescription } from "../providers/provider.ts";
import { fingerprint } from "../tokens/secret.ts";
import type { FailureKind } from "./decisions.ts";
import { failureOf } from "./failures.ts";

export type ListingResult =
  | { ok: true; slugs: ReadonlySet<string>; fetchedAt: number }
  | { ok: false; kind: FailureKind; detail: string; fetchedAt: number };

interface ListingEntry {
  result?: ListingResult;
  /** Last time a webhook call with the same token proved the token still works on this project. */
  confirmedAt: number;
  inflight?: Promise<ListingResult>;
}

export interface ListingOptions {
  now: () => number;
  /**
   * How long a listing answers for its project without being confirmed by another call with the same token. The
   * webhook listing of every drift check confirms it, so in steady state a managed project is never listed again.
   */
  maxAge: number;
  /** How long a failed listing is reused (coalesces the members of a project that all hit the same failure). */
  failureAge?: number;
  /**
   * A repository missing from a listing younger than this is reported missing without listing again: a project
   * is listed at most once per this interval for repositories it lacks (one just created in Bitbucket, a typo).
   */
  missRefetchAge?: number;
}

/**
 * Reachability by project: `GET /projects/{key}/repos` once per (server, project, token), shared by every Repository
 * of the project. Concurrent lookups of one key wait for the same request.
 */
export class RepositoryListings {
  readonly #entries = new Map<string, ListingEntry>();
  readonly #options: Required<ListingOptions>;
  #lastSweep = 0;

  constructor(options: ListingOptions) {
    this.#options = { failureAge: 30_000, missRefetchAge: 5_000, ...options };
  }

  async lookup(
    provider: GitProvider,
    where: { server: string; project: string },
    token: string,
    slug: string,
    signal?: AbortSignal,
  ): Promise<ListingResult> {
    const key = listingKey(where.server, where.project, token);
    const now = this.#options.now();
    this.#sweep(now);
    const entry = this.#entries.get(key) ?? { confirmedAt: 0 };
    this.#entries.set(key, entry);
    const cached = entry.result;
    if (cached && !entry.inflight) {
      if (cached.ok) {
        const fresh = now - Math.max(cached.fetchedAt, entry.confirmedAt) < this.#options.maxAge;
        const known = cached.slugs.has(slug) || now - cached.fetchedAt < this.#options.missRefetchAge;
        if (fresh && known) return cached;
      } else if (now - cached.fetchedAt < this.#options.failureAge) {
        return cached;
      }
    }
    // The request is shared by every Repository of the project, so no one caller's deadline may cancel it: each
    // caller stops waiting at its own deadline, and the answer is kept for the others and for the next lookup.
    entry.inflight ??= this.#fetch(provider, where.project, token)
      .then((result) => {
        entry.result = result;
        return result;
      })
      .finally(() => {
        entry.inflight = undefined;
      });
    return untilAborted(entry.inflight, signal, () => ({
      ok: false,
      kind: "unavailable",
      detail: `${where.server} did not list the repositories of ${where.project} within the reconcile deadline`,
      fetchedAt: now,
    }));
  }

  /** When a repository missing from `listing` will make the next lookup list the project again. */
  relistAt(listing: ListingResult): number {
    return listing.fetchedAt + this.#options.missRefetchAge;
  }

  /** A webhook call with this token succeeded on this project: its listing still holds. */
  confirm(server: string, project: string, token: string): void {
    const entry = this.#entries.get(listingKey(server, project, token));
    if (entry?.result?.ok) entry.confirmedAt = this.#options.now();
  }

  /** Bitbucket said something the listing contradicts (a 401 or 404): list again next time. */
  invalidate(server: string, project: string, token: string): void {
    this.#entries.delete(listingKey(server, project, token));
  }

  /** The host refused this token (a 401 to any call): every listing made with it is news to no one any more. */
  invalidateToken(token: string): void {
    const suffix = `|${fingerprint(token)}`;
    for (const key of this.#entries.keys()) if (key.endsWith(suffix)) this.#entries.delete(key);
  }

  get size(): number {
    return this.#entries.size;
  }

  async #fetch(provider: GitProvider, project: string, token: string): Promise<ListingResult> {
    const fetchedAt = this.#options.now();
    try {
      const slugs = await provider.listRepositories(project, {
        auth: { kind: "bearer", token },
        pageSize: 1000,
        maxItems: 100_000,
      });
      return { ok: true, slugs: new Set(slugs.map((slug) => slug.toLowerCase())), fetchedAt };
    } catch (error) {
      return { ok: false, ...failureOf(error), fetchedAt };
    }
  }

  // Rotated tokens leave entries behind; drop the ones nobody has used for two lifetimes.
  #sweep(now: number): void {
    if (now - this.#lastSweep < this.#options.maxAge) return;
    this.#lastSweep = now;
    for (const [key, entry] of this.#entries) {
      const at = Math.max(entry.result?.fetchedAt ?? 0, entry.confirmedAt);
      if (!entry.inflight && now - at > 2 * this.#options.maxAge) this.#entries.delete(key);
    }
  }
}

function listingKey(server: string, project: string, token: string): string {
  return `${server.toLowerCase()}|${project.toUpperCase()}|${fingerprint(token)}`;
}

export interface OwnerHookSupport {
  supported: boolean;
  /** Why not, in words for a condition. */
  reason?: string;
}

/**
 * Facts about a server from `GitProvider.describeServer`, asked once per server (it needs no credentials, so it
 * costs no one's rate limit) and remembered for `ttl`: whether it is the host at all, and whether it has owner
 * (DC project) webhooks. An owner webhook endpoint answering 404 on a server that claims them overrides the latter.
 * A server that is not the host is asked again after `retryTtl` (someone may be fixing a proxy). A host with a
 * fixed address describes nothing and costs nothing.
 */
export class ServerFeatures {
  readonly #entries = new Map<string, { at: number; identity?: ServerDescription; inflight?: Promise<void> }>();
  readonly #unsupported = new Map<string, { at: number; reason: string }>();
  readonly #now: () => number;
  readonly #ttl: number;
  readonly #retryTtl: number;

  constructor(options: { now: () => number; ttl?: number; retryTtl?: number }) {
    this.#now = options.now;
    this.#ttl = options.ttl ?? 6 * 3_600_000;
    this.#retryTtl = options.retryTtl ?? 60_000;
  }

  /** Throws the provider's error when the server cannot be asked (unreachable, 5xx, 401): the caller retries later. */
  async identify(provider: GitProvider, signal?: AbortSignal): Promise<ServerDescription> {
    const describe = provider.describeServer?.bind(provider);
    if (!describe) return { host: true };
    const key = provider.baseUrl.toLowerCase();
    let entry = this.#entries.get(key);
    const fresh = (identity: ServerDescription, at: number) =>
      this.#now() - at < (identity.host ? this.#ttl : this.#retryTtl);
    if (entry?.identity && fresh(entry.identity, entry.at)) return entry.identity;
    if (!entry) {
      entry = { at: 0 };
      this.#entries.set(key, entry);
    }
    const current = entry;
    // Shared by every Repository on the server: as with listings, a caller's deadline ends only its own wait.
    current.inflight ??= (async () => {
      try {
        current.identity = await describe({});
      } finally {
        current.at = this.#now();
        current.inflight = undefined;
      }
    })();
    await untilAborted(current.inflight, signal, () => {
      throw signal?.reason;
    });
    return current.identity ?? { host: false, reason: "the server's version is unknown" };
  }

  /** Throws the provider's error when the server cannot be asked (the caller retries later). */
  async ownerHooks(provider: GitProvider, signal?: AbortSignal): Promise<OwnerHookSupport> {
    if (!provider.capabilities.hookScopes.includes("owner"))
      return { supported: false, reason: `${provider.kind} has no owner-wide webhooks` };
    const override = this.#unsupported.get(provider.baseUrl.toLowerCase());
    if (override && this.#now() - override.at < this.#ttl) return { supported: false, reason: override.reason };
    const identity = await this.identify(provider, signal);
    if (!identity.host) return { supported: false, reason: identity.reason };
    const lacking = identity.lacking?.owner;
    return lacking === undefined ? { supported: true } : { supported: false, reason: lacking };
  }

  markUnsupported(provider: GitProvider, reason: string): void {
    this.#unsupported.set(provider.baseUrl.toLowerCase(), { at: this.#now(), reason });
  }
}

export interface SyncRecord<R> {
  fingerprint: string;
  /** Increases with every run of the key, so callers can tell a result they have already seen. */
  seq: number;
  finishedAt: number;
  expiresAt: number;
  result: R;
}

export interface SyncRun<R> {
  fingerprint: string;
  /** Brings Bitbucket in line; its result answers for the key for `ttl` milliseconds. */
  execute: () => Promise<{ result: R; ttl: number }>;
}

/**
 * One synchronisation at a time per key (a repository's webhook, or a project's shared webhook), and none at all
 * while the last one is younger than its ttl and was made for the same desired state (the fingerprint). A thousand
 * reconciles of one project's Repositories therefore cost one webhook listing: the first one runs, the others queue
 * behind it on the key and then find its fresh result.
 */
export class SyncSlots<R> {
  readonly #slots = new Map<string, { chain: Promise<unknown>; last?: SyncRecord<R>; seq: number }>();
  readonly #now: () => number;

  constructor(now: () => number) {
    this.#now = now;
  }

  /**
   * `prepare` runs inside the key's turn (so it sees what earlier turns did) and says what the desired state is;
   * `execute` runs only when the last record does not already answer for it.
   */
  run(key: string, prepare: () => Promise<SyncRun<R>>): Promise<SyncRecord<R> & { reused: boolean }> {
    let slot = this.#slots.get(key);
    if (!slot) {
      slot = { chain: Promise.resolve(), seq: 0 };
      this.#slots.set(key, slot);
    }
    const current = slot;
    const turn = current.chain.then(async () => {
      const { fingerprint: print, execute } = await prepare();
      const last = current.last;
      if (last && last.fingerprint === print && this.#now() < last.expiresAt) return { ...last, reused: true };
      const { result, ttl } = await execute();
      const finishedAt = this.#now();
      const record: SyncRecord<R> = {
        fingerprint: print,
        seq: ++current.seq,
        finishedAt,
        expiresAt: finishedAt + ttl,
        result,
      };
      current.last = record;
      return { ...record, reused: false };
    });
    current.chain = turn.catch(() => undefined);
    return turn;
  }

  last(key: string): SyncRecord<R> | undefined {
    return this.#slots.get(key)?.last;
  }

  /** Makes the next run of the key execute whatever its fingerprint (e.g. Bitbucket contradicted the record). */
  expire(key: string): void {
    const slot = this.#slots.get(key);
    if (slot?.last) slot.last = { ...slot.last, expiresAt: 0 };
  }

  forget(key: string): void {
    this.#slots.delete(key);
  }

  get size(): number {
    return this.#slots.size;
  }
}

/**
 * The shared promise's outcome, or what `aborted` gives (or throws) once the caller's own signal aborts first. The
 * shared work goes on, and its outcome still lands where it is kept.
 */
function untilAborted<T>(shared: Promise<T>, signal: AbortSignal | undefined, aborted: () => T): Promise<T> {
  if (!signal) return shared;
  return new Promise<T>((resolve, reject) => {
    const onAbort = () => {
      try {
        resolve(aborted());
      } catch (error) {
        reject(error);
      }
    };
    // Attached first, so the shared promise always has a handler, even for a caller that has already given up.
    shared.then(resolve, reject).finally(() => signal.removeEventListener("abort", onAbort));
    if (signal.aborted) onAbort();
    else signal.addEventListener("abort", onAbort, { once: true });
  });
}
