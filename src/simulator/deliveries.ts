import { createHmac, randomUUID } from "node:crypto";
import { request } from "undici";

/**
 * Webhook deliveries: one POST per (event, webhook), signed when the webhook has a secret, shaped by the
 * personality's DeliveryStyle (its headers; retries on 5xx for Cloud, none for Data Center), every attempt recorded.
 * Each webhook has its own queue so a receiver sees its events in the order they happened; settled() waits for every
 * queue to drain.
 */

export interface DeliveryRecord {
  seq: number;
  /** Sim-clock time the event happened. */
  time: number;
  webhookId: number | null;
  scope: DeliveryScope;
  eventKey: string;
  url: string;
  requestId: string;
  /** Request headers as sent, except Authorization (its presence is in `authorization`). */
  headers: Record<string, string>;
  authorization: boolean;
  signature: string | null;
  /** The exact bytes signed and sent. */
  body: string;
  /** The receiver's status, or null when it was not reached. */
  status: number | null;
  /** Why it failed (connection refused, timeout…), or null. */
  error: string | null;
  /** True when dropped on purpose by dropNextDeliveries(): never sent. */
  dropped: boolean;
  /** Receiver's response body (first 4 KiB). */
  responseBody: string | null;
  done: boolean;
  /** One entry per attempt, in order (the fields above describe the last one). */
  attempts: DeliveryAttempt[];
}

export interface DeliveryAttempt {
  headers: Record<string, string>;
  status: number | null;
  error: string | null;
}

export interface DeliveryFilter {
  eventKey?: string;
  url?: string;
  webhookId?: number;
  since?: number;
}

/** "workspace": a Cloud workspace hook; "app": a GitHub App's own webhook. */
export type DeliveryScope = "repository" | "project" | "workspace" | "test" | "app";

export interface DispatchTarget {
  hook: {
    id: number;
    url: string;
    configuration: Record<string, unknown>;
    credentials: { username: string; password: string | null } | null;
    scope: { kind: Exclude<DeliveryScope, "test"> } | { kind: "test" };
  };
}

/**
 * The headers of one attempt (User-Agent included, Authorization excepted: credentials are added by Deliveries) and
 * the signature recorded with the delivery. `requestId` is the attempt's delivery id, `attempt` counts from 1.
 */
export type DeliveryHeaders = (delivery: {
  target: DispatchTarget;
  eventKey: string;
  requestId: string;
  attempt: number;
  body: string;
  secret: string | null;
}) => { headers: Record<string, string>; signature: string | null };

/** How a personality delivers: its headers, and whether it retries (Data Center never does, Cloud twice on 5xx). */
export interface DeliveryStyle {
  headers: DeliveryHeaders;
  /** Extra attempts after a 5xx answer; retried immediately, never after a timeout or refused connection. */
  retries?: number;
  /** Each retry gets a new delivery id instead of repeating the first one's. */
  freshRequestIdPerAttempt?: boolean;
}

export function signBody(secret: string, body: string): string {
  return `sha256=${createHmac("sha256", secret).update(body, "utf8").digest("hex")}`;
}

export function webhookSecret(configuration: Record<string, unknown>): string | null {
  const secret = configuration.secret;
  return typeof secret === "string" && secret !== "" ? secret : null;
}

export class Deliveries {
  private readonly log: DeliveryRecord[] = [];
  private readonly queues = new Map<string, Promise<void>>();
  private readonly pending = new Set<Promise<unknown>>();
  private seq = 0;
  private toDrop = 0;
  private readonly now: () => number;
  private readonly timeoutMs: number;
  private readonly style: DeliveryStyle;

  constructor(options: { now: () => number; timeoutMs: number; style: DeliveryStyle }) {
    this.now = options.now;
    this.timeoutMs = options.timeoutMs;
    this.style = options.style;
  }

  /** The next `count` deliveries are recorded as dropped and never sent: "lost" events. */
  dropNext(count: number): void {
    this.toDrop += Math.max(0, Math.floor(count));
  }

  get dropping(): number {
    return this.toDrop;
  }

  records(filter: DeliveryFilter = {}): DeliveryRecord[] {
    return this.log
      .filter(
        (d) =>
          (filter.eventKey === undefined || d.eventKey === filter.eventKey) &&
          (filter.url === undefined || d.url === filter.url) &&
          (filter.webhookId === undefined || d.webhookId === filter.webhookId) &&
          (filter.since === undefined || d.seq > filter.since),
      )
      .map((d) => ({ ...d, headers: { ...d.headers }, attempts: d.attempts.map((a) => ({ ...a })) }));
  }

