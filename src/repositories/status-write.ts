// The one status patch a Repository reconcile makes, and none when nothing changed (no churn for watchers).
import type { RepositoryStatus } from "../api/repository.ts";
import { type setCondition, statusPatch } from "../runtime/conditions.ts";
import { isConflict, type KubeClient } from "../runtime/kube.ts";
import { Repositories } from "./resource.ts";

export type ConditionUpdate = Omit<Parameters<typeof setCondition>[1], "observedGeneration">;

/** What one part of a reconcile decided: the status to write, its conditions, and when to look again. */
export interface Step {
  status: RepositoryStatus;
  conditions: ConditionUpdate[];
  requeueAfter?: number;
}

export async function writeStatus(
  kube: KubeClient,
  now: number,
  repo: {
    metadata?: { name?: string; namespace?: string; generation?: number; resourceVersion?: string };
    status?: unknown;
  },
  status: RepositoryStatus,
  updates: ConditionUpdate[],
): Promise<void> {
  const patch = statusPatch(repo.status, status, updates, repo.metadata?.generation, now);
  if (patch === undefined) return;
  try {
    await kube.patchStatus(
      Repositories,
      { namespace: repo.metadata?.namespace ?? "", name: repo.metadata?.name ?? "" },
      patch,
      { resourceVersion: repo.metadata?.resourceVersion },
    );
  } catch (error) {
    if (isConflict(error)) throw new Error("the Repository changed while it was reconciled; retrying with fresh data");
    throw error;
  }
}
