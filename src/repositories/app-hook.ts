// A GitHub App's own webhook (App mode): one hook per App, delivering the events of every repository the App is
// installed on, so it is checked once per App (server + App id), never once per Repository. The first Repository
// of an App to need it reads the config with the App's JWT; everyone else reuses that answer until the drift
// interval is up (cache.ts SyncSlots, which also queues concurrent callers behind the one call).
//
// GitHub never shows the hook's secret (`********`), so whether the secret is the one Baton verifies deliveries
// with is Baton's own record: the print of the secret it last wrote, kept in memory per App and in the status of
// the Repositories that share it (status.webhook.secretPrint), so a restart does not rewrite it; without any
// record it is written once.
//
// The claim. The App has one secret, but each Repository names its own (spec.webhook.secretRef). Two that hold the
// same value share the hook. Otherwise the secret Baton keeps on the hook is the one of the Secret that claimed it
// (namespace/name/key), for as long as a live Repository of the App still reads that Secret: a rotation of that
// Secret is written, any other Repository wanting another value is refused (AppWebhookConflict, naming a Repository
// that holds the claim) and never written, so two Repositories can never PATCH the hook back and forth. When the
// last Repository reading the claimed Secret is deleted (or stops naming it), the next one to check takes over.
// With no claim at all (a new App, or a restart with no record), it goes to the oldest Repository's Secret, so
// the order reconciles run in decides nothing.
import { createHash } from "node:crypto";
import type { Repository } from "../api/repository.ts";
import type { Credential } from "../providers/http/auth.ts";
import type { GitProvider, Hook, HookScope } from "../providers/provider.ts";
import { oldestClaim } from "../runtime/claims.ts";
import { keyOf } from "../runtime/kube.ts";
import { SyncSlots } from "./cache.ts";
import { type FailureKind, jittered, retryDelay, secretPrintOf } from "./decisions.ts";
import { failureOf } from "./failures.ts";

/** The fields of the App's hook config Baton keeps, in the words GitHub's API uses. */
export const appHookFields = ["url", "content_type", "insecure_ssl", "secret"] as const;

/**
 * What differs between the App's hook (undefined: it has none) and what Baton wants; [] when nothing does.
 * `secretCurrent` is Baton's record that the secret on the hook is the one it wants. Pure.
 */
export function appHookDrift(hook: Hook | undefined, url: string, secretCurrent: boolean): string[] {
  if (hook === undefined) return [...appHookFields];
  const drift: string[] = [];
  if (hook.url !== url) drift.push("url");
  if (hook.contentType !== "json") drift.push("content_type");
  if (hook.insecureSsl === true) drift.push("insecure_ssl");
  if (hook.secretSet !== true || !secretCurrent) drift.push("secret");
  return drift;
}

/** Who claimed the App's secret: the Secret (namespace/name/key) it came from, and the print of its value. */
export interface AppHookClaim {
  source: string;
  print: string;
}

export type ClaimDecision = { kind: "share" } | { kind: "take" } | { kind: "conflict"; holder: string };

/**
 * Whether a Repository wanting `want` may have the App's hook carry its secret. `holders`: the other live
 * Repositories of the App reading the claimed Secret, oldest first. Pure.
 */
export function claimDecision(
  claim: AppHookClaim | undefined,
  want: AppHookClaim,
  holders: readonly string[],
): ClaimDecision {
  if (claim === undefined) return { kind: "take" };
  if (claim.print === want.print) return { kind: "share" };
  // The claimed Secret itself changed (a rotation): everyone reading it wants the new value.
  if (claim.source === want.source) return { kind: "take" };
  const [holder] = holders;
  return holder === undefined ? { kind: "take" } : { kind: "conflict", holder };
}

/** Where a Repository's App webhook secret is read from, as the claim names it; undefined without secretRef. */
export function secretSourceOf(repo: Pick<Repository, "metadata" | "spec">): string | undefined {
  const ref = repo.spec?.webhook?.secretRef;
  return ref ? `${repo.metadata?.namespace ?? ""}/${ref.name}/${ref.key}` : undefined;
}

