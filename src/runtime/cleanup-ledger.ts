// What a deleted object could not clean up in Bitbucket (a token left valid, a webhook left behind) because
// Bitbucket was unreachable for longer than its finalizer waits. Kept in one Secret of the operator's namespace,
// owned by the installation, so that the object can go (a namespace deletion is not held up for ever) without the
// leftover being forgotten: the cleanup controller retries each entry with back-off until it succeeds, and Events on
// that Secret say what happened. Only references are recorded (where the credentials are), never a credential.
import { createHash } from "node:crypto";
import { z } from "zod";
import { Provider } from "../events/model.ts";
import { isAlreadyExists, isConflict, type KubeClient, Secrets } from "./kube.ts";
import type { Secret } from "./kube-types.ts";

export const cleanupLedgerName = "baton-pending-cleanup";

export const LedgerEntry = z.object({
  kind: z.enum(["token", "webhook"]),
  server: z.string(),
  /** The host kind serving `server` (absent: Data Center, what every entry before other hosts was). */
  provider: Provider.optional(),
  project: z.string(),
  /** A repository-scoped token or webhook: its repository's slug. */
  repository: z.string().optional(),
  /** Bitbucket's id of the token or webhook. */
  id: z.string(),
  /** The object that left it, as `Kind namespace/name`, for the Events and for a person reading the Secret. */
  leftBy: z.string(),
  /** The Secret holding the credentials to clean up with: a project admin's username/password, or a token. */
  credentials: z.object({ namespace: z.string(), name: z.string(), key: z.string().optional() }),
  /** After this time there is nothing left to clean up (a token expires on its own). */
  moot: z.string().optional(),
  since: z.string(),
  attempts: z.int().min(0),
  nextAttempt: z.string(),
  lastError: z.string().optional(),
});
export type LedgerEntry = z.infer<typeof LedgerEntry>;

/** After the n-th failed attempt: 10 s, doubling to at most 30 minutes. */
export function retryDelay(attempts: number): number {
  return Math.min(10_000 * 2 ** Math.max(0, attempts - 1), 30 * 60_000);
}

/** One data key per leftover: the same leftover recorded twice is one entry. */
export function entryKey(entry: Pick<LedgerEntry, "kind" | "server" | "project" | "repository" | "id">): string {
  const hash = createHash("sha256")
    .update(JSON.stringify([entry.server.replace(/\/+$/, ""), entry.project, entry.repository ?? "", entry.id]))
    .digest("hex")
    .slice(0, 20);
  return `${entry.kind}.${hash}`;
}

export interface LedgerOptions {
  kube: KubeClient;
  namespace: string;
  /** The installation Secret's uid, when there is one: the ledger is owned by it. */
  owner?: () => Promise<{ name: string; uid: string } | undefined>;
}

export class CleanupLedger {
  readonly #o: LedgerOptions;

  constructor(options: LedgerOptions) {
    this.#o = options;
  }

  get namespace(): string {
    return this.#o.namespace;
  }

  /** The ledger Secret itself (what Events are recorded on), undefined while nothing was ever recorded. */
  async read(signal?: AbortSignal): Promise<{ secret: Secret; entries: Map<string, LedgerEntry> } | undefined> {
    const secret = await this.#o.kube.get(Secrets, { namespace: this.#o.namespace, name: cleanupLedgerName }, signal);
    if (!secret) return undefined;
    const entries = new Map<string, LedgerEntry>();
    for (const [key, value] of Object.entries(secret.data ?? {})) {
      const parsed = LedgerEntry.safeParse(safeJson(Buffer.from(value, "base64").toString("utf8")));
      // An entry a person edited into something else is left for them; it is not acted on.
      if (parsed.success) entries.set(key, parsed.data);
    }
    return { secret, entries };
  }

  /** Adds or replaces entries (null removes one). Guarded by resourceVersion, retried on conflict. */
  async write(changes: ReadonlyMap<string, LedgerEntry | null>, signal?: AbortSignal): Promise<void> {
    if (changes.size === 0) return;
    const data: Record<string, string | null> = {};
    for (const [key, entry] of changes)
      data[key] = entry === null ? null : Buffer.from(JSON.stringify(entry), "utf8").toString("base64");
    for (let attempt = 0; ; attempt++) {
      const current = await this.#o.kube.get(
        Secrets,
        { namespace: this.#o.namespace, name: cleanupLedgerName },
        signal,
      );
      try {
        if (!current) {
          const owner = await this.#o.owner?.();
          const added = Object.fromEntries(Object.entries(data).filter((e): e is [string, string] => e[1] !== null));
          if (Object.keys(added).length === 0) return;
          await this.#o.kube.create(Secrets, {
            apiVersion: "v1",
            kind: "Secret",
            type: "Opaque",
            metadata: {
              name: cleanupLedgerName,
              namespace: this.#o.namespace,
              labels: { "app.kubernetes.io/managed-by": "baton" },
              annotations: {
                "baton.dev/purpose":
                  "Tokens and webhooks Baton could not remove in Bitbucket when their object was deleted (Bitbucket " +
                  "was unreachable). Retried until done; see this Secret's Events. No credentials are stored here.",
              },
              ...(owner
                ? { ownerReferences: [{ apiVersion: "v1", kind: "Secret", name: owner.name, uid: owner.uid }] }
                : {}),
            },
            data: added,
          });
          return;
        }
        await this.#o.kube.patch(
          Secrets,
          { namespace: this.#o.namespace, name: cleanupLedgerName },
          { metadata: { resourceVersion: current.metadata?.resourceVersion }, data },
        );
        return;
      } catch (err) {
        if (attempt >= 4 || !(isConflict(err) || isAlreadyExists(err))) throw err;
      }
    }
  }
}

function safeJson(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return undefined;
  }
}
