// Deduplication: which deliveries and which runs count as "the same", and a bounded memory of the ones seen.
//
// Two layers, both keyed by strings the intake stores in a `SeenSet`:
//
// 1. Delivery: the same signed content, or the same `X-Request-Id`, for the same repository is a re-delivery (a
//    "Resend" in the webhook settings, a proxy retry, or a captured delivery replayed). The whole delivery is
//    dropped. The request id is not covered by the signature, so a replay under a fresh one must still be caught by
//    its content; the payload's `date` is, so deliveries older than the window are refused as stale (classify.ts)
//    and the window is as long as that.
//
// 2. Run: a key per (event scope, pipeline) that the intake checks once matching has decided which pipelines an
//    event starts. A pipeline is dropped only when the same pipeline already started for the same scope; a
//    pipeline that only one of two events matches is never dropped. Scopes:
//
//    | event                                   | scope                                   |
//    |-----------------------------------------|-----------------------------------------|
//    | push of ref R at commit S               | repo · S · R                            |
//    | PR opened/updated, source R in the repo | repo · S · R   (the same as the push!)  |
//    | PR opened/updated from a fork           | repo · S · pr:N                         |
//    | PR retargeted                           | repo · S · pr:N · retarget:<content>    |
//    | comment command                         | repo · comment:<comment id>             |
//    | PR closed, ping                         | none (they start no runs)               |
//
//    So exactly these pairs collapse:
//    - `repo:refs_changed` for branch B at S and `pr:opened` / `pr:from_ref_updated` whose source is B of the same
//      repository at S (Bitbucket sends both for one `git push` to a PR branch): a pipeline matching both (e.g.
//      `on-event: "[push, pull_request]"` with a target-branch glob matching both) runs once, with the pull
//      request's context whichever arrives first (pipelines/shared-run.ts); a pipeline matching only `[push]` or
//      only `[pull_request]` still runs for its event.
//    - Two PRs from the same branch at S (to different targets): a pipeline matching both runs once. Bitbucket
//      keys build statuses by commit, so both PRs show that one run's status; a second run would overwrite it.
//    - Re-deliveries of any of the above (same scope, same pipeline).
//    And these deliberately do not collapse: a retarget (the user changed what the PR is compared against) and
//    comment commands (`/test`, `/retest` exist to run again); each is deduplicated only against its own
//    re-delivery.
//
// Every scope is derived from signed content only (never the unsigned `X-Request-Id`), so a replay has the run key
// of the original. The in-memory set forgets on restart and is per replica; the durable record is the PipelineRun
// itself (labels `baton.dev/sha`, `baton.dev/pipeline` and the hashed run key `runKeyLabel`), and its name, derived
// from `headRunKey` (pipelines/naming.ts), makes the API server refuse a second create of the same run from any
// replica, whichever replica a replay reaches. Sharing the delivery set itself between replicas would need a store
// both can write atomically (e.g. one object per content digest, created so that the second create gets
// AlreadyExists, and deleted after the window); it is not needed for correctness while run keys are content-derived.
import { createHash } from "node:crypto";
import type { BatonEvent, EventRepository } from "./model.ts";

/** A repository's identity across events, independent of URL spelling (project keys are case-insensitive). */
export function repositoryKey(repository: Pick<EventRepository, "server" | "project" | "slug">): string {
  return `${(repository.server ?? "").toLowerCase()}|${repository.project.toUpperCase()}|${repository.slug.toLowerCase()}`;
}

/**
 * Keys of one delivery: its signed content and, when the request carried one, its `X-Request-Id`. A delivery is a
 * re-delivery when any of them was seen.
 */
export function deliveryKeys(event: BatonEvent): string[] {
  const repo = event.type === "ping" ? "" : repositoryKey(event.repository);
  const keys = [`delivery|${repo}|content:${contentDigest(event)}`];
  if (event.requestId !== undefined && event.requestId !== "") keys.push(`delivery|${repo}|${event.requestId}`);
  return keys;
}

/**
 * A digest of what the signature covers: the payload (events of one delivery share it). Hashed from the parsed
 * body, which the same bytes always give back.
 */
export function contentDigest(event: BatonEvent): string {
  return createHash("sha256")
    .update(JSON.stringify(event.body) ?? "")
    .digest("hex")
    .slice(0, 32);
}

/** The scope within which each pipeline starts at most once (see the table above); undefined: starts no runs. */
export function runScope(event: BatonEvent): string | undefined {
  switch (event.type) {
    case "ping":
    case "pull_request_closed":
      return undefined;
    case "push":
      return `run|${repositoryKey(event.repository)}|${event.sha}|${event.ref}`;
    case "comment":
      return `run|${repositoryKey(event.repository)}|comment:${event.comment.id}`;
    case "pull_request": {
      const pr = event.pullRequest;
      if (event.action === "retargeted") {
        const repo = repositoryKey(event.repository);
        // Each retarget runs again, but a replay of one does not: the payload (with its date) names the change.
        return `run|${repo}|${event.sha}|pr:${pr.number}|retarget:${contentDigest(event)}`;
      }
      return headScope(event);
    }
  }
}

