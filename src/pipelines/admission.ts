// Admission under a concurrency limit, between the informer's view and this process's own writes: a run created
// or released a moment ago is not in the cache yet, so it is remembered here until the informer shows it; and one
// writer at a time per Repository (creates and releases), so two events cannot both take the last slot.
import type { Informer } from "../runtime/informer.ts";
import { type PipelineRun, repositoryKeyOf, runPhase } from "./tekton.ts";

/** The runs informer's index by Repository (`namespace/label`), added by the runner. */
export const repositoryIndex = "baton.dev/repository";

export class Admission {
  readonly #runs: Informer<PipelineRun>;
  /** Runs this process created or released that the informer has not shown yet, per repository key. */
  readonly #recent = new Map<string, Map<string, "pending" | "active">>();
  readonly #locks = new Map<string, Promise<unknown>>();

  constructor(runs: Informer<PipelineRun>) {
    this.#runs = runs;
  }

  /** Whether a run of the Repository waits for a slot (cached, or created here and not cached yet). */
  queued(key: string): boolean {
    const recent = this.#recent.get(key);
    for (const phase of recent?.values() ?? []) if (phase === "pending") return true;
    // A run this process released a moment ago may still look pending in the cache: it no longer queues.
    return this.#runs
      .byIndex(repositoryIndex, key)
      .some((r) => runPhase(r) === "pending" && recent?.get(r.metadata?.name ?? "") !== "active");
  }

  activeCount(key: string): number {
    return this.activeCountOf(key, this.#runs.byIndex(repositoryIndex, key));
  }

  /** Active runs in the cache, plus runs this process created or released that the cache does not show yet. */
  activeCountOf(key: string, cached: readonly PipelineRun[]): number {
    const recent = this.#recent.get(key);
    const byName = new Map(cached.map((r) => [r.metadata?.name ?? "", r]));
    let count = 0;
    for (const run of cached) {
      const phase = recent?.get(run.metadata?.name ?? "") === "active" ? "active" : runPhase(run);
      if (phase === "active") count++;
    }
    for (const [name, phase] of recent ?? []) if (!byName.has(name) && phase === "active") count++;
    return count;
  }

  remember(key: string, name: string, phase: "pending" | "active"): void {
    let map = this.#recent.get(key);
    if (!map) {
      map = new Map();
      this.#recent.set(key, map);
    }
    map.set(name, phase);
  }

  /** The informer caught up with a run: its own phase is the truth from now on. */
  forget(run: PipelineRun): void {
    const key = repositoryKeyOf(run);
    const map = key === undefined ? undefined : this.#recent.get(key);
    const name = run.metadata?.name ?? "";
    const expected = map?.get(name);
    if (!map || expected === undefined) return;
    const phase = runPhase(run);
    // A release is seen once spec.status is gone; a creation as soon as the run is there.
    if (expected === "pending" || phase !== "pending") map.delete(name);
    if (map.size === 0 && key !== undefined) this.#recent.delete(key);
  }

  async withLock<T>(key: string, fn: () => Promise<T>): Promise<T> {
    const previous = this.#locks.get(key) ?? Promise.resolve();
    const next = previous.catch(() => undefined).then(fn);
    this.#locks.set(key, next);
    try {
      return await next;
    } finally {
      if (this.#locks.get(key) === next) this.#locks.delete(key);
    }
  }
}
