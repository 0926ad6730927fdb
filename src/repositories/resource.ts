// How Baton reaches Repository objects and where each secret a Repository needs is found. Shared by the
// Repository controller, the webhook intake and the pipeline runner, so they can never disagree.
import { createHash } from "node:crypto";
import { kind, type Repository } from "../api/repository.ts";
import { type BitbucketProjectToken, secretAnnotations } from "../api/token.ts";
import { defineResource, type KubeClient, Secrets } from "../runtime/kube.ts";
import type { Secret } from "../runtime/kube-types.ts";
import { Tokens } from "../tokens/reconciler.ts";
import { tokenIn } from "../tokens/secret.ts";
import {
  type ClonePermissions,
  type ClonePlan,
  clonePlan,
  isManagedCloneTokenOf,
  managedCloneToken,
} from "./clonetoken.ts";
import type { RepositoryLocation } from "./decisions.ts";

export const Repositories = defineResource<Repository>({
  apiVersion: "baton.dev/v1alpha1",
  kind,
  plural: "repositories",
});

/** The generated webhook secret of a repository-scope webhook: a Secret owned by the Repository, key `secret`. */
export function webhookSecretName(repository: Pick<Repository, "metadata">): string {
  return `${repository.metadata.name}-webhook`.slice(0, 253);
}

/**
 * The shared secret of a project-scope webhook lives in the operator's namespace: several Repositories, possibly
 * in several namespaces, share the one webhook, so no single Repository can own it.
 */
export function projectWebhookSecretName(server: string, project: string): string {
  const hash = createHash("sha256")
    .update(`${server.replace(/\/+$/, "").toLowerCase()}|${project.toUpperCase()}`)
    .digest("hex");
  return `baton-project-webhook-${project
    .toLowerCase()
    .replace(/[^a-z0-9-]/g, "-")
    .slice(0, 30)}-${hash.slice(0, 10)}`;
}

export type Resolved =
  | {
      token: string;
      source: string;
      /** Bitbucket's id of the token, when its Secret records one (a managed token's does). */
      tokenId?: string | undefined;
    }
  | { problem: string; reason: string };

/**
 * The token Baton itself uses for REST calls on this repository: spec.tokenRef (a BitbucketProjectToken → its
 * Secret) or spec.secretRef (a plain Secret). Read fresh each time, so a rotated token takes effect at once.
 */
export async function operatorToken(kube: KubeClient, repository: Repository): Promise<Resolved> {
  const namespace = repository.metadata.namespace ?? "";
  if (repository.spec.tokenRef) return tokenFromBitbucketProjectToken(kube, namespace, repository.spec.tokenRef.name);
  const ref = repository.spec.secretRef;
  if (!ref) return { reason: "TokenNotConfigured", problem: "set spec.tokenRef or spec.secretRef" };
  return tokenFromSecret(kube, namespace, ref.name, ref.key);
}

export type CloneResolution = Resolved & { plan: ClonePlan; permissions: ClonePermissions };

/**
 * The token handed to PipelineRuns for git (clonetoken.ts decides which): spec.cloneTokenRef, the managed
 * read-only token Baton issues, or — only with spec.pipelines.cloneWithOperatorToken — the operator's own. With
 * what is known of its permissions. A managed token not issued yet is reason `CloneTokenNotIssued`; nothing at
 * all is `CloneTokenRequired`.
 */
