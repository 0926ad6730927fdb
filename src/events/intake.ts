// The webhook intake: `POST <each provider's path>` (`/hooks/bitbucket` for Data Center) → find the Repository →
// verify the signature → parse and classify → deduplicate → hand each event to the dispatcher (the pipeline runner)
// → answer. Runs in every replica. What differs per host (headers, signature scheme, payloads) is the provider's
// WebhookIntake; everything else here is the same for every host.
//
// Bitbucket never retries a delivery, so the answer is 2xx only once the runs exist: a success means nothing was
// lost, and a failure shows in the webhook's delivery history (and the Repository controller's catch-up repairs a
// lost pull request). Every outcome is counted in `baton_webhook_events_total{event,outcome}`; no request can
// crash the process, and no answer, log line or Event carries a secret.
import type { AddressInfo } from "node:net";
import Fastify, { type FastifyInstance, type FastifyReply, type FastifyRequest } from "fastify";
import type { Repository } from "../api/repository.ts";
import type { WebhookIntake } from "../providers/provider.ts";
import { providerKindOf } from "../providers/registry.ts";
import { parseRepositoryUrl, repositoryIdentity } from "../repositories/decisions.ts";
import { Repositories } from "../repositories/resource.ts";
import { oldestClaim } from "../runtime/claims.ts";
import type { Clock } from "../runtime/clock.ts";
import type { EventRecorder } from "../runtime/events.ts";
import type { Informer } from "../runtime/informer.ts";
import type { KubeClient } from "../runtime/kube.ts";
import type { Logger } from "../runtime/logger.ts";
import type { Manager } from "../runtime/manager.ts";
import type { Metrics } from "../runtime/metrics.ts";
import { scrub } from "../runtime/redact.ts";
import { deliveryKeys, SeenSet } from "./dedupe.ts";
import type { BatonEvent } from "./model.ts";
import { eventLabel, looseIdentity, targetIdentities } from "./route.ts";
import { WebhookSecrets } from "./webhook-secrets.ts";

/** Data Center's path, kept from before the provider layer (every DC webhook Baton created points at it). */
export const intakePath = "/hooks/bitbucket";

/** What the intake needs from the pipeline runner. */
export interface EventDispatcher {
  handle(repository: Repository, event: BatonEvent): Promise<{ outcome: string; runs: string[]; detail: string }>;
}

export type IntakeOutcome =
  | "accepted"
  | "ignored"
  | "duplicate"
  | "ping"
  | "unsigned"
  | "bad-signature"
  | "unknown-repository"
  | "malformed"
  | "too-large"
  | "not-ready"
  | "error";

export interface IntakeOptions {
  dispatcher: EventDispatcher;
  /** One per provider kind this build supports, each served at its own path. */
  intakes: readonly WebhookIntake[];
  kube: KubeClient;
  repositories: Informer<Repository>;
  /** Warnings on a Repository whose deliveries are refused (the caller is told less, see `unverified`). */
  events: Pick<EventRecorder, "warning">;
  logger: Logger;
  metrics: Metrics;
  clock: Clock;
  /** Where project-scope webhook secrets live (the operator's namespace). */
  operatorNamespace: string;
  port: number;
  host?: string;
  /** Largest body accepted, in bytes (default 1 MiB). */
  bodyLimit?: number;
  /** Deliveries dated longer ago than this are replays and start nothing (default 6 h, the dedupe window). */
  maxAgeMs?: number;
  /** How often one Repository's status.lastEvent may be written (default 5 s). */
  lastEventIntervalMs?: number;
}

export interface IntakeAnswer {
  outcome: IntakeOutcome | typeof unverified.outcome;
  detail: string;
  /** Per event: what the dispatcher did. */
  results?: { type: string; outcome: string; runs: string[]; detail: string }[];
  ignored?: { reason: string; detail: string }[];
}

