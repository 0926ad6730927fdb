import { type KeyObject, sign, verify } from "node:crypto";

/**
 * A GitHub App authenticates as itself with a JWT it signs with its private key (RS256). GitHub checks the
 * signature with the App's public key, that `iat` is an integer not in the future, and that `exp` is a number in
 * the future at most ten minutes away. The messages are the ones GitHub answers with (401).
 */

export const JWT_NOT_DECODED = "A JSON web token could not be decoded";
export const JWT_BAD_IAT =
  "'Issued at' claim ('iat') must be an Integer representing the time that the assertion was issued";
export const JWT_BAD_EXP =
  "'Expiration time' claim ('exp') must be a numeric value representing the future time at which the assertion expires";
export const JWT_EXP_TOO_FAR = "'Expiration time' claim ('exp') is too far in the future";

/** GitHub refuses an `exp` more than this far from now. */
export const MAX_JWT_LIFETIME_SECONDS = 600;

export type JwtOutcome = { ok: true; appKey: string } | { ok: false; message: string };

/** Something that looks like a JWT (three base64url parts); anything else is treated as an opaque token. */
export function looksLikeJwt(token: string): boolean {
  return /^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]*$/.test(token);
}

function decodePart(part: string): Record<string, unknown> | null {
  try {
    const value: unknown = JSON.parse(Buffer.from(part, "base64url").toString("utf8"));
    return value !== null && typeof value === "object" && !Array.isArray(value)
      ? (value as Record<string, unknown>)
      : null;
  } catch {
    return null;
  }
}

/**
 * Verifies an App JWT. `keyFor` finds the public key of the App the `iss` claim names (its id, or its client id);
 * `nowSeconds` is the simulator clock. On success `appKey` is the `iss` as given.
 */
export function verifyAppJwt(
  token: string,
  keyFor: (iss: string) => KeyObject | undefined,
  nowSeconds: number,
): JwtOutcome {
  const [head = "", body = "", signature = ""] = token.split(".");
  const header = decodePart(head);
  const claims = decodePart(body);
  if (!header || !claims || header.alg !== "RS256") return { ok: false, message: JWT_NOT_DECODED };
  const iss = claims.iss;
  const key = typeof iss === "string" || typeof iss === "number" ? keyFor(String(iss)) : undefined;
  if (!key) return { ok: false, message: JWT_NOT_DECODED };
  const signed = verify("RSA-SHA256", Buffer.from(`${head}.${body}`), key, Buffer.from(signature, "base64url"));
  if (!signed) return { ok: false, message: JWT_NOT_DECODED };
  const { iat, exp } = claims;
  if (typeof iat !== "number" || !Number.isInteger(iat) || iat > nowSeconds) return { ok: false, message: JWT_BAD_IAT };
  if (typeof exp !== "number" || !Number.isFinite(exp) || exp <= nowSeconds) return { ok: false, message: JWT_BAD_EXP };
  if (exp - nowSeconds > MAX_JWT_LIFETIME_SECONDS) return { ok: false, message: JWT_EXP_TOO_FAR };
  return { ok: true, appKey: String(iss) };
}

/** Signs an App JWT (tests and the demo; Baton signs its own). */
export function signAppJwt(privateKeyPem: string, claims: Record<string, unknown>): string {
  const head = Buffer.from(JSON.stringify({ alg: "RS256", typ: "JWT" })).toString("base64url");
  const body = Buffer.from(JSON.stringify(claims)).toString("base64url");
  const signature = sign("RSA-SHA256", Buffer.from(`${head}.${body}`), privateKeyPem).toString("base64url");
  return `${head}.${body}.${signature}`;
}
