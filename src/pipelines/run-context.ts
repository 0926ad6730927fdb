// What the runner knows about one Repository while it handles an event: its location, the GitProvider serving it
// (providers/registry.ts), the operator's and the clone token, and the Secrets no run may reference; plus the
// `.tekton` source read through the provider. Credentials are reused briefly, so a burst of events costs one read.
import type { Repository } from "../api/repository.ts";
import type { BitbucketProjectToken } from "../api/token.ts";
import type { BatonEvent, ChangedFiles } from "../events/model.ts";
import { type AuthSource, resolveAuth } from "../providers/http/auth.ts";
import {
  isNotFound as isProviderNotFound,
  ResponseTooLargeError,
  TooManyResultsError,
} from "../providers/http/errors.ts";
import type { GitProvider, ProviderLookup, RepoRef } from "../providers/provider.ts";
import { providerKindOf } from "../providers/registry.ts";
import { parseRepositoryUrl, type RepositoryLocation, repositoryIdentity } from "../repositories/decisions.ts";
import { type CloneResolution, cloneToken } from "../repositories/resource.ts";
import type { Clock } from "../runtime/clock.ts";
import type { KubeClient } from "../runtime/kube.ts";
import { scrub } from "../runtime/redact.ts";
import type { GitHubAppCredentials } from "../tokens/github-app.ts";
import { operatorCredential } from "../tokens/operator-credential.ts";
import { Tokens } from "../tokens/reconciler.ts";
import { labelValue } from "./build.ts";
import { FileTooLarge, FolderTooLarge, type ListedFile, type TektonSource } from "./definitions.ts";
import { forbiddenSecretNames } from "./resolve.ts";

/** One Repository as the runner works on it: where it is, which host serves it, and its credentials. */
export interface RunContext {
  repository: Repository;
  name: string;
  namespace: string;
  location: RepositoryLocation;
  identity: string;
  /** The value of the runs' `baton.dev/repository` label. */
  label: string;
  client: GitProvider;
  ref: RepoRef;
  auth: AuthSource;
  /** Undefined until a managed clone token is issued (with the first run), or when there is none (`cloneMissing`). */
  cloneToken: string | undefined;
  /** Bitbucket's id of the clone token, when its Secret records one (labelled on git Secrets: held-tokens.ts). */
  cloneTokenId?: string | undefined;
  cloneMissing: Extract<CloneResolution, { problem: string }> | undefined;
  /**
   * A GitHub App Repository's runs: mints a token for one run (this repository, `contents: read`), used in place
   * of a clone token, which such a Repository has only with cloneWithOperatorToken.
   */
  runToken?: ((signal?: AbortSignal) => Promise<GitToken>) | undefined;
  forbiddenSecrets: string[];
}

/** The token a run's git uses, and when it lapses (epoch ms on Baton's clock) when it is short-lived. */
export interface GitToken {
  token: string;
  expiresAt?: number | undefined;
}

interface Credentials {
  operator: AuthSource;
  clone: string | undefined;
  cloneId?: string | undefined;
  cloneMissing: Extract<CloneResolution, { problem: string }> | undefined;
  forbidden: string[];
  at: number;
}

/** Entries of a `.tekton` listing paged through; a folder with more is refused as a whole. */
const maxListedFiles = 1000;

/** The Repository cannot take events yet (no token…): the intake answers 503 and says why. */
export class RepositoryNotReady extends Error {
  constructor(message: string) {
    super(message);
    this.name = "RepositoryNotReady";
  }
}

/** A Kubernetes-style error class name and a scrubbed message: safe for logs, Events and HTTP answers. */
export function safeMessage(err: unknown): string {
  return scrub(err instanceof Error ? err.message : String(err)).slice(0, 500);
}

export interface RunContextDeps {
  kube: KubeClient;
  clock: Clock;
  provider: ProviderLookup;
  /** How long a resolved token is reused before it is read again (a rotation takes effect within this). */
  tokenCacheMs?: number;
  /** Repositories naming a GitHub App get their credentials here. */
  githubApps?: GitHubAppCredentials | undefined;
}

