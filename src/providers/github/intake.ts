// GitHub's webhook intake facts: where deliveries arrive, which headers carry the event, the signature and the
// delivery id, and how a delivery is checked and mapped. events/intake.ts does the rest (repository lookup,
// dedupe, dispatch) for every provider.
//
// - `X-Hub-Signature-256: sha256=<hex HMAC-SHA256(secret, body)>` is the same scheme Bitbucket uses under
//   `X-Hub-Signature`, so events/signature.ts checks it. GitHub also sends a SHA-1 `X-Hub-Signature` for old
//   receivers; Baton never reads it, so a delivery without the SHA-256 header is unsigned.
// - `X-GitHub-Delivery` is a GUID per delivery, repeated when someone presses "Redeliver": it becomes the event's
//   `requestId`, which events/dedupe.ts keys re-deliveries on (beside the content digest).
// - `X-GitHub-Event` names the payload; the action is inside it.

import { type Body, type SignatureCheck, verifySignature } from "../../events/signature.ts";
import { type HeaderInput, normalizeHeaders } from "../delivery.ts";

export const githubIntakePath = "/hooks/github";
export const eventHeader = "x-github-event";
export const signatureHeader = "x-hub-signature-256";
export const deliveryHeader = "x-github-delivery";

/** The events Baton subscribes a hook to (and understands). */
export const githubEvents = ["pull_request", "push", "issue_comment"] as const;

// GitHub's GUIDs are 36 characters; anything far longer is not GitHub and would only bloat the dedupe set.
const maxDeliveryIdLength = 128;

export type DeliveryHeaders =
  | { ok: true; event: string; deliveryId: string | undefined }
  | { ok: false; error: string };

/** The event name and delivery id of a request, or why it is not a GitHub delivery. */
export function readDeliveryHeaders(headers: HeaderInput): DeliveryHeaders {
  const h = normalizeHeaders(headers);
  const event = h[eventHeader]?.trim();
  if (!event) return { ok: false, error: "the request has no X-GitHub-Event header; it is not a GitHub delivery" };
  if (!/^[a-z_]{1,64}$/.test(event)) return { ok: false, error: "the X-GitHub-Event header is not an event name" };
  const deliveryId = h[deliveryHeader]?.trim();
  if (deliveryId !== undefined && (deliveryId.length > maxDeliveryIdLength || !/^[\w-]+$/.test(deliveryId))) {
    return { ok: false, error: "the X-GitHub-Delivery header is not a delivery id" };
  }
  return { ok: true, event, deliveryId: deliveryId || undefined };
}

/** Checks `X-Hub-Signature-256` over the exact bytes received, under each secret (several during rotation). */
export function verifyGitHubSignature(
  body: Body,
  headers: Readonly<Record<string, string | readonly string[] | undefined>>,
  secrets: readonly (string | Uint8Array)[],
): SignatureCheck {
  const key = Object.keys(headers).find((name) => name.toLowerCase() === signatureHeader);
  return verifySignature(body, key === undefined ? undefined : headers[key], secrets);
}
