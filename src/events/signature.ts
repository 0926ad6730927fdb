// Webhook signatures: `X-Hub-Signature: sha256=<hex of HMAC-SHA256(secret, raw body)>` (reference §3.3).
// Verification runs before the body is parsed, over the exact bytes received.
import { createHmac, timingSafeEqual } from "node:crypto";

const prefix = "sha256=";
const digestBytes = 32;

export type Body = string | Uint8Array;

/** The header value Bitbucket would send for `body` signed with `secret`. */
export function computeSignature(secret: string | Uint8Array, body: Body): string {
  return prefix + createHmac("sha256", secret).update(body).digest("hex");
}

export type SignatureCheck =
  | { ok: true }
  /** `missing`: no header; `malformed`: not `sha256=` + 64 hex digits; `mismatch`: a well-formed wrong value. */
  | { ok: false; reason: "missing" | "malformed" | "mismatch" };

/**
 * Checks `header` against the HMAC of `body` under each of `secrets` (several during a secret rotation).
 *
 * Never throws: a missing, short, long or non-hex header is an answer, not an exception. The comparison is on
 * the decoded 32 bytes with `timingSafeEqual`, after a length check that reveals nothing about the secret.
 * The prefix is compared case-insensitively and so are hex digits (an uppercase hex string decodes to the same
 * bytes), since neither carries secret information.
 */
export function verifySignature(
  body: Body,
  header: string | readonly string[] | null | undefined,
  secrets: string | Uint8Array | readonly (string | Uint8Array)[],
): SignatureCheck {
  if (header === undefined || header === null) return { ok: false, reason: "missing" };
  // Node joins repeated headers into an array; a request carrying two signatures is not one Bitbucket sends.
  if (typeof header !== "string") return { ok: false, reason: "malformed" };
  const value = header.trim();
  if (value === "") return { ok: false, reason: "missing" };
  if (value.slice(0, prefix.length).toLowerCase() !== prefix) return { ok: false, reason: "malformed" };
  const hex = value.slice(prefix.length);
  if (hex.length !== digestBytes * 2 || !/^[0-9a-fA-F]+$/.test(hex)) return { ok: false, reason: "malformed" };
  const received = Buffer.from(hex, "hex");

  const list = typeof secrets === "string" || secrets instanceof Uint8Array ? [secrets] : secrets;
  let matched = false;
  // Every secret is tried, so the time taken does not say which one matched.
  for (const secret of list) {
    const expected = createHmac("sha256", secret).update(body).digest();
    if (timingSafeEqual(expected, received)) matched = true;
  }
  return matched ? { ok: true } : { ok: false, reason: "mismatch" };
}
