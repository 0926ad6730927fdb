import { mkdir, mkdtemp, readdir, rm, writeFile } from "node:fs/promises";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import type { FastifyInstance } from "fastify";
import type { Deliveries } from "./deliveries.ts";
import type { FaultInjector } from "./faults.ts";

const MARKER = ".baton-simulator";

/** Prepares `<dataDir>/repositories`, refusing to wipe a directory the simulator did not create. */
async function prepareDataDir(dataDir: string): Promise<void> {
  const repos = join(dataDir, "repositories");
  await mkdir(dataDir, { recursive: true });
  const entries = await readdir(repos).catch(() => null);
  if (entries && entries.length > 0) {
    if (!entries.includes(MARKER))
      throw new Error(`${repos} exists and was not created by the simulator; choose another --data directory.`);
    await rm(repos, { recursive: true, force: true });
  }
  await mkdir(repos, { recursive: true });
  await writeFile(join(repos, MARKER), "Simulator repositories; wiped on every start.\n");
}

export interface Launched<C> {
  core: C;
  url: string;
  /** Waits for in-flight deliveries, stops the server and removes a temp data dir it created. Idempotent. */
  close: () => Promise<void>;
}

/**
 * Starts a personality: prepares the data directory (a fresh temp one unless given), lets `build` make the core
 * and the app, listens, then tells the core its public base URL.
 */
export async function launch<C extends { baseUrl: string; deliveries: Deliveries }>(
  options: { port: number; host: string; dataDir?: string; baseUrl?: string },
  tempPrefix: string,
  build: (dataDir: string) => { core: C; app: FastifyInstance; faults: FaultInjector },
): Promise<Launched<C>> {
  const ownsDir = options.dataDir === undefined;
  const dataDir = options.dataDir ? resolve(options.dataDir) : await mkdtemp(join(tmpdir(), tempPrefix));
  await prepareDataDir(dataDir);
  const { core, app, faults } = build(dataDir);
  await app.listen({ port: options.port, host: options.host });
  const address = app.server.address() as AddressInfo;
  const host = options.host.includes(":") ? `[${options.host}]` : options.host;
  core.baseUrl = (options.baseUrl ?? `http://${host}:${address.port}`).replace(/\/+$/, "");
  let closed: Promise<void> | null = null;
  const close = (): Promise<void> => {
    closed ??= (async () => {
      faults.clear();
      await core.deliveries.settled();
      await app.close();
      if (ownsDir) await rm(dataDir, { recursive: true, force: true });
    })();
    return closed;
  };
  return { core, url: core.baseUrl, close };
}
