// Reading a repository at a commit, and what changed: the contents API for the `.tekton` folder and its files, a
// pull request's files, and the files of a push range (compare) or of one commit.
import { z } from "zod";
import type { ChangedFiles } from "../../events/model.ts";
import { changedFilesFromBitbucket } from "../bitbucket-datacenter/changes.ts";
import { type RequestContext, ResponseTooLargeError } from "../http/errors.ts";
import type { CallOptions, HttpTransport } from "../http/http.ts";
import { filePath, segment } from "../http/url.ts";
import { listAll } from "./paging.ts";

export interface RepoRef {
  /** Owner login (user or organisation). */
  owner: string;
  /** Repository name. */
  name: string;
}

export function repoPath(repo: RepoRef): string {
  return `/repos/${segment(repo.owner)}/${segment(repo.name)}`;
}

const ContentEntry = z.object({
  type: z.enum(["file", "dir", "symlink", "submodule"]),
  name: z.string(),
  path: z.string(),
  sha: z.string(),
  size: z.number().optional(),
});

export interface FolderEntry {
  /** Path relative to the listed folder. */
  path: string;
  type: "FILE" | "DIRECTORY" | "SUBMODULE";
  /** The git blob or tree id: what a cache of file contents keys on across commits. */
  contentId: string;
  size?: number;
}

/**
 * The entries directly in `path` at commit `at`; undefined when `path` is a file, NotFoundError when it does not
 * exist there (the provider interface's contract). GitHub's contents API lists at most 1,000 entries of a folder,
 * far above what a `.tekton` folder holds.
 */
export async function listFolder(
  http: HttpTransport,
  repo: RepoRef,
  path: string,
  at: string,
  call: CallOptions = {},
): Promise<FolderEntry[] | undefined> {
  const folder = path.replace(/^\/+|\/+$/g, "");
  const { data } = await http.json(
    { group: "content", method: "GET", path: `${repoPath(repo)}/contents/${filePath(folder)}`, query: { ref: at } },
    z.union([z.array(ContentEntry), ContentEntry]),
    call,
  );
  if (!Array.isArray(data)) return undefined;
  return data.map((entry) => ({
    path: entry.name,
    type: entry.type === "dir" ? "DIRECTORY" : entry.type === "submodule" ? "SUBMODULE" : "FILE",
    contentId: entry.sha,
    ...(entry.size === undefined ? {} : { size: entry.size }),
  }));
}

const FileContent = z.object({
  type: z.literal("file"),
  size: z.number(),
  /** `base64`, or `none` for files over 1 MB (the contents API then sends no content). */
  encoding: z.string(),
  content: z.string(),
});

/** A file's bytes at commit `at`. Files over `maxBytes` (default 1 MiB, the contents API's own cap) are refused. */
export async function readFile(
  http: HttpTransport,
  repo: RepoRef,
  path: string,
  at: string,
  call: CallOptions & { maxBytes?: number } = {},
): Promise<Uint8Array> {
  const maxBytes = Math.min(call.maxBytes ?? 1024 * 1024, 1024 * 1024);
  const spec = {
    group: "content" as const,
    method: "GET" as const,
    path: `${repoPath(repo)}/contents/${filePath(path)}`,
    query: { ref: at },
  };
  // Base64 is 4/3 of the bytes, plus the JSON around it.
  const { data } = await http.json({ ...spec, maxBytes: Math.ceil(maxBytes * 1.4) + 64 * 1024 }, FileContent, call);
  const ctx: RequestContext = { group: spec.group, method: spec.method, path: spec.path };
  if (data.size > maxBytes || data.encoding !== "base64") {
    throw new ResponseTooLargeError(
      `${path} at ${at} is ${data.size} bytes, more than the ${maxBytes} Baton reads; make it smaller.`,
      ctx,
      { limitBytes: maxBytes },
    );
  }
  return new Uint8Array(Buffer.from(data.content, "base64"));
}

const ChangedFile = z.object({
  filename: z.string(),
  status: z.enum(["added", "removed", "modified", "renamed", "copied", "changed", "unchanged"]),
  previous_filename: z.string().optional(),
});
type ChangedFile = z.infer<typeof ChangedFile>;

const changeTypes: Record<string, string> = { added: "ADD", copied: "COPY", removed: "DELETE", renamed: "MOVE" };

/**
 * GitHub's file list as PAC's `files.*`, through the one mapping Data Center's changes use: a rename lists
 * the new path under `renamed` and both paths under `all`, so a path filter sees a file moved out of its folder.
 */
export function changedFilesFromGitHub(files: readonly ChangedFile[]): ChangedFiles {
  return changedFilesFromBitbucket(
    files.map((file) => ({
      path: { toString: file.filename },
      srcPath: file.previous_filename ? { toString: file.previous_filename } : null,
      type: changeTypes[file.status] ?? "MODIFY",
    })),
  );
}

export interface ChangedFilesResult {
  files: ChangedFiles;
  /** GitHub gave fewer files than changed (3,000 for a pull request, 300 for a compare or a commit). */
  truncated: boolean;
}

/** A pull request's changed files (GitHub lists at most 3,000). */
export async function pullRequestFiles(
  http: HttpTransport,
  repo: RepoRef,
  number: number,
  call: CallOptions = {},
): Promise<ChangedFilesResult> {
  const files = await listAll(
    http,
    { group: "pull-requests", path: `${repoPath(repo)}/pulls/${number}/files`, maxItems: 3000 },
    ChangedFile,
    call,
  );
  return { files: changedFilesFromGitHub(files), truncated: files.length >= 3000 };
}

const FileList = z.object({ files: z.array(ChangedFile).optional() });
const compareFileCap = 300;

/**
 * Files changed by a push: `from...to` when the push moved an existing ref, else the commit `to` against its
 * parent. Both answers carry at most 300 files (then `truncated`).
 */
export async function pushFiles(
  http: HttpTransport,
  repo: RepoRef,
  range: { from?: string | undefined; to: string },
  call: CallOptions = {},
): Promise<ChangedFilesResult> {
  const path =
    range.from === undefined
      ? `${repoPath(repo)}/commits/${segment(range.to)}`
      : `${repoPath(repo)}/compare/${segment(`${range.from}...${range.to}`)}`;
  const { data } = await http.json({ group: "content", method: "GET", path }, FileList, call);
  const files = data.files ?? [];
  return { files: changedFilesFromGitHub(files), truncated: files.length >= compareFileCap };
}
