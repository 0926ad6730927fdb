import { spawn } from "node:child_process";
import { appendFile, mkdir, rm } from "node:fs/promises";
import { join } from "node:path";

/**
 * Thin async wrapper over git plumbing. Every repository is a real bare repository, and content endpoints read it
 * with ls-tree / cat-file / rev-parse / log / diff-tree, so what REST shows is exactly what `git clone` gets.
 */

export const ZERO_SHA = "0000000000000000000000000000000000000000";
/** Git knows the empty tree without storing it: the base of a root commit's changes. */
export const EMPTY_TREE = "4b825dc642cb6eb9a060e54bf8d69288fbee4904";

export class GitError extends Error {
  readonly code: number | null;
  readonly stderr: string;
  constructor(args: readonly string[], code: number | null, stderr: string) {
    super(`git ${args.join(" ")} failed (${code}): ${stderr.trim()}`);
    this.name = "GitError";
    this.code = code;
    this.stderr = stderr;
  }
}

export interface GitRunOptions {
  input?: Buffer | string;
  env?: Record<string, string>;
  /** Exit codes that are not errors (e.g. 1 for merge-tree conflicts). */
  okCodes?: number[];
}

export interface GitResult {
  stdout: Buffer;
  code: number;
}

/** Environment that isolates git from the host user's and system's configuration. */
export function gitBaseEnv(home: string): Record<string, string> {
  return {
    PATH: process.env.PATH ?? "/usr/bin:/bin",
    HOME: home,
    GIT_CONFIG_NOSYSTEM: "1",
    GIT_TERMINAL_PROMPT: "0",
    LANG: "C",
    LC_ALL: "C",
  };
}

export interface Person {
  name: string;
  email: string;
}

export interface CommitInfo {
  id: string;
  parents: string[];
  author: Person;
  authorTimestamp: number;
  committer: Person;
  committerTimestamp: number;
  message: string;
}

export interface TreeEntry {
  mode: string;
  type: "blob" | "tree" | "commit";
  id: string;
  size: number | null;
  name: string;
}

export interface DiffEntry {
  status: string;
  score: number | null;
  srcMode: string;
  dstMode: string;
  srcId: string;
  dstId: string;
  path: string;
  srcPath: string | null;
}

/** fast-import's C-style quoting, needed for paths that start with a quote or contain control characters. */
function quotePath(path: string): string {
  const needsQuoting = path.startsWith('"') || [...path].some((c) => c === "\\" || c.charCodeAt(0) < 0x20);
  if (!needsQuoting) return path;
  return `"${path.replace(/\\/g, "\\\\").replace(/"/g, '\\"').replace(/\n/g, "\\n").replace(/\t/g, "\\t")}"`;
}

