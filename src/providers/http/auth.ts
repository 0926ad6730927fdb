/**
 * Credentials for one call. `bearer` is every host's token (DC project and repository tokens work *only* as
 * bearer; Cloud access tokens; GitHub tokens). `basic` is a user name with a password: DC's access-tokens API
 * refuses tokens, so issuing one needs an admin's password.
 */
export type Credential = { kind: "bearer"; token: string } | { kind: "basic"; username: string; password: string };

/** Called before every HTTP attempt, so a token rotated in a Secret takes effect without a new client. */
export type AuthProvider = () => Credential | undefined | Promise<Credential | undefined>;

export type AuthSource = Credential | AuthProvider;

export async function resolveAuth(source: AuthSource | undefined): Promise<Credential | undefined> {
  return typeof source === "function" ? await source() : source;
}

// Visible ASCII only: anything else would be rejected by the HTTP library with an error quoting the header.
const HEADER_SAFE = /^[\x20-\x7e]*$/;

/**
 * Builds the Authorization header value. A token read from a file often ends in a newline, so surrounding
 * whitespace is trimmed from tokens (never from passwords). Throws a TypeError whose message never quotes
 * the credential.
 */
export function authorizationHeader(auth: Credential): string {
  if (auth.kind === "bearer") {
    const token = auth.token.trim();
    if (!token || !HEADER_SAFE.test(token)) {
      throw new TypeError(
        "the token is empty or contains characters not allowed in an HTTP header; check the Secret's value",
      );
    }
    return `Bearer ${token}`;
  }
  if (!auth.username || auth.username.includes(":") || !HEADER_SAFE.test(auth.username)) {
    throw new TypeError("the username is empty or contains ':' or non-ASCII characters; check the credentials Secret");
  }
  return `Basic ${Buffer.from(`${auth.username}:${auth.password}`, "utf8").toString("base64")}`;
}

/** Every string that must never show up in an error: the secret itself and the header it travels in. */
export function secretsOf(auth: Credential | undefined): string[] {
  if (!auth) return [];
  if (auth.kind === "bearer") return [auth.token, auth.token.trim()].filter((s) => s.length > 0);
  const encoded = Buffer.from(`${auth.username}:${auth.password}`, "utf8").toString("base64");
  return [auth.password, encoded].filter((s) => s.length > 0);
}
