// Which runs this process may start: a run key (events/dedupe.ts) is claimed once, in this process first (atomic),
// then checked against the cached runs (earlier processes, other replicas; the runs' run-key label makes it survive
// restarts). What both miss, a run another replica is creating right now, the API server refuses by name
// (naming.ts). A claim whose run was not created is given back, so a re-delivery or catch-up may try again.
import { runKeyLabel, SeenSet } from "../events/dedupe.ts";
import type { Informer } from "../runtime/informer.ts";
import { labels } from "./build.ts";
import type { PipelineRun } from "./tekton.ts";

const runIndex = "baton.dev/run-key";

/** A claim's answer: `fresh` (this attempt starts the run) or `duplicate`. */
export type Claim = "fresh" | "duplicate";

export class RunClaims {
  readonly #runs: Informer<PipelineRun>;
  /** Run keys started by this process. */
  readonly #seen = new SeenSet({ ttlMs: 6 * 3_600_000, maxSize: 50_000 });
  /** Run keys being created right now → whether that attempt created its run. */
  readonly #inFlight = new Map<string, Promise<boolean>>();

  constructor(runs: Informer<PipelineRun>) {
    this.#runs = runs;
    runs.addIndex(runIndex, (run) => {
      const key = run.metadata?.labels?.[labels.runKey];
      return key ? [key] : [];
    });
  }

  /** Whether a run with this key was started, here or by any process the cache shows. */
  started(key: string): boolean {
    return this.#seen.has(key) || this.#runs.byIndex(runIndex, runKeyLabel(key)).length > 0;
  }

  /**
   * Claims a run key. An attempt racing this one (a re-delivery racing catch-up, say) is waited for, so a 2xx never
   * stands for a run that the other attempt then failed to create; its failure throws, naming `what`.
   */
  async claim(key: string, what: string): Promise<Claim> {
    const existing = this.#runs.byIndex(runIndex, runKeyLabel(key)).length > 0;
    const pending = this.#inFlight.get(key);
    if (!existing && !pending && this.#seen.add(key)) return "fresh";
    if (!existing && pending && !(await pending)) {
      throw new Error(`a concurrent attempt to start ${what} failed; try again`);
    }
    return "duplicate";
  }

  /** Gives a claimed key back: its run was not created. */
  release(key: string): void {
    this.#seen.delete(key);
  }

  /**
   * Marks claimed keys as being created until the returned function is called with the keys whose runs exist;
   * racing claims of them wait until then.
   */
  hold(keys: readonly string[]): (succeeded: ReadonlySet<string>) => void {
    const done = new Map<string, (ok: boolean) => void>();
    for (const key of keys) this.#inFlight.set(key, new Promise<boolean>((resolve) => done.set(key, resolve)));
    return (succeeded) => {
      for (const [key, resolve] of done) {
        this.#inFlight.delete(key);
        resolve(succeeded.has(key));
      }
    };
  }
}