export class RunContexts {
  readonly #o: RunContextDeps;
  readonly #credentials = new Map<string, Credentials>();

  constructor(deps: RunContextDeps) {
    this.#o = deps;
  }

  /** Credentials changed (a clone token was just issued): the next event reads them again. */
  forget(): void {
    this.#credentials.clear();
  }

  location(repository: Repository): RepositoryLocation {
    const location = parseRepositoryUrl(repository.spec.url, repository.spec.provider);
    if (!location) {
      throw new Error(
        `Repository ${repository.metadata.namespace}/${repository.metadata.name}: spec.url is not a repository URL Baton can read`,
      );
    }
    return location;
  }

  async context(repository: Repository): Promise<RunContext> {
    const location = this.location(repository);
    const name = repository.metadata.name ?? "";
    const namespace = repository.metadata.namespace ?? "";
    const credentials = await this.#resolveCredentials(repository, location);
    const apps = this.#o.githubApps;
    const runToken =
      this.mintsRunTokens(repository) && credentials.clone === undefined && apps !== undefined
        ? async (signal?: AbortSignal) => {
            const run = await apps.runToken(repository, location, signal);
            if ("problem" in run) {
              throw new RepositoryNotReady(`Repository ${namespace}/${name}: no token for the run: ${run.problem}`);
            }
            return { token: run.token, expiresAt: run.expiresAt };
          }
        : undefined;
    return {
      repository,
      name,
      namespace,
      location,
      identity: repositoryIdentity(location),
      label: labelValue(name),
      client: this.#o.provider(location.server, providerKindOf(repository.spec)),
      ref: { owner: location.project, name: location.slug },
      auth: credentials.operator,
      cloneToken: credentials.clone,
      cloneTokenId: credentials.cloneId,
      cloneMissing: credentials.cloneMissing,
      runToken,
      forbiddenSecrets: credentials.forbidden,
    };
  }

  /**
   * Whether this Repository's runs get a token minted each (a GitHub App's, unless cloneWithOperatorToken), which
   * lapses within the hour and so may need renewing before a queued run starts. Reads nothing.
   */
  mintsRunTokens(repository: Repository): boolean {
    return (
      repository.spec.githubApp !== undefined &&
      repository.spec.pipelines?.cloneWithOperatorToken !== true &&
      this.#o.githubApps !== undefined
    );
  }

