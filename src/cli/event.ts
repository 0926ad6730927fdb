// The event `resolve` matches against, built as Bitbucket Data Center would deliver it and read by the operator's
// own classifier (the Data Center intake's): the same conversion, the same `body` and headers for CEL, the same command
// parsing for comments. A captured delivery can be given instead (--payload).
import { readFile } from "node:fs/promises";
import type { BatonEvent } from "../events/model.ts";
import { repositoryUrls } from "../providers/bitbucket-datacenter/classify.ts";
import { dataCenterIntake } from "../providers/bitbucket-datacenter/provider.ts";
import { CliError, exitCodes } from "./common.ts";

export const EventKind = ["pull_request", "push", "comment"] as const;
export type EventKind = (typeof EventKind)[number];

export interface EventRequest {
  kind: EventKind;
  /** Base URL, project key and slug of the repository. */
  server: string;
  project: string;
  slug: string;
  /** The pull request's source branch; for a push, the pushed branch or tag (`refs/tags/v1`). */
  source: string;
  /** The pull request's target branch (ignored for a push). */
  target: string;
  sha: string;
  /** A comment event's text (`/test lint`). */
  comment?: string;
  /** Who sends the event (`{{ sender }}`). */
  sender: string;
  pullRequestNumber: number;
  title: string;
  now: Date;
}

type Resolvable = Exclude<BatonEvent, { type: "ping" | "pull_request_closed" }>;

function bitbucketDate(at: Date): string {
  return at.toISOString().replace(/\.\d{3}Z$/, "+0000");
}

function qualified(branch: string): string {
  return branch.startsWith("refs/") ? branch : `refs/heads/${branch}`;
}

function shortName(ref: string): string {
  return ref.replace(/^refs\/(heads|tags)\//, "");
}

/** The delivery Bitbucket would send: X-Event-Key and body. */
export function delivery(request: EventRequest): { eventKey: string; body: Record<string, unknown> } {
  const { cloneUrl, browseUrl } = repositoryUrls(request.server, request.project, request.slug);
  const repository = {
    slug: request.slug,
    id: 1,
    name: request.slug,
    project: { key: request.project, id: 1, name: request.project, type: "NORMAL" },
    scmId: "git",
    state: "AVAILABLE",
    links: { self: [{ href: `${browseUrl}/browse` }], clone: [{ href: cloneUrl, name: "http" }] },
  };
  const actor = { name: request.sender, slug: request.sender, displayName: request.sender, type: "NORMAL" };
  const base = { date: bitbucketDate(request.now), actor };
  if (request.kind === "push") {
    const ref = qualified(request.source);
    const tag = ref.startsWith("refs/tags/");
    return {
      eventKey: "repo:refs_changed",
      body: {
        eventKey: "repo:refs_changed",
        ...base,
        repository,
        changes: [
          {
            ref: { id: ref, displayId: shortName(ref), type: tag ? "TAG" : "BRANCH" },
            refId: ref,
            fromHash: "0".repeat(40),
            toHash: request.sha,
            type: "UPDATE",
          },
        ],
      },
    };
  }
  const ref = (branch: string, commit: string) => ({
    id: qualified(branch),
    displayId: shortName(branch),
    latestCommit: commit,
    type: "BRANCH",
    repository,
  });
  const pullRequest = {
    id: request.pullRequestNumber,
    version: 0,
    title: request.title,
    state: "OPEN",
    open: true,
    closed: false,
    createdDate: request.now.getTime(),
    updatedDate: request.now.getTime(),
    fromRef: ref(request.source, request.sha),
    toRef: ref(request.target, "0".repeat(40)),
    author: { user: actor, role: "AUTHOR", approved: false, status: "UNAPPROVED" },
    reviewers: [],
    participants: [],
    links: { self: [{ href: `${browseUrl}/pull-requests/${request.pullRequestNumber}` }] },
  };
  if (request.kind === "comment") {
    return {
      eventKey: "pr:comment:added",
      body: {
        eventKey: "pr:comment:added",
        ...base,
        pullRequest,
        comment: { id: 1, version: 0, text: request.comment ?? "", author: actor, createdDate: request.now.getTime() },
      },
    };
  }
  return { eventKey: "pr:opened", body: { eventKey: "pr:opened", ...base, pullRequest } };
}

/** Reads a delivery through the operator's classifier; a comment that is not a command is a usage error. */
export function classifyForResolve(
  eventKey: string,
  body: unknown,
  options: { now: Date; server?: string },
): Resolvable {
  const result = dataCenterIntake.classify(
    eventKey,
    body,
    { "x-event-key": eventKey },
    {
      receivedAt: options.now,
      ...(options.server === undefined ? {} : { serverUrl: options.server }),
    },
  );
  if (!result.ok) throw new CliError(`the ${eventKey} delivery is not valid: ${result.error}`, exitCodes.usage);
  const event = result.events[0];
  if (event === undefined) {
    const why = result.ignored[0]?.reason ?? "it starts nothing";
    throw new CliError(`Baton would ignore this ${eventKey} delivery: ${why}`, exitCodes.usage);
  }
  if (event.type === "ping" || event.type === "pull_request_closed") {
    throw new CliError(`a ${event.type} event starts no pipelines`, exitCodes.usage);
  }
  return event;
}

export function buildEvent(request: EventRequest): Resolvable {
  const { eventKey, body } = delivery(request);
  return classifyForResolve(eventKey, body, { now: request.now, server: request.server });
}

/** A captured delivery (`--payload file.json --event-key pr:opened`), as Bitbucket sent it. */
export async function eventFromPayload(file: string, eventKey: string, now: Date): Promise<Resolvable> {
  let body: unknown;
  try {
    body = JSON.parse(await readFile(file, "utf8"));
  } catch (error) {
    throw new CliError(`could not read ${file} as JSON: ${(error as Error).message}`, exitCodes.usage);
  }
  return classifyForResolve(eventKey, body, { now });
}
