// The token lifecycle's decisions as pure functions: when to renew, how long to ask for, what a token is called,
// how long to back off. The reconciler fetches facts, calls these, and writes the outcome.
import { parseDuration } from "../api/common.ts";
import { defaultRevocationHoldLimit, type TokenSpec } from "../api/token.ts";

const day = 86_400_000;

/** The spec with every default applied, in milliseconds: what the reconciler works with. */
export interface TokenPolicy {
  lifetime: number;
  renewBefore: number;
  revocationGracePeriod: number;
  revocationHoldLimit: number;
}

export function policyOf(
  spec: Pick<TokenSpec, "lifetime" | "renewBefore" | "revocationGracePeriod" | "revocationHoldLimit">,
): TokenPolicy {
  const lifetime = parseDuration(spec.lifetime ?? "2160h");
  return {
    lifetime,
    // Default applied in memory, never written to spec, so GitOps tools see no drift.
    renewBefore: spec.renewBefore === undefined ? Math.floor(lifetime / 3) : parseDuration(spec.renewBefore),
    revocationGracePeriod: parseDuration(spec.revocationGracePeriod ?? "2h"),
    revocationHoldLimit: parseDuration(spec.revocationHoldLimit ?? defaultRevocationHoldLimit),
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
 * Upgrade: releases before BATON_INSTANCE named every token `baton/<namespace>/<name>/<revision>`. Such a token is
 * still this installation's when status or the Secret records its id (rotation and deletion go by those ids, never
 * by name); an untracked one never matches a prefix (it has no uid part), so it is never revoked as an orphan:
 * another cluster may have issued it. It expires on its own.
 */
export function tokenName(instance: string, owner: TokenOwner, revision: number): string {
  return `${tokenNamePrefix(instance, owner)}${revision}`;
}

/** The object a token is issued for: its uid tells it from an earlier object of the same name. */
export interface TokenOwner {
  namespace: string;
  name: string;
  uid: string;
}

/**
 * The object's uid (its first 8 characters) is part of the name: an object deleted with deletionPolicy Retain
 * leaves its tokens alive, and a new object of the same name must not take them for its own orphans.
 */
export function tokenNamePrefix(instance: string, owner: TokenOwner): string {
  return `${instance}/${owner.namespace}/${owner.name}/${owner.uid.slice(0, 8)}/`;
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
