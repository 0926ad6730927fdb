import { type DeliveryStyle, signBody } from "../deliveries.ts";

/**
 * Data Center's deliveries: X-Event-Key, X-Request-Id, X-Hub-Signature when the hook has a secret, the configured
 * User-Agent (none when the switch is unset), and no retry (reference: Bitbucket does not retry).
 */
export function dataCenterDeliveryStyle(userAgent: () => string | null): DeliveryStyle {
  return {
    headers: ({ eventKey, requestId, body, secret }) => {
      const headers: Record<string, string> = {
        "Content-Type": "application/json; charset=utf-8",
        "X-Event-Key": eventKey,
        "X-Request-Id": requestId,
      };
      const signature = secret ? signBody(secret, body) : null;
      if (signature) headers["X-Hub-Signature"] = signature;
      const ua = userAgent();
      if (ua) headers["User-Agent"] = ua;
      return { headers, signature };
    },
  };
}
