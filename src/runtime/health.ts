import Fastify, { type FastifyInstance } from "fastify";
import type { Metrics } from "./metrics.ts";

// /healthz (is this process able to work: informers' watch loops alive), /readyz (may it receive traffic:
// caches synced; a standby that is not the leader is still ready) and /metrics, on one small server.

export type Check = () => { ok: boolean; reason?: string | undefined } | boolean;

export interface HealthServerOptions {
  metrics: Metrics;
  host?: string;
  port?: number;
}

export class HealthServer {
  readonly #metrics: Metrics;
  readonly #host: string;
  readonly #port: number;
  readonly #liveness = new Map<string, Check>();
  readonly #readiness = new Map<string, Check>();
  #app: FastifyInstance | undefined;
  #shuttingDown = false;

  constructor(options: HealthServerOptions) {
    this.#metrics = options.metrics;
    this.#host = options.host ?? "0.0.0.0";
    this.#port = options.port ?? 8080;
  }

  addHealthCheck(name: string, check: Check): void {
    this.#liveness.set(name, check);
  }

  addReadyCheck(name: string, check: Check): void {
    this.#readiness.set(name, check);
  }

  /** From now on /readyz fails, so load balancers stop sending traffic before the process goes away. */
  markShuttingDown(): void {
    this.#shuttingDown = true;
  }

  /** Starts listening; resolves with the bound port (useful with port 0). */
  async start(): Promise<number> {
    const app = Fastify({ logger: false });
    app.get("/healthz", async (_req, reply) => respond(reply, evaluate(this.#liveness)));
    app.get("/readyz", async (_req, reply) => {
      const result = evaluate(this.#readiness);
      if (this.#shuttingDown) {
        result.ok = false;
        result.checks.shutdown = "shutting down";
      }
      return respond(reply, result);
    });
    app.get("/metrics", async (_req, reply) => {
      reply.header("content-type", this.#metrics.contentType);
      return this.#metrics.text();
    });
    await app.listen({ host: this.#host, port: this.#port });
    this.#app = app;
    const address = app.server.address();
    return typeof address === "object" && address ? address.port : this.#port;
  }

  async stop(): Promise<void> {
    await this.#app?.close();
    this.#app = undefined;
  }
}

interface Evaluation {
  ok: boolean;
  checks: Record<string, string>;
}

function evaluate(checks: Map<string, Check>): Evaluation {
  const result: Evaluation = { ok: true, checks: {} };
  for (const [name, check] of checks) {
    let outcome: { ok: boolean; reason?: string | undefined };
    try {
      const r = check();
      outcome = typeof r === "boolean" ? { ok: r } : r;
    } catch (err) {
      outcome = { ok: false, reason: (err as Error).message };
    }
    result.checks[name] = outcome.ok ? "ok" : (outcome.reason ?? "failed");
    if (!outcome.ok) result.ok = false;
  }
  return result;
}

function respond(reply: { code(n: number): unknown }, result: Evaluation) {
  reply.code(result.ok ? 200 : 503);
  return { status: result.ok ? "ok" : "failed", checks: result.checks };
}
