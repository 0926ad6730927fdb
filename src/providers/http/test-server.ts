// A scripted node:http server for the client's unit tests. Not used outside tests.
import { createServer, type IncomingHttpHeaders } from "node:http";
import type { AddressInfo } from "node:net";

export interface Recorded {
  method: string;
  /** Path and query exactly as sent (still encoded). */
  url: string;
  pathname: string;
  query: URLSearchParams;
  headers: IncomingHttpHeaders;
  body: string;
}

export interface Reply {
  status?: number;
  headers?: Record<string, string>;
  /** Objects are sent as JSON; strings and buffers as they are. */
  body?: unknown;
  /** Cut the connection without answering (a network error for the client). */
  destroy?: boolean;
  /** Never answer (the client's timeout has to fire). */
  hang?: boolean;
}

export type Handler = (req: Recorded, index: number) => Reply | Promise<Reply>;

export interface TestServer {
  url: string;
  requests: Recorded[];
  close(): Promise<void>;
}

export async function startServer(handler: Handler): Promise<TestServer> {
  const requests: Recorded[] = [];
  const server = createServer(async (req, res) => {
    const chunks: Buffer[] = [];
    for await (const chunk of req) chunks.push(chunk as Buffer);
    const url = new URL(req.url ?? "/", "http://localhost");
    const recorded: Recorded = {
      method: req.method ?? "",
      url: req.url ?? "",
      pathname: url.pathname,
      query: url.searchParams,
      headers: req.headers,
      body: Buffer.concat(chunks).toString("utf8"),
    };
    requests.push(recorded);
    const reply = await handler(recorded, requests.length - 1);
    if (reply.destroy) {
      req.socket.destroy();
      return;
    }
    if (reply.hang) return;
    const body =
      reply.body === undefined
        ? undefined
        : typeof reply.body === "string" || Buffer.isBuffer(reply.body)
          ? reply.body
          : JSON.stringify(reply.body);
    const headers: Record<string, string> = { ...reply.headers };
    if (body !== undefined && typeof reply.body === "object" && !Buffer.isBuffer(reply.body)) {
      headers["content-type"] ??= "application/json;charset=UTF-8";
    }
    res.writeHead(reply.status ?? 200, headers);
    res.end(body);
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    requests,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

/** A page envelope as Bitbucket sends it. */
export function page<T>(values: T[], next?: number, start = 0): Record<string, unknown> {
  return {
    size: values.length,
    limit: 25,
    start,
    isLastPage: next === undefined,
    values,
    ...(next === undefined ? {} : { nextPageStart: next }),
  };
}
