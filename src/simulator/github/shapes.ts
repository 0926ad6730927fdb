/** Small pieces every GitHub JSON shape uses. */

export type Json = Record<string, unknown>;

/** GitHub's timestamps: ISO 8601, seconds precision, `Z`. */
export function isoSeconds(epochMs: number): string {
  return new Date(Math.floor(epochMs / 1000) * 1000).toISOString().replace(".000Z", "Z");
}

/** The legacy global node id (`04:User42`, base64), which is what the examples carry. */
export function nodeId(type: string, id: number): string {
  return Buffer.from(`0${type.length}:${type}${id}`).toString("base64");
}

export interface FileChange {
  filename: string;
  previousFilename: string | null;
  status: "added" | "removed" | "modified" | "renamed";
  sha: string;
  additions: number;
  deletions: number;
}
