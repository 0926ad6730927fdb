import type { z } from "zod";
import { Condition } from "../api/common.ts";
import { scrub } from "./redact.ts";

// Kubernetes status conditions (metav1.Condition): pure helpers, so reconcilers compute the new list and write
// it once, and tests need no cluster.

// One schema, declared with the CRDs (metav1.Condition's own limits), so a condition that passes here is
// accepted by the API server.
export const conditionSchema = Condition;
export const conditionStatusSchema = Condition.shape.status;
export type ConditionStatus = z.infer<typeof conditionStatusSchema>;
export type { Condition };

/** What a reconciler decides; the helper adds lastTransitionTime. */
export interface ConditionUpdate {
  type: string;
  status: ConditionStatus;
  reason: string;
  message?: string;
  observedGeneration?: number;
}

const MAX_MESSAGE = 32768;

export function rfc3339(now: Date | number): string {
  // metav1.Time has second precision; writing milliseconds would make every comparison see a change.
  return new Date(Math.floor(new Date(now).getTime() / 1000) * 1000).toISOString().replace(".000Z", "Z");
}

/**
 * Returns a new condition list with `update` applied. lastTransitionTime moves only when the status changes;
 * reason, message and observedGeneration are refreshed every time. Messages are scrubbed of credentials.
 */
export function setCondition(
  conditions: readonly Condition[] | undefined,
  update: ConditionUpdate,
  now: Date | number,
): Condition[] {
  const list = [...(conditions ?? [])];
  const index = list.findIndex((c) => c.type === update.type);
  const existing = index >= 0 ? list[index] : undefined;
  const message = scrub(update.message ?? "").slice(0, MAX_MESSAGE);
  const next: Condition = {
    type: update.type,
    status: update.status,
    observedGeneration: update.observedGeneration ?? existing?.observedGeneration,
    lastTransitionTime: existing && existing.status === update.status ? existing.lastTransitionTime : rfc3339(now),
    reason: update.reason,
    message,
  };
  if (next.observedGeneration === undefined) delete next.observedGeneration;
  if (index >= 0) list[index] = next;
  else list.push(next);
  return list;
}

export function getCondition(conditions: readonly Condition[] | undefined, type: string): Condition | undefined {
  return conditions?.find((c) => c.type === type);
}

export function isTrue(conditions: readonly Condition[] | undefined, type: string): boolean {
  return getCondition(conditions, type)?.status === "True";
}

export function isFalse(conditions: readonly Condition[] | undefined, type: string): boolean {
  return getCondition(conditions, type)?.status === "False";
}

/** True for a condition that is missing or Unknown. */
export function isUnknown(conditions: readonly Condition[] | undefined, type: string): boolean {
  const c = getCondition(conditions, type);
  return c === undefined || c.status === "Unknown";
}

export function removeCondition(conditions: readonly Condition[] | undefined, type: string): Condition[] {
  return (conditions ?? []).filter((c) => c.type !== type);
}

/** True when the condition reflects the given generation (it was computed from the current spec). */
export function isCurrent(conditions: readonly Condition[] | undefined, type: string, generation: number): boolean {
  return getCondition(conditions, type)?.observedGeneration === generation;
}

/**
 * True when two lists say the same thing, ignoring order. Lets a reconciler skip a status write that would
 * change nothing (and wake every watcher for nothing).
 */
export function conditionsEqual(a: readonly Condition[] | undefined, b: readonly Condition[] | undefined): boolean {
  const left = a ?? [];
  const right = b ?? [];
  if (left.length !== right.length) return false;
  return left.every((x) => {
    const y = getCondition(right, x.type);
    return (
      y !== undefined &&
      x.status === y.status &&
      x.reason === y.reason &&
      x.message === y.message &&
      x.observedGeneration === y.observedGeneration &&
      x.lastTransitionTime === y.lastTransitionTime
    );
  });
}

/**
 * The status merge patch a reconciler writes: `status` with `updates` applied to its conditions and
 * observedGeneration set, fields that disappeared sent as null (a merge patch would keep them), or undefined when
 * the result equals `previous`, so a reconcile that changes nothing writes nothing.
 */
export function statusPatch<S extends { conditions?: readonly Condition[] | undefined }>(
  previous: unknown,
  status: S,
  updates: readonly Omit<ConditionUpdate, "observedGeneration">[],
  generation: number | undefined,
  now: Date | number,
): Record<string, unknown> | undefined {
  let conditions = status.conditions as Condition[] | undefined;
  for (const update of updates)
    conditions = setCondition(conditions, { ...update, observedGeneration: generation }, now);
  const next: Record<string, unknown> = { ...status, conditions, observedGeneration: generation };
  const before = (previous ?? {}) as Record<string, unknown>;
  if (JSON.stringify(normalise(before)) === JSON.stringify(normalise(next))) return undefined;
  const patch: Record<string, unknown> = { ...next };
  for (const field of Object.keys(before)) if (next[field] === undefined) patch[field] = null;
  return patch;
}

/** Key order and absent-versus-undefined do not make two statuses different. */
function normalise(status: Record<string, unknown>): Record<string, unknown> {
  return Object.fromEntries(
    Object.entries(status)
      .filter(([, v]) => v !== undefined)
      .sort(([a], [b]) => a.localeCompare(b)),
  );
}
