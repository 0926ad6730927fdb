// Names of a run and of its git Secret, derived from what the run is (its head run key and generation), so that the
// API server is the arbiter between replicas: whichever process creates a run first gets it, any other create of the
// same run — the same delivery on another replica, the push + pull request pair split across replicas, a `/retest`
// racing the `pr:opened` of its head — gets 409 AlreadyExists and counts as already handled. The git Secret's name
// comes from the same digest and is created only by the process whose run create succeeded.
//
// The generation tells apart the runs one head runs on purpose: 0 for the first (whatever event creates it), and for
// an explicit re-run (`/retest`, `/test`, `/ok-to-test`) one more than the highest generation of that pipeline's runs
// at that commit, read from the API server. Two re-run requests seeing the same runs pick the same generation and
// collide; a re-run after the previous run finished picks a new one. Pruning keeps each pipeline's newest run, so the
// highest generation survives it.
import { createHash } from "node:crypto";
import { gitAuthSecretName } from "./gitsecret.ts";
import type { PipelineRun } from "./tekton.ts";

/** The run's generation for its head and pipeline (absent on runs from before it was recorded: 0). */
export const generationAnnotation = "baton.dev/generation";
/** The comment whose command created the run: one comment starts each pipeline at most once, on any replica. */
export const commentAnnotation = "baton.dev/comment";

const digestLength = 10;

/** Hex digest of one run's identity: its head run key (events/dedupe.ts `headRunKey`) and generation. */
export function runDigest(headKey: string, generation: number): string {
  return createHash("sha256").update(`${headKey}#${generation}`).digest("hex");
}

/**
 * A PipelineRun name: a readable prefix from the definition's name and 10 hex characters of the digest, a valid
 * DNS-1123 label of at most 63 characters (Tekton copies the name into label values).
 */
export function runName(readable: string, digest: string): string {
  const base = readable
    .toLowerCase()
    .replace(/[^a-z0-9-]+/g, "-")
    .replace(/-{2,}/g, "-")
    .replace(/^-+/, "")
    .slice(0, 63 - 1 - digestLength)
    .replace(/-+$/, "");
  return `${base || "run"}-${digest.slice(0, digestLength)}`;
}

/** The run's git Secret: `baton-git-` and 20 hex characters of the same digest. */
export function gitSecretName(digest: string): string {
  return gitAuthSecretName(digest.slice(0, 20));
}

function generationOf(run: PipelineRun): number {
  const value = run.metadata?.annotations?.[generationAnnotation];
  return value !== undefined && /^\d+$/.test(value) ? Number(value) : 0;
}

/** The generation of a new run of a pipeline whose runs at the commit are `runs` (read from the API server). */
export function nextGeneration(runs: readonly PipelineRun[]): number {
  if (runs.length === 0) return 0;
  return Math.max(...runs.map(generationOf)) + 1;
}

/** Whether one of `runs` was started by the comment `commentId`. */
export function startedByComment(runs: readonly PipelineRun[], commentId: number | string): boolean {
  return runs.some((run) => run.metadata?.annotations?.[commentAnnotation] === String(commentId));
}
