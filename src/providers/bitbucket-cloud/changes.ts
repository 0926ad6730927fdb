// Changed files from Cloud's diffstat (reference §6.2) in the neutral shape PAC's `files.*` variables read.
import type { ChangedFiles } from "../../events/model.ts";
import type { Diffstat } from "./schemas.ts";

/**
 * `added` (no `old`), `removed` (no `new`), `modified`, `renamed`; Cloud also reports conflict states
 * (`merge conflict`, `local deleted`, …), counted as modified. As for Data Center, a rename lists the new path
 * under `renamed` and both paths under `all`, so a path filter sees a file moved out of its folder.
 */
export function changedFilesFromDiffstat(entries: readonly Diffstat[]): ChangedFiles {
  const files: ChangedFiles = { all: [], added: [], deleted: [], modified: [], renamed: [] };
  const all = new Set<string>();
  for (const entry of entries) {
    const path = entry.new?.path ?? entry.old?.path;
    if (path === undefined) continue;
    all.add(path);
    if (entry.status === "added" || entry.old === null) files.added.push(path);
    else if (entry.status === "removed" || entry.new === null) files.deleted.push(path);
    else if (entry.status === "renamed") {
      files.renamed.push(path);
      if (entry.old) all.add(entry.old.path);
    } else files.modified.push(path);
  }
  files.all = [...all];
  return files;
}
