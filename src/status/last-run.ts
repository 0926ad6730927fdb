// Repository status.lastRun without churn: runs report here as often as they change, and each Repository is
// written at most once per interval with the latest run — a busy repository does not wake every watcher of
// Repositories on every PipelineRun transition.

import { RunSummary as RunSummarySchema } from "../api/repository.ts";
import { Repositories } from "../repositories/resource.ts";
import type { Clock, Timer } from "../runtime/clock.ts";
import { isNotFound, type KubeClient } from "../runtime/kube.ts";
import { keyString, type Logger, type ObjectKey } from "../runtime/logger.ts";
import type { RunSummary } from "./reporter.ts";

/** The run a summary is about, ordered by creation: the one Repository status.lastRun should show is the newest. */
interface RunOrder {
  name: string;
  created: number;
}

export class LastRunRecorder {
  readonly #kube: Pick<KubeClient, "patch">;
  readonly #clock: Clock;
  readonly #log: Logger;
  readonly #interval: number;
  readonly #pending = new Map<string, { key: ObjectKey; summary: RunSummary }>();
  readonly #written = new Map<string, string>();
  readonly #newest = new Map<string, RunOrder>();
  #timer: Timer | undefined;

  constructor(kube: Pick<KubeClient, "patch">, clock: Clock, log: Logger, interval = 10_000) {
    this.#kube = kube;
    this.#clock = clock;
    this.#log = log;
    this.#interval = interval;
  }

  /**
   * `created` is the run's creationTimestamp (ms). A run created after the one shown replaces it; a late
   * transition of an older run changes nothing. Start times cannot order runs: a queued run has none yet.
   */
  record(repository: ObjectKey, summary: RunSummary, created: number): void {
    const id = keyString(repository);
    const newest = this.#newest.get(id);
    if (newest && newest.name !== summary.name && created < newest.created) return;
    this.#newest.set(id, { name: summary.name, created });
    if (this.#written.get(id) === JSON.stringify(summary)) return;
    this.#pending.set(id, { key: repository, summary });
    this.#schedule();
  }

  async flush(): Promise<void> {
    this.#timer = undefined;
    const batch = [...this.#pending.entries()];
    this.#pending.clear();
    for (const [id, { key, summary }] of batch) {
      try {
        // A merge patch of this one field: it never conflicts with, or undoes, the Repository controller's fields.
        await this.#kube.patch(
          Repositories,
          key,
          { status: { lastRun: lastRunPatch(summary) } },
          { subresource: "status" },
        );
        this.#written.set(id, JSON.stringify(summary));
      } catch (error) {
        this.#log.debug(
          { repository: id, err: error instanceof Error ? error.message : String(error) },
          "could not record lastRun; retrying",
        );
        // Kept for the next flush unless a newer summary came while this one was in flight. A Repository that
        // is gone stops being retried: its runs stop reporting once their Repository is deleted.
        if (isNotFound(error)) {
          this.#written.delete(id);
          this.#newest.delete(id);
        } else if (!this.#pending.has(id)) {
          this.#pending.set(id, { key, summary });
        }
      }
    }
    if (this.#pending.size > 0) this.#schedule();
  }

  #schedule(): void {
    this.#timer ??= this.#clock.setTimeout(() => void this.flush(), this.#interval);
  }

  stop(): void {
    this.#timer?.cancel();
    this.#timer = undefined;
  }
}

/**
 * The summary as a merge patch of status.lastRun: every field the schema knows, null where this run has no value.
 * A merge patch keeps what it does not mention, so leaving a field out would show the previous run's
 * startTime/completionTime on a run that has not started.
 */
export function lastRunPatch(summary: RunSummary): Record<string, unknown> {
  const fields = Object.keys(RunSummarySchema.shape) as (keyof RunSummary)[];
  return Object.fromEntries(fields.map((field) => [field, summary[field] ?? null]));
}
