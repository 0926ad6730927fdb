import { z } from "zod";
import type { RequestGroup } from "./request-log.ts";

/**
 * Fault injection: Bitbucket answering 5xx, rate-limiting with 429, answering slowly or dropping the connection,
 * for a number of requests or a stretch of time. By default a fault is decided before authentication (a load
 * balancer or a failing node answers before Bitbucket's own code runs), so the request changes nothing in the model
 * and spends no rate-limit token. With `when: "after"` the request is processed and only its answer is lost (a
 * proxy timing out on a slow backend): the case where a client must not blindly repeat a request that creates
 * something. Every faulted request lands in the request log with `faulted: true`.
 *
 * Durations are real time, not simulator time: clients back off on real timers, and tests usually freeze the
 * simulator clock.
 */

const groups = [
  "access-tokens",
  "application-properties",
  "build-status",
  "capabilities",
  "content",
  "git",
  "projects",
  "pull-requests",
  "repos",
  "users",
  "webhooks",
  "unknown",
] as const satisfies readonly RequestGroup[];

export const faultSpecSchema = z
  .object({
    /** How many matching requests are faulted; without it, every matching request until the duration ends. */
    count: z.number().int().positive().optional(),
    /** How long (real milliseconds from now) the fault lasts; without it, until `count` is used up or cleared. */
    durationMs: z.number().positive().optional(),
    /** Status answered. Default 503, unless only `delayMs` or `reset` is given. */
    status: z.union([z.literal(500), z.literal(502), z.literal(503), z.literal(429)]).optional(),
    /** `Retry-After` in seconds: default 1 for 429, none otherwise; null sends no header even with 429. */
    retryAfterSeconds: z.number().int().min(0).nullable().optional(),
    /** Waits this long (real ms) before answering; alone, the request then proceeds normally (a slow server). */
    delayMs: z.number().int().min(0).optional(),
    /** Drops the connection without an answer (after `delayMs`, if given). */
    reset: z.boolean().optional(),
    /**
     * "before" (default): answered before authentication, nothing happens. "after": the request is authenticated
     * and processed as usual, then its answer is replaced by the fault (REST only: git requests are not matched).
     */
    when: z.enum(["before", "after"]).optional(),
    /** Only requests whose path starts with this. */
    pathPrefix: z.string().min(1).optional(),
    /** Only this HTTP method. */
    method: z.string().min(1).optional(),
    /** Only these endpoint families. Git requests are faulted only when this names "git". */
    group: z.union([z.enum(groups), z.array(z.enum(groups)).min(1)]).optional(),
  })
  .refine((s) => !(s.reset && s.status !== undefined), {
    message: "a reset connection has no status; give either reset or status",
    path: ["reset"],
  });

export type FaultSpec = z.input<typeof faultSpecSchema>;

/** What happens to one faulted request. */
export interface FaultAction {
  faultId: number;
  when: "before" | "after";
  delayMs: number;
  /** Drop the connection (no status); otherwise answer `status`, unless it is null (a delay only). */
  reset: boolean;
  status: 500 | 502 | 503 | 429 | null;
  headers: Record<string, string>;
}

/** A fault as seen from outside (also the JSON of the control API). */
export interface FaultView {
  id: number;
  spec: FaultSpec;
  /** Requests faulted so far. */
  hits: number;
  /** Requests still to fault; null when only the duration (or clear()) ends the fault. */
  remaining: number | null;
  /** Still faulting: not cleared, not used up, not expired. */
  active: boolean;
}

export interface FaultHandle {
  readonly id: number;
  readonly hits: number;
  readonly remaining: number | null;
  readonly active: boolean;
  /** Stops the fault now (the requests already faulted stay in the log). */
  clear(): void;
}

export interface FaultTarget {
  method: string;
  /** URL path without the query string. */
  path: string;
  group: RequestGroup;
}

interface Fault {
  id: number;
  spec: z.output<typeof faultSpecSchema>;
  groups: readonly RequestGroup[] | null;
  expiresAt: number;
  hits: number;
  cleared: boolean;
}

const MESSAGES: Record<number, [string, string | null]> = {
  500: ["An unexpected error occurred (fault injected by the simulator).", "com.atlassian.bitbucket.ServiceException"],
  502: ["Bad Gateway (fault injected by the simulator).", null],
  503: ["Service Unavailable (fault injected by the simulator).", null],
  429: [
    "You have exceeded the rate limit for your user account. Wait a moment and try again.",
    "com.atlassian.bitbucket.ratelimit.RateLimitedException",
  ],
};

