// GitHub App installation tokens: the credentials Baton's own calls use, and the narrowed ones each run gets.
//
// - Baton's own: one token per installation, minted with the App JWT, kept in memory and renewed once less than
//   `renewBeforeMs` (default 10 minutes) of its hour is left. `credential()` is the transport's AuthProvider and
//   runs before every attempt, so no call is ever sent with a token that could lapse during it (a call, with its
//   retries and rate-limit waits, is bounded well below that margin). Concurrent callers share one mint.
// - A run's: minted per PipelineRun with `repositories: [name]` and `permissions: {contents: read}`, never cached.
//   GitHub's answer is checked to be that narrow (it may add `metadata: read`, which every token has) before the
//   token goes anywhere; a broader answer is refused, so least privilege per run holds by construction.
//
// Expiry is judged on Baton's clock: GitHub's `expires_at` is on GitHub's, so the lifetime it states (against the
// answer's `Date`) is added to Baton's `now` at receipt, and a skewed clock cannot make a lapsed token look fresh.
import type { IncomingHttpHeaders } from "node:http";
import { z } from "zod";
import type { Clock } from "../../runtime/clock.ts";
import type { Credential } from "../http/auth.ts";
import { isNotFound } from "../http/errors.ts";
import type { HttpTransport } from "../http/http.ts";
import type { AppJwtSigner } from "./app-jwt.ts";

const Permissions = z.record(z.string(), z.string());

export const InstallationSchema = z.object({
  id: z.int().positive(),
  account: z.object({ login: z.string() }).nullable().optional(),
  repository_selection: z.enum(["all", "selected"]).optional(),
  permissions: Permissions.optional(),
});
export type Installation = z.infer<typeof InstallationSchema>;

export const AccessTokenSchema = z.object({
  token: z.string().min(1),
  expires_at: z.string().refine((s) => !Number.isNaN(Date.parse(s)), { message: "expected a date" }),
  permissions: Permissions.optional(),
  repository_selection: z.enum(["all", "selected"]).optional(),
  repositories: z.array(z.object({ id: z.number(), name: z.string(), full_name: z.string().optional() })).optional(),
});
export type AccessToken = z.infer<typeof AccessTokenSchema>;

export interface MintedToken {
  token: string;
  /** Epoch milliseconds on Baton's clock. */
  expiresAt: number;
  permissions: Record<string, string>;
}

/** The git credentials GitHub expects for an installation token: Basic `x-access-token:<token>`. */
export function gitBasicAuth(token: string): { username: "x-access-token"; password: string } {
  return { username: "x-access-token", password: token };
}

/** When a token expiring at `expiresAt` must no longer be used (and a new one minted). Pure. */
export function renewalTime(expiresAt: number, renewBeforeMs: number): number {
  return expiresAt - renewBeforeMs;
}

/**
 * GitHub's expiry moved onto Baton's clock: `expires_at` minus the answer's `Date` is the lifetime GitHub grants,
 * counted from `localNow`, and never later than `expires_at` itself (a clock running ahead of GitHub's only
 * shortens it). A `Date` that gives no lifetime within the hour GitHub grants (absent, unreadable, or from a
 * proxy or server whose clock is off) is not used: `expires_at` is taken as it is.
 */
export function localExpiry(expiresAt: string, serverDate: string | undefined, localNow: number): number {
  const expires = Date.parse(expiresAt);
  const server = serverDate === undefined ? Number.NaN : Date.parse(serverDate);
  const lifetime = expires - server;
  if (Number.isNaN(lifetime) || lifetime <= 0 || lifetime > 3_600_000 + 60_000) return expires;
  return Math.min(expires, localNow + lifetime);
}

/**
 * The repository permissions Baton's GitHub App uses (README "Permissions"): reading code and `.tekton`, commit
 * statuses, check runs, and pull-request comments. A run's token gets only `contents: read` of them.
 */
