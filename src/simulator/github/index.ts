import { createClock } from "../clock.ts";
import { FaultInjector } from "../faults.ts";
import { launch } from "../launch.ts";
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

/** Starts the GitHub personality of the simulator on a local port (see docs/simulator.md). */
export async function startGitHubSimulator(options: GitHubSimulatorOptions = {}): Promise<GitHubSimulator> {
  const resolved = githubOptionsSchema.parse(options);
  const faults = new FaultInjector();
  const { core, url, close } = await launch(resolved, "github-sim-", (dataDir) => {
    const core = new GitHubCore(resolved, createClock(resolved.clock), dataDir);
    return { core, app: buildGitHubServer(core, new GitHubSimulatorControl(core, faults), faults), faults };
  });
  return new GitHubSimulator(core, url, close, faults);
}
