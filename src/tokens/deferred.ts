// Tokens a deleted BitbucketProjectToken could not revoke (Bitbucket unreachable past the finalizer's patience):
// recorded in the cleanup ledger with where the admin credentials are, and revoked by the cleanup controller once
// Bitbucket answers again; moot once the token has expired.
import type { BitbucketProjectToken } from "../api/token.ts";
import type { GitProvider } from "../providers/provider.ts";
import type { CleanupHandler } from "../runtime/cleanup.ts";
import { type CleanupLedger, entryKey, type LedgerEntry } from "../runtime/cleanup-ledger.ts";
import type { KubeClient } from "../runtime/kube.ts";
import { credentialsIn } from "./credentials.ts";
import { revokeToken } from "./issuer.ts";

/** Records the tokens `ids` of a token object being deleted, to be revoked later. */
export async function deferRevocation(
  ledger: CleanupLedger,
  token: BitbucketProjectToken,
  ids: readonly string[],
  error: string,
): Promise<void> {
  // Real time: the retries that follow wait on real timers.
  const now = new Date().toISOString();
  const changes = new Map<string, LedgerEntry>();
  for (const id of ids) {
    const entry: LedgerEntry = {
      kind: "token",
      server: token.spec.server,
      project: token.spec.project,
      ...(token.spec.repository ? { repository: token.spec.repository } : {}),
      id,
      leftBy: `BitbucketProjectToken ${token.metadata.namespace}/${token.metadata.name}`,
      credentials: { namespace: token.metadata.namespace ?? "", name: token.spec.adminCredentialsRef?.name ?? "" },
      // The current token expires last; the previous one no later. Past that there is nothing to revoke.
      ...(token.status?.notAfter ? { moot: token.status.notAfter } : {}),
      since: now,
      attempts: 0,
      nextAttempt: now,
      lastError: error,
    };
    changes.set(entryKey(entry), entry);
  }
  await ledger.write(changes);
}

export function tokenCleanup(deps: {
  kube: KubeClient;
  bitbucket(server: string): GitProvider;
  serverRefusal(server: string): string | undefined;
}): CleanupHandler {
  return async (entry, signal) => {
    const refusal = deps.serverRefusal(entry.server);
    if (refusal !== undefined) throw new Error(refusal);
    const admin = await credentialsIn(deps.kube, entry.credentials.namespace, entry.credentials.name, { signal });
    if ("problem" in admin)
      throw new Error(`${admin.problem} (in namespace ${entry.credentials.namespace}); revoke the token by hand`);
    const scope = { project: entry.project, repository: entry.repository };
    const existed = await revokeToken(deps.bitbucket(entry.server), admin.auth, scope, entry.id, signal);
    return existed ? "revoked the token" : "found the token already revoked";
  };
}