/** The reason on WebhookSynced of a Repository whose App hook is as Baton wants it. */
export const appHookSynced = "AppWebhookSynced";

/**
 * The claim Repositories' statuses recorded before a restart: the oldest of those that found the hook in sync
 * (and so share the secret it carries). Pure.
 */
export function recordedClaim(members: readonly Repository[]): AppHookClaim | undefined {
  const synced = members.filter((m) => {
    const condition = m.status?.conditions?.find((c) => c.type === "WebhookSynced");
    return condition?.reason === appHookSynced && condition.status === "True" && !!m.status?.webhook?.secretPrint;
  });
  const oldest = oldestClaim(synced);
  const source = oldest ? secretSourceOf(oldest) : undefined;
  const print = oldest?.status?.webhook?.secretPrint;
  return source && print ? { source, print } : undefined;
}

export type AppHookOutcome =
  | {
      kind: "synced";
      url: string;
      /** The print of the secret on the hook (status.webhook.secretPrint). */
      print: string;
      /** The fields this Repository's check repaired; [] when it found the hook right or reused another's check. */
      repaired: readonly string[];
      /** When the App's hook is due for its next check. */
      expiresAt: number;
    }
  | { kind: "conflict"; holder: string }
  /** GitHub's answer to the check (shared by the App's Repositories until `expiresAt`). */
  | { kind: "failed"; failure: FailureKind; detail: string; expiresAt: number }
  /** What keeps this Repository from asking at all (no secret, no key, no intake URL); not from the check. */
  | { kind: "problem"; reason: string; message: string };

export interface AppHookRequest {
  repo: Repository;
  provider: GitProvider;
  /** The App's JWT, and the print of the key that signs it (a new key is checked at once). */
  credential: Credential;
  keyPrint: string;
  /** Where GitHub must deliver: Baton's intake for GitHub. */
  url: string;
  secret: string;
  signal: AbortSignal;
}

export interface AppHooksDeps {
  now(): number;
  driftInterval: number;
  random?: () => number;
  /** The live, managed Repositories naming the App `app` (appIdentity), from the informer. */
  members(app: string): Repository[];
  /** Asks for another reconcile of a Repository (the claim it conflicted with or shared changed). */
  wake?: (key: string) => void;
  /** Counts each check's outcome (metrics). */
  count?: (result: "unchanged" | "updated" | "failed") => void;
}

type CheckResult = { ok: true; repaired: string[] } | { ok: false; kind: FailureKind; detail: string };

class ClaimConflict extends Error {
  readonly holder: string;
  constructor(holder: string) {
    super(`the App's webhook is claimed by Repository ${holder}`);
    this.holder = holder;
  }
}

const appScope: HookScope = { kind: "app" };

/** The App's hook, checked once per App per drift interval, repaired with one PATCH, claimed by one secret. */
export class AppHooks {
  readonly #deps: AppHooksDeps;
  readonly #slots: SyncSlots<CheckResult>;
  readonly #claims = new Map<string, AppHookClaim & { written: boolean }>();
  readonly #failures = new Map<string, number>();

  constructor(deps: AppHooksDeps) {
    this.#deps = deps;
    this.#slots = new SyncSlots(deps.now);
  }

