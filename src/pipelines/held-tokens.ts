// Which token each run's git Secret holds, for the moments a rotation or an expiry meets a run: a queued run starts
// (its Secret then gets the token current now, not the one current when it was queued, and a short-lived token that
// would lapse during the run is replaced by a fresh one), and a previous token is due for revocation (the token
// reconciler asks which runs still use it, and holds the revocation for them, bounded).
import type { Repository } from "../api/repository.ts";
import type { GitAuth, ProviderLookup } from "../providers/provider.ts";
import { providerKindOf } from "../providers/registry.ts";
import { parseRepositoryUrl } from "../repositories/decisions.ts";
import { cloneToken } from "../repositories/resource.ts";
import { isNotFound, type KubeClient, Secrets } from "../runtime/kube.ts";
import { labels, pac } from "./build.ts";
import {
  buildGitSecret,
  cloneTokenIdLabel,
  gitSecretLabel,
  gitTokenExpiresAnnotation,
  pipelineRunOwnerReference,
  tokenIdLabelValue,
} from "./gitsecret.ts";
import { type PipelineRun, PipelineRuns, runPhase } from "./tekton.ts";

/** The clone token a run released now should hold; undefined when none can be resolved (the run keeps its own). */
export interface CurrentCloneToken {
  serverUrl: string;
  token: string;
  tokenId?: string | undefined;
  /** How the Repository's host takes the token in git (GitProvider.capabilities.git). */
  git: GitAuth;
  /** When the token lapses (epoch ms), for a short-lived one. */
  expiresAt?: number | undefined;
}

/**
 * How long the token in a run's git Secret must still live when the run starts; a shorter-lived one is replaced.
 * A GitHub App's run token lives one hour, and Tekton's default timeout is an hour too, so covering the whole run
 * would mean minting anew at every release; but a run's git work sits at its start (the clone, a fork head's
 * fetch), so 45 minutes left at release is ample, and a run queued less than a quarter of an hour keeps its token.
 */
export const runTokenMinLifeMs = 45 * 60_000;

/**
 * Whether a run started at `now` needs a fresh token: its Secret says when its token lapses (`expiresAt`, ISO
 * 8601) and that is less than `minLifeMs` away. A Secret that says nothing holds a long-lived token. Pure.
 */
export function lapsesTooSoon(expiresAt: string | undefined, now: number, minLifeMs = runTokenMinLifeMs): boolean {
  if (expiresAt === undefined) return false;
  const at = Date.parse(expiresAt);
  // Unreadable: not a date Baton wrote, so the token's life is unknown and a fresh one is the safe side.
  return Number.isNaN(at) || at - now < minLifeMs;
}

export async function currentCloneToken(
  kube: KubeClient,
  repository: Repository,
  provider: ProviderLookup,
): Promise<CurrentCloneToken | undefined> {
  const location = parseRepositoryUrl(repository.spec.url, repository.spec.provider);
  if (!location) return undefined;
  const resolved = await cloneToken(kube, repository);
  if (!("token" in resolved)) return undefined;
  const git = provider(location.server, providerKindOf(repository.spec)).capabilities.git;
  return { serverUrl: location.server, token: resolved.token, tokenId: resolved.tokenId, git };
}

/** The labels a run's git Secret carries to find it by: the run's repository and commit. */
export function gitSecretLabelsOf(run: PipelineRun): Record<string, string> {
  const result: Record<string, string> = {};
  for (const key of [labels.repository, labels.sha]) {
    const value = run.metadata?.labels?.[key];
    if (value) result[key] = value;
  }
  return result;
}

/**
 * Rewrites a queued run's git Secret before the run starts: with the current clone token (it was written when the
 * run was queued, and a rotation since then leaves it holding a token due for revocation), or with a fresh run
 * token when the one it holds would lapse too soon. A Secret that is gone is written anew (owned by the run, as at
 * creation).
 */
export async function refreshGitSecret(
  kube: KubeClient,
  run: PipelineRun,
  current: CurrentCloneToken,
  labels: Readonly<Record<string, string>>,
): Promise<void> {
  const namespace = run.metadata?.namespace ?? "";
  const name = run.metadata?.annotations?.[pac.gitAuthSecret];
  if (!name) return;
  const secret = buildGitSecret({
    name,
    namespace,
    serverUrl: current.serverUrl,
    token: current.token,
    tokenId: current.tokenId,
    expiresAt: current.expiresAt,
    git: current.git,
    owner: pipelineRunOwnerReference({
      apiVersion: run.apiVersion ?? "tekton.dev/v1",
      name: run.metadata?.name ?? "",
      uid: run.metadata?.uid ?? "",
    }),
    labels,
  });
  try {
    // A merge patch: the API server folds stringData into data, and the owner and other labels stay as they are.
    // Every file is rewritten, as the host's git wants it (a Basic-auth host keeps the token in .git-credentials).
    await kube.patch(
      Secrets,
      { namespace, name },
      {
        metadata: {
          labels: { [cloneTokenIdLabel]: current.tokenId ? tokenIdLabelValue(current.tokenId) : null },
          annotations: {
            [gitTokenExpiresAnnotation]:
              current.expiresAt === undefined ? null : new Date(current.expiresAt).toISOString(),
          },
        },
        stringData: secret.stringData,
      },
    );
  } catch (err) {
    if (!isNotFound(err)) throw err;
    await kube.create(Secrets, secret);
  }
}

/**
 * The runs in a namespace whose git Secret holds the token with this id and that may still use it: started and not
 * finished (a run stopping may still run its finally tasks). A run still queued does not count: it is given the
 * current token when it starts.
 */
export async function runsHoldingToken(
  kube: KubeClient,
  cached: (namespace: string, name: string) => PipelineRun | undefined,
  namespace: string,
  tokenId: string,
  signal?: AbortSignal,
): Promise<string[]> {
  const { items } = await kube.list(Secrets, {
    namespace,
    labelSelector: `${gitSecretLabel}=true,${cloneTokenIdLabel}=${tokenIdLabelValue(tokenId)}`,
    signal,
  });
  const holders: string[] = [];
  for (const secret of items) {
    const owner = secret.metadata?.ownerReferences?.find((o) => o.kind === "PipelineRun");
    if (!owner) continue;
    // The cache may not show a run created a moment ago; the API server then says whether it exists.
    const run =
      cached(namespace, owner.name) ?? (await kube.get(PipelineRuns, { namespace, name: owner.name }, signal));
    if (!run || run.metadata?.uid !== owner.uid) continue;
    const phase = runPhase(run);
    if (phase === "active" || phase === "stopping") holders.push(owner.name);
  }
  return holders.sort();
}