const identityIndex = "baton.dev/intake-identity";
/** `x-hub-signature` → `X-Hub-Signature`, as messages name a header. */
function headerTitle(name: string): string {
  return name.replace(/(^|-)([a-z])/g, (_m, dash: string, c: string) => dash + c.toUpperCase());
}
const defaultMaxAgeMs = 6 * 3_600_000;

/**
 * What the caller hears when no webhook secret verifies its delivery. One status and one sentence whether no
 * Repository watches the repository the body names, its Repository has no secret yet, or the signature is wrong:
 * an unauthenticated caller learns neither which repositories Baton watches nor the namespace and name of their
 * Repository. Which one it was goes to the log, `baton_webhook_events_total` and the Repository's Events.
 */
export const unverified = {
  outcome: "unverified",
  detail: "no webhook secret known here verifies this delivery's signature; Baton's log says why",
} as const;

class HttpFailure extends Error {
  readonly status: number;
  readonly outcome: IntakeOutcome;
  /** Told to the caller instead of the message, which then goes to the log only. */
  readonly shown: IntakeAnswer | undefined;
  constructor(status: number, outcome: IntakeOutcome, message: string, shown?: IntakeAnswer) {
    super(message);
    this.status = status;
    this.outcome = outcome;
    this.shown = shown;
  }
}

export class Intake {
  readonly #o: IntakeOptions;
  readonly #log: Logger;
  readonly #app: FastifyInstance;
  /** Remembered as long as a dated delivery may be replayed at all (older ones are refused as stale). */
  readonly #deliveries: SeenSet;
  /** Deliveries being handled right now → whether that attempt succeeded. */
  readonly #handling = new Map<string, Promise<boolean>>();
  readonly #secrets: WebhookSecrets;
  readonly #lastEvent = new Map<string, { written: number; timer?: ReturnType<Clock["setTimeout"]>; next?: object }>();
  readonly #events;
  readonly #duration;
  readonly #toRun;
  /** When each request arrived (performance.now()): fastify's reply.elapsedTime is 0 with its logger off. */
  readonly #arrivals = new WeakMap<FastifyRequest, number>();
  /** Route path → the provider intake served there. */
  readonly #byPath = new Map<string, WebhookIntake>();
  #port: number | undefined;

