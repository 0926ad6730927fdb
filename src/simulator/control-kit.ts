import type { FastifyInstance } from "fastify";
import { z } from "zod";
import type { SimClock } from "./clock.ts";
import type { Deliveries, DeliveryFilter, DeliveryRecord } from "./deliveries.ts";
import { type FaultHandle, FaultInjector, type FaultSpec, type FaultView, faultSpecSchema } from "./faults.ts";
import type { RequestFilter, RequestGroup, RequestLog, RequestLogEntry } from "./request-log.ts";
import { param, q } from "./route-kit.ts";

/** The shared machinery every personality's core carries. */
export interface SimMachinery {
  readonly clock: SimClock;
  readonly dataDir: string;
  readonly deliveries: Deliveries;
  readonly requests: RequestLog;
}

/**
 * The control handle's personality-free half: deliveries, faults, the request log and the clock. Each personality's
 * control class extends it with what its UI would offer.
 */
export class MachineryControl {
  private readonly machinery: SimMachinery;
  /** Shared with the server, which consults it for every request (see faults.ts). */
  readonly faultInjector: FaultInjector;

  constructor(machinery: SimMachinery, faults: FaultInjector = new FaultInjector()) {
    this.machinery = machinery;
    this.faultInjector = faults;
  }

  get clock(): SimClock {
    return this.machinery.clock;
  }

  get dataDir(): string {
    return this.machinery.dataDir;
  }

  /** Resolves once every queued webhook delivery and in-flight git push has finished. */
  settled(): Promise<void> {
    return this.machinery.deliveries.settled();
  }

  deliveries(filter: DeliveryFilter = {}): DeliveryRecord[] {
    return this.machinery.deliveries.records(filter);
  }

  clearDeliveries(): void {
    this.machinery.deliveries.clear();
  }

  /** The next `count` deliveries are lost: recorded with `dropped: true`, never sent. */
  dropNextDeliveries(count: number): void {
    this.machinery.deliveries.dropNext(count);
  }

  /**
   * Makes matching REST (and, when `group` names "git", git) requests fail before authentication: a status
   * (default 503; 429 with `Retry-After`), a delay, or a dropped connection, for `count` requests and/or
   * `durationMs` of real time. Faulted requests are logged with `faulted: true`.
   */
  injectFaults(spec: FaultSpec = {}): FaultHandle {
    return this.faultInjector.inject(spec);
  }

  /** Stops every injected fault. */
  clearFaults(): void {
    this.faultInjector.clear();
  }

  /** Faults still active, in the order they apply. */
  faults(): FaultView[] {
    return this.faultInjector.list();
  }

  /** The request log: every REST and git request answered (control calls excluded). */
  requests(filter: RequestFilter = {}): RequestLogEntry[] {
    return this.machinery.requests.list(filter);
  }

  requestCount(filter: RequestFilter = {}): number {
    return this.machinery.requests.count(filter);
  }

  /** A position in the request log; pass it as `since` to see only later requests. */
  markRequests(): number {
    return this.machinery.requests.mark();
  }

  clearRequests(): void {
    this.machinery.requests.clear();
  }
}

/** Validates a control body with the personality's own error shape. */
export type BodyParser = <S extends z.ZodType>(schema: S, body: unknown) => z.infer<S>;

const intQ = (v: string | undefined): number | undefined => (v === undefined ? undefined : Number(v));

/** `/_sim/` routes for the shared machinery: deliveries, requests, faults, clock and settled. */
export function machineryControlRoutes(app: FastifyInstance, sim: MachineryControl, parseBody: BodyParser): void {
  const cfg = { config: { control: true } };
  app.get("/deliveries", cfg, async (r) =>
    sim.deliveries({
      eventKey: q(r, "eventKey"),
      url: q(r, "url"),
      webhookId: intQ(q(r, "webhookId")),
      since: intQ(q(r, "since")),
    }),
  );
  app.delete("/deliveries", cfg, async (_r, reply) => {
    sim.clearDeliveries();
    return reply.code(204).send();
  });
  app.post("/deliveries/drop", cfg, async (r) => {
    sim.dropNextDeliveries(parseBody(z.object({ count: z.number().int().min(0) }), r.body).count);
    return { ok: true };
  });

  app.get("/requests", cfg, async (r) => {
    const group = q(r, "group");
    return sim.requests({
      group: group ? (group.split(",") as RequestGroup[]) : undefined,
      method: q(r, "method"),
      pathPrefix: q(r, "pathPrefix"),
      principal: q(r, "principal"),
      tokenId: q(r, "tokenId"),
      status: intQ(q(r, "status")),
      faulted: q(r, "faulted") === undefined ? undefined : q(r, "faulted") === "true",
      since: intQ(q(r, "since")),
    });
  });
  app.get("/requests/mark", cfg, async () => ({ mark: sim.markRequests() }));
  app.delete("/requests", cfg, async (_r, reply) => {
    sim.clearRequests();
    return reply.code(204).send();
  });

  app.post("/faults", cfg, async (r) => {
    const handle = sim.injectFaults(parseBody(faultSpecSchema, r.body));
    return sim.faults().find((f) => f.id === handle.id) ?? { id: handle.id, hits: 0, remaining: 0, active: false };
  });
  app.get("/faults", cfg, async () => sim.faults());
  app.delete("/faults", cfg, async (_r, reply) => {
    sim.clearFaults();
    return reply.code(204).send();
  });
  app.delete("/faults/:id", cfg, async (r, reply) => {
    const found = sim.faultInjector.clear(Number(param(r, "id")));
    return reply.code(found ? 204 : 404).send();
  });

  app.get("/clock", cfg, async () => ({ now: sim.clock.now() }));
  app.post("/clock/advance", cfg, async (r) => {
    sim.clock.advance(parseBody(z.object({ ms: z.number().min(0) }), r.body).ms);
    return { now: sim.clock.now() };
  });
  app.put("/clock", cfg, async (r) => {
    sim.clock.set(parseBody(z.object({ now: z.number().int() }), r.body).now);
    return { now: sim.clock.now() };
  });
  app.post("/settled", cfg, async () => {
    await sim.settled();
    return { ok: true };
  });
}
