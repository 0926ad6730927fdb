import { createHmac, randomUUID } from "node:crypto";
import { request } from "undici";

/**
 * Webhook deliveries: one POST per (event, webhook), signed when the webhook has a secret. Data Center never
 * retries; a personality that does (Cloud: twice more on 5xx) passes `retries`, and every attempt is recorded. Each webhook has its own queue so a receiver sees its events in the order they
 * happened; settled() waits for every queue to drain.
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

/** "app": a GitHub App's own webhook (the GitHub personality). */
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
 * The headers a delivery carries besides User-Agent and Authorization, and the signature recorded with it. The
 * default is Bitbucket's; a personality with other headers (GitHub's X-GitHub-Event…) passes its own.
 */
export type DeliveryHeaders = (delivery: {
  target: DispatchTarget;
  eventKey: string;
  requestId: string;
  body: string;
  secret: string | null;
}) => { headers: Record<string, string>; signature: string | null };

const bitbucketHeaders: DeliveryHeaders = ({ eventKey, requestId, body, secret }) => {
  const headers: Record<string, string> = {
    "Content-Type": "application/json; charset=utf-8",
    "X-Event-Key": eventKey,
    "X-Request-Id": requestId,
  };
  const signature = secret ? signBody(secret, body) : null;
  if (signature) headers["X-Hub-Signature"] = signature;
  return { headers, signature };
};
/** How a personality shapes its requests; the default is Data Center's. */
export interface DeliveryStyle {
  /** Header carrying the delivery's id (`X-Request-Id` on DC, `X-Request-UUID` on Cloud). */
  requestIdHeader?: string;
  /** Further headers of every attempt (`X-Hook-UUID`…). */
  headers?: Record<string, string>;
  /** Extra attempts after a 5xx answer. */
  retries?: number;
  /** Header numbering the attempts from 1, or none. */
  attemptHeader?: string | null;
  /** Overrides the configured User-Agent. */
  userAgent?: string | null;
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
  private readonly userAgent: () => string | null;
  private readonly headersFor: DeliveryHeaders;

  constructor(options: {
    now: () => number;
    timeoutMs: number;
    userAgent: () => string | null;
    headers?: DeliveryHeaders;
  }) {
    this.now = options.now;
    this.timeoutMs = options.timeoutMs;
    this.userAgent = options.userAgent;
    this.headersFor = options.headers ?? bitbucketHeaders;
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
      style?: DeliveryStyle;
    } = {},
  ): Promise<DeliveryRecord> {
    const style = options.style ?? {};
    const hook = target.hook;
    const secret = options.signWith !== undefined ? options.signWith : webhookSecret(hook.configuration);
    const credentials = options.credentials !== undefined ? options.credentials : hook.credentials;
    const requestId = randomUUID();
    const { headers, signature } = this.headersFor({ target, eventKey, requestId, body, secret });
    const ua = this.userAgent();
    if (ua) headers["User-Agent"] = ua;
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
    if (credentials)
      headers.Authorization = `Basic ${Buffer.from(`${credentials.username}:${credentials.password ?? ""}`).toString("base64")}`;

    if (this.toDrop > 0) {
      this.toDrop--;
      record.dropped = true;
      record.done = true;
      return Promise.resolve(record);
    }

    const queueKey = hook.scope.kind === "test" ? `test:${record.seq}` : `${hook.scope.kind}:${hook.id}`;
    const previous = this.queues.get(queueKey) ?? Promise.resolve();
    const run = previous.then(() => this.sendWithRetries(record, headers, style));
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
    headers: Record<string, string>,
    style: DeliveryStyle,
  ): Promise<void> {
    const attempts = 1 + Math.max(0, style.retries ?? 0);
    for (let n = 1; n <= attempts; n++) {
      const sent = { ...headers };
      if (style.attemptHeader) sent[style.attemptHeader] = String(n);
      if (n > 1 && style.freshRequestIdPerAttempt) sent[style.requestIdHeader ?? "X-Request-Id"] = randomUUID();
      record.status = null;
      record.error = null;
      await this.send(record, sent);
      const { Authorization: _hidden, ...shown } = sent;
      record.attempts.push({ headers: shown, status: record.status, error: record.error });
      if (n === 1) record.headers = { ...shown };
      // Retried immediately and only on a 5xx answer; a timeout or refused connection is not.
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