  /** The operator's and the clone token, and the Secrets no run may reference; reused briefly. */
  async #resolveCredentials(repository: Repository, location: RepositoryLocation): Promise<Credentials> {
    const key = `${repository.metadata.namespace}/${repository.metadata.name}/${repository.metadata.resourceVersion ?? ""}`;
    const cached = this.#credentials.get(key);
    const now = this.#o.clock.now();
    if (cached && now - cached.at < (this.#o.tokenCacheMs ?? 2_000)) return cached;
    const spec = repository.spec;
    const namespace = repository.metadata.namespace ?? "";
    // The tokenRef's object is read once, for the clone token's plan and for the Secrets it names.
    const tokenRead = spec.tokenRef
      ? (this.#o.kube.get(Tokens, { namespace, name: spec.tokenRef.name }) as Promise<
          BitbucketProjectToken | undefined
        >)
      : Promise.resolve(undefined);
    const app = spec.githubApp !== undefined;
    const [operator, clone, token] = await Promise.all([
      operatorCredential(this.#o.kube, repository, location, this.#o.githubApps),
      app ? Promise.resolve(undefined) : cloneToken(this.#o.kube, repository, tokenRead),
      tokenRead,
    ]);
    if ("problem" in operator) {
      throw new RepositoryNotReady(`Repository ${namespace}/${repository.metadata.name}: ${operator.problem}`);
    }
    // A GitHub App's runs get a token minted each (RunContext.runToken); only the visible opt-in
    // cloneWithOperatorToken hands them the installation token instead.
    const appCredential =
      app && spec.pipelines?.cloneWithOperatorToken === true ? await resolveAuth(operator.credential) : undefined;
    const appClone = appCredential?.kind === "bearer" ? appCredential.token : undefined;
    // No clone token at all, or a managed one not issued yet, is the business of the run that needs one (#start).
    const missing = clone !== undefined && "problem" in clone ? clone : undefined;
    if (missing && missing.reason !== "CloneTokenRequired" && missing.reason !== "CloneTokenNotIssued") {
      throw new RepositoryNotReady(
        `Repository ${namespace}/${repository.metadata.name}: the clone token is not available: ${missing.problem}`,
      );
    }
    const forbidden = forbiddenSecretNames(repository, token);
    const credentials = {
      operator: operator.credential,
      clone: clone !== undefined && "token" in clone ? clone.token : appClone,
      cloneId: clone !== undefined && "token" in clone ? clone.tokenId : undefined,
      cloneMissing: missing,
      forbidden,
      at: now,
    };
    if (this.#credentials.size > 5_000) this.#credentials.clear();
    this.#credentials.set(key, credentials);
    return credentials;
  }
}

/** The `.tekton` folder at a commit through the provider (also what `kubectl baton doctor` lints). */
export function tektonSource(ctx: Pick<RunContext, "client" | "ref" | "auth">): TektonSource {
  return {
    // The folder is browsed level by level (one call for a flat .tekton) because browse gives each file's blob
    // id: a new commit that leaves the definitions alone then costs no file reads at all.
    list: async (folder, commit) => {
      const listed: ListedFile[] = [];
      const folders = [folder];
      for (let dir = folders.shift(); dir !== undefined; dir = folders.shift()) {
        let entries: Awaited<ReturnType<typeof ctx.client.listFolder>>;
        try {
          entries = await ctx.client.listFolder(ctx.ref, dir, commit, {
            auth: ctx.auth,
            pageSize: 1000,
            maxItems: maxListedFiles,
          });
        } catch (err) {
          if (err instanceof TooManyResultsError) throw new FolderTooLarge(folder, maxListedFiles);
          if (isProviderNotFound(err) && dir === folder) return undefined;
          throw err;
        }
        // A file where the folder should be: there are no definitions.
        if (entries === undefined) return undefined;
        for (const entry of entries) {
          const path = `${dir}/${entry.path}`;
          if (entry.type === "DIRECTORY") folders.push(path);
          else if (entry.type === "FILE")
            listed.push({ path, ...(entry.contentId ? { blobId: entry.contentId } : {}) });
        }
        if (listed.length + folders.length > maxListedFiles) throw new FolderTooLarge(folder, maxListedFiles);
      }
      return listed;
    },
    read: async (path, commit, maxBytes) => {
      try {
        return await ctx.client.readFile(ctx.ref, path, commit, { auth: ctx.auth, maxBytes });
      } catch (err) {
        if (err instanceof ResponseTooLargeError) throw new FileTooLarge(path, maxBytes);
        throw err;
      }
    },
  };
}

/**
 * The files an event changes, for on-path-change and CEL's `files`: a pull request's own changes, or for a push
 * the range it moved the ref over (a new branch: its head commit against its parent, as the host answers).
 * Undefined when the host cannot give them completely; those pipelines are then skipped and logged.
 */
export async function changedFilesOf(
  ctx: Pick<RunContext, "client" | "ref" | "auth">,
  event: Exclude<BatonEvent, { type: "ping" | "pull_request_closed" }>,
): Promise<ChangedFiles | undefined> {
  const range =
    event.type === "push"
      ? { from: event.previousSha && !/^0+$/.test(event.previousSha) ? event.previousSha : undefined, to: event.sha }
      : { pullRequest: event.pullRequest.number };
  const result = await ctx.client.changedFiles(ctx.ref, range, { auth: ctx.auth, maxItems: 5000 });
  return result.truncated ? undefined : result.files;
}
