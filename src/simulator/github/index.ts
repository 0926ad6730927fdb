import { mkdir, mkdtemp, readdir, rm, writeFile } from "node:fs/promises";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { createClock } from "../clock.ts";
import { FaultInjector } from "../faults.ts";
import { GitHubSimulatorControl } from "./control.ts";
import { GitHubCore } from "./core.ts";
import { type GitHubSimulatorOptions, githubOptionsSchema } from "./options.ts";
import { buildGitHubServer } from "./server.ts";

export type * from "./control.ts";
export { signAppJwt } from "./jwt.ts";
export type { GitHubSimulatorOptions } from "./options.ts";
export { INSTALLATION_TOKEN_TTL_MS } from "./tokens.ts";

/** A running GitHub simulator: its URL, the control handle, and close(). */
export class GitHubSimulator extends GitHubSimulatorControl {
  /** Base URL: REST at `/` (and `/api/v3`), git at `/<owner>/<repo>.git`, control at `/_sim`. */
  readonly url: string;
  private readonly closeServer: () => Promise<void>;

  constructor(core: GitHubCore, url: string, closeServer: () => Promise<void>, faults: FaultInjector) {
    super(core, faults);
    this.url = url;
    this.closeServer = closeServer;
  }

  close(): Promise<void> {
    return this.closeServer();
  }
}

const MARKER = ".baton-github-simulator";

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
  await writeFile(join(repos, MARKER), "GitHub simulator repositories; wiped on every start.\n");
}

/** Starts the GitHub personality of the simulator on a local port (see docs/simulator.md). */
export async function startGitHubSimulator(options: GitHubSimulatorOptions = {}): Promise<GitHubSimulator> {
  const resolved = githubOptionsSchema.parse(options);
  const ownsDir = resolved.dataDir === undefined;
  const dataDir = resolved.dataDir ? resolve(resolved.dataDir) : await mkdtemp(join(tmpdir(), "github-sim-"));
  await prepareDataDir(dataDir);
  const core = new GitHubCore(resolved, createClock(resolved.clock), dataDir);
  const faults = new FaultInjector();
  const control = new GitHubSimulatorControl(core, faults);
  const app = buildGitHubServer(core, control, faults);
  await app.listen({ port: resolved.port, host: resolved.host });
  const address = app.server.address() as AddressInfo;
  const host = resolved.host.includes(":") ? `[${resolved.host}]` : resolved.host;
  core.baseUrl = (resolved.baseUrl ?? `http://${host}:${address.port}`).replace(/\/+$/, "");
  let closed: Promise<void> | null = null;
  return new GitHubSimulator(
    core,
    core.baseUrl,
    () => {
      closed ??= (async () => {
        faults.clear();
        await core.deliveries.settled();
        await app.close();
        if (ownsDir) await rm(dataDir, { recursive: true, force: true });
      })();
      return closed;
    },
    faults,
  );
}