/** A revision from a request (`at=`, a commit id in a path) must never be taken for a git option. */
export function isSafeRevision(rev: string): boolean {
  return (
    rev.length > 0 && rev.length <= 1024 && !rev.startsWith("-") && !/[\0\s~^:?*[\\]/.test(rev) && !rev.includes("..")
  );
}

export class Git {
  readonly root: string;
  private readonly env: Record<string, string>;

  constructor(root: string, home: string) {
    this.root = root;
    this.env = gitBaseEnv(home);
  }

  dir(gitPath: string): string {
    return join(this.root, gitPath);
  }

  run(gitPath: string | null, args: readonly string[], options: GitRunOptions = {}): Promise<GitResult> {
    const fullArgs = gitPath === null ? [...args] : ["--git-dir", this.dir(gitPath), ...args];
    return new Promise((resolve, reject) => {
      const child = spawn("git", fullArgs, { env: { ...this.env, ...options.env }, stdio: ["pipe", "pipe", "pipe"] });
      const out: Buffer[] = [];
      const err: Buffer[] = [];
      child.stdout.on("data", (c: Buffer) => out.push(c));
      child.stderr.on("data", (c: Buffer) => err.push(c));
      child.on("error", reject);
      child.on("close", (code) => {
        const ok = code === 0 || (code !== null && (options.okCodes ?? []).includes(code));
        if (ok) resolve({ stdout: Buffer.concat(out), code: code ?? 0 });
        else reject(new GitError(args, code, Buffer.concat(err).toString("utf8")));
      });
      child.stdin.on("error", () => {});
      child.stdin.end(options.input ?? "");
    });
  }

  private async text(gitPath: string, args: readonly string[], options?: GitRunOptions): Promise<string> {
    return (await this.run(gitPath, args, options)).stdout.toString("utf8");
  }

  async init(gitPath: string, defaultBranch: string): Promise<void> {
    const dir = this.dir(gitPath);
    await mkdir(dir, { recursive: true });
    await this.run(null, ["init", "--quiet", "--bare", `--initial-branch=${defaultBranch}`, dir]);
    await this.configure(gitPath);
  }

  /** Clones for a fork: a full, independent object store, like a real server's fork hierarchy seen from outside. */
  async cloneBare(sourcePath: string, gitPath: string): Promise<void> {
    await this.run(null, ["clone", "--quiet", "--bare", "--no-hardlinks", this.dir(sourcePath), this.dir(gitPath)]);
    await this.run(gitPath, ["config", "--remove-section", "remote.origin"]);
    await this.configure(gitPath);
  }

  private async configure(gitPath: string): Promise<void> {
    // Internal refs (refs/sim/*) are never advertised or accepted; refs/pull-requests/* are advertised but, as on
    // Bitbucket, cannot be pushed. Appended directly: one git process per setting is slow on busy machines.
    await appendFile(
      join(this.dir(gitPath), "config"),
      "[transfer]\n\thideRefs = refs/sim\n[receive]\n\thideRefs = refs/pull-requests\n[http]\n\treceivepack = true\n",
    );
  }

  async remove(gitPath: string): Promise<void> {
    await rm(this.dir(gitPath), { recursive: true, force: true });
  }

  /** Resolves a revision to a commit id, or null. */
  async resolveCommit(gitPath: string, rev: string): Promise<string | null> {
    if (!isSafeRevision(rev)) return null;
    const res = await this.run(gitPath, ["rev-parse", "--verify", "--quiet", "--end-of-options", `${rev}^{commit}`], {
      okCodes: [1, 128],
    });
    const out = res.stdout.toString("utf8").trim();
    return res.code === 0 && /^[0-9a-f]{40}$/.test(out) ? out : null;
  }

  async resolveRef(gitPath: string, ref: string): Promise<string | null> {
    const res = await this.run(gitPath, ["rev-parse", "--verify", "--quiet", "--end-of-options", ref], {
      okCodes: [1, 128],
    });
    const out = res.stdout.toString("utf8").trim();
    return res.code === 0 && out ? out : null;
  }

  /** Branches and tags (and anything else under `prefixes`): ref → object id (tag objects unpeeled). */
  async refs(
    gitPath: string,
    prefixes: readonly string[] = ["refs/heads/", "refs/tags/"],
  ): Promise<Map<string, string>> {
    const text = await this.text(gitPath, ["for-each-ref", "--format=%(objectname) %(refname)", ...prefixes]);
    const map = new Map<string, string>();
    for (const line of text.split("\n")) {
      const sp = line.indexOf(" ");
      if (sp > 0) map.set(line.slice(sp + 1), line.slice(0, sp));
    }
    return map;
  }

  async updateRef(gitPath: string, ref: string, sha: string, oldSha?: string): Promise<void> {
    await this.run(gitPath, ["update-ref", ref, sha, ...(oldSha ? [oldSha] : [])]);
  }

  async deleteRef(gitPath: string, ref: string): Promise<void> {
    await this.run(gitPath, ["update-ref", "-d", ref]);
  }

  /**
   * Commits `files` (path → content, or null to delete) on top of `parent` (or as a root commit) and moves `ref`
   * to it, all in one `git fast-import` run: no working tree, one process however many files.
   */
  async commitFiles(
    gitPath: string,
    input: {
      ref: string;
      parent: string | null;
      files: Record<string, string | Buffer | null>;
      message: string;
      author: Person;
      timestamp: number;
    },
  ): Promise<string> {
    const chunks: Buffer[] = [];
    const data = (content: string | Buffer): void => {
      const bytes = typeof content === "string" ? Buffer.from(content, "utf8") : content;
      chunks.push(Buffer.from(`data ${bytes.length}\n`), bytes, Buffer.from("\n"));
    };
    const who = `${input.author.name} <${input.author.email}> ${Math.floor(input.timestamp / 1000)} +0000`;
    chunks.push(Buffer.from(`commit ${input.ref}\nmark :1\nauthor ${who}\ncommitter ${who}\n`));
    data(input.message);
    if (input.parent) chunks.push(Buffer.from(`from ${input.parent}\n`));
    for (const [raw, content] of Object.entries(input.files)) {
      const path = quotePath(raw.replace(/^\/+/, ""));
      if (content === null) chunks.push(Buffer.from(`D ${path}\n`));
      else {
        chunks.push(Buffer.from(`M 100644 inline ${path}\n`));
        data(content);
      }
    }
    chunks.push(Buffer.from("\nget-mark :1\n"));
    const out = await this.text(gitPath, ["fast-import", "--quiet", "--done"], {
      input: Buffer.concat([...chunks, Buffer.from("done\n")]),
    });
    const sha = out.trim().split("\n").pop() ?? "";
    if (!/^[0-9a-f]{40}$/.test(sha)) throw new GitError(["fast-import"], 0, `unexpected output: ${out}`);
    return sha;
  }

  async commitTree(
    gitPath: string,
    tree: string,
    parents: readonly string[],
    message: string,
    author: Person,
    timestamp: number,
  ): Promise<string> {
    const date = `@${Math.floor(timestamp / 1000)} +0000`;
    const env = {
      GIT_AUTHOR_NAME: author.name,
      GIT_AUTHOR_EMAIL: author.email,
      GIT_AUTHOR_DATE: date,
      GIT_COMMITTER_NAME: author.name,
      GIT_COMMITTER_EMAIL: author.email,
      GIT_COMMITTER_DATE: date,
    };
    const args = ["commit-tree", tree, ...parents.flatMap((p) => ["-p", p])];
    return (await this.text(gitPath, args, { env, input: message })).trim();
  }

  async createAnnotatedTag(
    gitPath: string,
    name: string,
    target: string,
    message: string,
    tagger: Person,
    timestamp: number,
  ): Promise<string> {
    const body = `object ${target}\ntype commit\ntag ${name}\ntagger ${tagger.name} <${tagger.email}> ${Math.floor(timestamp / 1000)} +0000\n\n${message}\n`;
    return (await this.text(gitPath, ["mktag"], { input: body })).trim();
  }

  async commit(gitPath: string, sha: string): Promise<CommitInfo | null> {
    if (!/^[0-9a-f]{4,40}$/.test(sha)) return null;
    const found = await this.log(gitPath, ["-1", "--no-walk", "--end-of-options", `${sha}^{commit}`]);
    return found?.[0] ?? null;
  }

  /** Commit details for a `git log` selection, in one process; null when git refuses the selection. */
  async log(gitPath: string, selection: readonly string[]): Promise<CommitInfo[] | null> {
    // Records end with \x01\x02, which commit messages do not contain in practice; fields are NUL-separated.
    const format = "--format=%H%x00%P%x00%an%x00%ae%x00%at%x00%cn%x00%ce%x00%ct%x00%B%x01%x02";
    const res = await this.run(gitPath, ["log", format, ...selection], { okCodes: [128] });
    if (res.code !== 0) return null;
    const commits: CommitInfo[] = [];
    for (const record of res.stdout.toString("utf8").split("\x01\x02")) {
      const parts = record.replace(/^\n/, "").split("\0");
      if (parts.length < 9) continue;
      const [id = "", parents = "", an = "", ae = "", at = "0", cn = "", ce = "", ct = "0"] = parts;
      commits.push({
        id,
        parents: parents.trim() ? parents.trim().split(" ") : [],
        author: { name: an, email: ae },
        authorTimestamp: Number(at) * 1000,
        committer: { name: cn, email: ce },
        committerTimestamp: Number(ct) * 1000,
        message: parts.slice(8).join("\0").replace(/\n+$/, ""),
      });
    }
    return commits;
  }

  /** Commits reachable from `to` but not from `exclude`, newest first. */
  async revList(gitPath: string, to: string, exclude: string | null, max: number): Promise<string[]> {
    const args = ["rev-list", `--max-count=${max}`, to, ...(exclude ? [`^${exclude}`] : [])];
    return (await this.text(gitPath, args)).split("\n").filter(Boolean);
  }

  /** `git cat-file -t <rev>:<path>`; null when absent. An empty path means the root tree. */
  async objectType(gitPath: string, commit: string, path: string): Promise<"blob" | "tree" | "commit" | null> {
    if (path === "") return "tree";
    const res = await this.run(gitPath, ["cat-file", "-t", `${commit}:${path}`], { okCodes: [128] });
    if (res.code !== 0) {
      // A submodule (gitlink) has no object here; ls-tree still names it.
      const entry = await this.entry(gitPath, commit, path);
      return entry?.type ?? null;
    }
    const t = res.stdout.toString("utf8").trim();
    return t === "blob" || t === "tree" || t === "commit" ? t : null;
  }

  async entry(gitPath: string, commit: string, path: string): Promise<TreeEntry | null> {
    const entries = await this.lsTree(gitPath, commit, path, { self: true });
    return entries[0] ?? null;
  }

  /** Entries of a directory (or the entry itself with `self`), with blob sizes. */
  async lsTree(gitPath: string, commit: string, path: string, opts: { self?: boolean } = {}): Promise<TreeEntry[]> {
    const spec = opts.self ? [commit, "--", path] : [path === "" ? commit : `${commit}:${path}`];
    const out = await this.text(gitPath, ["ls-tree", "-l", "-z", ...spec]);
    const entries: TreeEntry[] = [];
    for (const rec of out.split("\0")) {
      if (!rec) continue;
      const tab = rec.indexOf("\t");
      const [mode = "", type = "", id = "", size = "-"] = rec.slice(0, tab).split(/ +/);
      entries.push({
        mode,
        type: type as TreeEntry["type"],
        id,
        size: size === "-" ? null : Number(size),
        name: rec.slice(tab + 1),
      });
    }
    return entries;
  }

  /** Every file below `path`, relative to it, in git's order. */
  async listFiles(gitPath: string, commit: string, path: string): Promise<string[]> {
    const treeish = path === "" ? commit : `${commit}:${path}`;
    const out = await this.text(gitPath, ["ls-tree", "-r", "-z", "--name-only", treeish]);
    return out.split("\0").filter(Boolean);
  }

  async readBlob(gitPath: string, commit: string, path: string): Promise<Buffer> {
    return (await this.run(gitPath, ["cat-file", "blob", `${commit}:${path}`])).stdout;
  }

  async mergeBase(gitPath: string, a: string, b: string): Promise<string | null> {
    const res = await this.run(gitPath, ["merge-base", a, b], { okCodes: [1] });
    const out = res.stdout.toString("utf8").trim();
    return res.code === 0 && out ? out : null;
  }

  async isAncestor(gitPath: string, ancestor: string, descendant: string): Promise<boolean> {
    const res = await this.run(gitPath, ["merge-base", "--is-ancestor", ancestor, descendant], { okCodes: [1] });
    return res.code === 0;
  }

  /** Tree of merging `theirs` into `ours`, or null on conflicts. */
  async mergeTree(gitPath: string, ours: string, theirs: string): Promise<string | null> {
    const res = await this.run(gitPath, ["merge-tree", "--write-tree", "--no-messages", ours, theirs], {
      okCodes: [1],
    });
    if (res.code !== 0) return null;
    return res.stdout.toString("utf8").split("\n")[0]?.trim() || null;
  }

  async treeOf(gitPath: string, commit: string): Promise<string> {
    return (await this.text(gitPath, ["rev-parse", `${commit}^{tree}`])).trim();
  }

  async diffTree(gitPath: string, from: string, to: string): Promise<DiffEntry[]> {
    const out = await this.text(gitPath, ["diff-tree", "-r", "-z", "-M", "--no-commit-id", from, to]);
    const parts = out.split("\0");
    const entries: DiffEntry[] = [];
    let i = 0;
    while (i < parts.length) {
      const head = parts[i++];
      if (!head?.startsWith(":")) continue;
      const [srcMode = "", dstMode = "", srcId = "", dstId = "", statusScore = ""] = head.slice(1).split(" ");
      const status = statusScore.charAt(0);
      const score = statusScore.length > 1 ? Number(statusScore.slice(1)) : null;
      const first = parts[i++] ?? "";
      if (status === "R" || status === "C") {
        const second = parts[i++] ?? "";
        entries.push({ status, score, srcMode, dstMode, srcId, dstId, path: second, srcPath: first });
      } else entries.push({ status, score, srcMode, dstMode, srcId, dstId, path: first, srcPath: null });
    }
    return entries;
  }

  /** Copies `sha` (and its history) from another repository into `ref` here. */
  async fetchCommit(gitPath: string, sourcePath: string, sha: string, ref: string): Promise<void> {
    await this.run(gitPath, [
      "-c",
      "uploadpack.allowAnySHA1InWant=true",
      "fetch",
      "--quiet",
      "--no-tags",
      "--no-write-fetch-head",
      this.dir(sourcePath),
      `+${sha}:${ref}`,
    ]);
  }

  async hasObject(gitPath: string, sha: string): Promise<boolean> {
    const res = await this.run(gitPath, ["cat-file", "-e", `${sha}^{commit}`], { okCodes: [1, 128] });
    return res.code === 0;
  }
}
