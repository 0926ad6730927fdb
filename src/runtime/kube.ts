import { existsSync } from "node:fs";
import { STATUS_CODES } from "node:http";
import type { RequestOptions } from "node:https";
import { homedir } from "node:os";
import { join } from "node:path";
import { type HttpMethod, KubeConfig, RequestContext } from "@kubernetes/client-node";
import { Agent, type Dispatcher, type RequestInit, type Response, fetch as undiciFetch } from "undici";
import type {
  ConfigMap,
  Event,
  KubeObject,
  Lease,
  Namespace,
  ObjectMeta,
  OwnerReference,
  Secret,
  Status,
} from "./kube-types.ts";
import { keyString, type ObjectKey } from "./logger.ts";
import { scrub } from "./redact.ts";

// A small typed access layer over the official client's configuration and authentication: any kind by
// apiVersion/kind/plural, server-side apply with Baton's field manager, status patches, finalizers that conflict
// instead of clobbering, and streaming watches. Requests go through one keep-alive connection pool per client
// (client-node builds a new agent per request, which costs a TLS handshake every time).

export type { KubeObject, ObjectKey };

/** How to reach one kind. The type parameter only types what comes back. */
export interface Resource<T extends KubeObject = KubeObject> {
  readonly apiVersion: string;
  readonly kind: string;
  readonly plural: string;
  readonly namespaced: boolean;
  /** Phantom field carrying the object type; never set. */
  readonly __object?: T;
}

export function defineResource<T extends KubeObject>(r: {
  apiVersion: string;
  kind: string;
  plural: string;
  namespaced?: boolean;
}): Resource<T> {
  return { apiVersion: r.apiVersion, kind: r.kind, plural: r.plural, namespaced: r.namespaced ?? true };
}

export const ConfigMaps = defineResource<ConfigMap>({ apiVersion: "v1", kind: "ConfigMap", plural: "configmaps" });
export const Secrets = defineResource<Secret>({ apiVersion: "v1", kind: "Secret", plural: "secrets" });
export const Events = defineResource<Event>({ apiVersion: "v1", kind: "Event", plural: "events" });
export const Namespaces = defineResource<Namespace>({
  apiVersion: "v1",
  kind: "Namespace",
  plural: "namespaces",
  namespaced: false,
});
export const Leases = defineResource<Lease>({ apiVersion: "coordination.k8s.io/v1", kind: "Lease", plural: "leases" });

export const DEFAULT_FIELD_MANAGER = "baton";

// ---------------------------------------------------------------------------------------------------------------
// Errors

/** The API server answered with an error status. The message is scrubbed and names the request. */
export class KubeApiError extends Error {
  readonly statusCode: number;
  readonly reason: string;
  readonly status: Status | undefined;
  readonly method: string;
  readonly target: string;

  constructor(method: string, target: string, statusCode: number, status: Status | undefined, text?: string) {
    const reason = status?.reason ?? reasonFor(statusCode);
    // An object that does not exist comes with a Status body; a bare 404 means the kind itself is not served.
    const hint =
      statusCode === 404 && !status ? "the API server does not serve this resource; is its CRD installed?" : undefined;
    const detail = scrub(status?.message ?? hint ?? text ?? "").slice(0, 2000);
    super(`${method} ${target}: ${statusCode} ${reason}${detail ? `: ${detail}` : ""}`);
    this.name = "KubeApiError";
    this.statusCode = statusCode;
    this.reason = reason;
    this.status = status;
    this.method = method;
    this.target = target;
  }
}

function reasonFor(statusCode: number): string {
  if (statusCode === 0) return "NetworkError";
  return (STATUS_CODES[statusCode] ?? String(statusCode)).replaceAll(/[^A-Za-z]/g, "") || String(statusCode);
}

function apiError(err: unknown): KubeApiError | undefined {
  return err instanceof KubeApiError ? err : undefined;
}

export function isNotFound(err: unknown): boolean {
  return apiError(err)?.statusCode === 404;
}

export function isAlreadyExists(err: unknown): boolean {
  const e = apiError(err);
  return e?.statusCode === 409 && e.reason === "AlreadyExists";
}

/** Someone else changed the object first (409 Conflict, including a failed JSON-patch `test`). */
export function isConflict(err: unknown): boolean {
  const e = apiError(err);
  return e?.statusCode === 409 && e.reason !== "AlreadyExists";
}