  constructor(options: IntakeOptions) {
    this.#o = options;
    this.#log = options.logger.child({ part: "intake" });
    this.#secrets = new WebhookSecrets({
      kube: options.kube,
      repositories: options.repositories,
      clock: options.clock,
      logger: this.#log,
      operatorNamespace: options.operatorNamespace,
    });
    this.#deliveries = new SeenSet({ ttlMs: options.maxAgeMs ?? defaultMaxAgeMs, maxSize: 50_000 });
    this.#events = options.metrics.counter({
      name: "baton_webhook_events_total",
      help: "Webhook deliveries by event key and outcome (accepted, ignored, duplicate, unsigned, bad-signature, …).",
      labelNames: ["event", "outcome"],
    });
    this.#duration = options.metrics.histogram({
      name: "baton_webhook_duration_seconds",
      help: "Time from a delivery's arrival to the answer, by outcome.",
      labelNames: ["outcome"],
      buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
    });
    this.#toRun = options.metrics.histogram({
      name: "baton_event_to_pipelinerun_seconds",
      help: "Time from a delivery's arrival to its PipelineRuns existing in the cluster, by event type.",
      labelNames: ["event"],
      buckets: [0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30],
    });
    options.repositories.addIndex(identityIndex, (repo) => {
      const location = parseRepositoryUrl(repo.spec?.url ?? "", repo.spec?.provider);
      return location ? [repositoryIdentity(location), looseIdentity(location)] : [];
    });
    for (const intake of options.intakes) this.#byPath.set(intake.path, intake);
    this.#app = this.#server(options.bodyLimit ?? 1024 * 1024);
  }

  /** The bound port, once listening. */
  get port(): number | undefined {
    return this.#port;
  }

  async listen(): Promise<number> {
    await this.#app.listen({ host: this.#o.host ?? "0.0.0.0", port: this.#o.port });
    this.#port = (this.#app.server.address() as AddressInfo).port;
    this.#log.info({ port: this.#port, paths: [...this.#byPath.keys()] }, "webhook intake listening");
    return this.#port;
  }

  /** Stops accepting, lets in-flight deliveries finish, writes pending lastEvent records. */
  async close(): Promise<void> {
    await this.#app.close();
    for (const [key, entry] of this.#lastEvent) {
      entry.timer?.cancel();
      if (entry.next) await this.#writeLastEvent(key, entry.next);
    }
    this.#lastEvent.clear();
  }

  #server(bodyLimit: number): FastifyInstance {
    // Bitbucket sends a delivery in one go; a sender that trickles a body (or stops half way) must not hold a
    // connection and its buffer for Node's default of five minutes.
    const app = Fastify({ logger: false, bodyLimit, return503OnClosing: true, requestTimeout: 30_000 });
    app.addHook("onRequest", (request, _reply, done) => {
      this.#arrivals.set(request, performance.now());
      done();
    });
    app.removeAllContentTypeParsers();
    // The raw bytes are what the signature covers: keep them, parse JSON only after the signature is checked.
    app.addContentTypeParser("*", { parseAs: "buffer", bodyLimit }, (_req, body, done) => done(null, body));
    app.setErrorHandler((error: { statusCode?: number; code?: string }, request, reply) => {
      const intake = this.#intakeOf(request);
      const eventKey = intake ? (headerValue(request.headers[intake.eventHeader]) ?? "") : "";
      const tooLarge = error.statusCode === 413 || error.code === "FST_ERR_CTP_BODY_TOO_LARGE";
      const outcome: IntakeOutcome = tooLarge ? "too-large" : (error.statusCode ?? 500) < 500 ? "malformed" : "error";
      const status = tooLarge ? 413 : (error.statusCode ?? 500);
      const detail = tooLarge
        ? `the body is larger than ${bodyLimit} bytes`
        : scrub((error as { message?: string }).message ?? "request failed");
      this.#count(intake, eventKey, outcome, request);
      void reply.code(status).send({ outcome, detail } satisfies IntakeAnswer);
    });
    for (const intake of this.#byPath.values()) {
      app.post(intake.path, async (request, reply) => this.#deliver(intake, request, reply));
    }
    return app;
  }

  #intakeOf(request: FastifyRequest): WebhookIntake | undefined {
    return this.#byPath.get(request.routeOptions?.url ?? "") ?? this.#byPath.get(request.url.split("?")[0] ?? "");
  }

  #count(intake: WebhookIntake | undefined, eventKey: string, outcome: IntakeOutcome, request: FastifyRequest): void {
    this.#events.inc({ event: eventLabel(eventKey, intake?.knownEvents ?? []), outcome });
    this.#duration.observe({ outcome }, this.#elapsed(request));
  }

  /** Seconds since the request arrived. */
  #elapsed(request: FastifyRequest): number {
    const arrived = this.#arrivals.get(request);
    return arrived === undefined ? 0 : (performance.now() - arrived) / 1000;
  }

  async #deliver(intake: WebhookIntake, request: FastifyRequest, reply: FastifyReply): Promise<FastifyReply> {
    const eventKey = headerValue(request.headers[intake.eventHeader]) ?? "";
    const requestId = intake.deliveryHeaders.map((h) => headerValue(request.headers[h])).find((v) => v !== undefined);
    const signatureHeader = headerTitle(intake.signatureHeader);
    // `body` is counted and logged; `shown` (by default the same) is what the caller reads.
    const answer = (status: number, body: IntakeAnswer & { outcome: IntakeOutcome }, shown: IntakeAnswer = body) => {
      this.#count(intake, eventKey, body.outcome, request);
      const level = status >= 500 ? "warn" : status >= 400 ? "info" : "debug";
      this.#log[level]({ eventKey, requestId, status, outcome: body.outcome, detail: body.detail }, "webhook delivery");
      return reply.code(status).send(shown);
    };
    const raw = Buffer.isBuffer(request.body) ? request.body : Buffer.alloc(0);
    try {
      if (intake.pingEvent !== undefined && eventKey === intake.pingEvent) {
        return answer(200, { outcome: "ping", detail: "Baton's webhook intake is reachable" });
      }
      const signature = request.headers[intake.signatureHeader];
      if (signature === undefined || (typeof signature === "string" && signature.trim() === "")) {
        throw new HttpFailure(401, "unsigned", `the delivery carries no ${signatureHeader}; give the webhook a secret`);
      }
      // Decided from the request alone, before any Repository is looked up, so saying so reveals nothing.
      const form = intake.verify(raw, signature, []);
      if (!form.ok && form.reason === "malformed") {
        throw new HttpFailure(401, "bad-signature", `${signatureHeader} is not sha256= followed by 64 hex digits`);
      }
      let body: unknown;
      try {
        body = JSON.parse(raw.toString("utf8"));
      } catch {
        throw new HttpFailure(400, "malformed", notJson(headerValue(request.headers["content-type"])));
      }
      const target = intake.target(body);
      // Events Baton never acts on may name no repository at all (a GitHub App's hook also delivers `installation`):
      // an answer that they are ignored, not a 400 that shows as a failed delivery on the host.
      if (target === undefined && !intake.knownEvents.includes(eventKey)) {
        return answer(200, { outcome: "ignored", detail: `Baton does not act on ${eventKey || "this event"}` });
      }
      if (target === undefined) {
        throw new HttpFailure(400, "malformed", `the ${eventKey || "webhook"} body names no repository`);
      }
      // Right after start the cache may still be filling: an unknown repository must mean unknown, not "not yet".
      if (!this.#o.repositories.hasSynced()) await this.#o.repositories.waitForSync();
      // A Repository of another host kind never takes this host's deliveries (it has its own path and secret).
      const found = this.#find(targetIdentities(target));
      const repository = found && providerKindOf(found.spec) === intake.kind ? found : undefined;
      if (repository === undefined) {
        // A project hook delivers every repository's events, watched or not: one signed with that hook's secret is
        // Bitbucket doing as told, a normal outcome (not a refusal, so no alert); only the rest stay refused.
        if (await this.#secrets.signedByProjectHook(target, (secrets) => intake.verify(raw, signature, secrets).ok)) {
          return answer(200, {
            outcome: "ignored",
            detail: `no Repository watches ${target.project}/${target.slug}, a repository of a project whose webhook Baton manages`,
          });
        }
        throw new HttpFailure(
          401,
          "unknown-repository",
          `no Repository watches ${target.project}/${target.slug}${target.server ? ` on ${target.server}` : ""}`,
          unverified,
        );
      }
      await this.#verify(intake, repository, raw, signature, eventKey);

      const location = parseRepositoryUrl(repository.spec.url, repository.spec.provider);
      const classified = intake.classify(eventKey, body, request.headers, {
        receivedAt: new Date(this.#o.clock.now()),
        ...(location ? { serverUrl: location.server } : {}),
        maxAgeMs: this.#o.maxAgeMs ?? defaultMaxAgeMs,
      });
      if (!classified.ok) throw new HttpFailure(400, "malformed", classified.error);
      const ignored = classified.ignored.map((i) => ({ reason: i.reason, detail: i.detail }));
      const first = classified.events[0];
      const deliveries = first === undefined ? [] : deliveryKeys(first);
      // A re-delivery racing the first attempt is answered only once that attempt has succeeded: a 2xx must never
      // stand for runs that then fail to be created. If it failed, this one tries again.
      for (const key of deliveries) {
        const running = this.#handling.get(key);
        if (running !== undefined && (await running)) {
          return answer(200, { outcome: "duplicate", detail: `request ${requestId} was already handled` });
        }
      }
      if (!this.#deliveries.addAll(deliveries)) {
        return answer(200, { outcome: "duplicate", detail: `request ${requestId} was already handled` });
      }
      this.#recordLastEvent(repository, eventKey, requestId, classified.events[0]);
      const results: NonNullable<IntakeAnswer["results"]> = [];
      let settle: ((ok: boolean) => void) | undefined;
      const handling = new Promise<boolean>((resolve) => (settle = resolve));
      for (const key of deliveries) this.#handling.set(key, handling);
      try {
        for (const event of classified.events) {
          const result = await this.#o.dispatcher.handle(repository, event);
          if (result.outcome === "created") this.#toRun.observe({ event: event.type }, this.#elapsed(request));
          results.push({ type: event.type, ...result });
        }
        settle?.(true);
      } catch (err) {
        // A re-delivery ("Resend" in Bitbucket) may try again.
        for (const key of deliveries) this.#deliveries.delete(key);
        settle?.(false);
        throw err;
      } finally {
        for (const key of deliveries) this.#handling.delete(key);
      }
      if (results.length === 0) {
        return answer(200, {
          outcome: "ignored",
          detail: ignored.map((i) => i.detail).join("; ") || "nothing to do",
          ignored,
        });
      }
      const duplicate = results.every((r) => r.outcome === "duplicate");
      return answer(200, {
        outcome: duplicate ? "duplicate" : "accepted",
        detail: results.map((r) => r.detail).join("; "),
        results,
        ...(ignored.length > 0 ? { ignored } : {}),
      });
    } catch (err) {
      if (err instanceof HttpFailure) {
        return answer(err.status, { outcome: err.outcome, detail: err.message }, err.shown);
      }
      const notReady = (err as Error).name === "RepositoryNotReady";
      const detail = scrub((err as Error).message ?? String(err)).slice(0, 1000);
      if (!notReady) this.#log.error({ err: detail, eventKey, requestId }, "webhook delivery failed");
      return answer(notReady ? 503 : 500, { outcome: notReady ? "not-ready" : "error", detail });
    }
  }

  /**
   * The oldest Repository for the first identity that has one: the same rule the Repository controller uses to
   * call the others Duplicates, so a delivery goes to the Repository that owns the webhook.
   */
  #find(identities: readonly string[]): Repository | undefined {
    for (const identity of identities) {
      // Deleting Repositories still count, as for the webhook's owner: the next one takes over once it is gone.
      const found = oldestClaim(this.#o.repositories.byIndex(identityIndex, identity));
      if (found) return found;
    }
    return undefined;
  }

  /** Either the Repository's own webhook secret or its project hook's may have signed the delivery. */
  async #verify(
    intake: WebhookIntake,
    repository: Repository,
    raw: Buffer,
    header: string | string[],
    eventKey: string,
  ): Promise<void> {
    const refs = this.#secrets.refs(repository);
    let secrets = await Promise.all(refs.map((ref) => this.#secrets.read(ref, false)));
    let check = intake.verify(
      raw,
      header,
      secrets.filter((s): s is string => s !== undefined),
    );
    if (check.ok) return;
    if (check.reason === "mismatch") {
      // Maybe the secret was just rotated: read it again (at most once a second per Secret).
      secrets = await Promise.all(refs.map((ref) => this.#secrets.read(ref, true)));
      check = intake.verify(
        raw,
        header,
        secrets.filter((s): s is string => s !== undefined),
      );
      if (check.ok) return;
    }
    const name = `${repository.metadata.namespace}/${repository.metadata.name}`;
    const noSecret = secrets.every((s) => s === undefined);
    const why = noSecret
      ? "the Repository has no webhook secret yet"
      : "its signature matches neither the Repository's webhook secret nor its project hook's";
    // Unknown event keys are named "other": the header is the unauthenticated caller's to write.
    this.#o.events.warning(
      repository,
      noSecret ? "WebhookSecretMissing" : "WebhookSignatureMismatch",
      `refused a ${eventLabel(eventKey, intake.knownEvents)} delivery: ${why}; check the secret in the webhook's settings on the git host`,
    );
    throw new HttpFailure(401, "bad-signature", `Repository ${name}: ${why}`, unverified);
  }

  /** status.lastEvent, written at most once per interval per Repository; the latest event wins. */
  #recordLastEvent(repository: Repository, eventKey: string, requestId: string | undefined, event?: BatonEvent) {
    const key = `${repository.metadata.namespace}/${repository.metadata.name}`;
    const now = this.#o.clock.now();
    const pullRequest = event && "pullRequest" in event ? event.pullRequest.number : undefined;
    const record = {
      type: eventKey,
      ...(requestId === undefined ? {} : { requestId }),
      // A GitHub comment names no commit until its pull request is read (after this record): none is shown.
      ...(event && "sha" in event && event.sha !== "" ? { sha: event.sha } : {}),
      ...(pullRequest === undefined ? {} : { pullRequest }),
      receivedTime: new Date(now).toISOString().replace(/\.\d{3}Z$/, "Z"),
    };
    const interval = this.#o.lastEventIntervalMs ?? 5_000;
    const entry = this.#lastEvent.get(key) ?? { written: 0 };
    this.#lastEvent.set(key, entry);
    const wait = entry.written + interval - now;
    if (wait <= 0 && entry.timer === undefined) {
      entry.written = now;
      void this.#writeLastEvent(key, record);
      return;
    }
    entry.next = record;
    entry.timer ??= this.#o.clock.setTimeout(
      () => {
        const next = entry.next;
        entry.timer = undefined;
        entry.next = undefined;
        entry.written = this.#o.clock.now();
        if (next) void this.#writeLastEvent(key, next);
      },
      Math.max(wait, 0),
    );
  }

  async #writeLastEvent(key: string, record: object): Promise<void> {
    const [namespace, name] = key.split("/") as [string, string];
    try {
      await this.#o.kube.patchStatus(Repositories, { namespace, name }, { lastEvent: record });
    } catch (err) {
      this.#log.debug({ repository: key, err: scrub(String(err)) }, "could not record status.lastEvent");
    }
  }
}

