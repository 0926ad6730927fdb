// The GitHub App's JSON Web Token, which authenticates the App itself (finding an installation, minting
// installation tokens, reading its hook config). RS256 over the App's private key with node:crypto; GitHub's
// rules (docs: "Generating a JSON Web Token for a GitHub App"): `iss` the App's id (or client id), `iat` set 60 s
// in the past against clock drift, `exp` at most 10 minutes ahead.
import { createPrivateKey, type KeyObject, sign } from "node:crypto";

export const jwtBackdateSeconds = 60;
/** `exp` is this far after `iat`: GitHub's 10-minute maximum, reached from a backdated `iat`. */
export const jwtLifetimeSeconds = 600;

export interface AppJwtClaims {
  iat: number;
  exp: number;
  iss: string;
}

/** The claims for a JWT signed at `nowMs` (epoch milliseconds). Pure. */
export function appJwtClaims(appId: string, nowMs: number): AppJwtClaims {
  const now = Math.floor(nowMs / 1000);
  const iat = now - jwtBackdateSeconds;
  return { iat, exp: iat + jwtLifetimeSeconds, iss: appId };
}

export class AppKeyError extends Error {}

/**
 * Reads the App's private key (the PEM GitHub hands out: PKCS#1 `RSA PRIVATE KEY`, or PKCS#8). The error never
 * quotes the key.
 */
export function parseAppPrivateKey(pem: string | Uint8Array): KeyObject {
  let key: KeyObject;
  try {
    key = createPrivateKey({ key: typeof pem === "string" ? pem.trim() : Buffer.from(pem), format: "pem" });
  } catch {
    throw new AppKeyError("the GitHub App private key is not a PEM private key; paste the .pem file GitHub gave");
  }
  if (key.asymmetricKeyType !== "rsa") {
    throw new AppKeyError(
      `the GitHub App private key is a ${key.asymmetricKeyType ?? "non-RSA"} key; GitHub App keys are RSA (PEM)`,
    );
  }
  return key;
}

function base64url(data: string | Buffer): string {
  return Buffer.from(data).toString("base64url");
}

/** A signed App JWT for `appId` at `nowMs`. */
export function signAppJwt(appId: string, key: KeyObject, nowMs: number): string {
  if (!/^[\w.-]+$/.test(appId)) throw new AppKeyError("the GitHub App id must be the App's numeric id or client id");
  const header = base64url(JSON.stringify({ alg: "RS256", typ: "JWT" }));
  const payload = base64url(JSON.stringify(appJwtClaims(appId, nowMs)));
  const signature = sign("sha256", Buffer.from(`${header}.${payload}`), key);
  return `${header}.${payload}.${base64url(signature)}`;
}

/** Signs App JWTs on demand, reusing one until it has less than a minute left. */
export class AppJwtSigner {
  readonly appId: string;
  readonly #key: KeyObject;
  readonly #now: () => number;
  #cached: { jwt: string; exp: number } | undefined;

  constructor(appId: string, key: KeyObject, now: () => number) {
    this.appId = appId;
    this.#key = key;
    this.#now = now;
  }

  jwt(): string {
    const now = this.#now();
    if (this.#cached === undefined || this.#cached.exp * 1000 - now < 60_000) {
      const jwt = signAppJwt(this.appId, this.#key, now);
      this.#cached = { jwt, exp: appJwtClaims(this.appId, now).exp };
    }
    return this.#cached.jwt;
  }
}
