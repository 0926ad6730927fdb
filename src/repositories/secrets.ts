// Kubernetes Secrets the Repository controller reads or writes: the webhook signing secret (generated or the
// user's), and the watched label on user Secrets so that changing one wakes its Repositories.
import { randomBytes } from "node:crypto";
import { apiVersion } from "../api/common.ts";
import { kind, type Repository } from "../api/repository.ts";
import { isAlreadyExists, type KubeClient, Secrets } from "../runtime/kube.ts";
import type { Secret } from "../runtime/kube-types.ts";
import { watchedLabel } from "../tokens/secret.ts";
import { type WebhookSecretLocation, webhookSecretIn } from "./resource.ts";

export type WebhookSecret = { secret: string; created: boolean } | { problem: string; reason: string };

/** Marks Secrets Baton generated for webhooks. */
export const webhookSecretLabel = "baton.dev/webhook-secret";

/**
 * The webhook secret at `location`. A generated one that does not exist yet is created with 32 random bytes; a
 * repository-scope one is owned by its Repository (garbage-collected with it), the shared project one by nobody
 * (the last Repository of the project deletes it with the hook).
 */
export async function ensureWebhookSecret(
  kube: KubeClient,
  location: WebhookSecretLocation,
  owner: Repository | undefined,
  signal?: AbortSignal,
): Promise<WebhookSecret> {
  const existing = await kube.get(Secrets, { namespace: location.namespace, name: location.name }, signal);
  const value = webhookSecretIn(existing, location);
  if (value) return { secret: value, created: false };
  if (!location.generated) {
    return existing
      ? {
          reason: "WebhookSecretKeyMissing",
          problem: `the Secret ${location.name} has no key ${location.keys.map((k) => `"${k}"`).join(" or ")}`,
        }
      : { reason: "WebhookSecretNotFound", problem: `the webhook Secret ${location.name} does not exist` };
  }
  const secret = randomBytes(32).toString("base64url");
  const key = location.keys[0] ?? "secret";
  if (existing) {
    // Emptied or stripped by someone: fill it again, keeping whatever else it holds.
    await kube.patch(
      Secrets,
      { namespace: location.namespace, name: location.name },
      { data: { [key]: Buffer.from(secret).toString("base64") } },
      signal ? { signal } : {},
    );
    return { secret, created: true };
  }
  const body: Secret = {
    apiVersion: "v1",
    kind: "Secret",
    metadata: {
      name: location.name,
      namespace: location.namespace,
      labels: { [watchedLabel]: "true", [webhookSecretLabel]: "true" },
      ...(owner?.metadata.uid
        ? {
            ownerReferences: [
              {
                apiVersion,
                kind,
                name: owner.metadata.name,
                uid: owner.metadata.uid,
                controller: true,
                blockOwnerDeletion: true,
              },
            ],
          }
        : {}),
    },
    type: "Opaque",
    data: { [key]: Buffer.from(secret).toString("base64") },
  };
  try {
    await kube.create(Secrets, body, signal ? { signal } : {});
    return { secret, created: true };
  } catch (error) {
    // Another reconcile (a sibling of the same project) created it first: use theirs.
    if (!isAlreadyExists(error)) throw error;
    const theirs = webhookSecretIn(
      await kube.get(Secrets, { namespace: location.namespace, name: location.name }, signal),
      location,
    );
    if (!theirs) throw new Error(`the webhook Secret ${location.name} exists but holds no secret; retrying`);
    return { secret: theirs, created: false };
  }
}

/** Deletes the project's shared webhook Secret once its hook is gone. */
export async function deleteWebhookSecret(kube: KubeClient, location: WebhookSecretLocation): Promise<void> {
  if (location.generated) await kube.delete(Secrets, { namespace: location.namespace, name: location.name });
}

/**
 * Labels a user's Secret so the label-selected Secret informer sees it, and a changed token wakes its
 * Repositories. Only the label, applied as Baton's own field, and only when missing: a Secret Baton already manages
 * (a BitbucketProjectToken's) is applied by its owner with more fields, and a second apply with the label alone
 * would remove them.
 */
export async function watchSecret(
  kube: KubeClient,
  namespace: string,
  name: string,
  signal?: AbortSignal,
): Promise<void> {
  const secret = await kube.get(Secrets, { namespace, name }, signal);
  if (!secret || secret.metadata?.labels?.[watchedLabel] === "true") return;
  await kube.apply(
    Secrets,
    { apiVersion: "v1", kind: "Secret", metadata: { name, namespace, labels: { [watchedLabel]: "true" } } },
    signal ? { signal } : {},
  );
}
