import { mkdir, readdir, rm, writeFile } from "node:fs/promises";
import { join } from "node:path";

const MARKER = ".baton-simulator";

/** Prepares `<dataDir>/repositories`, refusing to wipe a directory the simulator did not create. */
export async function prepareDataDir(dataDir: string): Promise<void> {
  const repos = join(dataDir, "repositories");
  await mkdir(dataDir, { recursive: true });
  const entries = await readdir(repos).catch(() => null);
  if (entries && entries.length > 0) {
    if (!entries.includes(MARKER))
      throw new Error(`${repos} exists and was not created by the simulator; choose another --data directory.`);
    await rm(repos, { recursive: true, force: true });
  }
  await mkdir(repos, { recursive: true });
  await writeFile(join(repos, MARKER), "Bitbucket simulator repositories; wiped on every start.\n");
}
