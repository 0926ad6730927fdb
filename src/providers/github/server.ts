// Where GitHub's REST API lives for a Repository's server: `https://api.github.com` for github.com, and
// `<server>/api/v3` for GitHub Enterprise Server. A server that is not github.com must be marked as Enterprise
// Server explicitly (spec.provider): Baton never guesses a host's kind from a failed call.

export type GitHubServer =
  | { kind: "github.com"; webUrl: "https://github.com"; apiBase: "https://api.github.com" }
  | { kind: "enterprise"; webUrl: string; apiBase: string };

export class GitHubServerError extends Error {}

/** Whether `url` names github.com itself (the web or the API host). */
export function isGitHubDotCom(url: string | URL): boolean {
  const host = new URL(url).hostname.toLowerCase();
  return host === "github.com" || host === "www.github.com" || host === "api.github.com";
}

/**
 * The GitHub server a Repository's `spec.url` names. `enterprise` is the explicit mark for GitHub Enterprise
 * Server; github.com needs none (and refuses it, since its API is not at `/api/v3`).
 */
export function githubServer(serverUrl: string, options: { enterprise?: boolean } = {}): GitHubServer {
  let url: URL;
  try {
    url = new URL(serverUrl);
  } catch {
    throw new GitHubServerError(`${JSON.stringify(serverUrl)} is not a URL`);
  }
  if (url.protocol !== "https:" && url.protocol !== "http:") {
    throw new GitHubServerError(`the GitHub server URL must be http(s), not ${url.protocol}`);
  }
  if (url.username || url.password) throw new GitHubServerError("the GitHub server URL must not carry credentials");
  if (isGitHubDotCom(url)) {
    if (options.enterprise) {
      throw new GitHubServerError("github.com is not a GitHub Enterprise Server; drop the enterprise mark");
    }
    return { kind: "github.com", webUrl: "https://github.com", apiBase: "https://api.github.com" };
  }
  if (!options.enterprise) {
    throw new GitHubServerError(
      `${url.host} is not github.com; mark it explicitly as GitHub Enterprise Server to use it as one`,
    );
  }
  const webUrl = `${url.origin}${url.pathname.replace(/\/+$/, "")}`;
  return { kind: "enterprise", webUrl, apiBase: `${webUrl}/api/v3` };
}

/** A GitHub repository as a Repository's `spec.url` names it. */
export interface GitHubRepositoryLocation {
  /** The web base URL (`https://github.com`, or an Enterprise Server's with any path prefix). */
  server: string;
  /** Owner login, as written (GitHub matches it case-insensitively). */
  owner: string;
  name: string;
}

// GitHub logins: letters, digits and single hyphens; repository names: letters, digits, `.`, `_`, `-`.
const repositoryUrl =
  /^(https?:\/\/[^/?#]+(?:\/[^?#]*?)?)\/([A-Za-z0-9](?:[A-Za-z0-9-]{0,38}))\/([A-Za-z0-9._-]{1,100}?)(?:\.git)?\/?$/;

/**
 * Reads server, owner and name from a repository's browse URL (`https://github.com/octo-org/hello`) or HTTPS clone
 * URL (`….git`). On github.com the server is the host alone, so a deeper path (`/octo-org/hello/pull/1`) is refused
 * rather than read as a path prefix; an Enterprise Server may sit below a path. A URL carrying credentials is
 * refused, so a pasted token never spreads into status or logs.
 */
export function parseGitHubRepositoryUrl(url: string): GitHubRepositoryLocation | undefined {
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    return undefined;
  }
  if (parsed.username || parsed.password || parsed.search || parsed.hash) return undefined;
  const match = repositoryUrl.exec(url);
  if (!match?.[1] || !match[2] || !match[3] || match[3] === "." || match[3] === "..") return undefined;
  const server = match[1];
  if (isGitHubDotCom(server) && new URL(server).pathname !== "/") return undefined;
  return { server: isGitHubDotCom(server) ? "https://github.com" : server, owner: match[2], name: match[3] };
}