/** The message and exception name of an injected status, in Bitbucket's error envelope. */
export function faultMessage(status: number): { message: string; exceptionName: string | null } {
  const [message, exceptionName] = MESSAGES[status] ?? [`Injected fault ${status}.`, null];
  return { message, exceptionName };
}

export class FaultInjector {
  readonly #faults: Fault[] = [];
  readonly #now: () => number;
  #nextId = 1;

  /** `now` is real monotonic time in ms (injected by unit tests). */
  constructor(now: () => number = () => performance.now()) {
    this.#now = now;
  }

  /** Installs a fault; it applies to matching requests after every fault installed before it is done. */
  inject(input: FaultSpec): FaultHandle {
    const spec = faultSpecSchema.parse(input);
    const group = spec.group === undefined ? null : Array.isArray(spec.group) ? spec.group : [spec.group];
    const fault: Fault = {
      id: this.#nextId++,
      spec,
      groups: group,
      expiresAt: spec.durationMs === undefined ? Number.POSITIVE_INFINITY : this.#now() + spec.durationMs,
      hits: 0,
      cleared: false,
    };
    this.#faults.push(fault);
    const view = () => this.#view(fault);
    return {
      id: fault.id,
      get hits() {
        return fault.hits;
      },
      get remaining() {
        return view().remaining;
      },
      get active() {
        return view().active;
      },
      clear: () => this.clear(fault.id),
    };
  }

  /**
   * The fault for this request, if any, counted as used: the first active fault (in installation order) whose
   * filter matches. Called once per request.
   */
  take(target: FaultTarget): FaultAction | undefined {
    const now = this.#now();
    this.#prune(now);
    for (const fault of this.#faults) {
      if (!this.#isActive(fault, now) || !matches(fault, target)) continue;
      fault.hits++;
      const { spec } = fault;
      const reset = spec.reset === true;
      const status = reset ? null : (spec.status ?? (spec.delayMs !== undefined ? null : 503));
      const retryAfter = spec.retryAfterSeconds === undefined ? (status === 429 ? 1 : null) : spec.retryAfterSeconds;
      return {
        faultId: fault.id,
        when: spec.when ?? "before",
        delayMs: spec.delayMs ?? 0,
        reset,
        status,
        headers: status !== null && retryAfter !== null ? { "Retry-After": String(retryAfter) } : {},
      };
    }
    return undefined;
  }

  /** Stops one fault (by id) or all of them. True when something was cleared. */
  clear(id?: number): boolean {
    let found = false;
    for (const fault of this.#faults) {
      if (id !== undefined && fault.id !== id) continue;
      found ||= !fault.cleared;
      fault.cleared = true;
    }
    this.#prune(this.#now());
    return found;
  }

  /** Every fault not yet finished, in installation order. */
  list(): FaultView[] {
    this.#prune(this.#now());
    return this.#faults.map((f) => this.#view(f));
  }

  #view(fault: Fault): FaultView {
    const count = fault.spec.count;
    return {
      id: fault.id,
      spec: fault.spec,
      hits: fault.hits,
      remaining: count === undefined ? null : Math.max(0, count - fault.hits),
      active: this.#isActive(fault, this.#now()),
    };
  }

  #isActive(fault: Fault, now: number): boolean {
    return !fault.cleared && now < fault.expiresAt && (fault.spec.count === undefined || fault.hits < fault.spec.count);
  }

  /** Finished faults are forgotten, so a long demo that injects many does not accumulate them. */
  #prune(now: number): void {
    for (let i = this.#faults.length - 1; i >= 0; i--) {
      const fault = this.#faults[i] as Fault;
      if (!this.#isActive(fault, now)) this.#faults.splice(i, 1);
    }
  }
}

function matches(fault: Fault, target: FaultTarget): boolean {
  const { spec } = fault;
  if (target.group === "git") {
    if (!fault.groups?.includes("git") || spec.when === "after") return false;
  } else if (fault.groups && !fault.groups.includes(target.group)) return false;
  if (spec.method !== undefined && spec.method.toUpperCase() !== target.method.toUpperCase()) return false;
  if (spec.pathPrefix !== undefined && !target.path.startsWith(spec.pathPrefix)) return false;
  return true;
}
