import { spawn } from "node:child_process";
import type { IncomingMessage, ServerResponse } from "node:http";
import { gitBaseEnv } from "./git.ts";

/**
 * Runs `git http-backend` as a CGI program for one request and streams both directions. git itself handles the
 * smart protocol (v0 and v2), gzip request bodies (via HTTP_CONTENT_ENCODING) and pack negotiation, so clone, fetch
 * and push behave exactly as against a real server.
 */
export interface CgiRequest {
  req: IncomingMessage;
  res: ServerResponse;
  /** GIT_PROJECT_ROOT: the directory holding every bare repository. */
  projectRoot: string;
  /** PATH_INFO below the project root, e.g. `/r/12.git/info/refs`. */
  pathInfo: string;
  queryString: string;
  remoteUser: string | null;
  home: string;
  /** Called with the status just before the response head is written. */
  onStatus?: (status: number) => void;
  /** Extra response headers (X-AUSERNAME…). */
  headers?: Record<string, string>;
}

const httpBackendPath = (async () => {
  const { execFile } = await import("node:child_process");
  return new Promise<string>((resolve, reject) => {
    execFile("git", ["--exec-path"], (err, stdout) =>
      err ? reject(err) : resolve(`${stdout.trim()}/git-http-backend`),
    );
  });
})();

function parseCgiHead(head: string): { status: number; headers: [string, string][] } {
  let status = 200;
  const headers: [string, string][] = [];
  for (const line of head.split(/\r?\n/)) {
    const colon = line.indexOf(":");
    if (colon <= 0) continue;
    const name = line.slice(0, colon).trim();
    const value = line.slice(colon + 1).trim();
    if (name.toLowerCase() === "status") status = Number.parseInt(value, 10) || 500;
    else headers.push([name, value]);
  }
  return { status, headers };
}

/** Resolves with git http-backend's exit code once the response has been fully written. */
export async function runHttpBackend(cgi: CgiRequest): Promise<number> {
  const { req, res } = cgi;
  const env: Record<string, string> = {
    ...gitBaseEnv(cgi.home),
    GIT_PROJECT_ROOT: cgi.projectRoot,
    GIT_HTTP_EXPORT_ALL: "1",
    PATH_INFO: cgi.pathInfo,
    QUERY_STRING: cgi.queryString,
    REQUEST_METHOD: req.method ?? "GET",
    CONTENT_TYPE: req.headers["content-type"] ?? "",
    REMOTE_ADDR: req.socket.remoteAddress ?? "127.0.0.1",
    SERVER_PROTOCOL: "HTTP/1.1",
  };
  if (cgi.remoteUser) env.REMOTE_USER = cgi.remoteUser;
  const encoding = req.headers["content-encoding"];
  if (typeof encoding === "string") env.HTTP_CONTENT_ENCODING = encoding;
  const gitProtocol = req.headers["git-protocol"];
  if (typeof gitProtocol === "string") env.GIT_PROTOCOL = gitProtocol;
  const length = req.headers["content-length"];
  if (typeof length === "string") env.CONTENT_LENGTH = length;

  const child = spawn(await httpBackendPath, [], { env, stdio: ["pipe", "pipe", "pipe"] });
  const exited = new Promise<number>((resolve) => {
    child.on("exit", (code) => resolve(code ?? 1));
    child.on("error", () => resolve(1));
  });
  child.stdin.on("error", () => {});
  if (req.method === "GET" || req.method === "HEAD") child.stdin.end();
  else req.pipe(child.stdin);
  child.stderr.resume();

  let buffered = Buffer.alloc(0);
  let headWritten = false;
  const writeHead = (status: number, headers: [string, string][]): void => {
    cgi.onStatus?.(status);
    for (const [k, v] of Object.entries(cgi.headers ?? {})) res.setHeader(k, v);
    for (const [k, v] of headers) res.setHeader(k, v);
    res.writeHead(status);
    headWritten = true;
  };

  await new Promise<void>((resolve) => {
    child.stdout.on("data", (chunk: Buffer) => {
      if (headWritten) {
        if (!res.write(chunk)) {
          child.stdout.pause();
          res.once("drain", () => child.stdout.resume());
        }
        return;
      }
      buffered = Buffer.concat([buffered, chunk]);
      const text = buffered.toString("latin1");
      const crlf = text.indexOf("\r\n\r\n");
      const lf = text.indexOf("\n\n");
      const end = crlf >= 0 && (lf < 0 || crlf < lf) ? crlf + 4 : lf >= 0 ? lf + 2 : -1;
      if (end < 0) return;
      const { status, headers } = parseCgiHead(text.slice(0, end));
      writeHead(status, headers);
      const rest = buffered.subarray(end);
      if (rest.length > 0) res.write(rest);
    });
    child.stdout.on("end", () => resolve());
    child.stdout.on("error", () => resolve());
  });
  const code = await exited;
  if (!headWritten) writeHead(code === 0 ? 200 : 500, [["Content-Type", "text/plain"]]);
  return code;
}

/**
 * Answers one hijacked git request through http-backend. A push (`push` given) runs inside `push`, which takes the
 * ref snapshots around it and queues the personality's events; the response ends only once that is done, so when
 * `git push` returns the webhooks are on their way. A failure before the head is written becomes a 500.
 */
export async function serveGit(
  cgi: CgiRequest,
  logStatus: (status: number) => void,
  push: ((runBackend: () => Promise<void>) => Promise<void>) | null,
  onError: (err: unknown) => void,
): Promise<void> {
  const { res } = cgi;
  try {
    if (push)
      await push(async () => {
        await runHttpBackend(cgi);
      });
    else await runHttpBackend(cgi);
  } catch (err) {
    onError(err);
    if (!res.headersSent) {
      logStatus(500);
      res.writeHead(500, { "Content-Type": "text/plain" });
    }
  } finally {
    res.end();
  }
}