/** The requested resourceVersion is too old (compacted history): relist. */
export function isGone(err: unknown): boolean {
  const e = apiError(err);
  return e?.statusCode === 410 || e?.reason === "Expired" || e?.reason === "Gone";
}

export function isInvalid(err: unknown): boolean {
  return apiError(err)?.statusCode === 422;
}

// The API server reports a failed JSON-patch `test` as a bare 422 without causes (validation failures always
// name their causes). Baton's JSON patches are well-formed, so that shape means "changed since read".
function isBarePatchRejection(err: unknown): boolean {
  const e = apiError(err);
  return e?.statusCode === 422 && !e.status?.details?.causes?.length && !e.status?.details?.name;
}

export function isForbidden(err: unknown): boolean {
  return apiError(err)?.statusCode === 403;
}

// ---------------------------------------------------------------------------------------------------------------
// Keys, owner references, finalizers

export function objectKey(obj: KubeObject): ObjectKey {
  return { namespace: obj.metadata?.namespace || undefined, name: obj.metadata?.name ?? "" };
}

/** `namespace/name` (or `name`), the key work queues and caches use. */
export function keyOf(obj: KubeObject): string {
  return keyString(objectKey(obj));
}

export function parseKey(key: string): ObjectKey {
  const slash = key.indexOf("/");
  return slash < 0 ? { name: key } : { namespace: key.slice(0, slash), name: key.slice(slash + 1) };
}

/** An owner reference to `owner`; by default the controlling one, which also blocks the owner's deletion. */
export function ownerReference(
  owner: KubeObject,
  options: { controller?: boolean; blockOwnerDeletion?: boolean } = {},
): OwnerReference {
  const { apiVersion, kind } = owner;
  const { name, uid } = owner.metadata ?? {};
  if (!apiVersion || !kind || !name || !uid) {
    throw new Error(
      `cannot reference owner ${kind ?? "?"} ${name ?? "?"}: apiVersion, kind, name and uid are required`,
    );
  }
  return {
    apiVersion,
    kind,
    name,
    uid,
    controller: options.controller ?? true,
    blockOwnerDeletion: options.blockOwnerDeletion ?? true,
  };
}

/** The controlling owner reference, if any. */
export function controllerOf(obj: KubeObject): OwnerReference | undefined {
  return obj.metadata?.ownerReferences?.find((r) => r.controller === true);
}

export function isControlledBy(obj: KubeObject, owner: KubeObject): boolean {
  const ref = controllerOf(obj);
  return ref !== undefined && ref.uid === owner.metadata?.uid;
}

/** Owner references of `obj` with `ref` added or replacing the one with the same uid. */
export function withOwnerReference(obj: KubeObject, ref: OwnerReference): OwnerReference[] {
  const others = (obj.metadata?.ownerReferences ?? []).filter((r) => r.uid !== ref.uid);
  if (ref.controller && others.some((r) => r.controller)) {
    throw new Error(`${keyOf(obj)} already has a controlling owner; refusing to add a second one`);
  }
  return [...others, ref];
}

export function hasFinalizer(obj: KubeObject, finalizer: string): boolean {
  return obj.metadata?.finalizers?.includes(finalizer) ?? false;
}

export function isDeleting(obj: KubeObject): boolean {
  return Boolean(obj.metadata?.deletionTimestamp);
}

// ---------------------------------------------------------------------------------------------------------------
// Client

export type Fetch = (url: string, init: RequestInit) => Promise<Response>;

export interface KubeClientOptions {
  /** Field manager for server-side apply and other writes; "baton" unless a test needs a second writer. */
  fieldManager?: string;
  userAgent?: string;
  /** Timeout of one non-watch request. */
  requestTimeoutMs?: number;
  /** Replaces the HTTP transport; tests use it to inject network faults in front of a real API server. */
  fetch?: Fetch;
}

export interface ListOptions {
  namespace?: string | undefined;
  labelSelector?: string | undefined;
  fieldSelector?: string | undefined;
  limit?: number | undefined;
  continue?: string | undefined;
  resourceVersion?: string | undefined;
  resourceVersionMatch?: "Exact" | "NotOlderThan" | undefined;
  signal?: AbortSignal | undefined;
}

