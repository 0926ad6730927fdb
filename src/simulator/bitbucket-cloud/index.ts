import { mkdtemp, rm } from "node:fs/promises";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { createClock } from "../clock.ts";
import { prepareDataDir } from "../data-dir.ts";
import { FaultInjector } from "../faults.ts";
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
  const ownsDir = resolved.dataDir === undefined;
  const dataDir = resolved.dataDir ? resolve(resolved.dataDir) : await mkdtemp(join(tmpdir(), "bbc-sim-"));
  await prepareDataDir(dataDir);
  const clock = createClock(resolved.clock);
  const core = new CloudCore(resolved, clock, dataDir, "http://placeholder.invalid");
  const faults = new FaultInjector();
  const app = buildCloudServer(core, new CloudSimulatorControl(core, faults), faults);
  await app.listen({ port: resolved.port, host: resolved.host });
  const address = app.server.address() as AddressInfo;
  const host = resolved.host.includes(":") ? `[${resolved.host}]` : resolved.host;
  core.baseUrl = (resolved.baseUrl ?? `http://${host}:${address.port}`).replace(/\/+$/, "");
  let closed: Promise<void> | null = null;
  return new CloudSimulator(
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
export { type CloudDemoSeed, seedCloudDemo } from "./seed.ts";
