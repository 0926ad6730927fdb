// Pull requests, comments and trust on GitHub: read a pull request (an issue comment's payload lacks its head),
// list the open ones (catch-up), comment on one, and ask whether a user may run CI on their own say-so.
import { z } from "zod";
import { isNotFound } from "../http/errors.ts";
import type { CallOptions, HttpTransport } from "../http/http.ts";
import { segment } from "../http/url.ts";
import { type RepoRef, repoPath } from "./content.ts";
import { listAll } from "./paging.ts";
import { PullRequest } from "./payloads.ts";

export async function getPullRequest(
  http: HttpTransport,
  repo: RepoRef,
  number: number,
  call: CallOptions = {},
): Promise<PullRequest> {
  const { data } = await http.json(
    { group: "pull-requests", method: "GET", path: `${repoPath(repo)}/pulls/${number}` },
    PullRequest,
    call,
  );
  return data;
}

export function listOpenPullRequests(
  http: HttpTransport,
  repo: RepoRef,
  call: CallOptions & { maxItems?: number } = {},
): Promise<PullRequest[]> {
  return listAll(
    http,
    {
      group: "pull-requests",
      path: `${repoPath(repo)}/pulls`,
      query: { state: "open", sort: "updated", direction: "desc" },
      maxItems: call.maxItems ?? 1000,
    },
    PullRequest,
    call,
  );
}

/** GitHub's limit on a comment body. */
export const maxCommentLength = 65_536;

/** Comments on a pull request (its conversation, which is the issue of the same number). */
export async function commentOnPullRequest(
  http: HttpTransport,
  repo: RepoRef,
  number: number,
  text: string,
  call: CallOptions = {},
): Promise<void> {
  const chars = [...text];
  const body = chars.length <= maxCommentLength ? text : `${chars.slice(0, maxCommentLength - 1).join("")}…`;
  await http.send(
    {
      group: "pull-requests",
      method: "POST",
      path: `${repoPath(repo)}/issues/${number}/comments`,
      body: { body },
      needs: "issues: write or pull_requests: write",
    },
    call,
  );
}

const Permission = z.object({
  /** `admin`, `write`, `read` or `none` (maintain maps to write, triage to read). */
  permission: z.string(),
  /** The precise role: `admin`, `maintain`, `write`, `triage`, `read`, or a custom role's name. */
  role_name: z.string().optional(),
});

/**
 * Whether a collaborator permission grants `write` or above. GitHub's `permission` already folds `maintain` into
 * `write` and `triage` into `read`, and a custom role into the base role it extends. Pure.
 */
export function grantsWrite(permission: string): boolean {
  return permission === "admin" || permission === "write";
}

/**
 * "May `user` push to `repo`?" from the collaborator permission API: `write`, `maintain` or `admin` is yes.
 * A user GitHub does not know (404) is no.
 */
export async function hasWriteAccess(
  http: HttpTransport,
  repo: RepoRef,
  user: string,
  call: CallOptions = {},
): Promise<boolean> {
  try {
    const { data } = await http.json(
      {
        group: "users",
        method: "GET",
        path: `${repoPath(repo)}/collaborators/${segment(user)}/permission`,
        needs: "metadata: read",
      },
      Permission,
      call,
    );
    return grantsWrite(data.permission);
  } catch (err) {
    if (isNotFound(err)) return false;
    throw err;
  }
}
