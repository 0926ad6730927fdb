// One owner for a thing several objects claim (a Bitbucket repository, a token Secret): the oldest claim wins, the
// way Kubernetes users expect from "first come, first served", and a deterministic tie-break keeps every replica
// and every reconcile agreeing on the same winner.

export interface Claimant {
  metadata: { namespace?: string | undefined; name?: string | undefined; creationTimestamp?: string | undefined };
}

/**
 * The oldest claimant, then by namespace and name (the API server's timestamps have whole seconds, so ties happen).
 * Deleting claimants still count, so the next one takes over only once the first has let go.
 */
export function oldestClaim<T extends Claimant>(claimants: readonly T[]): T | undefined {
  const key = (c: T) => [
    Date.parse(c.metadata.creationTimestamp ?? "") || Number.MAX_SAFE_INTEGER,
    `${c.metadata.namespace ?? ""}/${c.metadata.name ?? ""}`,
  ];
  return [...claimants].sort((a, b) => {
    const [ta, na] = key(a) as [number, string];
    const [tb, nb] = key(b) as [number, string];
    return ta - tb || na.localeCompare(nb);
  })[0];
}
