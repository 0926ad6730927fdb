// A Cloud delivery's envelope: which hook sent it, which delivery and attempt it is, and whether its signature holds
// (reference §3.1–§3.2). Pure. The signature is Data Center's scheme (`X-Hub-Signature: sha256=<hex>` over the raw
// body), checked by the same constant-time events/signature.ts.
//
// Retries: Cloud resends at once, up to twice, when Baton answers 5xx, and no other way (no redelivery API). A retry
// has the same body and, presumably, the same `X-Request-UUID` (UNCONFIRMED). The classified event carries the
// request uuid as its `requestId`, so the neutral delivery keys (events/dedupe.ts: the signed content, and the
// request id) make a retry one delivery, and the intake lets it through only when the first attempt failed.
// `X-Attempt-Number` says which attempt it is, for the log; `X-Hook-UUID` which hook sent it.

import { type HeaderInput, normalizeHeaders } from "../delivery.ts";

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