export interface ListResult<T> {
  items: T[];
  resourceVersion: string;
  continue?: string | undefined;
}

export interface WatchOptions {
  namespace?: string | undefined;
  resourceVersion?: string | undefined;
  labelSelector?: string | undefined;
  fieldSelector?: string | undefined;
  allowWatchBookmarks?: boolean | undefined;
  /** The server ends the watch after this long; the caller then resumes from the last resourceVersion. */
  timeoutSeconds?: number | undefined;
  signal?: AbortSignal | undefined;
}

export type WatchEventType = "ADDED" | "MODIFIED" | "DELETED" | "BOOKMARK" | "ERROR";

export type WatchEvent<T> =
  | { type: "ADDED" | "MODIFIED" | "DELETED" | "BOOKMARK"; object: T }
  | { type: "ERROR"; object: Status };

export interface WriteOptions {
  dryRun?: boolean;
  fieldManager?: string;
  signal?: AbortSignal;
}

export interface ApplyOptions extends WriteOptions {
  /** Take ownership of fields another manager set (true by default: Baton applies only fields it owns). */
  force?: boolean;
}

export interface DeleteOptions {
  propagationPolicy?: "Foreground" | "Background" | "Orphan";
  gracePeriodSeconds?: number;
  /** Delete only if the object still has this uid / resourceVersion. */
  preconditions?: { uid?: string; resourceVersion?: string };
  signal?: AbortSignal;
}

export type PatchType = "merge" | "json" | "strategic" | "apply";

const PATCH_CONTENT_TYPES: Record<PatchType, string> = {
  merge: "application/merge-patch+json",
  json: "application/json-patch+json",
  strategic: "application/strategic-merge-patch+json",
  apply: "application/apply-patch+yaml",
};

interface RequestSpec {
  method: string;
  path: string;
  query?: Record<string, string | number | boolean | undefined>;
  body?: unknown;
  contentType?: string;
  signal?: AbortSignal | undefined;
  /** Description of the target for error messages, e.g. "configmaps team-a/settings". */
  target: string;
  watch?: boolean;
}

/** Loads a kubeconfig file when given, else the in-cluster service account, else ~/.kube/config. */
export function loadKubeConfig(path?: string): KubeConfig {
  const kc = new KubeConfig();
  if (path) {
    kc.loadFromFile(path);
  } else if (process.env.KUBERNETES_SERVICE_HOST) {
    kc.loadFromCluster();
  } else if (existsSync(join(homedir(), ".kube", "config"))) {
    kc.loadFromFile(join(homedir(), ".kube", "config"));
  } else {
    throw new Error("no Kubernetes configuration: pass --kubeconfig (or KUBECONFIG), or run inside a cluster");
  }
  if (!kc.getCurrentCluster()) {
    throw new Error(`kubeconfig ${path ?? ""} has no current cluster; set current-context`);
  }
  return kc;
}

export class KubeClient {
  readonly kubeConfig: KubeConfig;
  readonly server: string;
  readonly fieldManager: string;
  readonly #userAgent: string;
  readonly #timeoutMs: number;
  readonly #fetch: Fetch;
  #agent: Promise<Dispatcher | undefined> | undefined;

  constructor(kubeConfig: KubeConfig, options: KubeClientOptions = {}) {
    const cluster = kubeConfig.getCurrentCluster();
    if (!cluster) throw new Error("kubeconfig has no current cluster; set current-context");
    this.kubeConfig = kubeConfig;
    this.server = cluster.server.replace(/\/+$/, "");
    this.fieldManager = options.fieldManager ?? DEFAULT_FIELD_MANAGER;
    this.#userAgent = options.userAgent ?? "baton";
    this.#timeoutMs = options.requestTimeoutMs ?? 30_000;
    this.#fetch = options.fetch ?? (undiciFetch as Fetch);
  }

  /** A client for the same cluster writing as another field manager (tests use it to play a second writer). */
  withFieldManager(fieldManager: string): KubeClient {
    return new KubeClient(this.kubeConfig, {
      fieldManager,
      userAgent: this.#userAgent,
      requestTimeoutMs: this.#timeoutMs,
      fetch: this.#fetch,
    });
  }

