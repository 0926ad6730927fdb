// The key Baton signs its PipelineRuns with (provenance.ts): 32 random bytes in a Secret of the operator's own
// namespace, created by whichever replica needs it first and then only read. Both replicas and every restart use the
// same key, so a run created before a restart or by the other replica still verifies. Only who can read Secrets in
// the operator's namespace can sign.
import { randomBytes } from "node:crypto";
import { isAlreadyExists, type KubeClient, Secrets } from "../runtime/kube.ts";
import type { SigningKey } from "./provenance.ts";

export const signingKeySecretName = "baton-run-signing-key";
const dataKey = "key";
const minimumBytes = 32;

export class RunSigningKey {
  readonly #kube: KubeClient;
  readonly #namespace: string;
  #loading: Promise<SigningKey> | undefined;

  constructor(kube: KubeClient, namespace: string) {
    this.#kube = kube;
    this.#namespace = namespace;
  }

  /** The key, read (or created) once per process; a failed read is tried again by the next caller. */
  get(): Promise<SigningKey> {
    this.#loading ??= this.#load().catch((err: unknown) => {
      this.#loading = undefined;
      throw err;
    });
    return this.#loading;
  }

  async #load(): Promise<SigningKey> {
    const key = { namespace: this.#namespace, name: signingKeySecretName };
    const existing = await this.#kube.get(Secrets, key);
    if (existing) return parse(existing, this.#namespace);
    try {
      const created = await this.#kube.create(Secrets, {
        apiVersion: "v1",
        kind: "Secret",
        metadata: {
          ...key,
          labels: { "app.kubernetes.io/managed-by": "baton" },
          annotations: {
            "baton.dev/purpose":
              "Signs the PipelineRuns Baton creates, so it reports build status only for those. Deleting it " +
              "leaves runs started before then without status updates.",
          },
        },
        type: "Opaque",
        data: { [dataKey]: randomBytes(minimumBytes).toString("base64") },
      });
      return parse(created, this.#namespace);
    } catch (err) {
      // The other replica created it first: use that one.
      if (!isAlreadyExists(err)) throw err;
      const theirs = await this.#kube.get(Secrets, key);
      if (!theirs) throw new Error(`Secret ${this.#namespace}/${signingKeySecretName} vanished while being created`);
      return parse(theirs, this.#namespace);
    }
  }
}

function parse(
  secret: { data?: Record<string, string> | undefined; metadata?: { creationTimestamp?: string | undefined } },
  namespace: string,
): SigningKey {
  const bytes = Buffer.from(secret.data?.[dataKey] ?? "", "base64");
  const createdAt = Date.parse(secret.metadata?.creationTimestamp ?? "");
  if (bytes.length < minimumBytes || !Number.isFinite(createdAt)) {
    // Never replaced here: a replica that overwrote it would invalidate every run the other one signed.
    throw new Error(
      `Secret ${namespace}/${signingKeySecretName} holds no usable run-signing key (key "${dataKey}" of at least ` +
        `${minimumBytes} bytes); delete it and Baton creates a new one`,
    );
  }
  return { secret: bytes, createdAt };
}
