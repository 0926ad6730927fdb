import { createHash } from "node:crypto";
import type { FastifyInstance } from "fastify";
import { EMPTY_TREE } from "../../git.ts";
import { param, params, q, type Req } from "../../route-kit.ts";
import type { CloudCore } from "../core.ts";
import { CloudError, notFound } from "../errors.ts";
import type { Json } from "../payloads.ts";
import type { Repository } from "../state.ts";
import { pageOf, principalOf, repoFor } from "./context.ts";

const MIME: Record<string, string> = {
  yaml: "application/x-yaml",
  yml: "application/x-yaml",
  json: "application/json",
  md: "text/markdown",
  txt: "text/plain",
  sh: "application/x-sh",
  bat: "application/x-msdos-program",
  xml: "application/xml",
  js: "application/javascript",
  ts: "video/mp2t",
  png: "image/png",
};

/** From the extension only, with no charset (§6.1); unknown extensions answer octet-stream. */
function mimeOf(path: string): string {
  const ext = /\.([^./]+)$/.exec(path)?.[1]?.toLowerCase() ?? "";
  return MIME[ext] ?? "application/octet-stream";
}

/**
 * `src` (files and directory listings at a commit), `commit/{rev}` (12-hex short hashes resolve) and
 * `diffstat/{spec}` (A..B with A the source, B the destination; `topic=true` diffs against the merge base).
 */
export function contentRoutes(core: CloudCore) {
  return async (app: FastifyInstance): Promise<void> => {
    const cfg = { config: { group: "content" as const } };
    const base = "/repositories/:workspace/:repo_slug";

    app.get(`${base}/src`, cfg, async (request, reply) => {
      const repo = repoFor(core, request, ["repository"]);
      const sha = await core.git.resolveRef(repo.gitPath, `refs/heads/${repo.mainBranch}`);
      if (!sha) throw notFound("This repository is empty.");
      return reply.redirect(`${core.baseUrl}/2.0/repositories/${core.state.fullName(repo)}/src/${sha}/`, 302);
    });

    app.get(`${base}/src/:commit/*`, cfg, async (request, reply) => {
      const repo = repoFor(core, request, ["repository"]);
      const commit = await core.git.resolveCommit(repo.gitPath, param(request, "commit"));
      if (!commit) throw notFound("Commit not found");
      const raw = (params(request)["*"] ?? "").replace(/\/+$/, "");
      const type = await core.git.objectType(repo.gitPath, commit, raw);
      if (type === null) throw notFound(`No such file or directory: ${raw}`);
      if (type === "tree") {
        const entries = await core.git.lsTree(repo.gitPath, commit, raw);
        const values = entries.map((e) =>
          entryJson(core, repo, commit, raw ? `${raw}/${e.name}` : e.name, e.type, e.size),
        );
        return pageOf(core, request, values);
      }
      const entry = await core.git.entry(repo.gitPath, commit, raw);
      if (q(request, "format") === "meta")
        return entryJson(core, repo, commit, raw, entry?.type ?? "blob", entry?.size ?? null);
      const bytes = await core.git.readBlob(repo.gitPath, commit, raw);
      return reply
        .type(mimeOf(raw))
        .header("Content-Disposition", "attachment")
        .header("ETag", `"${createHash("sha1").update(bytes).digest("hex")}"`)
        .send(bytes);
    });

    app.get(`${base}/commit/:commit`, cfg, async (request) => {
      const repo = repoFor(core, request, ["repository"]);
      const rev = param(request, "commit");
      const info = /^[0-9a-f]{4,40}$/i.test(rev)
        ? await core.git.commit(repo.gitPath, rev.toLowerCase())
        : await core.commitInfo(repo, rev);
      if (!info) throw notFound(`Commit ${rev} not found`);
      return { ...core.present.commit(repo, info, true), repository: core.present.repoRef(repo) };
    });

    app.get(`${base}/diffstat/*`, cfg, async (request) => {
      const repo = repoFor(core, request, ["repository"]);
      const spec = params(request)["*"] ?? "";
      return pageOf(core, request, await diffstat(core, request, repo, spec), core.options.paging.diffstatPagelen);
    });
  };
}

