// Creating one run: admission under the Repository's concurrency limit, the PipelineRun built from its definition,
// named after its run key (naming.ts) so that the API server refuses a second create of it from any replica, and
// signed (provenance.ts); then its git Secret (run-secret.ts) and the INPROGRESS build status, written only by the
// process whose create succeeded. The status is recorded on the run once the host took it (a process stopped before
// that leaves it to the status reporter).
import { randomBytes } from "node:crypto";
import { isAlreadyExists, isConflict, isNotFound, KubeApiError, type KubeClient } from "../runtime/kube.ts";
import type { Logger } from "../runtime/logger.ts";
import type { Metrics } from "../runtime/metrics.ts";
import { describe as describeState, PipelineRunView } from "../status/report.ts";
import { reportedAnnotation } from "../status/reporter.ts";
import type { Admission } from "./admission.ts";
import { admit, type PipelineRunObject, queuedAtAnnotation, siblingsAnnotation } from "./build.ts";
import type { StartingEvent } from "./dispatch.ts";
import { buildPipelineRunBounded, type EvaluationBudget } from "./evaluate-bounded.ts";
import type { HostFeedback } from "./feedback.ts";
import { forkCloneUrl } from "./fork-head.ts";
import { bindGitAuthWorkspace } from "./gitsecret.ts";
import type { PipelineRunDefinition } from "./load.ts";
import { commentAnnotation, generationAnnotation, gitSecretName, runDigest } from "./naming.ts";
import type { DefinitionProblem } from "./notices.ts";
import { namedAndSigned } from "./provenance.ts";
import { refusalMessage } from "./refusal.ts";
import { type RunContext, safeMessage } from "./run-context.ts";
import type { RunSecrets } from "./run-secret.ts";
import type { RunSigningKey } from "./signing-key.ts";
import { type PipelineRun, PipelineRuns, PipelineRunsV1beta1 } from "./tekton.ts";

/** `create`'s answer when the API server already has the run. */
export const alreadyExists = Symbol("already exists");

/** Which run of a pipeline this is: its head run key, and the generation of the head's runs (naming.ts). */
export interface RunIdentity {
  head: string;
  generation: number;
}

export interface RunCreatorDeps {
  kube: KubeClient;
  log: Logger;
  signingKey: RunSigningKey;
  admission: Admission;
  secrets: RunSecrets;
  feedback: HostFeedback;
  metrics: Metrics;
  evaluationBudget?: EvaluationBudget | undefined;
  /** Whether this replica leads; only the leader admits runs under a concurrency limit. */
  leads?: (() => boolean) | undefined;
}

export class RunCreator {
  readonly #o: RunCreatorDeps;
  readonly #created;

