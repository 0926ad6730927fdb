import type { FastifyInstance } from "fastify";
import { type DiffEntry, EMPTY_TREE, ZERO_SHA } from "../../git.ts";
import type { SimCore } from "../core.ts";
import { badRequest, noSuchCommit, noSuchPath } from "../errors.ts";
import { type PagingSettings, pageRequest, paginate } from "../paging.ts";
import { READ } from "../permissions.ts";
import type { Repository } from "../state.ts";
import { param, params, q, query, type Req, repoFor } from "./context.ts";

const CHANGE_TYPES: Record<string, string> = { A: "ADD", D: "DELETE", M: "MODIFY", T: "MODIFY", R: "MOVE", C: "COPY" };

/** One value of a `changes` page, for pull requests and commit ranges alike. */
export function changeJson(d: DiffEntry): Record<string, unknown> {
  const type = CHANGE_TYPES[d.status] ?? "UNKNOWN";
  return {
    contentId: d.dstId === ZERO_SHA ? undefined : d.dstId,
    fromContentId: d.srcId,
    path: pathJson(d.path),
    srcPath: d.srcPath !== null ? pathJson(d.srcPath) : undefined,
    executable: d.dstMode === "100755",
    percentUnchanged: d.score ?? -1,
    type,
    nodeType: d.dstMode === "160000" || d.srcMode === "160000" ? "SUBMODULE" : "FILE",
    srcExecutable: type === "ADD" ? undefined : d.srcMode === "100755",
    links: { self: [null] },
    properties: { gitChangeType: type },
  };
}

/** Bitbucket's path object: `{components, parent, name, extension, toString}`. */
export function pathJson(path: string): Record<string, unknown> {
  const components = path.split("/").filter(Boolean);
  const name = components[components.length - 1] ?? "";
  const dot = name.lastIndexOf(".");
  return {
    components,
    parent: components.slice(0, -1).join("/"),
    name,
    extension: dot >= 0 && dot < name.length - 1 ? name.slice(dot + 1) : undefined,
    toString: components.join("/"),
  };
}

function wildcardPath(request: Req): string {
  return (params(request)["*"] ?? "").replace(/^\/+|\/+$/g, "");
}

/** `at` may be a commit id, a branch or tag name, or a full ref; it defaults to the default branch. */
export async function resolveAt(core: SimCore, repo: Repository, at: string | undefined): Promise<string> {
  const rev = at && at.trim() !== "" ? at : `refs/heads/${repo.defaultBranch}`;
  const sha = await core.git.resolveCommit(repo.gitPath, rev);
  if (!sha) throw noSuchCommit(rev, repo.slug);
  return sha;
}

/** Lines of file content are paged like everything else, with their own (larger) default and cap. */
const LINE_PAGING: PagingSettings = { defaultLimit: 500, maxLimit: 5000 };

