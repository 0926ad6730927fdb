// Webhooks a deleted Repository could not remove (Bitbucket unreachable past the finalizer's patience): recorded in
// the cleanup ledger with where the operator's token is, and removed by the cleanup controller once Bitbucket answers
// again. A project hook is removed only if no Repository uses it by then (one created since takes it over). The
// entry names its host kind, so a Cloud hook is removed through Cloud.
import type { Repository } from "../api/repository.ts";
import type { BitbucketProjectToken } from "../api/token.ts";
import type { HookScope, ProviderLookup } from "../providers/provider.ts";
import { providerKindOf } from "../providers/registry.ts";
import type { CleanupHandler } from "../runtime/cleanup.ts";
import { type CleanupLedger, cleanupLedgerName, entryKey, type LedgerEntry } from "../runtime/cleanup-ledger.ts";
import { type KubeClient, Secrets } from "../runtime/kube.ts";
import { Tokens } from "../tokens/reconciler.ts";
import { tokenIn } from "../tokens/secret.ts";
import type { RepositoryLocation } from "./decisions.ts";

/** The Secret (and key) the Repository's operator token is read from. */
async function tokenSecretOf(kube: KubeClient, repo: Repository): Promise<LedgerEntry["credentials"] | undefined> {
  const namespace = repo.metadata.namespace ?? "";
  if (repo.spec.secretRef) return { namespace, name: repo.spec.secretRef.name, key: repo.spec.secretRef.key };
  if (!repo.spec.tokenRef) return undefined;
  const token = (await kube.get(Tokens, { namespace, name: repo.spec.tokenRef.name })) as
    | BitbucketProjectToken
    | undefined;
  return token ? { namespace, name: token.spec.secretName, key: "token" } : undefined;
}

/**
 * Records the Repository's webhook for later removal. Returns what to tell the user, or undefined when there is
 * nothing Baton could remove later (no hook id on record, or no token to remove it with).
 */
export async function deferWebhookRemoval(
  kube: KubeClient,
  ledger: CleanupLedger,
  repo: Repository,
  location: RepositoryLocation,
  error: string,
): Promise<string | undefined> {
  const hook = repo.status?.webhook;
  const credentials = await tokenSecretOf(kube, repo);
  if (hook?.id === undefined || !credentials) return undefined;
  const now = new Date().toISOString();
  const provider = providerKindOf(repo.spec);
  const entry: LedgerEntry = {
    kind: "webhook",
    server: location.server,
    ...(provider === "bitbucket-datacenter" ? {} : { provider }),
    project: location.project,
    ...(hook.scope === "project" ? {} : { repository: location.slug }),
    id: String(hook.id),
    leftBy: `Repository ${repo.metadata.namespace}/${repo.metadata.name}`,
    credentials,
    since: now,
    attempts: 0,
    nextAttempt: now,
    lastError: error,
  };
  await ledger.write(new Map([[entryKey(entry), entry]]));
  return `recorded in Secret ${ledger.namespace}/${cleanupLedgerName} and retried until Bitbucket answers (Events on that Secret say when)`;
}

export function webhookCleanup(deps: {
  kube: KubeClient;
  provider: ProviderLookup;
  serverRefusal(server: string): string | undefined;
  /** Whether a Repository now uses the project webhook of this project. */
  projectHookInUse(server: string, project: string): boolean;
}): CleanupHandler {
  return async (entry, signal) => {
    if (entry.repository === undefined && deps.projectHookInUse(entry.server, entry.project))
      return "left the project webhook to the Repository that uses it now";
    const refusal = deps.serverRefusal(entry.server);
    if (refusal !== undefined) throw new Error(refusal);
    const { namespace, name, key } = entry.credentials;
    const token = tokenIn(await deps.kube.get(Secrets, { namespace, name }, signal), key ?? "token");
    if (!token) throw new Error(`the token Secret ${namespace}/${name} is gone; remove the webhook by hand`);
    const scope: HookScope =
      entry.repository === undefined
        ? { kind: "owner", owner: entry.project }
        : { kind: "repository", repo: { owner: entry.project, name: entry.repository } };
    const existed = await deps
      .provider(entry.server, entry.provider ?? "bitbucket-datacenter")
      .deleteHook(scope, entry.id, { auth: { kind: "bearer", token }, signal });
    return existed ? "removed the webhook" : "found the webhook already removed";
  };
}
