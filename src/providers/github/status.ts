// Build status on GitHub, two ways:
// - commit statuses (`repo:status`/`statuses: write`): one context per pipeline, so a re-run replaces its status;
// - check runs (`checks: write`, Apps only): richer — the PipelineRun link as `details_url` and a summary — used
//   when the installation has that permission (`canUseCheckRuns`).
import { z } from "zod";
import type { CallOptions, HttpTransport } from "../http/http.ts";
import { segment } from "../http/url.ts";
import type { BuildState } from "../provider.ts";
import { type RepoRef, repoPath } from "./content.ts";
import { listAll } from "./paging.ts";

export type CommitState = "pending" | "success" | "failure" | "error";

const toCommitState: Record<BuildState, CommitState> = {
  INPROGRESS: "pending",
  SUCCESSFUL: "success",
  FAILED: "failure",
  // GitHub has no "cancelled" commit state; `error` shows red without claiming the code failed.
  CANCELLED: "error",
};

const fromCommitState: Record<CommitState, BuildState> = {
  pending: "INPROGRESS",
  success: "SUCCESSFUL",
  failure: "FAILED",
  error: "CANCELLED",
};

export interface StatusInput {
  /** One per pipeline, e.g. `baton/unit-tests`. */
  context: string;
  state: BuildState;
  /** The PipelineRun's page. */
  url: string;
  description?: string;
}

/** GitHub refuses descriptions over 140 characters. */
export function statusDescription(text: string | undefined): string | undefined {
  if (text === undefined) return undefined;
  const chars = [...text];
  return chars.length <= 140 ? text : `${chars.slice(0, 139).join("")}…`;
}

export async function setCommitStatus(
  http: HttpTransport,
  repo: RepoRef,
  sha: string,
  input: StatusInput,
  call: CallOptions = {},
): Promise<void> {
  const description = statusDescription(input.description);
  await http.send(
    {
      group: "build-status",
      method: "POST",
      path: `${repoPath(repo)}/statuses/${segment(sha)}`,
      body: {
        state: toCommitState[input.state],
        target_url: input.url,
        context: input.context,
        ...(description === undefined ? {} : { description }),
      },
      // Setting the same status twice leaves one status: safe to repeat.
      idempotent: true,
      needs: "statuses: write",
    },
    call,
  );
}

const CommitStatus = z.object({
  context: z.string(),
  state: z.enum(["pending", "success", "failure", "error"]),
  target_url: z.string().nullable().optional(),
  description: z.string().nullable().optional(),
  updated_at: z.string().optional(),
});

export interface StatusRecord {
  context: string;
  state: BuildState;
  url?: string;
  description?: string;
  updatedAt?: number;
}

/** The latest status of `context` on `sha`, or undefined when there is none. */
export async function getCommitStatus(
  http: HttpTransport,
  repo: RepoRef,
  sha: string,
  context: string,
  call: CallOptions = {},
): Promise<StatusRecord | undefined> {
  // The combined status holds the latest status per context.
  const statuses = await listAll(
    http,
    { group: "build-status", path: `${repoPath(repo)}/commits/${segment(sha)}/status`, maxItems: 1000 },
    CommitStatus,
    call,
    "statuses",
  );
  const found = statuses.find((s) => s.context === context);
  if (found === undefined) return undefined;
  const updatedAt = found.updated_at === undefined ? Number.NaN : Date.parse(found.updated_at);
  return {
    context: found.context,
    state: fromCommitState[found.state],
    ...(found.target_url ? { url: found.target_url } : {}),
    ...(found.description ? { description: found.description } : {}),
    ...(Number.isNaN(updatedAt) ? {} : { updatedAt }),
  };
}

/** Whether an installation's permissions let it write check runs. */
export function canUseCheckRuns(permissions: Readonly<Record<string, string>> | undefined): boolean {
  return permissions?.checks === "write";
}

export interface CheckRunInput {
  /** One per pipeline; shown as the check's name. */
  name: string;
  state: BuildState;
  /** The PipelineRun's page. */
  detailsUrl: string;
  /** The PipelineRun's name, so Baton finds its own check again. */
  externalId: string;
  title: string;
  /** Markdown; GitHub keeps at most 65,535 characters. */
  summary: string;
}

/** The check-run fields for a neutral state. Pure. */
export function checkRunState(
  state: BuildState,
): { status: "in_progress" } | { status: "completed"; conclusion: "success" | "failure" | "cancelled" } {
  switch (state) {
    case "INPROGRESS":
      return { status: "in_progress" };
    case "SUCCESSFUL":
      return { status: "completed", conclusion: "success" };
    case "FAILED":
      return { status: "completed", conclusion: "failure" };
    case "CANCELLED":
      return { status: "completed", conclusion: "cancelled" };
  }
}

const CheckRun = z.object({
  id: z.number(),
  name: z.string(),
  status: z.string(),
  conclusion: z.string().nullable().optional(),
  external_id: z.string().nullable().optional(),
  details_url: z.string().nullable().optional(),
});
export type CheckRun = z.infer<typeof CheckRun>;

function checkRunBody(input: CheckRunInput): Record<string, unknown> {
  const summary = input.summary.length > 65_535 ? `${input.summary.slice(0, 65_534)}…` : input.summary;
  return {
    name: input.name,
    details_url: input.detailsUrl,
    external_id: input.externalId,
    ...checkRunState(input.state),
    output: { title: input.title, summary },
  };
}

/**
 * Creates or updates the check run `input.name` on `sha`: the latest check run of that name on the commit is
 * updated (a re-run moves it back to in progress), so a pipeline shows once per commit.
 */
export async function setCheckRun(
  http: HttpTransport,
  repo: RepoRef,
  sha: string,
  input: CheckRunInput,
  call: CallOptions = {},
): Promise<CheckRun> {
  const existing = await listAll(
    http,
    {
      group: "build-status",
      path: `${repoPath(repo)}/commits/${segment(sha)}/check-runs`,
      query: { check_name: input.name, filter: "latest" },
      maxItems: 100,
    },
    CheckRun,
    call,
    "check_runs",
  );
  const current = existing[0];
  if (current === undefined) {
    const { data } = await http.json(
      {
        group: "build-status",
        method: "POST",
        path: `${repoPath(repo)}/check-runs`,
        body: { ...checkRunBody(input), head_sha: sha },
        needs: "checks: write",
      },
      CheckRun,
      call,
    );
    return data;
  }
  const { data } = await http.json(
    {
      group: "build-status",
      method: "PATCH",
      path: `${repoPath(repo)}/check-runs/${current.id}`,
      body: checkRunBody(input),
      needs: "checks: write",
    },
    CheckRun,
    call,
  );
  return data;
}
