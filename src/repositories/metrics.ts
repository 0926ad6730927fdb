// Series for the Repository controller. Bitbucket request counts by endpoint group already come from the client's
// response hook (baton_bitbucket_requests_total), so these count decisions, not calls.
import type { Metrics } from "../runtime/metrics.ts";

export type SyncResult = "created" | "updated" | "deduplicated" | "unchanged" | "deleted" | "failed";
/** dispatched: runs started; handled: the event pipeline had nothing to start (in flight, no match, untrusted…). */
export type CatchUpResult = "dispatched" | "handled" | "failed";

export class RepositoryMetrics {
  readonly #sync;
  readonly #catchUp;
  readonly #statusChecks;

  constructor(metrics: Metrics) {
    this.#sync = metrics.counter({
      name: "baton_webhook_sync_total",
      help: "Webhook synchronisations with Bitbucket (one per repository hook or per shared project hook), by result.",
      labelNames: ["result"],
    });
    this.#catchUp = metrics.counter({
      name: "baton_catchup_events_total",
      help: "Open pull requests without a run or build status handed to the event pipeline by catch-up, by result.",
      labelNames: ["result"],
    });
    this.#statusChecks = metrics.counter({
      name: "baton_catchup_build_status_checks_total",
      help: "Build-status look-ups catch-up made for pull request heads that had no PipelineRun.",
    });
    for (const result of ["created", "updated", "deduplicated", "unchanged", "deleted", "failed"])
      this.#sync.inc({ result }, 0);
    for (const result of ["dispatched", "handled", "failed"]) this.#catchUp.inc({ result }, 0);
  }

  sync(result: SyncResult): void {
    this.#sync.inc({ result });
  }

  catchUp(result: CatchUpResult): void {
    this.#catchUp.inc({ result });
  }

  statusCheck(): void {
    this.#statusChecks.inc();
  }
}