/** The scope of a pull request's head: what its opened/updated events run in (see the table above). */
function headScope(event: Extract<BatonEvent, { type: "pull_request" | "comment" }>): string {
  const repo = repositoryKey(event.repository);
  const pr = event.pullRequest;
  if (pr.fromRepository.fork) return `run|${repo}|${event.sha}|pr:${pr.number}`;
  return `run|${repo}|${event.sha}|${pr.sourceRef}`;
}

/**
 * The key a run is named after (pipelines/naming.ts), so that the API server refuses a second run of it: the run key,
 * except that a comment command runs in its pull request's head scope. A `/retest` racing the `pr:opened` of the same
 * head then names the same run (its generation, counted from the runs already there, is 0 for both), while the
 * comment scope above still tells one comment's re-deliveries apart in memory.
 */
export function headRunKey(event: BatonEvent, pipeline: string): string | undefined {
  if (event.type !== "comment") return runKey(event, pipeline);
  return `${headScope(event)}|${pipeline}`;
}

/** Key of one pipeline's run for an event; undefined when the event starts no runs. */
export function runKey(event: BatonEvent, pipeline: string): string | undefined {
  const scope = runScope(event);
  return scope === undefined ? undefined : `${scope}|${pipeline}`;
}

/**
 * A label-safe digest of a run key (40 hex characters), for the PipelineRun so that a restarted intake can find
 * an earlier run of the same key with a label selector.
 */
export function runKeyLabel(key: string): string {
  return createHash("sha256").update(key).digest("hex").slice(0, 40);
}

export interface SeenSetOptions {
  /** How long a key is remembered, in milliseconds. */
  ttlMs: number;
  /** At most this many keys; the oldest are forgotten first. */
  maxSize: number;
  /** Milliseconds since the epoch; injectable so tests move time by hand. */
  now?: () => number;
}

/**
 * A set of recently seen keys with a time-to-live and a size cap, so a flood of distinct keys cannot grow memory
 * without bound. Keys are remembered from the first time they are added (re-adding does not extend their life).
 */
export class SeenSet {
  readonly #ttlMs: number;
  readonly #maxSize: number;
  readonly #now: () => number;
  /** Insertion-ordered; expiry times only grow along the order because the TTL is fixed. */
  readonly #expiry = new Map<string, number>();

  constructor(options: SeenSetOptions) {
    if (!(options.ttlMs > 0)) throw new RangeError(`SeenSet ttlMs must be positive, got ${options.ttlMs}`);
    if (!(Number.isInteger(options.maxSize) && options.maxSize > 0)) {
      throw new RangeError(`SeenSet maxSize must be a positive integer, got ${options.maxSize}`);
    }
    this.#ttlMs = options.ttlMs;
    this.#maxSize = options.maxSize;
    this.#now = options.now ?? Date.now;
  }

  /** Whether `key` was added and has not expired. */
  has(key: string): boolean {
    const now = this.#now();
    this.#evictExpired(now);
    const expiry = this.#expiry.get(key);
    return expiry !== undefined && expiry > now;
  }

  /**
   * Adds `key` and says whether it is new: true the first time, false while it is remembered. The check and the
   * insert are one step, so two concurrent deliveries cannot both see "new".
   */
  add(key: string): boolean {
    const now = this.#now();
    this.#evictExpired(now);
    const expiry = this.#expiry.get(key);
    if (expiry !== undefined && expiry > now) return false;
    this.#expiry.delete(key);
    while (this.#expiry.size >= this.#maxSize) {
      const oldest = this.#expiry.keys().next().value as string;
      this.#expiry.delete(oldest);
    }
    this.#expiry.set(key, now + this.#ttlMs);
    return true;
  }

  /** Adds every key of `keys` and says whether none of them was remembered; one step, as `add`. */
  addAll(keys: readonly string[]): boolean {
    if (keys.some((key) => this.has(key))) return false;
    for (const key of keys) this.add(key);
    return true;
  }

  /** Forgets `key`, e.g. when creating the run failed and a re-delivery must be allowed to try again. */
  delete(key: string): boolean {
    return this.#expiry.delete(key);
  }

  get size(): number {
    this.#evictExpired(this.#now());
    return this.#expiry.size;
  }

  #evictExpired(now: number): void {
    for (const [key, expiry] of this.#expiry) {
      if (expiry > now) break;
      this.#expiry.delete(key);
    }
  }
}
