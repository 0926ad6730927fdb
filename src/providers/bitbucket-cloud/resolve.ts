// Completing a Cloud draft event (classify.ts) with what its payload left out: the full hashes of its abbreviated
// commits, and whether a fork's head can be read at all.
//
// A fork's head lives in the fork. `GET /repositories/{fork}/commit/{short}` works when the token reaches the fork
// (a public fork, or one inside the token's workspace or project); otherwise Cloud answers 401/403/404, and the head
// is read through the destination's pull-request commits, which the `pullrequest` scope may show (UNCONFIRMED for
// access tokens, reference §7). Either way the caller learns `forkReadable`: whether the run's git can fetch it.

import type { BatonEvent } from "../../events/model.ts";
import { ProviderError } from "../http/errors.ts";
import type { CallOptions } from "../http/http.ts";
import { type CommitToResolve, completeEvent, type DraftEvent, needsOf } from "./classify.ts";
import type { ContentApi } from "./content.ts";
import type { PullRequestsApi } from "./pull-requests.ts";

export type ResolvedEvent =
  | {
      ok: true;
      event: BatonEvent;
      /** Fork pull requests only: false when the token cannot read the fork, so its head cannot be cloned. */
      forkReadable?: boolean;
    }
  | { ok: false; error: string };

const refusals = new Set([401, 403, 404]);

/** Abbreviation → full hash, per repository; commits never change, so entries never go stale. */
export class CommitCache {
  readonly #max: number;
  readonly #map = new Map<string, string>();

  constructor(max = 2_000) {
    this.#max = max;
  }

  get(key: string): string | undefined {
    return this.#map.get(key);
  }

  set(key: string, hash: string): void {
    if (this.#map.size >= this.#max) this.#map.delete(this.#map.keys().next().value as string);
    this.#map.set(key, hash);
  }
}

export interface ResolverApis {
  content: Pick<ContentApi, "commit">;
  pullRequests: Pick<PullRequestsApi, "latestCommit">;
}

export async function resolveDraft(
  draft: DraftEvent,
  apis: ResolverApis,
  cache: CommitCache,
  call?: CallOptions,
): Promise<ResolvedEvent> {
  const resolved = new Map<string, string>();
  let forkReadable: boolean | undefined = draft.needs.fork === undefined ? undefined : true;
  for (const commit of draft.needs.commits) {
    const key = cacheKey(commit);
    const known = cache.get(key);
    if (known !== undefined) {
      resolved.set(commit.abbreviated, known);
      continue;
    }
    let hash: string | undefined;
    let direct = true;
    try {
      hash = (await apis.content.commit(commit.repository, commit.abbreviated, call)).hash;
    } catch (err) {
      const refused = err instanceof ProviderError && refusals.has(err.status ?? 0);
      if (!(refused && commit.field === "head" && draft.needs.fork !== undefined && "pullRequest" in draft.event)) {
        return { ok: false, error: `commit ${commit.abbreviated} could not be resolved: ${(err as Error).message}` };
      }
      forkReadable = false;
      direct = false;
      const destination = { workspace: draft.event.repository.project, slug: draft.event.repository.slug };
      const latest = await apis.pullRequests.latestCommit(destination, draft.event.pullRequest.number, call);
      if (latest?.hash.startsWith(commit.abbreviated)) hash = latest.hash;
      else {
        return {
          ok: false,
          error:
            `the head ${commit.abbreviated} of pull request #${draft.event.pullRequest.number} lives in the fork ` +
            `${draft.needs.fork.fullName}, which this token cannot read, and the pull request's commits do not show it`,
        };
      }
    }
    if (!/^[0-9a-f]{40}$/.test(hash) || !hash.startsWith(commit.abbreviated)) {
      return { ok: false, error: `Bitbucket answered ${hash} for commit ${commit.abbreviated}` };
    }
    // Only a direct answer is cached: a fork read through the destination is re-checked, since access may change.
    if (direct) cache.set(key, hash);
    resolved.set(commit.abbreviated, hash);
  }
  return {
    ok: true,
    event: completeEvent(draft, resolved),
    ...(forkReadable === undefined ? {} : { forkReadable }),
  };
}

function cacheKey(commit: CommitToResolve): string {
  return `${commit.repository.workspace}/${commit.repository.slug}@${commit.abbreviated}`;
}

/** `resolveDraft` for an event that went through the domain without its draft (its needs are read off it). */
export function resolveEvent(
  event: BatonEvent,
  apis: ResolverApis,
  cache: CommitCache,
  call?: CallOptions,
): Promise<ResolvedEvent> {
  return resolveDraft({ event, needs: needsOf(event) }, apis, cache, call);
}