export async function cloneToken(
  kube: KubeClient,
  repository: Repository,
  /** The tokenRef's BitbucketProjectToken when the caller reads it anyway (the runner does, for its Secrets). */
  operatorRead?: Promise<BitbucketProjectToken | undefined>,
): Promise<CloneResolution> {
  const namespace = repository.metadata.namespace ?? "";
  const spec = repository.spec;
  const operator = spec.tokenRef
    ? await (operatorRead ??
        (kube.get(Tokens, { namespace, name: spec.tokenRef.name }) as Promise<BitbucketProjectToken | undefined>))
    : undefined;
  const plan = clonePlan(repository, operator);
  const unknown = (why: string): ClonePermissions => ({ known: false, why });
  switch (plan.kind) {
    case "required":
      return { plan, reason: "CloneTokenRequired", problem: plan.message, permissions: unknown("no clone token") };
    case "operator":
      return {
        plan,
        ...(await operatorToken(kube, repository)),
        permissions: operator ? tokenPermissions(operator) : unknown("a plain Secret's token"),
      };
    case "managed": {
      const child = (await kube.get(Tokens, { namespace, name: plan.name })) as BitbucketProjectToken | undefined;
      if (!child || !isManagedCloneTokenOf(child, repository)) {
        return {
          plan,
          reason: child ? "CloneTokenConflict" : "CloneTokenNotIssued",
          problem: child
            ? `a BitbucketProjectToken ${plan.name} exists that Baton did not create for this Repository; delete or rename it, or set spec.cloneTokenRef`
            : `Baton issues a read-only (REPO_READ) repository token, BitbucketProjectToken ${plan.name}, with the first run`,
          permissions: { known: true, permissions: ["REPO_READ"], source: `BitbucketProjectToken ${plan.name}` },
        };
      }
      return {
        plan,
        ...(await tokenFromBitbucketProjectToken(kube, namespace, plan.name)),
        permissions: tokenPermissions(child),
      };
    }
    case "reference": {
      const ref = spec.cloneTokenRef as NonNullable<typeof spec.cloneTokenRef>;
      if (ref.kind === "Secret") {
        return {
          plan,
          ...(await tokenFromSecret(kube, namespace, ref.name, ref.key)),
          permissions: unknown(
            "Bitbucket tells a token's permissions only to a project admin (access-tokens API); for a token in a plain Secret use a managed BitbucketProjectToken to have them checked",
          ),
        };
      }
      const token = (await kube.get(Tokens, { namespace, name: ref.name })) as BitbucketProjectToken | undefined;
      return {
        plan,
        ...(await tokenFromBitbucketProjectToken(kube, namespace, ref.name)),
        permissions: token ? tokenPermissions(token) : unknown(`the BitbucketProjectToken ${ref.name} does not exist`),
      };
    }
  }
}

/** A managed token has the permissions Bitbucket issued it with; an external one only those its spec declares. */
function tokenPermissions(token: BitbucketProjectToken): ClonePermissions {
  const permissions = token.spec?.permissions ?? [];
  if (token.spec?.adminCredentialsRef) {
    return { known: true, permissions, source: `issued by Baton as BitbucketProjectToken ${token.metadata.name}` };
  }
  return {
    known: false,
    declared: permissions,
    why: `BitbucketProjectToken ${token.metadata.name} is externally managed and Bitbucket tells a token's permissions only to a project admin`,
  };
}

/**
 * Creates the managed clone token of a Repository if it does not exist yet and waits (bounded) until its Secret
 * holds a token. Issued on the first run rather than with the Repository, so a thousand Repositories cost no
 * Bitbucket calls until they run something (DESIGN §2).
 */
export async function issueManagedCloneToken(
  kube: KubeClient,
  repository: Repository,
  parent: BitbucketProjectToken,
  location: RepositoryLocation,
  options: { timeoutMs?: number; signal?: AbortSignal } = {},
): Promise<Resolved> {
  const namespace = repository.metadata.namespace ?? "";
  const wanted = managedCloneToken(repository, parent, location);
  const existing = (await kube.get(Tokens, { namespace, name: wanted.metadata.name })) as
    | BitbucketProjectToken
    | undefined;
  if (existing && !isManagedCloneTokenOf(existing, repository)) {
    return {
      reason: "CloneTokenConflict",
      problem: `a BitbucketProjectToken ${wanted.metadata.name} exists that Baton did not create for this Repository`,
    };
  }
  if (!existing) await kube.apply(Tokens, wanted);
  // The token controller (leader only, maybe another replica) issues it; this replica sees only the Secret appear.
  // Polled with back-off rather than watched: it happens once per Repository, on its first run.
  const deadline = Date.now() + (options.timeoutMs ?? 30_000);
  for (let delay = 100; ; delay = Math.min(delay * 2, 2_000)) {
    const resolved = await tokenFromBitbucketProjectToken(kube, namespace, wanted.metadata.name);
    if ("token" in resolved || Date.now() + delay > deadline || options.signal?.aborted) return resolved;
    await new Promise((resolve) => setTimeout(resolve, delay));
  }
}

