// The Bitbucket side of one webhook: list the scope's hooks, decide with planWebhook, and create, replace or
// remove. Only hooks carrying Baton's name are ever touched.
import type {
  BitbucketClient,
  Credential,
  ScopeRef,
  Webhook,
  WebhookInput,
} from "../providers/bitbucket-datacenter/index.ts";
import { isOurs, planWebhook } from "./decisions.ts";

export type HookAction = "created" | "replaced" | "deduplicated" | "unchanged" | "deleted" | "absent";

export interface HookOutcome {
  action: HookAction;
  /** The hook that now serves (absent after a delete). */
  webhook?: Webhook;
  /** Fields that had drifted, for "replaced". */
  drift?: string[];
  /** Ids of extra copies (or, for "deleted", the hooks) removed. */
  removed?: number[];
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
  client: BitbucketClient,
  scope: ScopeRef,
  desired: WebhookInput,
  call: Call,
  recorded?: number,
): Promise<HookOutcome> {
  const options = callOptions(call);
  const hooks = await client.webhooks.list(scope, options);
  let plan = planWebhook(hooks, desired, recorded);
  const removed: number[] = [];
  if (plan.action === "deduplicate") {
    for (const extra of plan.remove) {
      await client.webhooks.delete(scope, extra.id, options);
      removed.push(extra.id);
    }
    plan = planWebhook([plan.keep], desired, recorded);
  }
  switch (plan.action) {
    case "create":
      return { action: "created", webhook: await client.webhooks.create(scope, desired, options) };
    case "replace": {
      const webhook = await client.webhooks.replace(scope, plan.webhook.id, desired, options);
      return { action: "replaced", webhook, drift: plan.drift, ...(removed.length > 0 ? { removed } : {}) };
    }
    case "none":
      return removed.length > 0
        ? { action: "deduplicated", webhook: plan.webhook, removed }
        : { action: "unchanged", webhook: plan.webhook };
    case "deduplicate":
      // A plan over one hook never asks to deduplicate.
      throw new Error("planWebhook asked to deduplicate a single webhook");
  }
}

/** Deletes every hook of this installation's in the scope (isOurs); "absent" when there was none. */
export async function removeHooks(
  client: BitbucketClient,
  scope: ScopeRef,
  name: string,
  call: Call,
  recorded?: number,
): Promise<HookOutcome> {
  const options = callOptions(call);
  const ours = (await client.webhooks.list(scope, options)).filter((hook) => isOurs(hook, name, recorded));
  const removed: number[] = [];
  for (const hook of ours) if (await client.webhooks.delete(scope, hook.id, options)) removed.push(hook.id);
  return removed.length > 0 ? { action: "deleted", removed } : { action: "absent" };
}
