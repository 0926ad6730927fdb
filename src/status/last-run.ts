// Repository status.lastRun without churn: runs report here as often as they change, and each Repository is
// written at most once per interval with the latest run — a busy repository does not wake every watcher of
// Repositories on every PipelineRun transition.

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
          { status: { lastRun: withoutUndefined(summary) } },
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

function withoutUndefined(summary: RunSummary): Record<string, unknown> {
  return Object.fromEntries(Object.entries(summary).filter(([, v]) => v !== undefined));
}
