import { createClock } from "../clock.ts";
import { FaultInjector } from "../faults.ts";
import { launch } from "../launch.ts";
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
  const faults = new FaultInjector();
  const { core, url, close } = await launch(resolved, "bbdc-sim-", (dataDir) => {
    const core = new SimCore(resolved, createClock(resolved.clock), dataDir, "http://placeholder.invalid");
    return { core, app: buildServer(core, new SimulatorControl(core, faults), faults), faults };
  });
  return new Simulator(core, url, close, faults);
}
