// What the runner answers for one event (the intake's HTTP answer and logs), the events it handles, and where it
// tells a Repository what happened. Types only, shared by the runner's parts without importing the runner.
import type { Repository } from "../api/repository.ts";
import type { BatonEvent } from "../events/model.ts";

export type DispatchOutcome =
  | "created"
  | "duplicate"
  | "ignored"
  | "no-pipelines"
  | "no-match"
  | "untrusted"
  | "invalid"
  | "stale-ref"
  | "no-clone-token"
  | "cancelled";

export interface DispatchResult {
  outcome: DispatchOutcome;
  /** Names of the PipelineRuns created (or cancelled, for closing events and /cancel). */
  runs: string[];
  /** One sentence for logs and the HTTP answer; never a secret. */
  detail: string;
}

/** An event that may start runs: everything but pings and closed pull requests. */
export type StartingEvent = Exclude<BatonEvent, { type: "ping" | "pull_request_closed" }>;

/** Events on the Repository, so `kubectl describe` tells what happened to its events. */
export interface RepositoryEvents {
  normal(obj: Repository, reason: string, message: string): void;
  warning(obj: Repository, reason: string, message: string): void;
}
