import { setTimeout as sleep } from "node:timers/promises";
import Fastify, { type FastifyInstance, type FastifyReply, type FastifyRequest } from "fastify";
import type { FaultAction, FaultInjector } from "./faults.ts";
import type { RequestLog, RequestLogEntry } from "./request-log.ts";

/** A request to the `/_sim/` control API: never faulted, logged, authenticated or rate limited. */
export function isControl(request: FastifyRequest): boolean {
  return request.routeOptions.config?.control === true || request.url.startsWith("/_sim/");
}

export interface SimAppOptions {
  /** What every personality's core has: whether to log, the request log, the simulator clock. */
  core: { options: { log: boolean }; requests: RequestLog; clock: { now(): number } };
  faults: FaultInjector;
  /** Who called, in the request log's terms (null fields when anonymous). */
  caller(request: FastifyRequest): Pick<RequestLogEntry, "principal" | "authKind" | "credential" | "tokenId">;
  /** Requests the personality's rate limiter refused. */
  rateLimited: WeakSet<FastifyRequest>;
  /** The personality's error for an injected status, thrown before authentication. */
  faultError(status: number, headers: Record<string, string>): Error;
  /** Body and content type of an injected status that replaces a finished answer. */
  faultBody(status: number): { body: string; contentType: string };
  invalidJson(): Error;
  /** Adjusts the headers of an injected answer (Cloud never sends `Retry-After`). */
  faultHeaders?(headers: Record<string, string>): Record<string, string>;
  /** Runs on every answer before faults and logging (response headers of the personality). */
  beforeSend?(request: FastifyRequest, reply: FastifyReply): void;
}

export interface SimApp {
  app: FastifyInstance;
  /** Records an answer in the request log (status 0 for a dropped connection); the git routes call it themselves. */
  logRequest(request: FastifyRequest, status: number): void;
}

/**
 * The server scaffolding both personalities share: JSON bodies that may be empty, git bodies left unread for
 * http-backend, injected faults (before authentication, or replacing the finished answer) and request logging.
 * Register the personality's own onRequest hooks after this one.
 */
export function createSimApp(options: SimAppOptions): SimApp {
  const { core } = options;
  const app = Fastify({
    logger: core.options.log ? { level: "info", redact: ["req.headers.authorization", "req.headers.cookie"] } : false,
    // Bitbucket's clone URLs and some REST paths contain "~"; keep the default decoding.
    routerOptions: { ignoreDuplicateSlashes: true },
    bodyLimit: 10 * 1024 * 1024,
  });
  const faulted = new WeakSet<FastifyRequest>();
  /** Faults that replace the answer once the request has been processed (`when: "after"`). */
  const lateFaults = new WeakMap<FastifyRequest, FaultAction>();
  const logRequest = (request: FastifyRequest, status: number): void => {
    if (isControl(request)) return;
    const url = new URL(request.url, "http://sim");
    core.requests.add({
      time: core.clock.now(),
      method: request.method,
      path: url.pathname,
      query: url.search.replace(/^\?/, ""),
      route: request.routeOptions.url ?? null,
      group: request.routeOptions.config?.group ?? "unknown",
      ...options.caller(request),
      status,
      rateLimited: options.rateLimited.has(request),
      faulted: faulted.has(request),
    });
  };
  const headersOf = (fault: FaultAction): Record<string, string> =>
    options.faultHeaders ? options.faultHeaders({ ...fault.headers }) : fault.headers;

  // DELETEs and POSTs often carry `Content-Type: application/json` and no body; Bitbucket accepts that.
  app.removeContentTypeParser("application/json");
  app.addContentTypeParser("application/json", { parseAs: "string" }, (_req, body, done) => {
    const text = typeof body === "string" ? body : body.toString("utf8");
    if (text.trim() === "") return done(null, undefined);
    try {
      done(null, JSON.parse(text));
    } catch {
      done(options.invalidJson(), undefined);
    }
  });
  // git request bodies stay unread: the git route streams them into git http-backend.
  app.addContentTypeParser(
    ["application/x-git-upload-pack-request", "application/x-git-receive-pack-request"],
    (_req, _payload, done) => done(null),
  );

  app.addHook("onRequest", async (request, reply) => {
    if (isControl(request)) return;
    const fault = options.faults.take({
      method: request.method,
      path: new URL(request.url, "http://sim").pathname,
      group: request.routeOptions.config?.group ?? "unknown",
    });
    if (!fault) return;
    faulted.add(request);
    if (fault.when === "after") {
      lateFaults.set(request, fault);
      return;
    }
    if (fault.delayMs > 0) await sleep(fault.delayMs);
    if (fault.reset) {
      // No answer at all: the client sees the connection drop (status 0 in the request log).
      logRequest(request, 0);
      reply.hijack();
      request.raw.socket.destroy();
      return reply;
    }
    if (fault.status !== null) throw options.faultError(fault.status, headersOf(fault));
  });

  app.addHook("onSend", async (request, reply, payload) => {
    options.beforeSend?.(request, reply);
    const late = lateFaults.get(request);
    if (late) {
      // The work is done (a token created, a status stored); only the answer is lost on its way back.
      lateFaults.delete(request);
      if (late.delayMs > 0) await sleep(late.delayMs);
      if (late.reset) {
        logRequest(request, 0);
        request.raw.socket.destroy();
        return payload;
      }
      if (late.status !== null) {
        const { body, contentType } = options.faultBody(late.status);
        reply.code(late.status);
        for (const [k, v] of Object.entries(headersOf(late))) reply.header(k, v);
        reply.header("content-type", contentType);
        reply.removeHeader("content-length");
        logRequest(request, late.status);
        return body;
      }
    }
    logRequest(request, reply.statusCode);
    return payload;
  });

  return { app, logRequest };
}

/** What every personality's error carries through the route handlers. */
export interface SimHttpError extends Error {
  readonly status: number;
  readonly headers: Record<string, string>;
}

export interface ErrorStyle<E extends SimHttpError> {
  /** The personality's own error, answered as it is. */
  own(err: unknown): err is E;
  /** A 4xx Fastify raised itself (a bad body, a body too large). */
  client(status: number, message: string): E;
  /** Anything else: logged, and answered as the personality's 500. */
  internal(err: Error): E;
  /** Content type of the errors answered as text: every git error, and the `plain` ones. */
  textType: string;
  /** Answered as the bare message in text on REST too (Cloud's 429). */
  plain?(error: E): boolean;
  /** Writes the personality's error body. */
  send(reply: FastifyReply, error: E): FastifyReply;
}

/**
 * The error handler every personality shares: its own errors keep their status and headers, git clients get the
 * message as text (git prints it), and whatever else broke becomes the personality's 500, logged.
 */
export function setErrorStyle<E extends SimHttpError>(app: FastifyInstance, style: ErrorStyle<E>): void {
  app.setErrorHandler((err: Error, request, reply) => {
    let error: E;
    if (style.own(err)) error = err;
    else {
      const status = (err as { statusCode?: number }).statusCode;
      if (typeof status === "number" && status >= 400 && status < 500) error = style.client(status, err.message);
      else {
        request.log.error({ err }, "unhandled error");
        error = style.internal(err);
      }
    }
    for (const [k, v] of Object.entries(error.headers)) reply.header(k, v);
    reply.code(error.status);
    const plain = style.plain?.(error) ?? false;
    if (plain || request.routeOptions.config?.group === "git")
      return reply.type(style.textType).send(plain ? error.message : `${error.message}\n`);
    return style.send(reply, error);
  });
}
