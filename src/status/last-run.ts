// Repository status.lastRun without churn: runs report here as often as they change, and each Repository is
// written at most once per interval with the latest run — a busy repository does not wake every watcher of
// Repositories on every PipelineRun transition.

import { RunSummary as RunSummarySchema } from "../api/repository.ts";
import { Repositories } from "../repositories/resource.ts";
import type { Clock, Timer } from "../runtime/clock.ts";
import type { KubeClient } from "../runtime/kube.ts";
import { keyString, type Logger, type ObjectKey } from "../runtime/logger.ts";
import type { RunSummary } from "./reporter.ts";

export class LastRunRecorder {
  readonly #kube: KubeClient;
  readonly #clock: Clock;
  readonly #log: Logger;
  readonly #interval: number;
  readonly #pending = new Map<string, { key: ObjectKey; summary: RunSummary }>();
  readonly #written = new Map<string, string>();
  #timer: Timer | undefined;

  constructor(kube: KubeClient, clock: Clock, log: Logger, interval = 10_000) {
    this.#kube = kube;
    this.#clock = clock;
    this.#log = log;
    this.#interval = interval;
  }

  record(repository: ObjectKey, summary: RunSummary): void {
    const id = keyString(repository);
    const current = this.#pending.get(id)?.summary;
    // A newer run replaces an older one; an older run's late transition does not.
    if (current && current.name !== summary.name && (summary.startTime ?? "") < (current.startTime ?? "")) return;
    if (this.#written.get(id) === JSON.stringify(summary)) return;
    this.#pending.set(id, { key: repository, summary });
    this.#timer ??= this.#clock.setTimeout(() => void this.flush(), this.#interval);
  }

  async flush(): Promise<void> {
    this.#timer = undefined;
    const batch = [...this.#pending.values()];
    this.#pending.clear();
    for (const { key, summary } of batch) {
      const id = keyString(key);
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
          "could not record lastRun",
        );
      }
    }
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