  /** The object, or undefined when it does not exist. */
  async get<T extends KubeObject>(rt: Resource<T>, key: ObjectKey, signal?: AbortSignal): Promise<T | undefined> {
    try {
      const obj = await this.#request<T>({
        method: "GET",
        path: this.#path(rt, key.namespace, key.name),
        signal,
        target: describe(rt, key),
      });
      return withTypeMeta(rt, obj);
    } catch (err) {
      if (isNotFound(err)) return undefined;
      throw err;
    }
  }

  /** One page of objects (all of them when no limit is given). */
  async list<T extends KubeObject>(rt: Resource<T>, options: ListOptions = {}): Promise<ListResult<T>> {
    const res = await this.#request<{ items?: T[]; metadata?: { resourceVersion?: string; continue?: string } }>({
      method: "GET",
      path: this.#path(rt, options.namespace),
      query: {
        labelSelector: options.labelSelector,
        fieldSelector: options.fieldSelector,
        limit: options.limit,
        continue: options.continue,
        resourceVersion: options.resourceVersion,
        resourceVersionMatch: options.resourceVersionMatch,
      },
      signal: options.signal,
      target: describe(rt, { namespace: options.namespace, name: "" }),
    });
    return {
      // List items carry no apiVersion/kind; fill them in so every object looks the same wherever it came from.
      items: (res.items ?? []).map((o) => withTypeMeta(rt, o)),
      resourceVersion: res.metadata?.resourceVersion ?? "",
      continue: res.metadata?.continue || undefined,
    };
  }

  /** Every object, fetched in pages of `pageSize`. */
  async listAll<T extends KubeObject>(
    rt: Resource<T>,
    options: Omit<ListOptions, "limit" | "continue"> & { pageSize?: number } = {},
  ): Promise<ListResult<T>> {
    const items: T[] = [];
    let next: string | undefined;
    let resourceVersion = "";
    do {
      const page = await this.list(rt, { ...options, limit: options.pageSize ?? 500, continue: next });
      items.push(...page.items);
      resourceVersion = page.resourceVersion;
      next = page.continue;
    } while (next);
    return { items, resourceVersion };
  }

  async create<T extends KubeObject>(rt: Resource<T>, obj: T, options: WriteOptions = {}): Promise<T> {
    const body = withTypeMeta(rt, obj);
    const key = objectKey(body);
    return withTypeMeta(
      rt,
      await this.#request<T>({
        method: "POST",
        path: this.#path(rt, key.namespace),
        query: this.#writeQuery(options),
        body,
        signal: options.signal,
        target: describe(rt, key),
      }),
    );
  }

  /** PUT: fails with a conflict when metadata.resourceVersion is set and no longer current. */
  async replace<T extends KubeObject>(rt: Resource<T>, obj: T, options: WriteOptions = {}): Promise<T> {
    const body = withTypeMeta(rt, obj);
    const key = objectKey(body);
    return withTypeMeta(
      rt,
      await this.#request<T>({
        method: "PUT",
        path: this.#path(rt, key.namespace, key.name),
        query: this.#writeQuery(options),
        body,
        signal: options.signal,
        target: describe(rt, key),
      }),
    );
  }

  /** Deletes the object; false when it was already gone. */
  async delete(rt: Resource, key: ObjectKey, options: DeleteOptions = {}): Promise<boolean> {
    try {
      await this.#request({
        method: "DELETE",
        path: this.#path(rt, key.namespace, key.name),
        body: {
          apiVersion: "v1",
          kind: "DeleteOptions",
          propagationPolicy: options.propagationPolicy,
          gracePeriodSeconds: options.gracePeriodSeconds,
          preconditions: options.preconditions,
        },
        signal: options.signal,
        target: describe(rt, key),
      });
      return true;
    } catch (err) {
      if (isNotFound(err)) return false;
      throw err;
    }
  }

  async patch<T extends KubeObject>(
    rt: Resource<T>,
    key: ObjectKey,
    patch: unknown,
    options: WriteOptions & { type?: PatchType; subresource?: "status" | string; force?: boolean } = {},
  ): Promise<T> {
    const type = options.type ?? "merge";
    const target = describe(rt, key, options.subresource);
    try {
      return withTypeMeta(
        rt,
        await this.#request<T>({
          method: "PATCH",
          path: this.#path(rt, key.namespace, key.name, options.subresource),
          query: {
            ...this.#writeQuery(options),
            force: type === "apply" ? (options.force ?? true) : undefined,
          },
          body: patch,
          contentType: PATCH_CONTENT_TYPES[type],
          signal: options.signal,
          target,
        }),
      );
    } catch (err) {
      if (type === "json" && isBarePatchRejection(err)) {
        throw new KubeApiError("PATCH", target, 409, {
          kind: "Status",
          reason: "Conflict",
          code: 409,
          message: `${target} changed since it was read (a JSON-patch test failed); read it again and retry`,
        });
      }
      throw err;
    }
  }

  /**
   * Server-side apply: the API server merges `obj` as the fields owned by this client's field manager ("baton"),
   * recorded in managedFields. Send only the fields Baton decides; omitted fields it owned before are removed.
   */
  async apply<T extends KubeObject>(rt: Resource<T>, obj: T, options: ApplyOptions = {}): Promise<T> {
    const body = stripForApply(withTypeMeta(rt, obj));
    return this.patch(rt, objectKey(body), body, { ...options, type: "apply" });
  }

  /** Server-side apply of the status subresource; `obj` needs apiVersion/kind/metadata.name and `status`. */
  async applyStatus<T extends KubeObject>(rt: Resource<T>, obj: T, options: ApplyOptions = {}): Promise<T> {
    const body = stripForApply(withTypeMeta(rt, obj));
    return this.patch(rt, objectKey(body), body, { ...options, type: "apply", subresource: "status" });
  }

  /**
   * Merge-patches the status subresource. With `resourceVersion` the write fails with a conflict if the object
   * changed since it was read (so a reconciler never overwrites a newer status with an older decision).
   */
  async patchStatus<T extends KubeObject>(
    rt: Resource<T>,
    key: ObjectKey,
    status: unknown,
    options: WriteOptions & { resourceVersion?: string } = {},
  ): Promise<T> {
    const body: Record<string, unknown> = { status };
    if (options.resourceVersion) body.metadata = { resourceVersion: options.resourceVersion };
    return this.patch(rt, key, body, { ...options, type: "merge", subresource: "status" });
  }

  /**
   * Adds a finalizer with a JSON patch whose `test` operation pins the finalizer list as `obj` has it, so a
   * concurrent writer makes this fail with a conflict (see isConflict) instead of one write erasing the other.
   * Returns `obj` unchanged when the finalizer is already there.
   */
  async addFinalizer<T extends KubeObject>(
    rt: Resource<T>,
    obj: T,
    finalizer: string,
    options: WriteOptions = {},
  ): Promise<T> {
    if (hasFinalizer(obj, finalizer)) return obj;
    const current = obj.metadata?.finalizers;
    const ops =
      current && current.length > 0
        ? [
            { op: "test", path: "/metadata/finalizers", value: current },
            { op: "add", path: "/metadata/finalizers/-", value: finalizer },
          ]
        : [
            // A null test passes only while the list is absent.
            { op: "test", path: "/metadata/finalizers", value: null },
            { op: "add", path: "/metadata/finalizers", value: [finalizer] },
          ];
    return this.patch(rt, objectKey(obj), ops, { ...options, type: "json" });
  }

  /**
   * Removes a finalizer, guarded by a `test` of the entry at its index, so nothing else in the list is touched
   * and a concurrent change makes this fail with a conflict. Returns `obj` unchanged when it is not there.
   */
  async removeFinalizer<T extends KubeObject>(
    rt: Resource<T>,
    obj: T,
    finalizer: string,
    options: WriteOptions = {},
  ): Promise<T> {
    const index = obj.metadata?.finalizers?.indexOf(finalizer) ?? -1;
    if (index < 0) return obj;
    const ops = [
      { op: "test", path: `/metadata/finalizers/${index}`, value: finalizer },
      { op: "remove", path: `/metadata/finalizers/${index}` },
    ];
    return this.patch(rt, objectKey(obj), ops, { ...options, type: "json" });
  }

  /**
   * Streams watch events until the server ends the watch, `signal` aborts, or the connection fails (the
   * iterator then throws). An ERROR event (for example 410 Expired) is yielded, not thrown.
   */
  async *watch<T extends KubeObject>(
    rt: Resource<T>,
    options: WatchOptions & { onActivity?: () => void } = {},
  ): AsyncGenerator<WatchEvent<T>, void, undefined> {
    const abort = new AbortController();
    const onAbort = () => abort.abort(options.signal?.reason);
    if (options.signal?.aborted) return;
    options.signal?.addEventListener("abort", onAbort, { once: true });
    try {
      const res = await this.#send({
        method: "GET",
        path: this.#path(rt, options.namespace),
        query: {
          watch: true,
          resourceVersion: options.resourceVersion,
          labelSelector: options.labelSelector,
          fieldSelector: options.fieldSelector,
          allowWatchBookmarks: options.allowWatchBookmarks,
          timeoutSeconds: options.timeoutSeconds,
        },
        signal: abort.signal,
        target: `watch ${describe(rt, { namespace: options.namespace, name: "" })}`,
        watch: true,
      });
      if (!res.body) return;
      const decoder = new TextDecoder();
      let buffer = "";
      for await (const chunk of res.body) {
        options.onActivity?.();
        buffer += decoder.decode(chunk as Uint8Array, { stream: true });
        let newline = buffer.indexOf("\n");
        while (newline >= 0) {
          const line = buffer.slice(0, newline).trim();
          buffer = buffer.slice(newline + 1);
          newline = buffer.indexOf("\n");
          if (!line) continue;
          const event = JSON.parse(line) as { type: WatchEventType; object: T };
          if (event.type === "ERROR") {
            yield { type: "ERROR", object: event.object as Status };
          } else {
            yield { type: event.type, object: withTypeMeta(rt, event.object) };
          }
        }
      }
    } finally {
      options.signal?.removeEventListener("abort", onAbort);
      abort.abort();
    }
  }

  // -------------------------------------------------------------------------------------------------------------

  #writeQuery(options: WriteOptions): Record<string, string | undefined> {
    return { fieldManager: options.fieldManager ?? this.fieldManager, dryRun: options.dryRun ? "All" : undefined };
  }

  #path(rt: Resource, namespace?: string, name?: string, subresource?: string): string {
    const base = rt.apiVersion.includes("/") ? `/apis/${rt.apiVersion}` : `/api/${rt.apiVersion}`;
    let path = base;
    if (rt.namespaced && namespace) path += `/namespaces/${encodeURIComponent(namespace)}`;
    path += `/${rt.plural}`;
    if (name !== undefined) {
      if (!name) throw new Error(`${rt.kind}: a name is required`);
      if (rt.namespaced && !namespace) throw new Error(`${rt.kind} ${name}: a namespace is required`);
      path += `/${encodeURIComponent(name)}`;
      if (subresource) path += `/${subresource}`;
    }
    return path;
  }

  async #request<R>(spec: RequestSpec): Promise<R> {
    const res = await this.#send(spec);
    const text = await res.text();
    if (!text) return undefined as R;
    return JSON.parse(text) as R;
  }

  async #send(spec: RequestSpec): Promise<Response> {
    const url = new URL(this.server + spec.path);
    for (const [k, v] of Object.entries(spec.query ?? {})) {
      if (v !== undefined && v !== "") url.searchParams.set(k, String(v));
    }
    const { headers, dispatcher } = await this.#transport(url.toString(), spec.method);
    headers["user-agent"] = this.#userAgent;
    headers.accept = "application/json";
    let body: string | undefined;
    if (spec.body !== undefined) {
      body = JSON.stringify(spec.body);
      headers["content-type"] = spec.contentType ?? "application/json";
    }
    // Watches are long-lived by design; their liveness is the informer's watchdog's job.
    const signals = [spec.signal, spec.watch ? undefined : AbortSignal.timeout(this.#timeoutMs)].filter(
      (s): s is AbortSignal => s !== undefined,
    );
    const init: RequestInit = { method: spec.method, headers, body, signal: AbortSignal.any(signals) };
    if (dispatcher) init.dispatcher = dispatcher;
    let res: Response;
    try {
      res = await this.#fetch(url.toString(), init);
    } catch (err) {
      if (spec.signal?.aborted) throw err;
      const cause = err as Error & { cause?: Error };
      const message =
        cause.name === "TimeoutError"
          ? `no answer within ${this.#timeoutMs} ms`
          : (cause.cause?.message ?? cause.message);
      const wrapped = new KubeApiError(spec.method, spec.target, 0, undefined, message);
      (wrapped as Error).cause = err;
      throw wrapped;
    }
    if (res.ok) return res;
    const text = await res.text().catch(() => "");
    let status: Status | undefined;
    try {
      const parsed = JSON.parse(text) as Status;
      if (parsed && typeof parsed === "object" && parsed.kind === "Status") status = parsed;
    } catch {
      // Not a Status body (a proxy's HTML page, say); the text goes into the message.
    }
    throw new KubeApiError(spec.method, spec.target, res.status, status, text.slice(0, 500));
  }

  async #transport(url: string, method: string): Promise<{ headers: Record<string, string>; dispatcher?: Dispatcher }> {
    const cluster = this.kubeConfig.getCurrentCluster();
    if (cluster?.proxyUrl) {
      // Proxies are rare for an in-cluster operator; let the official client build the proxy dispatcher.
      const ctx = new RequestContext(url, method as HttpMethod);
      await this.kubeConfig.applySecurityAuthentication(ctx);
      const dispatcher = ctx.getDispatcher() as Dispatcher | undefined;
      return { headers: { ...ctx.getHeaders() }, ...(dispatcher ? { dispatcher } : {}) };
    }
    // Authentication is recomputed per request: token files and exec plugins rotate credentials.
    const opts: RequestOptions = { headers: {} };
    await this.kubeConfig.applyToHTTPSOptions(opts);
    const headers: Record<string, string> = {};
    for (const [k, v] of Object.entries(opts.headers ?? {})) {
      if (v !== undefined) headers[k.toLowerCase()] = String(v);
    }
    if (opts.auth) headers.authorization = `Basic ${Buffer.from(opts.auth).toString("base64")}`;
    this.#agent ??= this.#createAgent();
    const dispatcher = await this.#agent;
    return dispatcher ? { headers, dispatcher } : { headers };
  }

  async #createAgent(): Promise<Dispatcher | undefined> {
    const opts: RequestOptions = {};
    await this.kubeConfig.applyToHTTPSOptions(opts);
    const connect: Record<string, unknown> = {};
    for (const k of ["ca", "cert", "key", "pfx", "passphrase", "rejectUnauthorized", "servername"] as const) {
      if (opts[k] !== undefined) connect[k] = opts[k];
    }
    return new Agent({
      connect,
      keepAliveTimeout: 30_000,
      // Request timeouts are set per request; a watch may legitimately be silent for minutes.
      headersTimeout: 0,
      bodyTimeout: 0,
    });
  }
}

