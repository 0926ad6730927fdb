// Which Bitbucket servers the operator may call, from its configuration (BATON_ALLOWED_SERVERS). A Repository's
// spec.url and a BitbucketProjectToken's spec.server are written by whoever may create those objects in a watched
// namespace; without this list they could point the operator, and the token it sends, at any host it can reach
// (an internal admin endpoint, a metadata service). Pure.
//
// Unset means no server: an installation names its Bitbucket (or opts out with `*`), so least privilege is the
// default and an unconfigured operator says what to set instead of calling anywhere.
import { z } from "zod";

export const allowAny = "*";

const entry = z.string().transform((text, ctx) => {
  if (text === allowAny) return { any: true as const };
  let url: URL;
  try {
    url = new URL(text);
  } catch {
    ctx.addIssue({ code: "custom", message: `"${text}" is not a base URL (https://bitbucket.example.com) or *` });
    return z.NEVER;
  }
  if (!/^https?:$/.test(url.protocol) || url.username || url.password || url.search || url.hash) {
    ctx.addIssue({
      code: "custom",
      message: `"${text}" must be a plain http(s) base URL without credentials or query`,
    });
    return z.NEVER;
  }
  return { any: false as const, origin: url.origin, path: trimSlash(url.pathname) };
});

/** A comma- or space-separated list of base URLs, or `*` for any server. */
export const allowedServersSchema = z
  .string()
  .transform((text) => text.split(/[\s,]+/).filter((s) => s !== ""))
  .pipe(z.array(entry))
  .transform((entries) => ({ entries }));

export type AllowedServers = z.output<typeof allowedServersSchema>;

/** Nothing allowed: what an operator without BATON_ALLOWED_SERVERS gets. */
export const noServers: AllowedServers = { entries: [] };

/**
 * Why `server` may not be called, or undefined when it may. A base URL allows itself and anything below its path
 * (`https://host/bitbucket` allows `https://host/bitbucket`, not `https://host/bitbucket-other` or `https://host`).
 */
export function serverRefusal(allowed: AllowedServers, server: string): string | undefined {
  if (allowed.entries.some((e) => e.any)) return undefined;
  const unset = allowed.entries.length === 0;
  let url: URL | undefined;
  try {
    url = new URL(server);
  } catch {
    url = undefined;
  }
  const path = url ? trimSlash(url.pathname) : "";
  const match = allowed.entries.some(
    (e) => !e.any && url !== undefined && e.origin === url.origin && (path === e.path || path.startsWith(`${e.path}/`)),
  );
  if (match) return undefined;
  const shown = url ? `${url.origin}${path}` : "the server";
  return unset
    ? `${shown} is not an allowed server: the operator allows none until BATON_ALLOWED_SERVERS lists the base URLs it may call (or * for any); nothing was sent to it`
    : `${shown} is not among the operator's allowed servers (BATON_ALLOWED_SERVERS); ask whoever runs Baton to add it; nothing was sent to it`;
}

function trimSlash(path: string): string {
  return path.replace(/\/+$/, "");
}