  constructor(deps: RunCreatorDeps) {
    this.#o = deps;
    this.#created = deps.metrics.counter({
      name: "baton_pipelineruns_created_total",
      help: "PipelineRuns Baton created, by event type and whether they wait for a free slot.",
      labelNames: ["event", "pending"],
    });
  }

  /**
   * Builds and creates one run, then its Secret and status. Undefined when it could not be built (the reason is
   * added to `problems`); `alreadyExists` when the API server already has this run (created by another replica or
   * a racing event).
   */
  async create(
    ctx: RunContext,
    event: StartingEvent,
    definition: PipelineRunDefinition,
    identity: RunIdentity,
    problems: DefinitionProblem[],
    siblings: string,
  ): Promise<string | typeof alreadyExists | undefined> {
    const digest = runDigest(identity.head, identity.generation);
    const secretName = gitSecretName(digest);
    const repositoryKey = `${ctx.namespace}/${ctx.label}`;
    const limit = ctx.repository.spec.pipelines?.concurrencyLimit;
    // Admission (count, decide, create) is serialised per Repository only when there is a limit to keep; the
    // git Secret and the status are written outside, so one slow write never holds up the next event. Only the
    // leader admits (its release controller shares this lock and count), and only when nobody queues before it.
    // Read before the admission lock: the first call of a process may have to create the key.
    const signingKey = (await this.#o.signingKey.get()).secret;
    const admitAndCreate = async () => {
      const pending =
        limit !== undefined &&
        (!(this.#o.leads?.() ?? true) ||
          this.#o.admission.queued(repositoryKey) ||
          admit(this.#o.admission.activeCount(repositoryKey), limit) === "pending");
      const built = await buildPipelineRunBounded(
        {
          definition,
          event,
          repository: { name: ctx.name, namespace: ctx.namespace, spec: ctx.repository.spec },
          gitAuthSecret: secretName,
          nameDigest: digest,
          pending,
          runKey: identity.head,
          forbiddenSecrets: ctx.forbiddenSecrets,
          ...forkCloneUrl(ctx.client, ctx.ref, event),
        },
        this.#o.evaluationBudget,
      );
      if (!built.ok) {
        problems.push({ file: definition.file, name: definition.name, message: built.error });
        return undefined;
      }
      const object: PipelineRunObject = bindGitAuthWorkspace(built.pipelineRun, secretName);
      if (pending) object.metadata.annotations[queuedAtAnnotation] = new Date().toISOString();
      object.metadata.annotations[siblingsAnnotation] = siblings;
      object.metadata.annotations[generationAnnotation] = String(identity.generation);
      if (event.type === "comment") object.metadata.annotations[commentAnnotation] = String(event.comment.id);
      const resource = object.apiVersion === "tekton.dev/v1beta1" ? PipelineRunsV1beta1 : PipelineRuns;
      let run: PipelineRun;
      try {
        // The name is the run key's (naming.ts): signing leaves it as it is, and a second create is AlreadyExists.
        run = await this.#o.kube.create(resource, namedAndSigned(object, signingKey, randomBytes) as PipelineRun);
      } catch (err) {
        if (isAlreadyExists(err)) return alreadyExists;
        // The API server validates against Tekton's schema: an invalid run is the author's to fix.
        if (
          (err as { statusCode?: number }).statusCode === 422 ||
          (err as { statusCode?: number }).statusCode === 400
        ) {
          problems.push({
            file: definition.file,
            name: definition.name,
            message: refusalMessage(safeMessage(err), err instanceof KubeApiError ? err : undefined),
          });
          return undefined;
        }
        throw err;
      }
      const runName = run.metadata?.name ?? "";
      this.#o.admission.remember(repositoryKey, runName, pending ? "pending" : "active");
      this.#created.inc({ event: event.type, pending: String(pending) });
      return { run, object, resource, runName, pending };
    };
    const created =
      limit === undefined ? await admitAndCreate() : await this.#o.admission.withLock(repositoryKey, admitAndCreate);
    if (created === undefined || created === alreadyExists) return created;
    const { run, object, resource, runName, pending } = created;
    const owner = { apiVersion: run.apiVersion ?? object.apiVersion, name: runName, uid: run.metadata?.uid ?? "" };
    const secretWrite = this.#o.secrets.write(ctx, secretName, owner, event.sha).catch(async (err: unknown) => {
      // Without its credentials the run cannot clone: remove it rather than leave a run that must fail.
      await this.#o.kube.delete(resource, { namespace: ctx.namespace, name: runName }).catch(() => undefined);
      throw new Error(`creating the git Secret of PipelineRun ${ctx.namespace}/${runName} failed: ${safeMessage(err)}`);
    });
    const statusWrite = this.#o.feedback
      .postStatus(ctx, event, definition.name, {
        state: "INPROGRESS",
        description: describeState("queued", [], PipelineRunView.parse(run)),
        runName,
      })
      .then(async (posted) => {
        // Recorded only once the host took it, so a process stopped before the post leaves nothing recorded and the
        // status reporter posts it after its grace. Not posted: the reporter tries too.
        if (posted) await this.#recordQueued(resource, ctx.namespace, runName, run.metadata?.resourceVersion);
      });
    await Promise.all([secretWrite, statusWrite]);
    this.#o.log.info(
      {
        repository: `${ctx.namespace}/${ctx.name}`,
        pipelineRun: runName,
        pipeline: definition.name,
        sha: event.sha,
        event: event.type,
        pending,
      },
      "PipelineRun created",
    );
    return runName;
  }

  /**
   * Records on the run that its queued state was reported, unless something already is: after the grace, the status
   * reporter may have reported it (or a later state) while this post was slow, and overwriting that record would
   * make it post again. The resourceVersion the run was read at is the precondition.
   */
  async #recordQueued(
    resource: typeof PipelineRuns | typeof PipelineRunsV1beta1,
    namespace: string,
    name: string,
    resourceVersion: string | undefined,
  ): Promise<void> {
    let version = resourceVersion;
    try {
      for (let attempt = 0; attempt < 3 && version !== undefined; attempt++) {
        try {
          await this.#o.kube.patch(
            resource,
            { namespace, name },
            { metadata: { resourceVersion: version, annotations: { [reportedAnnotation]: "queued" } } },
          );
          return;
        } catch (err) {
          if (!isConflict(err)) throw err;
          const current = await this.#o.kube.get(resource, { namespace, name });
          if (current?.metadata?.annotations?.[reportedAnnotation] !== undefined) return;
          version = current?.metadata?.resourceVersion;
        }
      }
    } catch (err) {
      if (isNotFound(err)) return;
      // Unrecorded, the status reporter posts the same state once more after its grace; the host keeps one.
      this.#o.log.warn(
        { pipelineRun: `${namespace}/${name}`, error: safeMessage(err) },
        "recording the reported state failed",
      );
    }
  }
}
