// The last line of defence against leaking credentials into logs, Events, conditions and error messages.
// Callers must still never pass a secret on purpose; this catches the accidents (an error message that quotes a
// header, a URL with userinfo, an object dumped whole).

export const REDACTED = "[REDACTED]";

// Field names whose value is a credential wherever they appear. Matched case-insensitively and exactly, so that
// `tokenRef`, `tokenId` or `secretName` (references, not secrets) stay readable.
const SECRET_KEYS = new Set(
  [
    "authorization",
    "proxy-authorization",
    "cookie",
    "set-cookie",
    "x-auth-token",
    "x-api-key",
    "token",
    "accessToken",
    "access_token",
    "refreshToken",
    "refresh_token",
    "idToken",
    "id_token",
    "bearerToken",
    "password",
    "passwd",
    "secret",
    "clientSecret",
    "client_secret",
    "webhookSecret",
    "privateKey",
    "private_key",
    "apiKey",
    "api_key",
    "stringData",
  ].map((k) => k.toLowerCase()),
);

export function isSecretKey(key: string): boolean {
  return SECRET_KEYS.has(key.toLowerCase());
}

// Values the process knows to be secret (a token it just issued, a webhook secret it generated). Bounded so a
// long-running operator that rotates many tokens cannot grow it without limit; the oldest are dropped first.
const MAX_KNOWN_SECRETS = 4096;
const knownSecrets = new Set<string>();

/** Registers a secret value so that every later scrub replaces it wherever it appears. */
export function maskSecret(value: string | undefined): void {
  if (!value || value.length < 6) return;
  knownSecrets.delete(value);
  knownSecrets.add(value);
  if (knownSecrets.size > MAX_KNOWN_SECRETS) {
    const oldest = knownSecrets.values().next().value;
    if (oldest !== undefined) knownSecrets.delete(oldest);
  }
}

/** Forgets a registered secret (for example after the token was revoked). */
export function unmaskSecret(value: string): void {
  knownSecrets.delete(value);
}