  clear(): void {
    this.log.length = 0;
  }

  get lastSeq(): number {
    return this.seq;
  }

  /** Keeps something (a push being processed) counted by settled(). */
  track<T>(work: Promise<T>): Promise<T> {
    this.pending.add(work);
    const remove = (): void => {
      this.pending.delete(work);
    };
    work.then(remove, remove);
    return work;
  }

  async settled(): Promise<void> {
    while (this.pending.size > 0) await Promise.allSettled([...this.pending]);
  }

  /**
   * Queues one delivery. `signWith` overrides the secret (the test endpoint); null means unsigned.
   * Returns the record, completed once the delivery is done.
   */
  enqueue(
    target: DispatchTarget,
    eventKey: string,
    body: string,
    options: {
      signWith?: string | null;
      credentials?: { username: string; password: string | null } | null;
    } = {},
  ): Promise<DeliveryRecord> {
    const hook = target.hook;
    const secret = options.signWith !== undefined ? options.signWith : webhookSecret(hook.configuration);
    const credentials = options.credentials !== undefined ? options.credentials : hook.credentials;
    const requestId = randomUUID();
    const { headers, signature } = this.style.headers({ target, eventKey, requestId, attempt: 1, body, secret });
    const record: DeliveryRecord = {
      seq: ++this.seq,
      time: this.now(),
      webhookId: hook.scope.kind === "test" ? (hook.id > 0 ? hook.id : null) : hook.id,
      scope: hook.scope.kind,
      eventKey,
      url: hook.url,
      requestId,
      headers: { ...headers },
      authorization: credentials !== null && credentials !== undefined,
      signature,
      body,
      status: null,
      error: null,
      dropped: false,
      responseBody: null,
      done: false,
      attempts: [],
    };
    this.log.push(record);
    const authorization = credentials
      ? `Basic ${Buffer.from(`${credentials.username}:${credentials.password ?? ""}`).toString("base64")}`
      : null;

    if (this.toDrop > 0) {
      this.toDrop--;
      record.dropped = true;
      record.done = true;
      return Promise.resolve(record);
    }

    const queueKey = hook.scope.kind === "test" ? `test:${record.seq}` : `${hook.scope.kind}:${hook.id}`;
    const previous = this.queues.get(queueKey) ?? Promise.resolve();
    const run = previous.then(() => this.sendWithRetries(record, { target, secret, headers, authorization }));
    this.queues.set(
      queueKey,
      run.then(
        () => undefined,
        () => undefined,
      ),
    );
    this.track(run);
    return run.then(() => record);
  }

  private async sendWithRetries(
    record: DeliveryRecord,
    first: {
      target: DispatchTarget;
      secret: string | null;
      headers: Record<string, string>;
      authorization: string | null;
    },
  ): Promise<void> {
    const attempts = 1 + Math.max(0, this.style.retries ?? 0);
    for (let attempt = 1; attempt <= attempts; attempt++) {
      const shown =
        attempt === 1
          ? first.headers
          : this.style.headers({
              target: first.target,
              eventKey: record.eventKey,
              requestId: this.style.freshRequestIdPerAttempt ? randomUUID() : record.requestId,
              attempt,
              body: record.body,
              secret: first.secret,
            }).headers;
      record.status = null;
      record.error = null;
      await this.send(record, first.authorization ? { ...shown, Authorization: first.authorization } : shown);
      record.attempts.push({ headers: { ...shown }, status: record.status, error: record.error });
      const status: number | null = record.status;
      if (status === null || status < 500 || status > 599) break;
    }
    record.done = true;
  }

  private async send(record: DeliveryRecord, headers: Record<string, string>): Promise<void> {
    try {
      const res = await request(record.url, {
        method: "POST",
        headers,
        body: record.body,
        headersTimeout: this.timeoutMs,
        bodyTimeout: this.timeoutMs,
        signal: AbortSignal.timeout(this.timeoutMs),
      });
      record.status = res.statusCode;
      const text = await res.body.text();
      record.responseBody = text.slice(0, 4096);
    } catch (err) {
      record.error = err instanceof Error ? err.message : String(err);
    }
  }
}
