import type { FastifyReply, FastifyRequest } from "fastify";
import type { RequestGroup } from "./request-log.ts";

/** Request helpers every personality's routes use. */

declare module "fastify" {
  interface FastifyContextConfig {
    /** Endpoint family recorded in the request log. */
    group?: RequestGroup;
    /** Route of the `/_sim/` control API: no auth, not logged. */
    control?: boolean;
  }
}

export type Req = FastifyRequest;
export type Reply = FastifyReply;

export type Params = Record<string, string | undefined>;
export type Query = Record<string, string | string[] | undefined>;

export function params(request: Req): Params {
  return (request.params ?? {}) as Params;
}

export function query(request: Req): Query {
  return (request.query ?? {}) as Query;
}

/** First value of a query parameter. */
export function q(request: Req, name: string): string | undefined {
  const v = query(request)[name];
  return Array.isArray(v) ? v[0] : v;
}

export function param(request: Req, name: string): string {
  const v = params(request)[name];
  if (v === undefined) throw new Error(`internal: route has no :${name}`);
  return v;
}
