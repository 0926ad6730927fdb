// What every host's webhook classification shares: the headers as events carry them, the counted reasons a
// delivery starts nothing, and the step from a raw delivery to a classified one (parse, then classify, or say why
// the request is malformed).

/** Why a delivery (or one change in it) starts nothing; a stable metric label. */
export type IgnoreReason =
  | "unsupported-event"
  | "branch-deleted"
  | "tag-deleted"
  | "unsupported-ref"
  | "no-changes"
  | "pr-modified-without-retarget"
  | "comment-without-command"
  | "stale-delivery";

export interface Ignored {
  eventKey: string;
  reason: IgnoreReason;
  /** One human sentence, safe to log (no secrets: payloads carry none). */
  detail: string;
  ref?: string;
}

/** Node's IncomingHttpHeaders, a fetch Headers object, or a plain record. */
export type HeaderInput =
  | Headers
  | Readonly<Record<string, string | readonly string[] | undefined>>
  | Iterable<readonly [string, string]>;

/** Headers never exposed to pipelines (CEL `headers`, `{{ headers[...] }}`): credentials and the signature. */
const hiddenHeaders = new Set([
  "authorization",
  "proxy-authorization",
  "cookie",
  "x-hub-signature",
  "x-hub-signature-256",
]);

/** Lower-cased header names, repeated values joined, credentials removed. */
export function normalizeHeaders(input: HeaderInput): Record<string, string> {
  const out: Record<string, string> = {};
  const add = (name: string, value: string | readonly string[] | undefined) => {
    if (value === undefined) return;
    const key = name.toLowerCase();
    if (hiddenHeaders.has(key)) return;
    const text = typeof value === "string" ? value : value.join(", ");
    out[key] = out[key] === undefined ? text : `${out[key]}, ${text}`;
  };
  if (typeof Headers !== "undefined" && input instanceof Headers) {
    input.forEach((value, name) => {
      add(name, value);
    });
  } else if (Symbol.iterator in input) {
    for (const [name, value] of input as Iterable<readonly [string, string]>) add(name, value);
  } else {
    for (const [name, value] of Object.entries(input)) add(name, value);
  }
  return out;
}

type Parsed<P> = { ok: true; value: P } | { ok: false; error: string };

/** A classified delivery, or `ok: false`: a malformed request (answer 400). */
export type ClassifyDeliveryResult<R> = ({ ok: true } & R) | { ok: false; error: string };

/**
 * One host's `classifyDelivery(eventKey, body, headers, options)`: `body` is the JSON-decoded body (its signature
 * checked on the raw bytes before), parsed by the host's schemas and then classified; the raw body rides along as
 * the events' `body`.
 */
export function deliveryClassifier<P, O, R extends object>(
  parse: (eventKey: string, body: unknown) => Parsed<P>,
  classify: (parsed: P, rawBody: unknown, headers: HeaderInput, options: O) => R,
): (eventKey: string, body: unknown, headers: HeaderInput, options: O) => ClassifyDeliveryResult<R> {
  return (eventKey, body, headers, options) => {
    const parsed = parse(eventKey, body);
    if (!parsed.ok) return parsed;
    return { ok: true, ...classify(parsed.value, body, headers, options) };
  };
}