function entryJson(
  core: CloudCore,
  repo: Repository,
  commit: string,
  path: string,
  type: string,
  size: number | null,
): Json {
  const api = `${core.present.api}/repositories/${core.state.fullName(repo)}`;
  const common = { path, commit: core.present.commitRef(repo, commit) };
  if (type === "tree")
    return {
      ...common,
      type: "commit_directory",
      links: {
        self: { href: `${api}/src/${commit}/${path}/` },
        meta: { href: `${api}/src/${commit}/${path}/?format=meta` },
      },
    };
  return {
    ...common,
    type: "commit_file",
    attributes: type === "commit" ? ["subrepository"] : [],
    escaped_path: path,
    size: size ?? 0,
    mimetype: mimeOf(path),
    links: {
      self: { href: `${api}/src/${commit}/${path}` },
      meta: { href: `${api}/src/${commit}/${path}?format=meta` },
      history: { href: `${api}/filehistory/${commit}/${path}` },
    },
  };
}

/** Resolves one side of a spec: `hash`, or `ws/slug:hash` naming another repository (a fork). */
async function side(core: CloudCore, request: Req, repo: Repository, text: string): Promise<string> {
  const colon = text.lastIndexOf(":");
  let rev = text;
  if (colon > 0) {
    const [ws = "", slug = ""] = text.slice(0, colon).split("/");
    rev = text.slice(colon + 1);
    const other = core.state.repository(ws, slug);
    if (!other) throw notFound(`Repository ${ws}/${slug} not found`);
    if (other.uuid !== repo.uuid) {
      const principal = principalOf(request);
      if (
        principal?.kind === "token" &&
        !core.state.reaches(principal.token, other) &&
        !core.switches.forkPullRequestEndpointsReadable
      )
        throw new CloudError(403, "Access denied. You must have access to this repository.");
      const sha = await core.git.resolveCommit(other.gitPath, rev);
      if (!sha) throw notFound(`Commit ${rev} not found`);
      await core.git.fetchCommit(repo.gitPath, other.gitPath, sha, `refs/sim/diffstat/${sha}`);
      return sha;
    }
  }
  const sha = await core.git.resolveCommit(repo.gitPath, rev);
  if (!sha) throw notFound(`Commit ${rev} not found`);
  return sha;
}

async function diffstat(core: CloudCore, request: Req, repo: Repository, spec: string): Promise<Json[]> {
  const parts = spec.includes("\r") ? spec.split("\r") : spec.includes("..") ? spec.split("..") : [spec];
  let from: string;
  let to: string;
  if (parts.length === 2) {
    // A..B: A is the source, B the destination (the reverse of git diff).
    to = await side(core, request, repo, parts[0] ?? "");
    const dest = await side(core, request, repo, parts[1] ?? "");
    from = q(request, "topic") === "true" ? ((await core.git.mergeBase(repo.gitPath, to, dest)) ?? dest) : dest;
  } else {
    to = await side(core, request, repo, spec);
    from = (await core.git.commit(repo.gitPath, to))?.parents[0] ?? EMPTY_TREE;
  }
  const entries = await core.git.diffTree(repo.gitPath, from, to);
  const counts = await numstat(core, repo, from, to);
  const api = `${core.present.api}/repositories/${core.state.fullName(repo)}`;
  const file = (commit: string, path: string): Json => ({
    path,
    type: "commit_file",
    escaped_path: path,
    links: { self: { href: `${api}/src/${commit}/${path}` } },
  });
  return entries.map((e) => {
    const status =
      e.status === "A" ? "added" : e.status === "D" ? "removed" : e.status === "R" ? "renamed" : "modified";
    const [added = 0, removed = 0] = counts.get(e.path) ?? [];
    return {
      type: "diffstat",
      lines_added: added,
      lines_removed: removed,
      status,
      old: status === "added" ? null : file(from, e.srcPath ?? e.path),
      new: status === "removed" ? null : file(to, e.path),
    };
  });
}

async function numstat(
  core: CloudCore,
  repo: Repository,
  from: string,
  to: string,
): Promise<Map<string, [number, number]>> {
  const res = await core.git.run(repo.gitPath, ["diff", "--numstat", "-z", "-M", from, to]);
  const parts = res.stdout.toString("utf8").split("\0");
  const out = new Map<string, [number, number]>();
  for (let i = 0; i < parts.length; i++) {
    const head = parts[i] ?? "";
    const m = /^(\d+|-)\t(\d+|-)\t(.*)$/.exec(head);
    if (!m) continue;
    let path = m[3] ?? "";
    if (path === "") {
      i += 2;
      path = parts[i] ?? "";
    }
    out.set(path, [m[1] === "-" ? 0 : Number(m[1]), m[2] === "-" ? 0 : Number(m[2])]);
  }
  return out;
}
