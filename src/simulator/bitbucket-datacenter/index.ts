import { mkdtemp, rm } from "node:fs/promises";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { createClock } from "../clock.ts";
import { prepareDataDir } from "../data-dir.ts";
import { FaultInjector } from "../faults.ts";
import { SimulatorControl } from "./control.ts";
import { SimCore } from "./core.ts";
import { resolveOptions, type SimulatorOptions } from "./options.ts";
import { buildServer } from "./server.ts";

export type { SimClock } from "../clock.ts";
export type { DeliveryFilter, DeliveryRecord } from "../deliveries.ts";
export { signBody } from "../deliveries.ts";
export type { FaultHandle, FaultSpec, FaultView } from "../faults.ts";
export type { RateLimitSettings } from "../ratelimit.ts";
export { type ReceivedRequest, startWebhookReceiver, type WebhookReceiver } from "../receiver.ts";
export type { RequestFilter, RequestGroup, RequestLogEntry } from "../request-log.ts";
export type * from "./control.ts";
export type {
  BuildStatusInput,
  CommentInput,
  CreatedToken,
  CreateProjectInput,
  CreateRepositoryInput,
  CreateTokenInput,
  CreateUserInput,
  DeleteRefInput,
  FileMap,
  ForkInput,
  GrantInput,
  OpenPullRequestInput,
  PullRequestRef,
  PullRequestView,
  PushInput,
  PushResult,
  RepoRef,
  TagInput,
  TokenScopeInput,
  UpdatePullRequestInput,
  WebhookInput,
} from "./core.ts";
export type { SimulatorOptions, SimulatorSwitches } from "./options.ts";
export type { RefChange } from "./payloads.ts";
export { type DemoSeed, seedDemo } from "./seed.ts";

/** A running simulator: its URL, the control handle, and close(). */
export class Simulator extends SimulatorControl {
  /** Base URL, e.g. `http://127.0.0.1:41234` (REST under /rest, git under /scm, control under /_sim). */
  readonly url: string;
  private readonly closeServer: () => Promise<void>;

  constructor(core: SimCore, url: string, closeServer: () => Promise<void>, faults?: FaultInjector) {
    super(core, faults);
    this.url = url;
    this.closeServer = closeServer;
  }

  /** Waits for in-flight deliveries, stops the server and removes a temp data dir it created. */
  close(): Promise<void> {
    return this.closeServer();
  }
}

/** Starts a Bitbucket Data Center simulator on a local port (see docs/simulator.md). */
export async function startSimulator(options: SimulatorOptions = {}): Promise<Simulator> {
  const resolved = resolveOptions(options);
  const ownsDir = resolved.dataDir === undefined;
  const dataDir = resolved.dataDir ? resolve(resolved.dataDir) : await mkdtemp(join(tmpdir(), "bbdc-sim-"));
  await prepareDataDir(dataDir);
  const clock = createClock(resolved.clock);
  const core = new SimCore(resolved, clock, dataDir, "http://placeholder.invalid");
  const faults = new FaultInjector();
  const control = new SimulatorControl(core, faults);
  const app = buildServer(core, control, faults);
  await app.listen({ port: resolved.port, host: resolved.host });
  const address = app.server.address() as AddressInfo;
  const host = resolved.host.includes(":") ? `[${resolved.host}]` : resolved.host;
  core.baseUrl = (resolved.baseUrl ?? `http://${host}:${address.port}`).replace(/\/+$/, "");
  let closed: Promise<void> | null = null;
  return new Simulator(
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