/**
 * Why a body is refused as not JSON. The Content-Type header is not covered by the signature, so it decides
 * nothing, but naming a form or multipart type tells whoever set the webhook up what is wrong.
 */
export function notJson(contentType: string | undefined): string {
  const type = contentType?.split(";")[0]?.trim().toLowerCase() ?? "";
  if (type === "" || type === "application/json") return "the body is not JSON";
  const shown = /^[a-z0-9][a-z0-9!#$&^_.+-]{0,63}\/[a-z0-9][a-z0-9!#$&^_.+-]{0,63}$/.test(type) ? type : "another type";
  return `the body is not JSON (it was sent as ${shown}; set the webhook's content type to application/json)`;
}

function headerValue(value: string | string[] | undefined): string | undefined {
  return Array.isArray(value) ? value[0] : value;
}

export interface RegisterIntakeOptions {
  dispatcher: EventDispatcher;
  intakes: readonly WebhookIntake[];
  host?: string;
  bodyLimit?: number;
}

/** The intake as a runnable of every replica (not only the leader), listening on config.intakePort. */
export function registerIntake(manager: Manager, options: RegisterIntakeOptions): Intake {
  const intake = new Intake({
    dispatcher: options.dispatcher,
    intakes: options.intakes,
    kube: manager.kube,
    repositories: manager.informer(Repositories),
    events: manager.events,
    logger: manager.logger,
    metrics: manager.metrics,
    clock: manager.clock,
    operatorNamespace: manager.config.podNamespace ?? manager.config.leaseNamespace,
    port: manager.config.intakePort,
    ...(options.host === undefined ? {} : { host: options.host }),
    ...(options.bodyLimit === undefined ? {} : { bodyLimit: options.bodyLimit }),
  });
  manager.addRunnable({
    name: "webhook-intake",
    needLeaderElection: false,
    start: async (signal) => {
      await intake.listen();
      await new Promise<void>((resolve) => {
        if (signal.aborted) resolve();
        else signal.addEventListener("abort", () => resolve(), { once: true });
      });
      await intake.close();
    },
  });
  return intake;
}
