import type { Deliveries } from "./deliveries.ts";
import { serveGit } from "./http-backend.ts";
import type { Reply, Req } from "./route-kit.ts";

/** Called with the final status of a hijacked git request, so it lands in the request log. */
export type GitRequestLogger = (request: Req, status: number) => void;

/** What a git request asks of a repository: the path below it, and whether it pushes. */
export interface GitTarget {
  url: URL;
  /** Below the repository's `.git`: `info/refs`, `git-upload-pack`, `git-receive-pack`. */
  rest: string;
  writing: boolean;
}

export function gitTarget(request: Req, rest: string): GitTarget {
  const url = new URL(request.url, "http://sim");
  const service = rest === "info/refs" ? url.searchParams.get("service") : rest;
  return { url, rest, writing: service === "git-receive-pack" };
}

/**
 * A push's bookkeeping, in the personality's own terms: refs are read before and after the backend runs (under the
 * repository's lock), and the difference is announced (events queued) once the lock is released.
 */
export interface GitPush<C> {
  lock(work: () => Promise<void>): Promise<void>;
  /** Ref name → object id. */
  snapshot(): Promise<Map<string, string>>;
  diff(before: Map<string, string>, after: Map<string, string>): C[];
  announce(changes: C[]): Promise<void>;
}

export interface GitAnswer<C> {
  core: { reposRoot: string; dataDir: string; deliveries: Deliveries };
  gitPath: string;
  target: GitTarget;
  remoteUser: string | null;
  /** Extra response headers (X-AUSERNAME…). */
  headers?: Record<string, string>;
  logGit: GitRequestLogger;
  /** The caller's push handling; null for an anonymous caller (who never gets to push). */
  push: GitPush<C> | null;
}

/**
 * Hands an authorised git request to http-backend. A push's answer ends only once its events are queued: when
 * `git push` returns, the webhooks are on their way (and the deliveries' settled() waits for them).
 */
export async function answerGit<C>(request: Req, reply: Reply, answer: GitAnswer<C>): Promise<void> {
  const { core, target, logGit, push } = answer;
  reply.hijack();
  const logStatus = (status: number): void => logGit(request, status);
  const pushing =
    target.writing && request.method === "POST" && push
      ? (runBackend: () => Promise<void>) =>
          core.deliveries.track(
            (async () => {
              let changes: C[] = [];
              await push.lock(async () => {
                const before = await push.snapshot();
                await runBackend();
                changes = push.diff(before, await push.snapshot());
              });
              await push.announce(changes);
            })(),
          )
      : null;
  await serveGit(
    {
      req: request.raw,
      res: reply.raw,
      projectRoot: core.reposRoot,
      pathInfo: `/${answer.gitPath}/${target.rest}`,
      queryString: target.url.search.replace(/^\?/, ""),
      remoteUser: answer.remoteUser,
      home: core.dataDir,
      headers: answer.headers,
      onStatus: logStatus,
    },
    logStatus,
    pushing,
    (err) => request.log.error({ err }, "git request failed"),
  );
}