export const appPermissionsUsed = {
  contents: "read",
  metadata: "read",
  statuses: "write",
  checks: "write",
  pull_requests: "write",
  issues: "write",
} as const;

/** The permissions a run's token may carry: exactly what it asked for, and the metadata every token has. */
export const runTokenPermissions = { contents: "read" } as const;
const alwaysGranted: Record<string, string> = { metadata: "read" };

export class AppTokenError extends Error {}

/** Checks a minted run token is no broader than asked; returns a reason when it is. Pure. */
export function broaderThanAsked(answer: AccessToken, repository: string): string | undefined {
  const repos = answer.repositories?.map((r) => r.name.toLowerCase());
  if (answer.repository_selection !== "selected" || repos?.length !== 1 || repos[0] !== repository.toLowerCase()) {
    return `the token GitHub minted is not limited to the repository ${repository}`;
  }
  for (const [name, level] of Object.entries(answer.permissions ?? {})) {
    const asked = (runTokenPermissions as Record<string, string>)[name] ?? alwaysGranted[name];
    if (asked !== level) return `the token GitHub minted carries ${name}: ${level}, more than contents: read`;
  }
  if (answer.permissions?.contents !== "read") return "the token GitHub minted cannot read contents";
  return undefined;
}

export interface AppTokensOptions {
  /** A transport to the API base without default credentials; the App JWT is passed per call. */
  http: HttpTransport;
  signer: AppJwtSigner;
  clock: Clock;
  /** Renew Baton's own tokens when less than this is left. Default 10 minutes. */
  renewBeforeMs?: number;
}

interface Cached {
  token: string;
  expiresAt: number;
  permissions: Record<string, string>;
}

/** One GitHub App on one server: its installations and their tokens. */
export class AppTokens {
  readonly #http: HttpTransport;
  readonly #signer: AppJwtSigner;
  readonly #clock: Clock;
  readonly renewBeforeMs: number;
  readonly #installations = new Map<string, Promise<number>>();
  readonly #tokens = new Map<number, Cached>();
  readonly #minting = new Map<number, Promise<Cached>>();
  /** Tokens minted for Baton's own calls so far (all installations): what "mints per hour" counts. */
  mints = 0;

  constructor(options: AppTokensOptions) {
    this.#http = options.http;
    this.#signer = options.signer;
    this.#clock = options.clock;
    this.renewBeforeMs = options.renewBeforeMs ?? 10 * 60_000;
  }

  #jwt(): Credential {
    return { kind: "bearer", token: this.#signer.jwt() };
  }

  /**
   * The App's own credential, its JWT (signed afresh before it has a minute left), for the endpoints that act as
   * the App rather than an installation: its hook config. Call it before each request, like `credential()`.
   */
  appCredential(): Credential {
    return this.#jwt();
  }

