// Before a fork pull request's run is created: does the target repository's `refs/pull-requests/<id>/from` point
// at the event's head commit? Bitbucket moves that ref lazily (reference §10), and the run fetches it with the
// clone token (which cannot read the personal fork), so building before it caught up would build another commit.
//
// The check reads git's smart-HTTP ref advertisement with the clone token (exactly what the run will see), asks
// Bitbucket to rescope the pull request by reading it through REST when the ref lags (what viewing it does on a
// real server), and retries briefly.
import type { GitAuth } from "../providers/provider.ts";
import { checkPullRequestRef, type PullRequestRefCheck } from "./gitsecret.ts";

export type FetchLike = (
  url: string,
  init: { headers: Record<string, string>; signal?: AbortSignal },
) => Promise<{ status: number; arrayBuffer(): Promise<ArrayBuffer> }>;

export interface RefWaitInput {
  /** The target repository's HTTP clone URL (`…/scm/prj/repo.git`). */
  cloneUrl: string;
  token: string;
  /** How the host's git takes the token (GitProvider.capabilities.git). */
  git: GitAuth;
  /** The head ref in the target repository (GitProvider.forkHead), e.g. `refs/pull-requests/3/from`. */
  ref: string;
  sha: string;
  /** Makes the server rescope the pull request (a REST GET of it). */
  refresh: () => Promise<void>;
  /** Waits between attempts, after the refresh; default 200 ms, 500 ms, 1 s, 2 s. */
  delaysMs?: readonly number[];
  fetch?: FetchLike;
  sleep?: (ms: number) => Promise<void>;
  signal?: AbortSignal;
}

/** `unreadable`: the git server refused the token (401, 403, 404), so waiting will not help. */
export type RefWaitResult = PullRequestRefCheck & { attempts: number; unreadable?: boolean };

/** The Authorization header git sends with the token: Bearer (Data Center), or Basic with the host's user name. */
export function gitAuthorization(git: GitAuth, token: string): string {
  if (git.kind === "basic") return `Basic ${Buffer.from(`${git.username}:${token}`, "utf8").toString("base64")}`;
  return `Bearer ${token}`;
}

const maxAdvertisementBytes = 64 * 1024 * 1024;

/** Reads the ref advertisement; a failure is a check result (`missing`), never a thrown token-bearing error. */
async function advertisement(
  input: RefWaitInput,
): Promise<{ ok: true; body: Buffer } | { ok: false; message: string; unreadable?: boolean }> {
  const doFetch = input.fetch ?? (globalThis.fetch as unknown as FetchLike);
  const url = `${input.cloneUrl.replace(/\/+$/, "")}/info/refs?service=git-upload-pack`;
  try {
    const res = await doFetch(url, {
      headers: { authorization: gitAuthorization(input.git, input.token), "user-agent": "baton" },
      ...(input.signal ? { signal: input.signal } : {}),
    });
    if (res.status !== 200) {
      return {
        ok: false,
        unreadable: res.status === 401 || res.status === 403 || res.status === 404,
        message: `the git server answered ${res.status} to the ref advertisement${res.status === 401 || res.status === 403 ? " (can the clone token read this repository?)" : ""}`,
      };
    }
    // Bytes, not text: pkt-line lengths count bytes, and a ref name need not be UTF-8 (decoding would change it).
    const body = Buffer.from(await res.arrayBuffer());
    if (body.byteLength > maxAdvertisementBytes) return { ok: false, message: "the ref advertisement is too large" };
    return { ok: true, body };
  } catch (err) {
    // Only the error's class and code: undici's messages can quote the request.
    const code =
      (err as { code?: unknown; cause?: { code?: unknown } }).cause?.code ?? (err as { code?: unknown }).code;
    return { ok: false, message: `the ref advertisement could not be read (${String(code ?? (err as Error).name)})` };
  }
}

/** Checks the ref, rescoping and retrying while it lags. */
export async function waitForPullRequestRef(input: RefWaitInput): Promise<RefWaitResult> {
  const delays = input.delaysMs ?? [200, 500, 1000, 2000];
  const sleep = input.sleep ?? ((ms: number) => new Promise<void>((r) => setTimeout(r, ms)));
  let attempts = 0;
  let last: PullRequestRefCheck = { ok: false, reason: "missing", message: "not checked" };
  for (let i = 0; i <= delays.length; i++) {
    if (input.signal?.aborted) break;
    attempts++;
    const advertised = await advertisement(input);
    last = advertised.ok
      ? checkPullRequestRef(advertised.body, input.ref, input.sha)
      : { ok: false, reason: "missing", message: advertised.message };
    if (last.ok) return { ...last, attempts };
    if (!advertised.ok && advertised.unreadable) return { ...last, attempts, unreadable: true };
    if (i === delays.length) break;
    if (i === 0) {
      try {
        await input.refresh();
      } catch {
        // The retry below says whether it helped; a failed refresh is not worse than a lagging ref.
      }
    }
    await sleep(delays[i] ?? 0);
  }
  return { ...last, attempts };
}
