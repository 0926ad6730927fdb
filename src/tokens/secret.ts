// The Secret a managed token is written to, and reading tokens back from Secrets (managed or user-supplied).
import { createHash } from "node:crypto";
import { apiVersion } from "../api/common.ts";
import { type BitbucketProjectToken, kind, secretAnnotations } from "../api/token.ts";
import { isNotFound, type KubeClient, Secrets } from "../runtime/kube.ts";
import type { Secret } from "../runtime/kube-types.ts";
import { policyOf } from "./lifecycle.ts";

/** Secrets Baton reads or writes carry this label, so one label-selected informer sees every one that matters. */
export const watchedLabel = "baton.dev/watched";
export const tokenLabel = "baton.dev/token";

/** What the issued token was issued for: when this changes (new permissions, say), Baton issues a new token. */
export function issuedFor(token: BitbucketProjectToken): string {
  const { server, project, repository, permissions } = token.spec;
  return createHash("sha256")
    .update(JSON.stringify([server.replace(/\/+$/, ""), project, repository ?? "", [...permissions].sort()]))
    .digest("hex")
    .slice(0, 16);
}

export const issuedForAnnotation = "baton.dev/issued-for";

/**
 * The spec.lifetime the token in the Secret was asked for, in hours. Kept apart from issued-for so that Secrets
 * written before it existed are not all re-issued at once on upgrade: without it, the lifetime is taken as unchanged.
 */
export const lifetimeAnnotation = "baton.dev/lifetime";

/** The lifetime (milliseconds) recorded on a managed Secret, or undefined when it has none. */
export function recordedLifetime(secret: Secret | undefined): number | undefined {
  const value = /^([0-9]{1,6})h$/.exec(secret?.metadata?.annotations?.[lifetimeAnnotation] ?? "");
  return value ? Number(value[1]) * 3_600_000 : undefined;
}

export interface IssuedRecord {
  id: string;
  secret: string;
  notAfter: number;
  revision: number;
}

/** The managed Secret, owned by the token object (deleted with it), applied with field manager `baton`. */
export function managedSecret(token: BitbucketProjectToken, issued: IssuedRecord): Secret {
  const template = token.spec.secretTemplate ?? {};
  return {
    apiVersion: "v1",
    kind: "Secret",
    metadata: {
      name: token.spec.secretName,
      namespace: token.metadata.namespace,
      labels: { ...template.labels, [watchedLabel]: "true", [tokenLabel]: token.metadata.name },
      annotations: {
        ...template.annotations,
        [secretAnnotations.tokenId]: issued.id,
        [secretAnnotations.expiresAt]: new Date(issued.notAfter).toISOString(),
        [secretAnnotations.revision]: String(issued.revision),
        [issuedForAnnotation]: issuedFor(token),
        [lifetimeAnnotation]: `${Math.round(policyOf(token.spec).lifetime / 3_600_000)}h`,
      },
      ownerReferences: [
        {
          apiVersion,
          kind,
          name: token.metadata.name,
          uid: token.metadata.uid ?? "",
          controller: true,
          blockOwnerDeletion: true,
        },
      ],
    },
    type: "Opaque",
    data: { token: Buffer.from(issued.secret, "utf8").toString("base64") },
  };
}

/** The token value a Secret holds under `key`, trimmed (a value pasted into a file often ends in a newline). */
export function tokenIn(secret: Secret | undefined, key = "token"): string | undefined {
  const encoded = secret?.data?.[key];
  if (encoded === undefined) return secret?.stringData?.[key]?.trim() || undefined;
  return Buffer.from(encoded, "base64").toString("utf8").trim() || undefined;
}

/** A fingerprint of a token value, to notice it changed without keeping the value itself around. */
export function fingerprint(value: string): string {
  return createHash("sha256").update(value).digest("hex").slice(0, 16);
}

/**
 * Labels a user's Secret so the label-selected Secret informer sees it and a change wakes the objects reading it.
 * Only the label, written as Baton's own field: the user's (or a GitOps tool's) fields stay theirs. A patch, not an
 * apply, so a Secret deleted meanwhile is not re-created holding nothing but the label.
 */
export async function labelWatched(kube: KubeClient, secret: Secret, signal?: AbortSignal): Promise<void> {
  if (secret.metadata?.labels?.[watchedLabel] === "true") return;
  try {
    await kube.patch(
      Secrets,
      { namespace: secret.metadata?.namespace ?? "", name: secret.metadata?.name ?? "" },
      { metadata: { labels: { [watchedLabel]: "true" } } },
      signal ? { signal } : {},
    );
  } catch (error) {
    if (!isNotFound(error)) throw error;
  }
}
