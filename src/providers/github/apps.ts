// The GitHub Apps Baton acts as: one AppTokens (and so one set of installation tokens) per App and server,
// shared by every Repository that names the App, so 100 repositories under one installation cost one token mint
// per renewal, not 100. The private key comes from a Secret Baton re-reads; a changed key (rotated in GitHub's App
// settings) replaces the App's signer and drops tokens minted under the old one at the next use.
import { createHash } from "node:crypto";
import type { Clock } from "../../runtime/clock.ts";
import type { HttpTransport } from "../http/http.ts";
import { AppJwtSigner, parseAppPrivateKey } from "./app-jwt.ts";
import { AppTokens } from "./app-tokens.ts";

export interface GitHubAppsOptions {
  clock: Clock;
  /** A transport to `apiBase` without default credentials (the App JWT and tokens are passed per call). */
  transportFor(apiBase: string): HttpTransport;
  renewBeforeMs?: number;
}

export interface AppRef {
  /** `https://api.github.com` or `<server>/api/v3`. */
  apiBase: string;
  /** The App's numeric id (or client id), as the Repository names it. */
  appId: string;
  /** The PEM from the App's Secret. */
  privateKey: string | Uint8Array;
}

interface Entry {
  fingerprint: string;
  tokens: AppTokens;
}

export class GitHubApps {
  readonly #options: GitHubAppsOptions;
  readonly #apps = new Map<string, Entry>();

  constructor(options: GitHubAppsOptions) {
    this.#options = options;
  }

  /** The App's tokens; throws AppKeyError (never quoting the key) when the Secret holds no usable RSA key. */
  tokensFor(app: AppRef): AppTokens {
    const key = `${app.apiBase.replace(/\/+$/, "")} ${app.appId}`;
    const fingerprint = createHash("sha256").update(app.privateKey).digest("hex");
    const known = this.#apps.get(key);
    if (known !== undefined && known.fingerprint === fingerprint) return known.tokens;
    const signer = new AppJwtSigner(app.appId, parseAppPrivateKey(app.privateKey), () => this.#options.clock.now());
    const tokens = new AppTokens({
      http: this.#options.transportFor(app.apiBase),
      signer,
      clock: this.#options.clock,
      ...(this.#options.renewBeforeMs === undefined ? {} : { renewBeforeMs: this.#options.renewBeforeMs }),
    });
    this.#apps.set(key, { fingerprint, tokens });
    return tokens;
  }

  /** A token GitHub refused (401): whichever App holds it mints anew at the next call. */
  forget(token: string): void {
    for (const { tokens } of this.#apps.values()) tokens.forget(token);
  }

  /** What GitHub granted one of Baton's installation tokens (e.g. `checks: write`), or undefined for any other. */
  grantsOf(token: string): Readonly<Record<string, string>> | undefined {
    for (const { tokens } of this.#apps.values()) {
      const grants = tokens.grantsOf(token);
      if (grants !== undefined) return grants;
    }
    return undefined;
  }

  /** Apps known, for metrics. */
  get size(): number {
    return this.#apps.size;
  }
}