  /** The installation of this App on `owner/name` (cached; `forgetInstallation` after a 404 or 401). */
  installationId(owner: string, name: string, signal?: AbortSignal): Promise<number> {
    const key = `${owner}/${name}`.toLowerCase();
    let found = this.#installations.get(key);
    if (found === undefined) {
      found = this.#lookUp(owner, name, signal);
      this.#installations.set(key, found);
      found.catch(() => this.#installations.delete(key));
    }
    return found;
  }

  forgetInstallation(owner: string, name: string): void {
    this.#installations.delete(`${owner}/${name}`.toLowerCase());
  }

  async #lookUp(owner: string, name: string, signal?: AbortSignal): Promise<number> {
    const path = `/repos/${encodeURIComponent(owner)}/${encodeURIComponent(name)}/installation`;
    try {
      const { data } = await this.#http.json(
        { group: "repos", method: "GET", path, needs: "the App's JWT" },
        InstallationSchema,
        {
          auth: this.#jwt(),
          ...(signal ? { signal } : {}),
        },
      );
      return data.id;
    } catch (err) {
      if (isNotFound(err)) {
        throw new AppTokenError(
          `GitHub App ${this.#signer.appId} is not installed on ${owner}/${name}; install it on the repository (or its owner) and grant it access`,
        );
      }
      throw err;
    }
  }

  /**
   * Credentials for Baton's own calls to `installationId`: the cached token while more than `renewBeforeMs` of it
   * is left, otherwise a fresh one. Use as the transport's AuthProvider.
   */
  async credential(installationId: number): Promise<Credential> {
    const cached = this.#tokens.get(installationId);
    if (cached !== undefined && this.#clock.now() < renewalTime(cached.expiresAt, this.renewBeforeMs)) {
      return { kind: "bearer", token: cached.token };
    }
    let minting = this.#minting.get(installationId);
    if (minting === undefined) {
      // Not tied to one caller's signal: other callers may be waiting on the same mint.
      minting = this.#mint(installationId, {}, undefined).then((minted) => {
        const entry = { token: minted.token, expiresAt: minted.expiresAt, permissions: minted.permissions };
        this.#tokens.set(installationId, entry);
        this.mints++;
        return entry;
      });
      this.#minting.set(installationId, minting);
      const clear = () => this.#minting.delete(installationId);
      minting.then(clear, clear);
    }
    const entry = await minting;
    return { kind: "bearer", token: entry.token };
  }

  /** Drops a token GitHub refused (revoked, or the App's permissions changed): the next call mints anew. */
  forget(token: string): void {
    for (const [id, cached] of this.#tokens) if (cached.token === token) this.#tokens.delete(id);
  }

  /** When the cached token of `installationId` will be renewed (epoch ms), or undefined when none is held. */
  renewsAt(installationId: number): number | undefined {
    const cached = this.#tokens.get(installationId);
    return cached === undefined ? undefined : renewalTime(cached.expiresAt, this.renewBeforeMs);
  }

  /**
   * What the installation's current token may do (GitHub states it when minting), e.g. whether `checks: write`
   * allows check runs (status.ts `canUseCheckRuns`); undefined before the first mint.
   */
  permissionsOf(installationId: number): Readonly<Record<string, string>> | undefined {
    return this.#tokens.get(installationId)?.permissions;
  }

  /** What GitHub granted `token`, when it is one of Baton's own installation tokens held now. */
  grantsOf(token: string): Readonly<Record<string, string>> | undefined {
    for (const cached of this.#tokens.values()) if (cached.token === token) return cached.permissions;
    return undefined;
  }

  /** A token for one run: `contents: read` on the one repository `name`, refused if GitHub grants more. */
  async runToken(installationId: number, name: string, signal?: AbortSignal): Promise<MintedToken> {
    const minted = await this.#mint(
      installationId,
      { repositories: [name], permissions: runTokenPermissions },
      signal,
      (answer) => broaderThanAsked(answer, name),
    );
    return minted;
  }

  async #mint(
    installationId: number,
    body: { repositories?: string[]; permissions?: Record<string, string> },
    signal: AbortSignal | undefined,
    check?: (answer: AccessToken) => string | undefined,
  ): Promise<MintedToken> {
    const { data, headers } = await this.#http.json(
      {
        group: "access-tokens",
        method: "POST",
        path: `/app/installations/${installationId}/access_tokens`,
        body,
        needs: "the App's JWT and an installation of the App",
      },
      AccessTokenSchema,
      { auth: this.#jwt(), ...(signal ? { signal } : {}) },
    );
    const problem = check?.(data);
    if (problem !== undefined) throw new AppTokenError(`${problem}; the token is not used`);
    return {
      token: data.token,
      expiresAt: localExpiry(data.expires_at, dateHeader(headers), this.#clock.now()),
      permissions: data.permissions ?? {},
    };
  }
}

function dateHeader(headers: IncomingHttpHeaders): string | undefined {
  const value = headers.date;
  return Array.isArray(value) ? value[0] : value;
}