const PEM_PRIVATE_KEY = /-----BEGIN [A-Z0-9 ]*PRIVATE KEY-----[\s\S]*?(?:-----END [A-Z0-9 ]*PRIVATE KEY-----|$)/g;
const URL_USERINFO = /\b([a-z][a-z0-9+.-]*:\/\/)([^\s:@/"']*):([^\s@/"']+)@/gi;
const AUTH_SCHEME = /\b(Bearer|Basic)(\s+|%20)([A-Za-z0-9._~+/=:-]{6,})/gi;
const JWT = /\beyJ[A-Za-z0-9_-]{4,}\.[A-Za-z0-9_-]{4,}\.[A-Za-z0-9_-]*/g;
const BITBUCKET_PREFIXED = /\bBBDC-[A-Za-z0-9+/=_-]{8,}/g;
const BASE64_RUN = /[A-Za-z0-9+/]{40,}={0,2}/g;
const OPAQUE_RUN = /[A-Za-z0-9+_=-]{32,}/g;

// A Bitbucket HTTP access token is base64 of "<numeric token id>:" followed by random bytes (see
// docs/reference/bitbucket-data-center.md §1.3), so it can be recognised exactly, even when it contains "/".
function isBitbucketTokenBody(candidate: string): boolean {
  const head = Buffer.from(candidate.slice(0, 24), "base64").toString("latin1");
  return /^\d{6,}:/.test(head);
}

function looksOpaque(candidate: string): boolean {
  const s = candidate.replace(/=+$/, "");
  if (s.length < 32) return false;
  if (/^[0-9a-fA-F]+$/.test(s)) return false; // commit ids, digests
  if (/^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$/.test(s)) return false;
  // Random material mixes cases and digits; Kubernetes names, words and paths rarely do all three.
  return /[a-z]/.test(s) && /[A-Z]/.test(s) && /[0-9]/.test(s);
}

function hasCredentialShape(value: string): boolean {
  return /[A-Z0-9+/=]/.test(value);
}

/** Replaces anything that looks like a credential in free text. */
export function scrub(text: string): string {
  if (text.length < 6) return text;
  let out = text;
  for (const secret of knownSecrets) {
    if (out.includes(secret)) out = out.split(secret).join(REDACTED);
  }
  out = out.replace(PEM_PRIVATE_KEY, REDACTED);
  out = out.replace(URL_USERINFO, (_m, scheme: string, user: string) => `${scheme}${user}:${REDACTED}@`);
  out = out.replace(AUTH_SCHEME, (m, scheme: string, sep: string, value: string) =>
    hasCredentialShape(value) ? `${scheme}${sep}${REDACTED}` : m,
  );
  out = out.replace(JWT, REDACTED);
  out = out.replace(BITBUCKET_PREFIXED, `BBDC-${REDACTED}`);
  out = out.replace(BASE64_RUN, (m) =>
    isBitbucketTokenBody(m) || (!m.includes("/") && looksOpaque(m)) ? REDACTED : m,
  );
  out = out.replace(OPAQUE_RUN, (m) => (looksOpaque(m) ? REDACTED : m));
  return out;
}

/** Serialised form of an Error that is safe to print. */
export interface SafeError {
  type: string;
  message: string;
  stack?: string;
  code?: string | number;
  statusCode?: number;
  reason?: string;
  cause?: SafeError | unknown;
}

function scrubError(err: Error, depth: number, seen: WeakSet<object>): SafeError {
  const e = err as Error & { code?: unknown; statusCode?: unknown; reason?: unknown; cause?: unknown };
  const out: SafeError = { type: err.name || err.constructor?.name || "Error", message: scrub(String(err.message)) };
  if (err.stack) out.stack = scrub(err.stack);
  if (typeof e.code === "string" || typeof e.code === "number") out.code = e.code;
  if (typeof e.statusCode === "number") out.statusCode = e.statusCode;
  if (typeof e.reason === "string") out.reason = scrub(e.reason);
  if (e.cause !== undefined && depth < 4) out.cause = scrubValue(e.cause, depth + 1, seen);
  return out;
}

/**
 * Deep copy of `value` with secret-named fields, the data of Kubernetes Secrets and credential-looking strings
 * replaced. Errors become plain objects. Cycles and depth beyond 10 are cut.
 */
export function scrubValue(value: unknown, depth = 0, seen: WeakSet<object> = new WeakSet()): unknown {
  if (typeof value === "string") return scrub(value);
  if (value === null || typeof value !== "object") return value;
  if (value instanceof Error) return scrubError(value, depth, seen);
  if (value instanceof Date || value instanceof URL) return scrub(value.toString());
  if (Buffer.isBuffer(value) || ArrayBuffer.isView(value)) return `[${value.byteLength} bytes]`;
  if (seen.has(value)) return "[Circular]";
  if (depth > 10) return "[Truncated]";
  seen.add(value);
  try {
    if (Array.isArray(value)) return value.map((v) => scrubValue(v, depth + 1, seen));
    if (value instanceof Map) {
      return scrubValue(Object.fromEntries(value), depth, seen);
    }
    const obj = value as Record<string, unknown>;
    const isSecretObject = obj.kind === "Secret" && typeof obj.apiVersion === "string";
    const out: Record<string, unknown> = {};
    for (const [key, v] of Object.entries(obj)) {
      if (v === undefined) continue;
      if (isSecretKey(key) && v !== null && v !== "") {
        out[key] = REDACTED;
      } else if (isSecretObject && key === "data" && v && typeof v === "object") {
        // Keep the key names: which keys a Secret has is useful, what they hold is not printable.
        out[key] = Object.fromEntries(Object.keys(v).map((k) => [k, REDACTED]));
      } else {
        out[key] = scrubValue(v, depth + 1, seen);
      }
    }
    return out;
  } finally {
    seen.delete(value);
  }
}
