// Which Secrets a PipelineRun may hand to its pods. Pure.
//
// A pod may mount or read any Secret of its namespace by name, and the namespace of a Repository also holds Baton's
// own Secrets (the operator's token, admin credentials, the webhook secret) and other teams' tokens. So a run may
// name only Secrets Baton can tell apart before it creates the run: its own git Secret, and those the Repository
// lists in `spec.pipelines.allowedSecrets`. Everything else is refused, which is the only rule that stays right
// under Tekton's substitution: Tekton replaces `$(params.x)`, `$(context.…)`, `$(tasks.….results.…)` in workspace
// bindings, volumes, `secretKeyRef`, projected sources, CSI secret refs and resolver params when the run starts
// (docs/variables.md, "Fields that accept variable substitutions"), from values Baton may never see (a referenced
// Pipeline's defaults, task results). A name is allowed only when it is exactly an allowed name, and allowed names
// are Kubernetes object names, which cannot contain `$(`: a name Tekton could still change is never allowed, and
// Baton does not try to predict what Tekton would make of it. Baton's own `{{ }}` placeholders are filled in before
// the check, so a name built from a branch, a comment or a Repository param is judged by its final value.
import { gitAuthSecretPrefix } from "./gitsecret.ts";

/** A reference to a Secret found in a PipelineRun: where (a JSON path) and which name. */
export interface SecretReference {
  path: string;
  name: string;
}

// Keys are compared without case: Baton should not rely on how strictly a decoder downstream matches field names.
const secretObject = /^secret$/i;
const secretNameKey = /^secretname$/i;
const secretRefKey = /secret(key)?ref$/i;
const pullSecretsKey = /^imagepullsecrets$/i;
/**
 * Remote resolution params that name a Secret the resolver reads in the run's namespace: the git resolver's `token`
 * and `gitToken`, the http resolver's `http-password-secret`, the bundles resolver's `secret`. Their `…Key`
 * siblings name a key inside that Secret, not a Secret.
 */
const resolverSecretParam = /(token|secret)$/i;

function isRecord(value: unknown): value is Record<string, unknown> {
  return value !== null && typeof value === "object" && !Array.isArray(value);
}

/** A name as a string; anything else (a number, a list) is shown as JSON so it is refused like an unknown name. */
function nameOf(value: unknown): string {
  return typeof value === "string" ? value : JSON.stringify(value);
}

/**
 * Every Secret name a PipelineRun (or any Kubernetes object fragment) references: `secretName` (workspace and
 * volume `secret`, `azureFile`), projected sources (`secret.name`), `secretKeyRef`, `secretRef` (envFrom, CSI and
 * other volume sources' `…SecretRef`), `imagePullSecrets`, and the Secret-naming params of remote resolution
 * (`pipelineRef`/`taskRef`/step `ref` with a `resolver`). Walks the whole object, so podTemplate, taskRunSpecs, and
 * embedded pipelineSpec/taskSpec steps, sidecars, stepTemplate and volumes are all included.
 */
export function findSecretReferences(value: unknown, path = "$"): SecretReference[] {
  const found: SecretReference[] = [];
  const walk = (node: unknown, at: string, depth: number) => {
    if (depth > 200 || node === null || typeof node !== "object") return;
    if (Array.isArray(node)) {
      node.forEach((item, i) => {
        walk(item, `${at}[${i}]`, depth + 1);
      });
      return;
    }
    const object = node as Record<string, unknown>;
    if (typeof object.resolver === "string" && Array.isArray(object.params)) {
      object.params.forEach((param, i) => {
        if (isRecord(param) && typeof param.name === "string" && resolverSecretParam.test(param.name)) {
          found.push({ path: `${at}.params[${i}].value`, name: nameOf(param.value) });
        }
      });
    }
    for (const [key, child] of Object.entries(object)) {
      const here = `${at}.${key}`;
      if (secretNameKey.test(key) && child !== undefined && child !== null) {
        found.push({ path: here, name: nameOf(child) });
      } else if ((secretObject.test(key) || secretRefKey.test(key)) && isRecord(child)) {
        // `secret.secretName` is found one level down; `secret.name` is a projected source.
        const hasSecretName = Object.keys(child).some((k) => secretNameKey.test(k));
        if (!hasSecretName && child.name !== undefined) found.push({ path: `${here}.name`, name: nameOf(child.name) });
      } else if (pullSecretsKey.test(key) && Array.isArray(child)) {
        child.forEach((ref, i) => {
          if (isRecord(ref)) found.push({ path: `${here}[${i}].name`, name: nameOf(ref.name) });
        });
      }
      walk(child, here, depth + 1);
    }
  };
  walk(value, path, 0);
  return found;
}

/** Why a run may not carry this reference, or undefined when it may. */
export interface SecretPolicy {
  /** The run's own git credentials Secret. */
  gitAuthSecret?: string;
  /** The Repository's `spec.pipelines.allowedSecrets`. */
  allowed?: readonly string[];
  /** Baton's own Secrets: refused even when listed as allowed. */
  forbidden: readonly string[];
  /** The Repository's name, for the advice in the message. */
  repository?: string;
}

function problem(ref: SecretReference, policy: SecretPolicy): string | undefined {
  const { name, path } = ref;
  if (policy.forbidden.includes(name)) {
    return (
      `references Secret ${name} at ${path}; that Secret holds Baton's own credentials and cannot be given to a ` +
      "PipelineRun (use {{ git_auth_secret }} for git)"
    );
  }
  if (policy.gitAuthSecret === undefined) return undefined; // before templating only Baton's own are known
  if (name === policy.gitAuthSecret) return undefined;
  if (name.startsWith(gitAuthSecretPrefix)) {
    return `references Secret ${name} at ${path}, another run's git credentials; use {{ git_auth_secret }}`;
  }
  if (policy.allowed?.includes(name)) return undefined;
  const allow = `spec.pipelines.allowedSecrets${policy.repository ? ` of Repository ${policy.repository}` : ""}`;
  if (name.includes("$(")) {
    return (
      `names a Secret with Tekton's substitution (${name}) at ${path}; Tekton fills that in when the run starts, ` +
      `so Baton cannot tell which Secret it is: write the Secret's name there and list it in ${allow}`
    );
  }
  if (name.includes("{{")) {
    return `names a Secret with a placeholder Baton could not fill in (${name}) at ${path}; write the Secret's name`;
  }
  return (
    `references Secret ${name} at ${path}, which the Repository does not allow; list it in ${allow} ` +
    "(for git, use {{ git_auth_secret }})"
  );
}

/**
 * The refused Secret references of `value`, one sentence per reference. Without `gitAuthSecret` (a definition not
 * yet templated) only Baton's own Secrets are refused; with it, everything that is not the run's own git Secret or
 * allowed by the Repository.
 */
export function secretProblems(value: unknown, policy: SecretPolicy): string[] {
  const problems: string[] = [];
  for (const ref of findSecretReferences(value)) {
    const p = problem(ref, policy);
    if (p !== undefined) problems.push(p);
  }
  return problems;
}