function describe(rt: Resource, key: ObjectKey, subresource?: string): string {
  const name = key.name ? ` ${keyString(key)}` : key.namespace ? ` in ${key.namespace}` : "";
  return `${rt.plural}${subresource ? `/${subresource}` : ""}${name}`;
}

function withTypeMeta<T extends KubeObject>(rt: Resource<T>, obj: T): T {
  if (!obj || typeof obj !== "object") return obj;
  if (obj.apiVersion && obj.kind) return obj;
  return { ...obj, apiVersion: obj.apiVersion ?? rt.apiVersion, kind: obj.kind ?? rt.kind };
}

// Server-managed metadata must not be sent in an apply (managedFields is rejected; uid or creationTimestamp would
// become fields Baton owns).
const SERVER_MANAGED_METADATA = [
  "managedFields",
  "creationTimestamp",
  "uid",
  "generation",
  "deletionTimestamp",
  "deletionGracePeriodSeconds",
] as const;

function stripForApply<T extends KubeObject>(obj: T): T {
  if (!obj.metadata) return obj;
  const metadata: ObjectMeta = { ...obj.metadata };
  for (const field of SERVER_MANAGED_METADATA) delete metadata[field];
  return { ...obj, metadata };
}

/**
 * Runs `fn` again when it fails with a conflict, re-reading inside `fn` each time (client-go's RetryOnConflict).
 * Other errors, and the last conflict, are thrown.
 */
export async function retryOnConflict<R>(fn: () => Promise<R>, options: { attempts?: number } = {}): Promise<R> {
  const attempts = options.attempts ?? 5;
  for (let i = 1; ; i++) {
    try {
      return await fn();
    } catch (err) {
      if (!isConflict(err) || i >= attempts) throw err;
      await new Promise((r) => setTimeout(r, 10 * 2 ** i * (0.5 + Math.random())));
    }
  }
}
