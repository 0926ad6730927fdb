// The credentials a run clones with and its git Secret: which token a run gets (the Repository's clone token,
// issued on the first run that needs it when it is managed), the Secret written after the run exists and owned by
// it (so it is garbage-collected with the run and never exists without one), a fresh minted token for a queued run
// whose own would lapse too soon after it starts, and, once per Repository after a restart, the Secrets of runs
// whose process stopped between creating the run and its Secret.
import type { Repository } from "../api/repository.ts";
import { issueManagedCloneToken } from "../repositories/resource.ts";
import type { Clock } from "../runtime/clock.ts";
import { type KubeClient, Secrets } from "../runtime/kube.ts";
import type { Logger } from "../runtime/logger.ts";
import { labels, labelValue, pac } from "./build.ts";
import type { RepositoryEvents } from "./dispatch.ts";
import {
  buildGitSecret,
  gitTokenExpiresAnnotation,
  pipelineRunOwnerReference,
  type SecretObject,
} from "./gitsecret.ts";
import { gitSecretLabelsOf, lapsesTooSoon, refreshGitSecret } from "./held-tokens.ts";
import { type GitToken, RepositoryNotReady, type RunContext, type RunContexts } from "./run-context.ts";
import { type PipelineRun, runPhase } from "./tekton.ts";

export interface RunSecretDeps {
  kube: KubeClient;
  clock: Clock;
  events: RepositoryEvents;
  log: Logger;
  contexts: RunContexts;
}

export class RunSecrets {
  readonly #o: RunSecretDeps;
  /** Compared with the API server's creationTimestamps, so wall time, not the (possibly simulated) domain clock. */
  readonly #startedAt = Date.now();

  constructor(deps: RunSecretDeps) {
    this.#o = deps;
  }

  /** The token a run of this Repository clones with; RepositoryNotReady when it has none. */
  cloneTokenOf(ctx: RunContext): string {
    if (ctx.cloneToken === undefined)
      throw new RepositoryNotReady(`Repository ${ctx.namespace}/${ctx.name} has no clone token`);
    return ctx.cloneToken;
  }

  /**
   * Issues the managed clone token on the first run that needs it (repositories/clonetoken.ts) and puts it in
   * ctx. Returns why no run can get a clone token, or undefined when ctx now has one.
   */
  async issueCloneToken(ctx: RunContext): Promise<string | undefined> {
    const missing = ctx.cloneMissing;
    if (missing === undefined) return `Repository ${ctx.namespace}/${ctx.name} has no clone token`;
    if (missing.plan.kind !== "managed") return missing.problem;
    const issued = await issueManagedCloneToken(this.#o.kube, ctx.repository, missing.plan.parent, ctx.location);
    if ("problem" in issued) {
      if (issued.reason === "CloneTokenConflict") return issued.problem;
      // Still being issued (or Bitbucket is slow): a transient state, so the delivery is answered 503, not FAILED.
      throw new RepositoryNotReady(
        `Repository ${ctx.namespace}/${ctx.name}: the read-only clone token is not issued yet: ${issued.problem}`,
      );
    }
    ctx.cloneToken = issued.token;
    ctx.cloneTokenId = "tokenId" in issued ? issued.tokenId : undefined;
    this.#o.contexts.forget();
    this.#o.events.normal(
      ctx.repository,
      "CloneTokenIssued",
      `runs clone with the read-only token of BitbucketProjectToken ${missing.plan.name}, issued for this Repository`,
    );
    return undefined;
  }

  /**
   * The token a run's git uses: a GitHub App Repository's minted for this one run (this repository,
   * `contents: read`), every other Repository's clone token.
   */
  async gitTokenOf(ctx: RunContext, signal?: AbortSignal): Promise<GitToken> {
    return ctx.runToken ? ctx.runToken(signal) : { token: this.cloneTokenOf(ctx) };
  }