export function contentRoutes(core: SimCore) {
  const paging = core.options.paging;
  const base = "/projects/:projectKey/repos/:repositorySlug";
  return async (app: FastifyInstance): Promise<void> => {
    /** Recursive file list; `values` are plain path strings relative to the requested directory. */
    const files = async (request: Req) => {
      const repo = repoFor(core, request, READ);
      const sha = await resolveAt(core, repo, q(request, "at"));
      const path = wildcardPath(request);
      const type = await core.git.objectType(repo.gitPath, sha, path);
      if (type === null) throw noSuchPath(path, q(request, "at") ?? repo.defaultBranch);
      if (type !== "tree") throw badRequest(`The path "${path}" is not a directory.`, "path");
      const all = await core.git.listFiles(repo.gitPath, sha, path);
      return paginate(all, pageRequest(query(request), paging));
    };
    app.get(`${base}/files`, { config: { group: "content" } }, files);
    app.get(`${base}/files/*`, { config: { group: "content" } }, files);

    app.get(`${base}/raw/*`, { config: { group: "content" } }, async (request, reply) => {
      const repo = repoFor(core, request, READ);
      const sha = await resolveAt(core, repo, q(request, "at"));
      const path = wildcardPath(request);
      const type = path === "" ? "tree" : await core.git.objectType(repo.gitPath, sha, path);
      if (type === null) throw noSuchPath(path, q(request, "at") ?? repo.defaultBranch);
      if (type !== "blob") throw badRequest(`The path "${path}" is not a file.`, "path");
      const bytes = await core.git.readBlob(repo.gitPath, sha, path);
      reply.header("Content-Type", bytes.includes(0) ? "application/octet-stream" : "text/plain;charset=UTF-8");
      return reply.send(bytes);
    });

    const browse = async (request: Req) => {
      const repo = repoFor(core, request, READ);
      const at = q(request, "at");
      const sha = await resolveAt(core, repo, at);
      const path = wildcardPath(request);
      const type = await core.git.objectType(repo.gitPath, sha, path);
      if (type === null) throw noSuchPath(path, at ?? repo.defaultBranch);
      const kind = type === "tree" ? "DIRECTORY" : type === "commit" ? "SUBMODULE" : "FILE";
      if (q(request, "type") === "true") return { type: kind };
      if (q(request, "size") === "true") {
        const entry = path === "" ? null : await core.git.entry(repo.gitPath, sha, path);
        return { size: entry?.size ?? 0 };
      }
      if (kind === "DIRECTORY") {
        const entries = await core.git.lsTree(repo.gitPath, sha, path);
        const children = entries.map((e) => ({
          path: pathJson(e.name),
          contentId: e.id,
          type: e.type === "tree" ? "DIRECTORY" : e.type === "commit" ? "SUBMODULE" : "FILE",
          size: e.size ?? undefined,
        }));
        return {
          path: pathJson(path),
          revision: at ?? repo.defaultBranch,
          children: paginate(children, pageRequest(query(request), paging)),
        };
      }
      if (kind === "SUBMODULE") return { path: pathJson(path), revision: at ?? repo.defaultBranch, type: "SUBMODULE" };
      const bytes = await core.git.readBlob(repo.gitPath, sha, path);
      if (bytes.includes(0)) return { binary: true, path: pathJson(path) };
      const text = bytes.toString("utf8");
      const lines = text === "" ? [] : text.replace(/\n$/, "").split("\n");
      const page = paginate(
        lines.map((l) => ({ text: l })),
        pageRequest(query(request), LINE_PAGING),
      );
      const { values, ...rest } = page;
      return { lines: values, ...rest };
    };
    app.get(`${base}/browse`, { config: { group: "content" } }, browse);
    app.get(`${base}/browse/*`, { config: { group: "content" } }, browse);

    /** Takes a commit id, not a ref name (reference §6). */
    app.get(`${base}/commits/:commitId`, { config: { group: "content" } }, async (request) => {
      const repo = repoFor(core, request, READ);
      const id = param(request, "commitId");
      const info = /^[0-9a-f]{4,40}$/i.test(id) ? await core.git.commit(repo.gitPath, id.toLowerCase()) : null;
      if (!info) throw noSuchCommit(id, repo.slug);
      const parents = new Map();
      for (const p of info.parents) {
        const parent = await core.git.commit(repo.gitPath, p);
        if (parent) parents.set(p, parent);
      }
      return core.presenter.commit(info, { enrich: true, parents });
    });

    /**
     * Files changed between two commits, as `git diff since until` (Atlassian KB "How to diff arbitrary commits using
     * REST API"); without `since`, against the first parent of `until`. Paged like any list.
     */
    app.get(`${base}/changes`, { config: { group: "content" } }, async (request) => {
      const repo = repoFor(core, request, READ);
      const untilRev = q(request, "until");
      if (!untilRev) throw badRequest("until is required");
      const until = await core.git.resolveCommit(repo.gitPath, untilRev);
      if (!until) throw noSuchCommit(untilRev, repo.slug);
      const sinceRev = q(request, "since");
      let since: string | null;
      if (sinceRev) {
        since = await core.git.resolveCommit(repo.gitPath, sinceRev);
        if (!since) throw noSuchCommit(sinceRev, repo.slug);
      } else {
        since = (await core.git.commit(repo.gitPath, until))?.parents[0] ?? EMPTY_TREE;
      }
      const diff = await core.git.diffTree(repo.gitPath, since, until);
      const page = paginate(diff.map(changeJson), pageRequest(query(request), paging));
      return { fromHash: until, toHash: since, properties: {}, ...page };
    });

    app.get(`${base}/commits`, { config: { group: "content" } }, async (request) => {
      const repo = repoFor(core, request, READ);
      const until = await resolveAt(core, repo, q(request, "until"));
      const sinceRev = q(request, "since");
      const since = sinceRev ? await core.git.resolveCommit(repo.gitPath, sinceRev) : null;
      if (sinceRev && !since) throw noSuchCommit(sinceRev, repo.slug);
      const ids = await core.git.revList(repo.gitPath, until, since, 10_000);
      const page = paginate(ids, pageRequest(query(request), paging));
      const values = [];
      for (const id of page.values) {
        const info = await core.git.commit(repo.gitPath, id);
        if (info) values.push(core.presenter.commit(info, { enrich: true }));
      }
      return { ...page, values };
    });
  };
}
