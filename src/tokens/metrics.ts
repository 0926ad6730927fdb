// The series platform teams alert on, named after the status fields they mirror (cert-manager's practice).
import type { TokenStatus } from "../api/token.ts";
import type { Metrics } from "../runtime/metrics.ts";

type Labelled = { namespace?: string | undefined; name?: string | undefined };
type ConditionLike = { type: string; status: string };

export class TokenMetrics {
  readonly #expiration;
  readonly #renewal;
  readonly #ready;
  readonly #rotations;

  constructor(metrics: Metrics) {
    this.#expiration = metrics.gauge({
      name: "baton_token_expiration_timestamp_seconds",
      help: "When the current token of a BitbucketProjectToken expires (Unix seconds).",
      labelNames: ["namespace", "name"],
    });
    this.#renewal = metrics.gauge({
      name: "baton_token_renewal_timestamp_seconds",
      help: "When Baton will renew the token (managed) or starts warning (externally managed), Unix seconds.",
      labelNames: ["namespace", "name"],
    });
    this.#ready = metrics.gauge({
      name: "baton_token_ready_status",
      help: "The Ready condition of a BitbucketProjectToken: 1 for the current status, 0 for the others.",
      labelNames: ["namespace", "name", "condition"],
    });
    this.#rotations = metrics.counter({
      name: "baton_token_rotations_total",
      help: "Token issue attempts (first issue and renewals), by result.",
      labelNames: ["result"],
    });
    for (const result of ["success", "failure"]) this.#rotations.inc({ result }, 0);
  }

  observe(object: Labelled, status: TokenStatus, conditions: readonly ConditionLike[]): void {
    const labels = { namespace: object.namespace ?? "", name: object.name ?? "" };
    const notAfter = Date.parse(status.notAfter ?? "");
    const renewal = Date.parse(status.renewalTime ?? "");
    if (Number.isFinite(notAfter)) this.#expiration.set(labels, notAfter / 1000);
    else this.#expiration.remove(labels);
    if (Number.isFinite(renewal)) this.#renewal.set(labels, renewal / 1000);
    else this.#renewal.remove(labels);
    const ready = conditions.find((c) => c.type === "Ready")?.status ?? "Unknown";
    for (const condition of ["True", "False", "Unknown"]) {
      this.#ready.set({ ...labels, condition }, condition === ready ? 1 : 0);
    }
  }

  rotation(result: "success" | "failure"): void {
    this.#rotations.inc({ result });
  }

  /** A deleted object's series go with it, or dashboards would show tokens that no longer exist. */
  forget(object: Labelled): void {
    const labels = { namespace: object.namespace ?? "", name: object.name ?? "" };
    this.#expiration.remove(labels);
    this.#renewal.remove(labels);
    for (const condition of ["True", "False", "Unknown"]) this.#ready.remove({ ...labels, condition });
  }
}
