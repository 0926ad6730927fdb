// The project admin's username and password (spec.adminCredentialsRef), the only credential that can create and
// revoke tokens. Its Secret is labelled as watched, so fixing a wrong password wakes the token at once.
import type { BitbucketProjectToken } from "../api/token.ts";
import type { Credential } from "../providers/http/auth.ts";
import { type KubeClient, Secrets } from "../runtime/kube.ts";
import { fingerprint, labelWatched, tokenIn } from "./secret.ts";

export type AdminCredentials =
  | {
      auth: Credential;
      /** Tells credentials apart without keeping them: a failure with these need not be waited out with others. */
      fingerprint: string;
    }
  | { problem: string; reason: string };

/** Reads the credentials; with `watch`, also labels their Secret so that fixing it wakes the token. */
export async function adminCredentials(
  kube: KubeClient,
  token: BitbucketProjectToken,
  options: { signal?: AbortSignal; watch?: boolean } = {},
): Promise<AdminCredentials> {
  return credentialsIn(kube, token.metadata.namespace ?? "", token.spec.adminCredentialsRef?.name ?? "", options);
}

/** The credentials in the Secret `namespace/ref` (also after the token object is gone: cleanup-ledger.ts). */
export async function credentialsIn(
  kube: KubeClient,
  namespace: string,
  ref: string,
  options: { signal?: AbortSignal; watch?: boolean } = {},
): Promise<AdminCredentials> {
  const { signal } = options;
  const secret = await kube.get(Secrets, { namespace, name: ref }, signal);
  if (!secret)
    return { reason: "AdminCredentialsMissing", problem: `the admin credentials Secret ${ref} does not exist` };
  if (options.watch) await labelWatched(kube, secret, signal);
  const username = tokenIn(secret, "username");
  // A password is used as written: unlike a token, surrounding spaces may be part of it.
  const password = secret.data?.password
    ? Buffer.from(secret.data.password, "base64").toString("utf8")
    : secret.stringData?.password;
  if (!username || !password) {
    return {
      reason: "AdminCredentialsMissing",
      problem: `the admin credentials Secret ${ref} needs the keys "username" and "password"`,
    };
  }
  return { auth: { kind: "basic", username, password }, fingerprint: fingerprint(`${username}\n${password}`) };
}
