// A Cloud delivery's envelope: which hook sent it, which delivery and attempt it is, and whether its signature holds
// (reference §3.1–§3.2). Pure; the intake reads the raw body and headers and asks these.
//
// Retries: Cloud resends at once, up to twice, when Baton answers 5xx, and no other way (no redelivery API). A retry
// has the same body and, presumably, the same `X-Request-UUID` (UNCONFIRMED). The classified event carries the
// request uuid as its `requestId`, so the neutral delivery keys (events/dedupe.ts: the signed content, and the
// request id) make a retry one delivery, and the intake lets it through only when the first attempt failed.
// `X-Attempt-Number` says which attempt it is, for the log; `X-Hook-UUID` which hook sent it.

import { type Body, type SignatureCheck, verifySignature } from "../../events/signature.ts";
import { type HeaderInput, normalizeHeaders } from "../bitbucket-datacenter/classify.ts";

export interface DeliveryIdentity {
  eventKey: string;
  /** The webhook's uuid without braces, lower case (headers send it bare, the API braced). */
  hookUuid?: string;
  requestUuid?: string;
  /** 1 for the first attempt; 2 and 3 are Cloud's retries after a 5xx. */
  attempt: number;
}

/** `{ABC-…}` and `abc-…` are the same webhook. */
export function normalizeUuid(uuid: string): string {
  return uuid.trim().replace(/^\{/, "").replace(/\}$/, "").toLowerCase();
}

export function deliveryIdentity(headers: HeaderInput): DeliveryIdentity {
  const h = normalizeHeaders(headers);
  const attempt = Number.parseInt(h["x-attempt-number"] ?? "", 10);
  return {
    eventKey: h["x-event-key"] ?? "",
    ...(h["x-hook-uuid"] ? { hookUuid: normalizeUuid(h["x-hook-uuid"]) } : {}),
    ...(h["x-request-uuid"] ? { requestUuid: normalizeUuid(h["x-request-uuid"]) } : {}),
    attempt: Number.isInteger(attempt) && attempt > 0 ? attempt : 1,
  };
}

/**
 * `X-Hub-Signature: sha256=<hex>` over the raw body, the same scheme as Data Center's, so the same constant-time
 * check applies. Cloud sends the header only when the hook has a secret; Baton always sets one, so a missing
 * header is a refusal, not a pass.
 */
export function verifyDelivery(
  rawBody: Body,
  headers: HeaderInput,
  secrets: string | readonly string[],
): SignatureCheck {
  return verifySignature(rawBody, signatureHeader(headers), secrets);
}

function signatureHeader(headers: HeaderInput): string | readonly string[] | undefined {
  // normalizeHeaders hides the signature from pipelines, so it is read here directly.
  if (typeof Headers !== "undefined" && headers instanceof Headers) return headers.get("x-hub-signature") ?? undefined;
  const entries: Iterable<readonly [string, string | readonly string[] | undefined]> =
    Symbol.iterator in headers
      ? (headers as Iterable<readonly [string, string]>)
      : Object.entries(headers as Record<string, string | readonly string[] | undefined>);
  for (const [name, value] of entries) if (name.toLowerCase() === "x-hub-signature") return value;
  return undefined;
}