async function tokenFromBitbucketProjectToken(kube: KubeClient, namespace: string, name: string): Promise<Resolved> {
  const token = (await kube.get(Tokens, { namespace, name })) as BitbucketProjectToken | undefined;
  if (!token) return { reason: "TokenNotFound", problem: `the BitbucketProjectToken ${name} does not exist` };
  const resolved = await tokenFromSecret(kube, namespace, token.spec.secretName, "token");
  if ("problem" in resolved) {
    return {
      reason: "TokenNotReady",
      problem: `the BitbucketProjectToken ${name} has no token yet (${resolved.problem})`,
    };
  }
  return { ...resolved, source: `BitbucketProjectToken ${name}` };
}

async function tokenFromSecret(kube: KubeClient, namespace: string, name: string, key: string): Promise<Resolved> {
  const secret: Secret | undefined = await kube.get(Secrets, { namespace, name });
  if (!secret) return { reason: "SecretNotFound", problem: `the Secret ${name} does not exist` };
  const token = tokenIn(secret, key);
  if (!token) return { reason: "SecretKeyMissing", problem: `the Secret ${name} has no key "${key}"` };
  const tokenId = secret.metadata?.annotations?.[secretAnnotations.tokenId];
  return { token, source: `Secret ${name}`, ...(tokenId ? { tokenId } : {}) };
}

/** Where a Repository's webhook signing secret is read (and, when generated, written). */
export interface WebhookSecretLocation {
  namespace: string;
  name: string;
  /** Keys tried in order; the first one present holds the secret. */
  keys: string[];
  /** Baton creates it with a random value when it does not exist. */
  generated: boolean;
}

/**
 * The webhook secret of a Repository, shared by the Repository controller (which signs the hook with it) and the
 * intake (which verifies deliveries with it). It follows spec.webhook.scope, not the scope the hook ended up with:
 * on a server without project webhooks a project-scope Repository gets a repository hook signed with its project's
 * shared secret, so the intake finds the secret from the spec alone.
 *
 * - scope project: the project's shared Secret in the operator's namespace (spec.webhook.secretRef is not used:
 *   one hook cannot carry several Repositories' secrets).
 * - scope repository with spec.webhook.secretRef: that Secret and key, exactly as the intake reads it (note the
 *   CRD defaults the key to "token", SecretKeyReference's default).
 * - otherwise: the generated Secret `webhookSecretName(repository)`, key "secret".
 */
export function webhookSecretLocation(
  repository: Pick<Repository, "metadata" | "spec">,
  operatorNamespace: string,
  location: { server: string; project: string },
): WebhookSecretLocation {
  const namespace = repository.metadata.namespace ?? "";
  const webhook = repository.spec.webhook;
  if (webhook?.scope === "project") {
    return {
      namespace: operatorNamespace,
      name: projectWebhookSecretName(location.server, location.project),
      keys: ["secret"],
      generated: true,
    };
  }
  const ref = webhook?.secretRef;
  if (ref) {
    return { namespace, name: ref.name, keys: [ref.key], generated: false };
  }
  return { namespace, name: webhookSecretName(repository), keys: ["secret"], generated: true };
}

/** The secret value at `location` in `secret`, or undefined when none of its keys holds one. */
export function webhookSecretIn(secret: Secret | undefined, location: WebhookSecretLocation): string | undefined {
  for (const key of location.keys) {
    const value = tokenIn(secret, key);
    if (value) return value;
  }
  return undefined;
}
