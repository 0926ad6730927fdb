// The leader's side of the concurrency limit: pending runs start, oldest first, while the Repository has free slots
// (build.ts `releasable`), each with the clone token current now, or a freshly minted run token when the one it was
// queued with would lapse too soon (a GitHub App's, one hour); completed runs beyond max-keep-runs are pruned.
// Serialised per Repository with creation (admission.ts), so the two never count the same slot.
import type { Repository } from "../api/repository.ts";
import type { ProviderLookup } from "../providers/provider.ts";
import type { ReconcileResult } from "../runtime/controller.ts";
import type { Informer } from "../runtime/informer.ts";
import { isNotFound, type KubeClient } from "../runtime/kube.ts";
import type { Logger } from "../runtime/logger.ts";
import { type Admission, repositoryIndex } from "./admission.ts";
import { pruneCandidates, queuedAtAnnotation, releasable } from "./build.ts";
import { type CurrentCloneToken, currentCloneToken, gitSecretLabelsOf, refreshGitSecret } from "./held-tokens.ts";
import { annotationKeys } from "./match.ts";
import type { RunSecrets } from "./run-secret.ts";
import { completionTimeOf, type PipelineRun, PipelineRuns, pipelineOf, runPhase } from "./tekton.ts";

export interface RunQueueDeps {
  kube: KubeClient;
  /** The git host serving a Repository's server: how its git takes the token a released run gets. */
  provider: ProviderLookup;
  runs: Informer<PipelineRun>;
  admission: Admission;
  secrets: RunSecrets;
  log: Logger;
}

export class RunQueue {
  readonly #o: RunQueueDeps;
  /** Repositories whose runs from before this process started were checked for their git Secret. */
  readonly #checkedSecrets = new Set<string>();

  constructor(deps: RunQueueDeps) {
    this.#o = deps;
  }

  /** Starts pending runs while slots are free, oldest first, and deletes completed runs beyond max-keep-runs. */
  async releaseAndPrune(repositoryKey: string, repository: Repository | undefined): Promise<ReconcileResult> {
    const [namespace = ""] = repositoryKey.split("/", 1);
    return this.#o.admission.withLock(repositoryKey, async () => {
      const runs = this.#o.runs.byIndex(repositoryIndex, repositoryKey);
      if (repository === undefined) return {};
      if (!this.#checkedSecrets.has(repositoryKey)) {
        await this.#o.secrets.restoreMissing(repository, runs);
        this.#checkedSecrets.add(repositoryKey);
      }
      const limit = repository.spec.pipelines?.concurrencyLimit;
      const pending = runs
        .filter((r) => runPhase(r) === "pending")
        .map((r) => ({
          name: r.metadata?.name ?? "",
          createdAt: r.metadata?.annotations?.[queuedAtAnnotation] ?? r.metadata?.creationTimestamp ?? 0,
        }));
      const active = this.#o.admission.activeCountOf(repositoryKey, runs);
      let current: Promise<CurrentCloneToken | undefined> | undefined;
      for (const run of releasable(pending, active, limit)) {
        try {
          // Queued before a rotation, its git Secret holds a token due for revocation: it starts with today's.
          current ??= currentCloneToken(this.#o.kube, repository, this.#o.provider);
          const fresh = await current;
          const queued = runs.find((r) => r.metadata?.name === run.name);
          if (fresh && queued) await refreshGitSecret(this.#o.kube, queued, fresh, gitSecretLabelsOf(queued));
          // Queued longer than its minted token can cover: it starts with one minted now.
          if (queued) await this.#o.secrets.renewLapsing(repository, queued);
          // A merge patch with null removes spec.status; Tekton then starts the run.
          await this.#o.kube.patch(PipelineRuns, { namespace, name: run.name }, { spec: { status: null } });
          this.#o.admission.remember(repositoryKey, run.name, "active");
          this.#o.log.info({ repository: repositoryKey, pipelineRun: run.name }, "pending PipelineRun started");
        } catch (err) {
          if (!isNotFound(err)) throw err;
        }
      }
      const completed = runs
        .filter((r) => runPhase(r) === "finished")
        .map((r) => ({
          name: r.metadata?.name ?? "",
          pipeline: pipelineOf(r) ?? "",
          completionTime: completionTimeOf(r) ?? r.metadata?.creationTimestamp ?? 0,
          maxKeepRuns: r.metadata?.annotations?.[annotationKeys.maxKeepRuns],
        }));
      for (const name of pruneCandidates(completed, repository.spec.pipelines?.maxKeepRuns)) {
        await this.#o.kube.delete(PipelineRuns, { namespace, name }, { propagationPolicy: "Background" });
        this.#o.log.info({ repository: repositoryKey, pipelineRun: name }, "completed PipelineRun pruned");
      }
      return {};
    });
  }
}
