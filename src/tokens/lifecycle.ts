// The token lifecycle's decisions as pure functions: when to renew, how long to ask for, what a token is called,
// how long to back off. The reconciler fetches facts, calls these, and writes the outcome.
import { parseDuration } from "../api/common.ts";
import type { TokenSpec } from "../api/token.ts";

const day = 86_400_000;

/** The spec with every default applied, in milliseconds: what the reconciler works with. */
export interface TokenPolicy {
  lifetime: number;
  renewBefore: number;
  revocationGracePeriod: number;
}

export function policyOf(spec: Pick<TokenSpec, "lifetime" | "renewBefore" | "revocationGracePeriod">): TokenPolicy {
  const lifetime = parseDuration(spec.lifetime ?? "2160h");
  return {
    lifetime,
    // Default applied in memory, never written to spec, so GitOps tools see no drift.
    renewBefore: spec.renewBefore === undefined ? Math.floor(lifetime / 3) : parseDuration(spec.renewBefore),
    revocationGracePeriod: parseDuration(spec.revocationGracePeriod ?? "2h"),
  };
}

/**
 * cert-manager's rule: renew `renewBefore` ahead of expiry, truncated to whole seconds. When renewBefore is not
 * shorter than the token's actual validity (a server clamped the expiry, say), renew at two thirds of it instead
 * of at once, so a short-lived token is not reissued in a loop.
 */
export function renewalTime(notBefore: number, notAfter: number, renewBefore: number): number {
  const validity = notAfter - notBefore;
  const ahead = renewBefore > 0 && renewBefore < validity ? renewBefore : Math.floor(validity / 3);
  return Math.floor((notAfter - ahead) / 1000) * 1000;
}

export interface ExpiryRequest {
  expiryDays: number;
  /** True when the server's maximum made Baton ask for less than the spec's lifetime. */
  clamped: boolean;
}

/** Bitbucket issues tokens for whole days; an administrator's maximum, when known, caps the request. */
export function expiryDaysFor(lifetime: number, maxExpiryDays?: number): ExpiryRequest {
  const wanted = Math.max(1, Math.ceil(lifetime / day));
  if (maxExpiryDays !== undefined && maxExpiryDays > 0 && wanted > maxExpiryDays) {
    return { expiryDays: maxExpiryDays, clamped: true };
  }
  return { expiryDays: wanted, clamped: false };
}

/** When a token created at `createdDate` for `expiryDays` stops working (Bitbucket fixes expiry at creation). */
export function expiryOf(createdDate: number, expiryDays: number): number {
  return createdDate + expiryDays * day;
}

/**
 * Token names carry their owner so that a crash between creating a token and storing it leaves an orphan Baton
 * can recognise. `/` separates the parts because Kubernetes names cannot contain it: with `-`, namespace `team`
 * name `a-ci` and namespace `team-a` name `ci` would share names, and one would revoke the other's tokens as
 * orphans. The instance prefix (BATON_INSTANCE, else derived per installation: runtime/installation.ts) keeps two
 * clusters that manage the same project apart: orphan search only ever matches this installation's own prefix.
 * Upgrade: releases before BATON_INSTANCE named every token `baton/…`. Such a token is still this installation's
 * when status or the Secret records its id (rotation and deletion go by those ids, never by name), and an untracked
 * `baton/…` token is never revoked as an orphan, since another cluster may have issued it; it expires on its own.
 */
export function tokenName(instance: string, namespace: string, name: string, revision: number): string {
  return `${tokenNamePrefix(instance, namespace, name)}${revision}`;
}

export function tokenNamePrefix(instance: string, namespace: string, name: string): string {
  return `${instance}/${namespace}/${name}/`;
}

/** The revision in a token name Baton gave this object, or undefined when the name is not one of its tokens. */
export function revisionOf(tokenName: string, prefix: string): number | undefined {
  if (!tokenName.startsWith(prefix)) return undefined;
  const rest = tokenName.slice(prefix.length);
  return /^[0-9]{1,9}$/.test(rest) ? Number(rest) : undefined;
}

/** Exponential back-off after failed issue attempts: 10 s, 20 s, 40 s … capped at 15 minutes. */
export function issueBackoff(failedAttempts: number): number {
  if (failedAttempts <= 0) return 0;
  return Math.min(10_000 * 2 ** (failedAttempts - 1), 15 * 60_000);
}

/**
 * Whether a lifetime change calls for a new token. cert-manager re-issues when the duration the current certificate
 * was requested with differs from spec.duration, and keeps it when the request recorded none; Baton does the same,
 * in the unit Bitbucket is asked for (whole days): a token's expiry is fixed at creation, so a new lifetime can only
 * take effect through a new token, and waiting for the renewal time would leave the old one for months.
 */
export function lifetimeChanged(recorded: number | undefined, lifetime: number): boolean {
  return recorded !== undefined && expiryDaysFor(recorded).expiryDays !== expiryDaysFor(lifetime).expiryDays;
}
