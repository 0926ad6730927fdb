// What one pass of the token reconciler decided, shared by the managed and the externally managed paths.
import type { TokenStatus } from "../api/token.ts";
import type { setCondition } from "../runtime/conditions.ts";
import type { ReconcileResult } from "../runtime/controller.ts";
import { scrub } from "../runtime/redact.ts";

export type ConditionUpdate = Omit<Parameters<typeof setCondition>[1], "observedGeneration">;

export interface Step {
  status: TokenStatus;
  conditions: ConditionUpdate[];
  result: ReconcileResult;
}

export function keyOf(meta: { namespace?: string | undefined; name?: string | undefined }): string {
  return `${meta.namespace ?? ""}/${meta.name ?? ""}`;
}

/** Kubernetes times have whole seconds. */
export function iso(ms: number): string {
  return new Date(Math.floor(ms / 1000) * 1000).toISOString().replace(".000Z", "Z");
}

/** An error as one line for a condition, Event or log: what failed, never a credential. */
export function describeError(error: unknown): string {
  // AbortSignal.timeout's reason: the reconcile deadline ran out, which its own message does not say.
  if (error instanceof DOMException && error.name === "TimeoutError")
    return "no answer within the reconcile deadline (BATON_RECONCILE_TIMEOUT); will retry";
  return scrub(error instanceof Error ? error.message : String(error));
}
