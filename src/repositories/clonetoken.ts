// Which token a Repository's PipelineRuns get for git, and what Baton says about it. Least privilege by default:
// the operator's own token (REPO_ADMIN or PROJECT_ADMIN, for webhooks) reaches a run only by an explicit opt-in;
// with admin credentials Baton issues a read-only repository token itself; otherwise no run is created.
// Pure: resource.ts reads the objects, the reconciler and the runner act on the answers.
import { createHash } from "node:crypto";
import type { Repository } from "../api/repository.ts";
import type { BitbucketProjectToken } from "../api/token.ts";
import type { RepositoryLocation } from "./decisions.ts";

export type ClonePlan =
  /** spec.cloneTokenRef: the user chose the token. */
  | { kind: "reference" }
  /** spec.pipelines.cloneWithOperatorToken: the operator's own token, on purpose. */
  | { kind: "operator" }
  /** A managed tokenRef: Baton issues a REPO_READ repository token named `name` from the same admin credentials. */
  | { kind: "managed"; name: string; parent: BitbucketProjectToken }
  /** Baton cannot issue one and was not told which to use: no run is created. */
  | { kind: "required"; message: string };

/** The only permissions a clone token needs; anything else lets a pipeline step change Bitbucket. */
const readOnly = new Set(["REPO_READ", "PROJECT_READ"]);

/** Label on a managed clone token naming the Repository it was issued for. */
export const cloneTokenForLabel = "baton.dev/clone-token-for";

export function clonePlan(
  repository: Pick<Repository, "metadata" | "spec">,
  operatorToken: BitbucketProjectToken | undefined,
): ClonePlan {
  const spec = repository.spec;
  if (spec.cloneTokenRef) return { kind: "reference" };
  if (spec.pipelines?.cloneWithOperatorToken === true) return { kind: "operator" };
  if (spec.tokenRef && operatorToken?.spec.adminCredentialsRef) {
    return { kind: "managed", name: managedCloneTokenName(repository.metadata.name ?? ""), parent: operatorToken };
  }
  const why = spec.tokenRef
    ? operatorToken
      ? `the BitbucketProjectToken ${spec.tokenRef.name} is externally managed (no adminCredentialsRef), so Baton cannot issue a clone token`
      : `the BitbucketProjectToken ${spec.tokenRef.name} does not exist, so Baton cannot issue a clone token`
    : `spec.secretRef names a plain Secret, so Baton cannot issue a clone token`;
  return {
    kind: "required",
    message: `${why}: set spec.cloneTokenRef to a REPO_READ token (or spec.pipelines.cloneWithOperatorToken: true to hand runs the operator's own token); no run is created until then`,
  };
}

/** `<repository>-clone`, shortened with a hash when the Repository's name is long. */
export function managedCloneTokenName(repositoryName: string): string {
  const name = `${repositoryName}-clone`;
  if (name.length <= 240) return name;
  const hash = createHash("sha256").update(repositoryName).digest("hex").slice(0, 10);
  return `${repositoryName.slice(0, 200).replace(/[-.]+$/, "")}-${hash}-clone`;
}

/**
 * The read-only repository token Baton issues for a Repository's runs: same server and admin credentials as the
 * operator's managed token, REPO_READ only, scoped to this one repository, owned by the Repository so that
 * deleting it deletes this object, whose finalizer revokes the token in Bitbucket.
 */
export function managedCloneToken(
  repository: Pick<Repository, "metadata">,
  parent: BitbucketProjectToken,
  location: RepositoryLocation,
): BitbucketProjectToken {
  const name = managedCloneTokenName(repository.metadata.name ?? "");
  const project =
    parent.spec.project.toUpperCase() === location.project.toUpperCase() ? parent.spec.project : location.project;
  return {
    apiVersion: "baton.dev/v1alpha1",
    kind: "BitbucketProjectToken",
    metadata: {
      name,
      namespace: repository.metadata.namespace ?? "",
      labels: { "app.kubernetes.io/managed-by": "baton", [cloneTokenForLabel]: repository.metadata.name ?? "" },
      ownerReferences: [
        {
          apiVersion: "baton.dev/v1alpha1",
          kind: "Repository",
          name: repository.metadata.name ?? "",
          uid: repository.metadata.uid ?? "",
          controller: true,
        },
      ],
    },
    spec: {
      server: parent.spec.server,
      project: project.toUpperCase(),
      repository: location.slug,
      permissions: ["REPO_READ"],
      lifetime: parent.spec.lifetime,
      ...(parent.spec.renewBefore ? { renewBefore: parent.spec.renewBefore } : {}),
      revocationGracePeriod: parent.spec.revocationGracePeriod,
      ...(parent.spec.revocationHoldLimit ? { revocationHoldLimit: parent.spec.revocationHoldLimit } : {}),
      ...(parent.spec.adminCredentialsRef ? { adminCredentialsRef: parent.spec.adminCredentialsRef } : {}),
      secretName: `${name}-token`,
      deletionPolicy: "Revoke",
    },
  };
}

