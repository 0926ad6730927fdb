// A `.tekton` folder read from a local checkout, as the operator reads it from Bitbucket (definitions.ts's
// TektonSource): the working tree by default, or a commit with `--ref`, through git itself.
import { execFile } from "node:child_process";
import { lstat, readdir, readFile } from "node:fs/promises";
import { join } from "node:path";
import { promisify } from "node:util";
import { FileTooLarge, type ListedFile, type TektonSource } from "../pipelines/definitions.ts";
import { CliError, exitCodes } from "./common.ts";

const run = promisify(execFile);

/** Files under `folder` of the working tree at `root`; symbolic links are not followed (Bitbucket serves none). */
export function workingTreeSource(root: string): TektonSource {
  return {
    list: async (folder) => {
      const listed: ListedFile[] = [];
      const dirs = [folder];
      for (let dir = dirs.shift(); dir !== undefined; dir = dirs.shift()) {
        let entries: import("node:fs").Dirent[];
        try {
          entries = await readdir(join(root, dir), { withFileTypes: true });
        } catch (error) {
          const code = (error as NodeJS.ErrnoException).code;
          if (dir === folder && (code === "ENOENT" || code === "ENOTDIR")) return undefined;
          throw error;
        }
        for (const entry of entries) {
          const path = `${dir}/${entry.name}`;
          if (entry.isDirectory()) dirs.push(path);
          else if (entry.isFile()) listed.push({ path });
        }
      }
      return listed;
    },
    read: async (path, _commit, maxBytes) => {
      const stat = await lstat(join(root, path));
      if (stat.size > maxBytes) throw new FileTooLarge(path, maxBytes);
      return readFile(join(root, path), "utf8");
    },
  };
}

async function git(root: string, args: string[]): Promise<string> {
  try {
    const { stdout } = await run("git", ["-C", root, ...args], { maxBuffer: 64 * 1024 * 1024, encoding: "utf8" });
    return stdout;
  } catch (error) {
    const stderr = (error as { stderr?: string }).stderr?.trim();
    throw new CliError(`git ${args.join(" ")} failed: ${stderr || (error as Error).message}`, exitCodes.unavailable);
  }
}

/** The commit a ref names in the checkout at `root`, or undefined when it is not a git checkout. */
export async function gitCommit(root: string, ref: string): Promise<string | undefined> {
  try {
    const { stdout } = await run("git", ["-C", root, "rev-parse", "--verify", "--quiet", `${ref}^{commit}`]);
    return stdout.trim() || undefined;
  } catch {
    return undefined;
  }
}

/** The checked-out branch, or undefined (detached HEAD, not a checkout). */
export async function gitBranch(root: string): Promise<string | undefined> {
  try {
    const { stdout } = await run("git", ["-C", root, "symbolic-ref", "--quiet", "--short", "HEAD"]);
    return stdout.trim() || undefined;
  } catch {
    return undefined;
  }
}

/** Files under `folder` at a commit, with their blob ids, read through git. */
export function gitSource(root: string): TektonSource {
  return {
    list: async (folder, commit) => {
      const out = await git(root, ["ls-tree", "-r", "-z", "--long", commit, "--", `${folder}/`]);
      if (out === "") return undefined;
      return out
        .split("\0")
        .filter((line) => line !== "")
        .map((line) => {
          const [meta, path] = line.split("\t") as [string, string];
          const [, type, blobId] = meta.split(/\s+/);
          return type === "blob" ? { path, blobId: blobId as string } : undefined;
        })
        .filter((f): f is { path: string; blobId: string } => f !== undefined);
    },
    read: async (path, commit, maxBytes) => {
      const size = Number((await git(root, ["cat-file", "-s", `${commit}:${path}`])).trim());
      if (size > maxBytes) throw new FileTooLarge(path, maxBytes);
      return git(root, ["cat-file", "blob", `${commit}:${path}`]);
    },
  };
}

/** The files a branch changes against the target, as `git diff --name-status target...source` lists them. */
export async function gitChangedFiles(
  root: string,
  target: string,
  source: string,
): Promise<{ path: { toString: string }; srcPath?: { toString: string }; type: string }[] | undefined> {
  if ((await gitCommit(root, target)) === undefined || (await gitCommit(root, source)) === undefined) return undefined;
  const out = await git(root, ["diff", "--name-status", "-z", "-M", `${target}...${source}`]);
  const parts = out.split("\0").filter((p) => p !== "");
  const changes: { path: { toString: string }; srcPath?: { toString: string }; type: string }[] = [];
  for (let i = 0; i < parts.length; ) {
    const status = parts[i++] as string;
    if (status.startsWith("R") || status.startsWith("C")) {
      const from = parts[i++] as string;
      const to = parts[i++] as string;
      changes.push({
        path: { toString: to },
        srcPath: { toString: from },
        type: status.startsWith("R") ? "MOVE" : "COPY",
      });
    } else {
      const path = parts[i++] as string;
      const type = status === "A" ? "ADD" : status === "D" ? "DELETE" : "MODIFY";
      changes.push({ path: { toString: path }, type });
    }
  }
  return changes;
}
