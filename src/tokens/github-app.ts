// The credentials of a Repository that names a GitHub App (spec.githubApp, DESIGN §7): Baton's own calls go with
// the installation token AppTokens keeps and renews; each PipelineRun's git Secret gets a token minted for it alone,
// narrowed to the one repository with `contents: read`. The private key is read from its Secret at every use, so a
// rotated key applies at once (GitHubApps replaces the signer when the key changes).
//
// What is wrong with the configuration (no Secret, no key, not a key, the App not installed) is a `problem` to
// report; anything else (GitHub unreachable, rate limited) is thrown, for the caller's retry.
import type { Repository } from "../api/repository.ts";
import { AppKeyError } from "../providers/github/app-jwt.ts";
import { AppTokenError, type AppTokens } from "../providers/github/app-tokens.ts";
import type { AuthProvider, Credential } from "../providers/http/auth.ts";
import { UnauthorizedError } from "../providers/http/errors.ts";
import type { RepositoryLocation } from "../repositories/decisions.ts";
import { type KubeClient, Secrets } from "../runtime/kube.ts";
import { fingerprint, tokenIn } from "./secret.ts";

export type AppProblem = { reason: string; problem: string };

/** Where installation tokens come from: GitHubProviders.appTokens (allowed servers only, one AppTokens per App). */
export type AppTokensSource = (server: string, appId: string, privateKey: string) => AppTokens;

export class GitHubAppCredentials {
  readonly #kube: KubeClient;
  readonly #tokens: AppTokensSource;

  constructor(kube: KubeClient, tokens: AppTokensSource) {
    this.#kube = kube;
    this.#tokens = tokens;
  }

  /**
   * Baton's own credential for REST calls on the repository: the installation's token, renewed ahead of expiry.
   * Given as a function the transport calls before each attempt, so a caller holding it across several calls (or a
   * long rate-limit wait) never sends a token that lapsed meanwhile; it is resolved once here, so a key GitHub
   * refuses is a problem to report now.
   */
  async operator(
    repository: Repository,
    location: RepositoryLocation,
    signal?: AbortSignal,
  ): Promise<{ credential: AuthProvider } | AppProblem> {
    const app = await this.#installation(repository, location, signal);
    if ("problem" in app) return app;
    const { tokens, installationId } = app;
    try {
      await tokens.credential(installationId);
      return { credential: () => tokens.credential(installationId) };
    } catch (err) {
      if (err instanceof UnauthorizedError) return keyRefused(repository);
      throw err;
    }
  }

  /**
   * The App's own credential (its JWT) for the endpoints that act as the App itself (its hook config), with the
   * fingerprint of the key it is signed with: a changed key is a new App credential. No call is made.
   */
  async app(
    repository: Repository,
    location: RepositoryLocation,
    signal?: AbortSignal,
  ): Promise<{ credential: Credential; keyPrint: string } | AppProblem> {
    const app = await this.#app(repository, location, signal);
    if ("problem" in app) return app;
    return { credential: app.tokens.appCredential(), keyPrint: app.keyPrint };
  }

  /** A token for one PipelineRun: `contents: read` on this repository only, refused if GitHub grants more. */
  async runToken(
    repository: Repository,
    location: RepositoryLocation,
    signal?: AbortSignal,
  ): Promise<{ token: string; expiresAt: number } | AppProblem> {
    const app = await this.#installation(repository, location, signal);
    if ("problem" in app) return app;
    try {
      const minted = await app.tokens.runToken(app.installationId, location.slug, signal);
      return { token: minted.token, expiresAt: minted.expiresAt };
    } catch (err) {
      if (err instanceof AppTokenError) return { reason: "RunTokenRefused", problem: err.message };
      if (err instanceof UnauthorizedError) return keyRefused(repository);
      throw err;
    }
  }

  /** The App's tokens, from the key in its Secret (read at every use). */
  async #app(
    repository: Repository,
    location: RepositoryLocation,
    signal?: AbortSignal,
  ): Promise<{ tokens: AppTokens; keyPrint: string } | AppProblem> {
    const app = repository.spec.githubApp;
    if (app === undefined) return { reason: "TokenNotConfigured", problem: "spec.githubApp is not set" };
    const namespace = repository.metadata.namespace ?? "";
    const { name, key } = app.privateKeyRef;
    const secret = await this.#kube.get(Secrets, { namespace, name }, signal);
    if (!secret)
      return { reason: "SecretNotFound", problem: `the Secret ${name} holding the App's key does not exist` };
    const pem = tokenIn(secret, key);
    if (!pem) return { reason: "SecretKeyMissing", problem: `the Secret ${name} has no key "${key}"` };
    try {
      return { tokens: this.#tokens(location.server, app.appId, pem), keyPrint: fingerprint(pem) };
    } catch (err) {
      if (err instanceof AppKeyError) {
        return { reason: "InvalidPrivateKey", problem: `the Secret ${name} key "${key}": ${err.message}` };
      }
      if ((err as Error).name === "ServerNotAllowed")
        return { reason: "ServerNotAllowed", problem: (err as Error).message };
      throw err;
    }
  }

  async #installation(
    repository: Repository,
    location: RepositoryLocation,
    signal?: AbortSignal,
  ): Promise<{ tokens: AppTokens; installationId: number } | AppProblem> {
    const app = await this.#app(repository, location, signal);
    if ("problem" in app) return app;
    const { tokens } = app;
    const installationId = repository.spec.githubApp?.installationId;
    if (installationId !== undefined) return { tokens, installationId };
    try {
      return { tokens, installationId: await tokens.installationId(location.project, location.slug, signal) };
    } catch (err) {
      if (err instanceof AppTokenError) return { reason: "AppNotInstalled", problem: err.message };
      if (err instanceof UnauthorizedError) return keyRefused(repository);
      throw err;
    }
  }
}

/** GitHub answered the App's JWT with 401: the key is not the App's (rotated, another App's) or the id is wrong. */
export function keyRefused(repository: Pick<Repository, "spec">): AppProblem {
  const app = repository.spec.githubApp;
  const where = app ? `the Secret ${app.privateKeyRef.name} key "${app.privateKeyRef.key}"` : "the Secret";
  return {
    reason: "AppKeyRefused",
    problem: `GitHub refused the JWT of App ${app?.appId ?? ""} (401): ${where} does not hold that App's current private key, or spec.githubApp.appId names another App`,
  };
}