/** Whether a BitbucketProjectToken of that name is the one Baton issues for this Repository (and may rewrite). */
export function isManagedCloneTokenOf(token: BitbucketProjectToken, repository: Pick<Repository, "metadata">): boolean {
  const owners = (token.metadata as { ownerReferences?: { kind?: string; name?: string; uid?: string }[] })
    .ownerReferences;
  return (owners ?? []).some(
    (o) => o.kind === "Repository" && o.name === repository.metadata.name && o.uid === repository.metadata.uid,
  );
}

/** What is known of the clone token's permissions, and where that knowledge comes from. */
export type ClonePermissions =
  | { known: true; permissions: readonly string[]; source: string }
  | { known: false; declared?: readonly string[]; why: string };

export interface CloneCondition {
  type: "CloneTokenReady" | "CloneTokenWarning";
  status: "True" | "False" | "Unknown";
  reason: string;
  message: string;
}

/**
 * CloneTokenReady: whether runs can get a token for git. CloneTokenWarning: True while runs get more than read
 * access (the operator's token, or a clone token with write or admin permissions), Unknown when nobody can tell.
 */
export function cloneTokenConditions(
  plan: ClonePlan,
  resolved: { source: string } | { reason: string; problem: string },
  permissions: ClonePermissions,
): [CloneCondition, CloneCondition] {
  let ready: CloneCondition;
  if ("source" in resolved) {
    ready = {
      type: "CloneTokenReady",
      status: "True",
      reason: plan.kind === "operator" ? "OperatorToken" : plan.kind === "managed" ? "Managed" : "Referenced",
      message: `runs clone with the token of ${resolved.source}`,
    };
  } else {
    ready = {
      type: "CloneTokenReady",
      status: resolved.reason === "CloneTokenNotIssued" ? "Unknown" : "False",
      reason: resolved.reason,
      message: resolved.problem,
    };
  }
  return [ready, cloneWarning(plan, permissions)];
}

function cloneWarning(plan: ClonePlan, permissions: ClonePermissions): CloneCondition {
  const type = "CloneTokenWarning";
  if (plan.kind === "operator") {
    const what = permissions.known ? ` (${permissions.permissions.join(", ")})` : "";
    return {
      type,
      status: "True",
      reason: "OperatorToken",
      message: `spec.pipelines.cloneWithOperatorToken is on: every run holds the operator's own token${what}; set spec.cloneTokenRef to a REPO_READ token instead`,
    };
  }
  if (plan.kind === "required") {
    return { type, status: "False", reason: "NoCloneToken", message: "no token is handed to runs" };
  }
  const listed = permissions.known ? permissions.permissions : (permissions.declared ?? []);
  const extra = listed.filter((p) => !readOnly.has(p));
  if (extra.length > 0) {
    const whence = permissions.known ? permissions.source : `declared in spec.permissions; ${permissions.why}`;
    return {
      type,
      status: "True",
      reason: "ExcessPermissions",
      message: `the clone token has ${extra.join(", ")} (${whence}): any pipeline step can use it to change Bitbucket; REPO_READ is enough to clone`,
    };
  }
  if (!permissions.known) return { type, status: "Unknown", reason: "PermissionsUnknown", message: permissions.why };
  return {
    type,
    status: "False",
    reason: "ReadOnly",
    message: `the clone token has ${listed.join(", ")} (${permissions.source})`,
  };
}
