// Changed files from Data Center's pull-request or commit `changes` (reference §6) as PAC's `files.*`. Pure.
import type { ChangedFiles } from "../../events/model.ts";
import type { FileChange } from "./pull-requests.ts";

/**
 * Changed files from Bitbucket DC's pull-request or commit `changes` (reference §6): ADD, DELETE, MODIFY, MOVE,
 * COPY. A move lists the new path under `renamed` and both paths under `all`, so `on-path-change: docs/**` sees a
 * file moved out of `docs/` (PAC lists only the new path, which misses that case).
 */
export function changedFilesFromBitbucket(
  changes: readonly { path: { toString: string }; srcPath?: { toString: string } | null; type: string }[],
): ChangedFiles {
  const files: ChangedFiles = { all: [], added: [], deleted: [], modified: [], renamed: [] };
  const all = new Set<string>();
  for (const change of changes) {
    const path = change.path.toString;
    all.add(path);
    switch (change.type) {
      case "ADD":
      case "COPY":
        files.added.push(path);
        break;
      case "DELETE":
        files.deleted.push(path);
        break;
      case "MOVE":
        files.renamed.push(path);
        if (change.srcPath) all.add(change.srcPath.toString);
        break;
      default:
        files.modified.push(path);
    }
  }
  files.all = [...all];
  return files;
}

/** The same from the typed client's changes. */
export function changedFilesOf(changes: readonly FileChange[]): ChangedFiles {
  return changedFilesFromBitbucket(
    changes.map((c) => ({
      path: { toString: c.path },
      srcPath: c.srcPath === undefined ? null : { toString: c.srcPath },
      type: c.type,
    })),
  );
}
