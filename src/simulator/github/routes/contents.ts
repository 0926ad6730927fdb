import type { FastifyInstance } from "fastify";
import type { GitHubCore } from "../core.ts";
import { notFound } from "../errors.ts";
import type { Repository } from "../state.ts";
import { q, type Req, repoFor } from "./context.ts";
import { commitOf } from "./repos.ts";

/** GitHub wraps base64 content at 60 characters. */
function wrap(b64: string): string {
  return `${b64.replace(/.{60}/g, "$&\n")}\n`;
}

/** `GET /repos/{o}/{r}/contents/{path}?ref=`: a file (base64) or a directory listing at a ref. */
export function contentRoutes(core: GitHubCore) {
  return async (app: FastifyInstance): Promise<void> => {
    const entryJson = (repo: Repository, ref: string, path: string, type: string, sha: string, size: number) => {
      const full = core.state.fullName(repo);
      const self = `${core.baseUrl}/repos/${full}/contents/${encodeURI(path)}?ref=${encodeURIComponent(ref)}`;
      const kind = type === "tree" ? "dir" : type === "commit" ? "submodule" : "file";
      const gitUrl = `${core.baseUrl}/repos/${full}/git/${type === "tree" ? "trees" : "blobs"}/${sha}`;
      const html = `${core.baseUrl}/${full}/${kind === "dir" ? "tree" : "blob"}/${ref}/${encodeURI(path)}`;
      return {
        name: path.split("/").pop() ?? path,
        path,
        sha,
        size,
        url: self,
        html_url: html,
        git_url: gitUrl,
        download_url: kind === "file" ? `${core.baseUrl}/${full}/raw/${ref}/${encodeURI(path)}` : null,
        type: kind,
        _links: { self, git: gitUrl, html },
      };
    };

    const handler = async (r: Req) => {
      const repo = repoFor(core, r, "contents", "read");
      const ref = q(r, "ref") ?? repo.defaultBranch;
      const commit = await commitOf(core, repo, ref);
      const path = ((r.params as Record<string, string | undefined>)["*"] ?? "").replace(/^\/+|\/+$/g, "");
      const type = await core.git.objectType(repo.gitPath, commit, path);
      if (type === null) throw notFound();
      if (type === "tree") {
        const entries = await core.git.lsTree(repo.gitPath, commit, path);
        return entries.map((e) => entryJson(repo, ref, path ? `${path}/${e.name}` : e.name, e.type, e.id, e.size ?? 0));
      }
      const entry = await core.git.entry(repo.gitPath, commit, path);
      if (!entry) throw notFound();
      if (entry.type === "commit") return entryJson(repo, ref, path, "commit", entry.id, 0);
      const bytes = await core.git.readBlob(repo.gitPath, commit, path);
      return {
        ...entryJson(repo, ref, path, "blob", entry.id, bytes.length),
        content: wrap(bytes.toString("base64")),
        encoding: "base64",
      };
    };
    const cfg = { config: { group: "content" as const } };
    app.get("/repos/:owner/:repo/contents", cfg, handler);
    app.get("/repos/:owner/:repo/contents/*", cfg, handler);
  };
}
