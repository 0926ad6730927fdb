import { createClock } from "../clock.ts";
import { FaultInjector } from "../faults.ts";
import { launch } from "../launch.ts";
import { CloudSimulatorControl } from "./control.ts";
import { CloudCore } from "./core.ts";
import { type CloudSimulatorOptions, resolveCloudOptions } from "./options.ts";
import { buildCloudServer } from "./server.ts";

export type * from "./control.ts";
export type { CreatedCloudToken, HookInput } from "./core.ts";
export type { RefChange as CloudRefChange } from "./events.ts";
export type { CloudSimulatorOptions, CloudSwitches } from "./options.ts";
export type { Scope, TokenKind } from "./scopes.ts";

/** A running Bitbucket Cloud simulator. */
export class CloudSimulator extends CloudSimulatorControl {
  /** Base URL: git at `<url>/<workspace>/<slug>.git`, control API at `<url>/_sim`. */
  readonly url: string;
  /** REST base, what `https://api.bitbucket.org/2.0` is on Cloud. */
  readonly apiUrl: string;
  private readonly closeServer: () => Promise<void>;

  constructor(core: CloudCore, url: string, closeServer: () => Promise<void>, faults: FaultInjector) {
    super(core, faults);
    this.url = url;
    this.apiUrl = `${url}/2.0`;
    this.closeServer = closeServer;
  }

  /** `https://<url>/<workspace>/<slug>.git`, the clone URL of a repository. */
  cloneUrl(workspace: string, slug: string): string {
    return `${this.url}/${workspace}/${slug}.git`;
  }

  close(): Promise<void> {
    return this.closeServer();
  }
}

/** Starts a Bitbucket Cloud simulator on a local port (see docs/simulator.md). */
export async function startCloudSimulator(options: CloudSimulatorOptions = {}): Promise<CloudSimulator> {
  const resolved = resolveCloudOptions(options);
  const faults = new FaultInjector();
  const { core, url, close } = await launch(resolved, "bbc-sim-", (dataDir) => {
    const core = new CloudCore(resolved, createClock(resolved.clock), dataDir, "http://placeholder.invalid");
    return { core, app: buildCloudServer(core, new CloudSimulatorControl(core, faults), faults), faults };
  });
  return new CloudSimulator(core, url, close, faults);
}

export { type CloudDemoSeed, seedCloudDemo } from "./seed.ts";