  async check(app: string, request: AppHookRequest): Promise<AppHookOutcome> {
    const { repo } = request;
    const self = keyOf(repo);
    const source = secretSourceOf(repo);
    if (source === undefined) throw new Error("an App webhook check needs spec.webhook.secretRef; this is a bug");
    const want = { source, print: secretPrintOf(request.secret) };
    let claimChanged = false;
    let record: Awaited<ReturnType<SyncSlots<CheckResult>["run"]>>;
    try {
      // The decision is taken in the App's turn, so two Repositories with different secrets cannot both take it.
      record = await this.#slots.run(app, async () => {
        const members = this.#deps.members(app).filter((m) => keyOf(m) !== self);
        const claim = this.#claims.get(app) ?? this.#initialClaim(app, members, repo, want);
        const holders = members.filter((m) => secretSourceOf(m) === claim?.source);
        const decision = claimDecision(claim, want, holders.length > 0 ? [keyOf(oldestClaim(holders) ?? repo)] : []);
        if (decision.kind === "conflict") throw new ClaimConflict(decision.holder);
        let current = claim;
        if (decision.kind === "take" && (claim?.print !== want.print || claim.source !== want.source)) {
          current = { ...want, written: false };
          this.#claims.set(app, current);
          claimChanged = true;
        }
        const held = current ?? { ...want, written: false };
        return {
          fingerprint: hash([request.url, held.print, request.keyPrint]),
          execute: () => this.#execute(app, request, held),
        };
      });
    } catch (error) {
      if (error instanceof ClaimConflict) return { kind: "conflict", holder: error.holder };
      throw error;
    }
    if (claimChanged) for (const other of this.#deps.members(app)) if (keyOf(other) !== self) this.#wake(other);
    const result = record.result;
    if (!result.ok) return { kind: "failed", failure: result.kind, detail: result.detail, expiresAt: record.expiresAt };
    return {
      kind: "synced",
      url: request.url,
      print: want.print,
      repaired: record.reused ? [] : result.repaired,
      expiresAt: record.expiresAt,
    };
  }

  /** No claim in memory: the one the statuses recorded, else the oldest Repository's Secret's (maybe this one). */
  #initialClaim(
    app: string,
    others: Repository[],
    self: Repository,
    want: AppHookClaim,
  ): (AppHookClaim & { written: boolean }) | undefined {
    const recorded = recordedClaim(self.status?.webhook?.secretPrint ? [self, ...others] : others);
    if (recorded) {
      const claim = { ...recorded, written: true };
      this.#claims.set(app, claim);
      return claim;
    }
    const oldest = oldestClaim([self, ...others]);
    if (!oldest || keyOf(oldest) === keyOf(self) || secretSourceOf(oldest) === want.source) return undefined;
    // The oldest Repository's value is not known until it checks; until then its Secret holds the claim.
    return { source: secretSourceOf(oldest) ?? "", print: "", written: false };
  }

  async #execute(
    app: string,
    request: AppHookRequest,
    claim: AppHookClaim & { written: boolean },
  ): Promise<{ result: CheckResult; ttl: number }> {
    const call = { auth: request.credential, signal: request.signal };
    try {
      const [hook] = await request.provider.listHooks(appScope, call);
      const repaired = appHookDrift(hook, request.url, claim.written && claim.print === secretPrintOf(request.secret));
      if (repaired.length > 0) {
        const input = { name: "app", url: request.url, events: [], active: true, secret: request.secret };
        await request.provider.updateHook(appScope, hook?.id ?? "app", input, call);
      }
      claim.written = true;
      this.#failures.delete(app);
      this.#deps.count?.(repaired.length > 0 ? "updated" : "unchanged");
      return { result: { ok: true, repaired }, ttl: jittered(this.#deps.driftInterval, this.#deps.random) };
    } catch (error) {
      const { kind, detail } = failureOf(error);
      if (kind === "other") throw error;
      const failures = (this.#failures.get(app) ?? 0) + 1;
      this.#failures.set(app, failures);
      this.#deps.count?.("failed");
      return { result: { ok: false, kind, detail }, ttl: retryDelay(failures, this.#deps.driftInterval) };
    }
  }

  #wake(repo: Repository): void {
    this.#deps.wake?.(keyOf(repo));
  }
}

/** Identity of a GitHub App across the cluster: its server and id. */
export function appIdentity(server: string, appId: string): string {
  return `${server.replace(/\/+$/, "").toLowerCase()}|${appId}`;
}

function hash(parts: string[]): string {
  return createHash("sha256").update(JSON.stringify(parts)).digest("hex").slice(0, 24);
}
