// The host side of one webhook: list the scope's hooks, decide with planWebhook, and create, replace or remove.
// Only hooks carrying Baton's name are ever touched.
import type { Credential, GitProvider, Hook, HookInput, HookScope } from "../providers/provider.ts";
import { type HookMemory, identifyHooks, isOurs, planWebhook, secretPrintOf } from "./decisions.ts";

export type HookAction = "created" | "replaced" | "deduplicated" | "unchanged" | "deleted" | "absent";

export interface HookOutcome {
  action: HookAction;
  /** The hook that now serves (absent after a delete). */
  webhook?: Hook;
  /** Fields that had drifted, for "replaced". */
  drift?: string[];
  /** Ids of extra copies (or, for "deleted", the hooks) removed. */
  removed?: string[];
  /**
   * Where the host never shows the secret: the print of the one the serving hook now has (Baton set it, or its
   * record says so), for status to remember. Never the secret.
   */
  secretPrint?: string;
}

interface Call {
  auth: Credential;
  signal?: AbortSignal | undefined;
}

function callOptions(call: Call) {
  return call.signal ? { auth: call.auth, signal: call.signal } : { auth: call.auth };
}

/** One listing, then at most the writes needed; a hook that already matches costs exactly one call. */
export async function syncHook(
  provider: GitProvider,
  scope: HookScope,
  desired: HookInput,
  call: Call,
  recorded?: HookMemory,
): Promise<HookOutcome> {
  const options = callOptions(call);
  const listed = await provider.listHooks(scope, options);
  const hooks = identifyHooks(listed, provider.capabilities.hookIdentity, desired.name, desired.url, recorded?.id);
  let plan = planWebhook(hooks, desired, recorded);
  const removed: string[] = [];
  if (plan.action === "deduplicate") {
    for (const extra of plan.remove) {
      await provider.deleteHook(scope, extra.id, options);
      removed.push(extra.id);
    }
    plan = planWebhook([plan.keep], desired, recorded);
  }
  const print = (hook: Hook) =>
    hook.secret === undefined && desired.secret ? { secretPrint: secretPrintOf(desired.secret) } : {};
  switch (plan.action) {
    case "create": {
      const webhook = await provider.createHook(scope, desired, options);
      return { action: "created", webhook, ...print(webhook) };
    }
    case "replace": {
      const webhook = await provider.updateHook(scope, plan.webhook.id, desired, options);
      return {
        action: "replaced",
        webhook,
        drift: plan.drift,
        ...(removed.length > 0 ? { removed } : {}),
        ...print(webhook),
      };
    }
    case "none":
      return removed.length > 0
        ? { action: "deduplicated", webhook: plan.webhook, removed, ...print(plan.webhook) }
        : { action: "unchanged", webhook: plan.webhook, ...print(plan.webhook) };
    case "deduplicate":
      // A plan over one hook never asks to deduplicate.
      throw new Error("planWebhook asked to deduplicate a single webhook");
  }
}

/**
 * Deletes every hook of this installation's in the scope (isOurs); "absent" when there was none. `intakeUrl`
 * identifies Baton's hooks on a host that keeps no hook names (identifyHooks).
 */
export async function removeHooks(
  provider: GitProvider,
  scope: HookScope,
  name: string,
  call: Call,
  recorded?: string,
  intakeUrl?: string,
): Promise<HookOutcome> {
  const options = callOptions(call);
  const listed = await provider.listHooks(scope, options);
  const ours = identifyHooks(listed, provider.capabilities.hookIdentity, name, intakeUrl, recorded).filter((hook) =>
    isOurs(hook, name, recorded),
  );
  const removed: string[] = [];
  for (const hook of ours) if (await provider.deleteHook(scope, hook.id, options)) removed.push(hook.id);
  return removed.length > 0 ? { action: "deleted", removed } : { action: "absent" };
}
