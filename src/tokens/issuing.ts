// Issuing a managed token: create it in Bitbucket (revoking what an interrupted attempt left behind first), write
// it to the Secret, record it in status; and adopting a token that reached the Secret but never reached status.
import { type BitbucketProjectToken, secretAnnotations, type TokenStatus } from "../api/token.ts";
import type { Credential } from "../providers/http/auth.ts";
import type { GitProvider } from "../providers/provider.ts";
import type { Clock } from "../runtime/clock.ts";
import type { ReconcileContext } from "../runtime/controller.ts";
import { type KubeClient, Secrets } from "../runtime/kube.ts";
import type { Secret } from "../runtime/kube-types.ts";
import { findOrphans, issueToken, revokeToken } from "./issuer.ts";
import { policyOf, renewalTime, type TokenOwner, tokenName, tokenNamePrefix } from "./lifecycle.ts";
import type { EventSink } from "./reconciler.ts";
import { fingerprint, issuedFor, issuedForAnnotation, managedSecret, tokenLabel } from "./secret.ts";
import { iso } from "./step.ts";

export interface IssuingDeps {
  kube: KubeClient;
  clock: Clock;
  events: EventSink;
  instance: string;
}

export async function issue(
  deps: IssuingDeps,
  token: BitbucketProjectToken,
  status: TokenStatus,
  admin: Credential,
  client: GitProvider,
  reason: string,
  ctx: ReconcileContext,
): Promise<{ fingerprint: string; user?: string | undefined }> {
  const { kube, clock, events, instance } = deps;
  const spec = token.spec;
  const namespace = token.metadata.namespace ?? "";
  const owner = ownerOf(token);
  const prefix = tokenNamePrefix(instance, owner);

  // Never two live untracked tokens: whatever an interrupted attempt left behind goes before a new one is made.
  // The token the Secret holds is never an orphan: consumers may be using it.
  // Only names under this installation's prefix are candidates: another installation's tokens, and legacy `baton/…`
  // ones from before BATON_INSTANCE, are never touched by name (lifecycle.ts, tokenName).
  const inSecret = (await kube.get(Secrets, { namespace, name: spec.secretName }, ctx.signal))?.metadata?.annotations?.[
    secretAnnotations.tokenId
  ];
  const tracked = new Set([status.tokenId, status.previousToken?.id, inSecret].filter((id): id is string => !!id));
  for (const orphan of await findOrphans(client, admin, spec, prefix, tracked, ctx.signal)) {
    await revokeToken(client, admin, spec, orphan.id, ctx.signal);
    events.normal(token, "Revoked", `revoked ${orphan.name} (id ${orphan.id}), left untracked by an interrupted issue`);
  }

  const revision = (status.revision ?? 0) + 1;
  const issued = await issueToken(
    client,
    admin,
    spec,
    tokenName(instance, owner, revision),
    policyOf(spec).lifetime,
    () => clock.now(),
    ctx.signal,
  );
  try {
    await kube.apply(
      Secrets,
      managedSecret(token, { id: issued.id, secret: issued.secret, notAfter: issued.notAfter, revision }),
    );
  } catch (error) {
    // The secret value is lost with this process; revoke rather than leave a live token nobody holds.
    await revokeToken(client, admin, spec, issued.id).catch(() => undefined);
    throw error;
  }
  ctx.log.info({ tokenId: issued.id, revision }, "issued a token");

  const replacing = status.tokenId !== undefined;
  if (replacing && status.tokenId) {
    if (status.previousToken) {
      // Two rotations within one grace period: the oldest token goes now, so at most two are ever live.
      await revokeToken(client, admin, spec, status.previousToken.id, ctx.signal);
    }
    const revokeAt = clock.now() + policyOf(spec).revocationGracePeriod;
    status.previousToken = { id: status.tokenId, revokeAt: iso(revokeAt) };
  }
  const renewBefore = policyOf(spec).renewBefore;
  Object.assign(status, {
    tokenId: issued.id,
    tokenName: issued.name,
    tokenUser: issued.user,
    notBefore: iso(issued.notBefore),
    notAfter: iso(issued.notAfter),
    renewalTime: iso(renewalTime(issued.notBefore, issued.notAfter, renewBefore)),
    revision,
    failedIssueAttempts: 0,
  });
  delete status.lastFailureTime;
  const clamp = issued.clampedFrom
    ? ` (asked for ${issued.clampedFrom} days; the server allows at most ${issued.expiryDays})`
    : "";
  events.normal(
    token,
    replacing ? "Renewed" : "Issued",
    `issued ${issued.name} (id ${issued.id}), valid until ${iso(issued.notAfter)}${clamp}; reason: ${reason}`,
  );
  return { fingerprint: fingerprint(issued.secret), user: issued.user };
}

/**
 * The Secret may hold a newer token than status records: Baton issued it and wrote the Secret, but the status
 * write after it was lost (a crash, a conflict). Consumers may already use it, so it is adopted — recorded as
 * current, the recorded one becoming the previous token — never revoked as an orphan.
 */
export function adoptUnrecorded(
  deps: IssuingDeps,
  token: BitbucketProjectToken,
  status: TokenStatus,
  secret: Secret | undefined,
  value: string | undefined,
): void {
  const annotations = secret?.metadata?.annotations ?? {};
  const id = annotations[secretAnnotations.tokenId];
  const revision = Number(annotations[secretAnnotations.revision]);
  const expires = Date.parse(annotations[secretAnnotations.expiresAt] ?? "");
  const ours =
    secret?.metadata?.labels?.[tokenLabel] === token.metadata.name &&
    annotations[issuedForAnnotation] === issuedFor(token);
  if (
    !ours ||
    !id ||
    !value ||
    id === status.tokenId ||
    !(revision > (status.revision ?? 0)) ||
    !Number.isFinite(expires)
  )
    return;
  const policy = policyOf(token.spec);
  const now = deps.clock.now();
  if (status.tokenId) status.previousToken = { id: status.tokenId, revokeAt: iso(now + policy.revocationGracePeriod) };
  // Bitbucket fixed the expiry; the issue time is the lifetime before it (near enough to place the renewal).
  const notBefore = expires - policy.lifetime;
  Object.assign(status, {
    tokenId: id,
    tokenName: tokenName(deps.instance, ownerOf(token), revision),
    notBefore: iso(notBefore),
    notAfter: iso(expires),
    renewalTime: iso(renewalTime(notBefore, expires, policy.renewBefore)),
    revision,
  });
  deps.events.normal(
    token,
    "Adopted",
    `recorded token ${id} (revision ${revision}) found in Secret ${token.spec.secretName}: its issue was interrupted before status was written`,
  );
}

function ownerOf(token: BitbucketProjectToken): TokenOwner {
  return { namespace: token.metadata.namespace ?? "", name: token.metadata.name, uid: token.metadata.uid ?? "" };
}