  /**
   * Before a queued run starts: when its Repository's runs get minted tokens and the one in its git Secret lapses
   * in less than `runTokenMinLifeMs` (held-tokens.ts; read from the Secret's annotation, never from the token), a
   * token is minted for it now and the Secret rewritten. Long-lived clone tokens are left alone (their rotation is
   * `refreshGitSecret`'s business). Returns whether it renewed.
   */
  async renewLapsing(repository: Repository, run: PipelineRun): Promise<boolean> {
    if (!this.#o.contexts.mintsRunTokens(repository)) return false;
    const namespace = run.metadata?.namespace ?? repository.metadata.namespace ?? "";
    const name = run.metadata?.annotations?.[pac.gitAuthSecret];
    if (!name) return false;
    const secret = await this.#o.kube.get(Secrets, { namespace, name });
    // A Secret that is gone is restoreMissing's business.
    if (secret === undefined) return false;
    // Without the annotation (written by a Baton that did not record it) the minted token's age is unknown.
    const expiresAt = secret.metadata?.annotations?.[gitTokenExpiresAnnotation] ?? "unknown";
    if (!lapsesTooSoon(expiresAt, this.#o.clock.now())) return false;
    const ctx = await this.#o.contexts.context(repository);
    if (ctx.runToken === undefined) return false;
    const fresh = await ctx.runToken();
    await refreshGitSecret(
      this.#o.kube,
      run,
      {
        serverUrl: ctx.location.server,
        token: fresh.token,
        expiresAt: fresh.expiresAt,
        git: ctx.client.capabilities.git,
      },
      gitSecretLabelsOf(run),
    );
    this.#o.log.info(
      { pipelineRun: run.metadata?.name, secret: name, lapsesAt: expiresAt },
      "a queued run's git token would lapse too soon after it starts: minted a fresh one",
    );
    return true;
  }

  /** Writes the git Secret of a run just created (`run` as the API server answered it), owned by the run. */
  async write(
    ctx: RunContext,
    secretName: string,
    run: { apiVersion: string; name: string; uid: string },
    sha: string,
  ): Promise<void> {
    const git = await this.gitTokenOf(ctx);
    await this.#create(
      buildGitSecret({
        name: secretName,
        namespace: ctx.namespace,
        serverUrl: ctx.location.server,
        token: git.token,
        expiresAt: git.expiresAt,
        tokenId: ctx.cloneTokenId,
        git: ctx.client.capabilities.git,
        owner: pipelineRunOwnerReference(run),
        labels: { [labels.repository]: ctx.label, [labels.sha]: labelValue(sha) },
      }),
    );
  }

  /**
   * A process that stopped between creating a run and its git Secret left a run that cannot clone. Called once per
   * Repository after start: each unfinished run from before this process gets its Secret back if it is missing.
   */
  async restoreMissing(repository: Repository, runs: readonly PipelineRun[]): Promise<void> {
    const orphans = runs.filter(
      (r) =>
        runPhase(r) !== "finished" &&
        r.metadata?.annotations?.[pac.gitAuthSecret] !== undefined &&
        // creationTimestamp has whole seconds: a second's margin keeps this process's own runs out.
        Date.parse(String(r.metadata?.creationTimestamp ?? "")) < this.#startedAt - 1_000,
    );
    if (orphans.length === 0) return;
    let ctx: RunContext | undefined;
    for (const run of orphans) {
      const namespace = run.metadata?.namespace ?? repository.metadata.namespace ?? "";
      const secretName = run.metadata?.annotations?.[pac.gitAuthSecret] ?? "";
      if (await this.#o.kube.get(Secrets, { namespace, name: secretName })) continue;
      ctx ??= await this.#o.contexts.context(repository);
      // No clone token any more (cloneTokenRef removed): the run cannot get one, and the operator's is not for it.
      if (ctx.cloneToken === undefined && ctx.runToken === undefined) return;
      const git = await this.gitTokenOf(ctx);
      await this.#create(
        buildGitSecret({
          name: secretName,
          namespace,
          serverUrl: ctx.location.server,
          token: git.token,
          expiresAt: git.expiresAt,
          tokenId: ctx.cloneTokenId,
          git: ctx.client.capabilities.git,
          owner: pipelineRunOwnerReference({
            apiVersion: run.apiVersion ?? "tekton.dev/v1",
            name: run.metadata?.name ?? "",
            uid: run.metadata?.uid ?? "",
          }),
          labels: gitSecretLabelsOf(run),
        }),
      );
      this.#o.events.normal(
        repository,
        "GitSecretRestored",
        `PipelineRun ${run.metadata?.name} had no git Secret (the operator stopped while creating it); restored ${secretName}`,
      );
      this.#o.log.info({ pipelineRun: run.metadata?.name, secret: secretName }, "restored a missing git Secret");
    }
  }

  /** Creates a Secret, retrying briefly; one that already exists is this very Secret, written by an earlier try. */
  async #create(secret: SecretObject): Promise<void> {
    let lastError: unknown;
    for (let attempt = 0; attempt < 3; attempt++) {
      try {
        await this.#o.kube.create(Secrets, secret);
        return;
      } catch (err) {
        lastError = err;
        if ((err as { statusCode?: number }).statusCode === 409) return;
        await this.#o.clock.sleep(100 * 2 ** attempt);
      }
    }
    throw lastError;
  }
}
