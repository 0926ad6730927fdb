// What a webhook sync result means for the Repository: status.webhook, the WebhookSynced and Ready conditions, and
// Events told once per change (by the Repository that made it, and by each member of a shared hook that sees it).
import type { Repository, RepositoryStatus } from "../api/repository.ts";
import { type Condition, getCondition } from "../runtime/conditions.ts";
import { keyOf } from "../runtime/kube.ts";
import { type HostTerms, type RepositoryLocation, syncTimeDue, webhookFailure } from "./decisions.ts";
import type { EventSink } from "./events.ts";
import type { ConditionUpdate } from "./status-write.ts";
import type { HookRecord } from "./webhook-sync.ts";

export class HookReport {
  readonly #events: EventSink;
  readonly #now: () => number;
  /** The last shared-hook result each member has told its story about (Events once per change). */
  readonly #observed = new Map<string, number>();

  constructor(events: EventSink, now: () => number) {
    this.#events = events;
    this.#now = now;
  }

  /** Status, conditions and Events from a sync result; returns when to look again. */
  apply(
    repo: Repository,
    status: RepositoryStatus,
    conditions: ConditionUpdate[],
    record: HookRecord,
    location: RepositoryLocation,
    intakeUrl: string,
    fallback: string | undefined,
    terms: HostTerms,
  ): number {
    const now = this.#now();
    const where = `${location.project}/${location.slug}`;
    const result = record.result;
    const requeueAfter = Math.max(1000, record.expiresAt - now + 250);
    const previous = getCondition(repo.status?.conditions as Condition[] | undefined, "WebhookSynced");
    if (!result.ok) {
      const failure = webhookFailure(
        result.kind,
        result.scope,
        result.scope === "project" ? `${terms.owner} ${location.project}` : where,
        result.detail,
        terms,
      );
      conditions.push(
        { type: "WebhookSynced", status: "False", ...failure },
        { type: "Ready", status: "False", reason: "WebhookNotSynced", message: failure.message },
      );
      if (previous?.status !== "False" || previous.reason !== failure.reason)
        this.#events.warning(repo, "Failed", failure.message);
      return requeueAfter;
    }
    const hook = result.outcome.webhook;
    const scope = result.scope;
    const events = hook ? [...hook.events].sort() : [];
    const before = repo.status?.webhook;
    const changed =
      before?.id !== (hook ? statusId(hook.id) : undefined) ||
      before?.scope !== scope ||
      (before?.events ?? []).join(",") !== events.join(",") ||
      (!record.reused && result.outcome.action !== "unchanged");
    const lastSyncTime = syncTimeDue(before?.lastSyncTime, now, changed) ? iso(now) : before?.lastSyncTime;
    const secretPrint = result.outcome.secretPrint;
    status.webhook = {
      ...(hook ? { id: statusId(hook.id) } : {}),
      scope,
      events,
      ...(lastSyncTime ? { lastSyncTime } : {}),
      ...(secretPrint ? { secretPrint } : {}),
    };

    const described =
      scope === "project"
        ? `${terms.owner} webhook ${hook?.id} of ${location.project} (shared by the ${terms.owner}'s Repositories)`
        : `repository webhook ${hook?.id} of ${where}`;
    conditions.push(
      fallback === undefined
        ? {
            type: "WebhookSynced",
            status: "True",
            reason: "Synced",
            message: `${described} delivers ${events.join(", ")} to ${intakeUrl}`,
          }
        : {
            type: "WebhookSynced",
            status: "True",
            reason: "RepositoryScopeFallback",
            message: `spec.webhook.scope is project, but ${fallback}; using ${described} instead`,
          },
      {
        type: "Ready",
        status: "True",
        reason: "Connected",
        message: `events from ${where} reach Baton through the ${described}`,
      },
    );
    this.#tell(repo, record, described, terms.host);
    return requeueAfter;
  }

  forget(key: string): void {
    this.#observed.delete(key);
  }

  /**
   * Events once per change: the Repository whose reconcile made the change tells it, and so does every member of a
   * shared hook that sees the change for the first time (a member joining later does not hear about old changes).
   */
  #tell(repo: Repository, record: HookRecord, described: string, host: string): void {
    const result = record.result;
    if (!result.ok) return;
    const key = keyOf(repo);
    const seen = this.#observed.get(key);
    this.#observed.set(key, record.seq);
    const first = seen === undefined ? (record.reused ? record.seq : -1) : seen;
    if (record.seq === first || (result.scope === "repository" && record.reused)) return;
    const { outcome } = result;
    const events = this.#events;
    switch (outcome.action) {
      case "created":
        events.normal(repo, "Created", `created the ${described}, delivering to ${outcome.webhook?.url}`);
        break;
      case "replaced":
        if (result.updated) events.normal(repo, "Updated", `updated the ${described} to match the spec`);
        else
          events.normal(
            repo,
            "DriftRepaired",
            `repaired the ${described}: ${outcome.drift?.join(", ")} had been changed in ${host}${outcome.removed ? `; removed duplicate webhooks ${outcome.removed.join(", ")}` : ""}`,
          );
        break;
      case "deduplicated":
        events.normal(
          repo,
          "DriftRepaired",
          `removed duplicate webhooks ${outcome.removed?.join(", ")} with Baton's name; kept the ${described}`,
        );
        break;
      default:
        break;
    }
  }
}

/** Data Center's numeric ids stay numbers in status, as before hosts with other ids (Cloud's `{uuid}`). */
function statusId(id: string): number | string {
  return /^\d+$/.test(id) ? Number(id) : id;
}

function iso(ms: number): string {
  return new Date(Math.floor(ms / 1000) * 1000).toISOString().replace(".000Z", "Z");
}
