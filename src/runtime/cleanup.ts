// The leader's retries of what deleted objects left in Bitbucket (cleanup-ledger.ts): each due entry is tried once
// per pass; done or moot, it leaves the ledger with a Normal Event; failed, it is tried again after a growing delay
// with a Warning Event naming the error and the next attempt. Events are recorded on the ledger Secret: the object
// that left the entry is gone, and its namespace may be too.

import { type CleanupLedger, type LedgerEntry, retryDelay } from "./cleanup-ledger.ts";
import type { Clock } from "./clock.ts";
import type { EventSource, ReconcileContext, ReconcileResult } from "./controller.ts";
import type { KubeObject } from "./kube.ts";
import { scrub } from "./redact.ts";

/** Cleans one entry up in Bitbucket (a 404 counts as done); throws to be retried. Returns what was done. */
export type CleanupHandler = (entry: LedgerEntry, signal: AbortSignal) => Promise<string>;

export interface CleanupDeps {
  ledger: CleanupLedger;
  /** By kind; an entry of a kind without a handler is left as it is. */
  handlers: Partial<Record<LedgerEntry["kind"], CleanupHandler>>;
  events: {
    normal(obj: KubeObject, reason: string, message: string): void;
    warning(obj: KubeObject, reason: string, message: string): void;
  };
  /** The domain clock: whether an entry is moot (a token past its expiry). */
  clock: Clock;
  /** Real time, for the retry delays. */
  now?: () => number;
}

/** How often an empty (or absent) ledger is looked at anyway: another replica may have led when it was written. */
const idleCheckMs = 10 * 60_000;

export function describeEntry(entry: LedgerEntry): string {
  const where = `${entry.project}${entry.repository ? `/${entry.repository}` : ""} on ${entry.server}`;
  return `${entry.kind} ${entry.id} (${where}) left by ${entry.leftBy}`;
}

export class CleanupRetrier {
  readonly #deps: CleanupDeps;

  constructor(deps: CleanupDeps) {
    this.#deps = deps;
  }

  readonly reconcile = async (_key: unknown, ctx: ReconcileContext): Promise<ReconcileResult> => {
    const { ledger, events } = this.#deps;
    const now = this.#deps.now?.() ?? Date.now();
    const read = await ledger.read(ctx.signal);
    if (!read) return { requeueAfter: idleCheckMs };
    const changes = new Map<string, LedgerEntry | null>();
    let next = now + idleCheckMs;
    for (const [key, entry] of read.entries) {
      if (entry.moot !== undefined && this.#deps.clock.now() >= Date.parse(entry.moot)) {
        changes.set(key, null);
        events.normal(read.secret, "CleanupMoot", `${describeEntry(entry)}: expired at ${entry.moot}; nothing to do`);
        continue;
      }
      const due = Date.parse(entry.nextAttempt);
      if (due > now) {
        next = Math.min(next, due);
        continue;
      }
      const handler = this.#deps.handlers[entry.kind];
      if (!handler) continue;
      try {
        const done = await handler(entry, ctx.signal);
        changes.set(key, null);
        events.normal(read.secret, "CleanedUp", `${done}: ${describeEntry(entry)}`);
      } catch (error) {
        const attempts = entry.attempts + 1;
        const retryAt = now + retryDelay(attempts);
        const lastError = scrub(error instanceof Error ? error.message : String(error)).slice(0, 1000);
        changes.set(key, { ...entry, attempts, nextAttempt: new Date(retryAt).toISOString(), lastError });
        next = Math.min(next, retryAt);
        events.warning(
          read.secret,
          "CleanupFailed",
          `${describeEntry(entry)}: ${lastError}; attempt ${attempts}, next at ${new Date(retryAt).toISOString()}`,
        );
      }
    }
    await ledger.write(changes);
    return { requeueAfter: Math.max(1_000, next - now) };
  };
}

/** A source that asks for one key each time the controller starts (on becoming leader): the ledger's own key. */
export function once(key: { namespace: string; name: string }): EventSource {
  return {
    subscribe(enqueue) {
      enqueue(`${key.namespace}/${key.name}`);
      return () => {};
    },
    waitForSync: async () => true,
  };
}
