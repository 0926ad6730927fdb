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
