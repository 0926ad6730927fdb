// The per-run git credentials Secret, and the fork-PR ref helpers. Pure builders: the caller creates the Secret
// (after the PipelineRun, with the run as owner, so the Secret is deleted with it).
//
// Bitbucket project and repository tokens work for git only as `Authorization: Bearer` (reference §2.2), so the
// Secret carries a `.gitconfig` with git's per-URL `http.<url>.extraHeader`, scoped to the server's base URL
// (context path included, ending in `/`, so it covers every clone URL under `<base>/scm/` and nothing on another
// host or path). The Tekton catalog `git-clone` task copies both `.gitconfig` and `.git-credentials` from its
// `basic-auth` workspace (a missing key fails its `cp`), so `.git-credentials` is present but empty: a
// `https://user:token@host` line would be Basic auth, which Bitbucket refuses for these tokens, and would only
// put the token in a second place. Bitbucket Cloud is the other way round: its git takes access tokens only as
// Basic `x-token-auth:<token>`, so its Secret holds that line and a `.gitconfig` telling git to use it.
import { createHash } from "node:crypto";
import { z } from "zod";
import type { GitAuth } from "../providers/provider.ts";

export interface OwnerReference {
  apiVersion: string;
  kind: string;
  name: string;
  uid: string;
  controller?: boolean;
  blockOwnerDeletion?: boolean;
}

/** The owner reference making a Secret die with its PipelineRun. */
export function pipelineRunOwnerReference(run: { apiVersion: string; name: string; uid: string }): OwnerReference {
  return { apiVersion: run.apiVersion, kind: "PipelineRun", name: run.name, uid: run.uid, controller: true };
}

export const gitSecretLabel = "baton.dev/git-auth";

/**
 * Bitbucket's id of the token a git Secret holds, when Baton knows it (a managed token's Secret records it): the
 * token reconciler finds the runs still using a previous token by it, and holds its revocation for them.
 */
export const cloneTokenIdLabel = "baton.dev/clone-token-id";

/**
 * When the token a git Secret holds lapses (ISO 8601, on Baton's clock), for tokens that lapse within a run's life
 * (a GitHub App's per-run token, one hour): the release of a queued run reads it to decide whether the run needs a
 * fresh token, without decoding the Secret. Never the token itself.
 */
export const gitTokenExpiresAnnotation = "baton.dev/git-token-expires-at";

/** A token id as a label value: Bitbucket's ids are digits; anything else is hashed into a valid value. */
export function tokenIdLabelValue(id: string): string {
  if (/^[A-Za-z0-9]([A-Za-z0-9._-]{0,61}[A-Za-z0-9])?$/.test(id)) return id;
  return `h-${createHash("sha256").update(id).digest("hex").slice(0, 40)}`;
}

/** Every run's git Secret is named with this prefix; a run may reference only its own. */
export const gitAuthSecretPrefix = "baton-git-";

/** `baton-git-<suffix>`; the caller supplies randomness (e.g. 5 random bytes in hex) so this stays pure. */
export function gitAuthSecretName(suffix: string): string {
  const clean = suffix
    .toLowerCase()
    .replace(/[^a-z0-9-]/g, "")
    .slice(0, 40);
  if (clean === "") throw new Error("gitAuthSecretName needs a non-empty suffix of letters, digits or dashes");
  return `${gitAuthSecretPrefix}${clean}`;
}

/**
 * The base URL as git's `http.<url>.*` wants it: scheme, host, port and context path, lower-case host, ending in
 * `/` so the match stops at a path boundary (`/bitbucket/` does not cover `/bitbucket-other/`).
 */
export function gitConfigUrl(serverUrl: string): string {
  let url: URL;
  try {
    url = new URL(serverUrl);
  } catch {
    throw new Error(`the Bitbucket server URL ${JSON.stringify(serverUrl)} is not a valid URL`);
  }
  if (url.protocol !== "https:" && url.protocol !== "http:") {
    throw new Error(`the Bitbucket server URL must be http or https, got ${url.protocol}`);
  }
  if (url.username || url.password || url.search || url.hash) {
    throw new Error("the Bitbucket server URL must not carry credentials, a query or a fragment");
  }
  const path = url.pathname.replace(/\/+$/, "");
  return `${url.protocol}//${url.host}${path}/`;
}

/** A git config value in double quotes: only `\` and `"` need escaping once control characters are excluded. */
function quoted(value: string): string {
  return `"${value.replaceAll("\\", "\\\\").replaceAll('"', '\\"')}"`;
}

/** The `.gitconfig` for a run: an Authorization header for every URL under the server. */
export function gitConfig(serverUrl: string, token: string): string {
  // Printable ASCII without spaces: a newline would end the config line and let the value write more config.
  if (!/^[\x21-\x7e]+$/.test(token)) {
    throw new Error("the clone token contains characters a git header cannot carry (whitespace or non-ASCII)");
  }
  const url = gitConfigUrl(serverUrl);
  return `[http ${quoted(url)}]\n\textraHeader = ${quoted(`Authorization: Bearer ${token}`)}\n`;
}

/**
 * The `.gitconfig` and `.git-credentials` for a host whose git takes Basic auth with a fixed user name (Bitbucket
 * Cloud: `x-token-auth`): git's `store` helper, asked only for URLs under the server, reads the one credentials
 * line, which names the server's origin.
 */
export function gitCredentialFiles(serverUrl: string, username: string, token: string): Record<string, string> {
  if (!/^[\x21-\x7e]+$/.test(token)) {
    throw new Error("the clone token contains characters git credentials cannot carry (whitespace or non-ASCII)");
  }
  const url = gitConfigUrl(serverUrl);
  const origin = new URL(url);
  const credentials = `${origin.protocol}//${encodeURIComponent(username)}:${encodeURIComponent(token)}@${origin.host}`;
  return {
    ".gitconfig": `[credential ${quoted(url)}]\n\thelper = store\n`,
    ".git-credentials": `${credentials}\n`,
  };
}

export interface GitSecretInput {
  name: string;
  namespace: string;
  /** The Bitbucket base URL (with context path) the clone URLs live under. */
  serverUrl: string;
  /** The clone token (spec.cloneTokenRef, else the Repository's token). */
  token: string;
  /** Bitbucket's id of that token, when known (`cloneTokenIdLabel`). */
  tokenId?: string | undefined;
  /** When the token lapses (epoch ms on Baton's clock), for a short-lived one (`gitTokenExpiresAnnotation`). */
  expiresAt?: number | undefined;
  /** How the host's git takes the token (GitProvider.capabilities.git). */
  git: GitAuth;
  /** The PipelineRun, once created (`pipelineRunOwnerReference`). */
  owner?: OwnerReference;
  /** Labels to find it by, e.g. the run's `baton.dev/repository` and `baton.dev/sha`. */
  labels?: Readonly<Record<string, string>>;
}

export const SecretObject = z.object({
  apiVersion: z.literal("v1"),
  kind: z.literal("Secret"),
  type: z.literal("Opaque"),
  metadata: z.object({
    name: z.string(),
    namespace: z.string(),
    labels: z.record(z.string(), z.string()),
    annotations: z.record(z.string(), z.string()).optional(),
    ownerReferences: z
      .array(
        z.object({
          apiVersion: z.string(),
          kind: z.string(),
          name: z.string(),
          uid: z.string(),
          controller: z.boolean().optional(),
          blockOwnerDeletion: z.boolean().optional(),
        }),
      )
      .optional(),
  }),
  stringData: z.record(z.string(), z.string()),
});
export type SecretObject = z.infer<typeof SecretObject>;

/** The Secret for the `basic-auth` workspace of the catalog `git-clone` task (mount it as that workspace). */
export function buildGitSecret(input: GitSecretInput): SecretObject {
  return {
    apiVersion: "v1",
    kind: "Secret",
    type: "Opaque",
    metadata: {
      name: input.name,
      namespace: input.namespace,
      labels: {
        ...input.labels,
        [gitSecretLabel]: "true",
        "app.kubernetes.io/managed-by": "baton",
        ...(input.tokenId ? { [cloneTokenIdLabel]: tokenIdLabelValue(input.tokenId) } : {}),
      },
      ...(input.expiresAt === undefined
        ? {}
        : { annotations: { [gitTokenExpiresAnnotation]: new Date(input.expiresAt).toISOString() } }),
      ...(input.owner === undefined ? {} : { ownerReferences: [input.owner] }),
    },
    stringData:
      input.git.kind === "basic"
        ? gitCredentialFiles(input.serverUrl, input.git.username, input.token)
        : { ".gitconfig": gitConfig(input.serverUrl, input.token), ".git-credentials": "" },
  };
}

/** Whether the four bytes at `at` are a pkt-line length (lower-case hex, as git writes it). */
function isPktLength(bytes: Uint8Array, at: number): boolean {
  for (let i = at; i < at + 4; i++) {
    const b = bytes[i];
    if (b === undefined || !((b >= 0x30 && b <= 0x39) || (b >= 0x61 && b <= 0x66))) return false;
  }
  return true;
}

/**
 * Refs and their object ids from either `git ls-remote` output (`<sha>\t<ref>` lines) or a smart-HTTP
 * `info/refs?service=git-upload-pack` body (pkt-lines; the first ref carries capabilities after a NUL).
 * Peeled tags keep their `^{}` suffix. Malformed lines are skipped.
 *
 * pkt-line lengths count bytes, and ref names may hold any byte above 0x7f (UTF-8 or not), so the body is walked
 * as bytes and each line decoded on its own: a string index counts UTF-16 units and drifts at the first `fix/ü`.
 */
export function parseRefAdvertisement(body: Uint8Array | string): Map<string, string> {
  const bytes =
    typeof body === "string" ? Buffer.from(body, "utf8") : Buffer.from(body.buffer, body.byteOffset, body.byteLength);
  const refs = new Map<string, string>();
  const add = (line: string) => {
    const withoutCaps = line.split("\0")[0] ?? "";
    // ASCII whitespace only: JavaScript's \s and trim() also take U+00A0 or U+3000, which a ref name may hold.
    const match = /^([0-9a-f]{40}|[0-9a-f]{64})[ \t]+([^ \t\r\n]+)$/.exec(
      withoutCaps.replace(/^[ \t]+|[ \t\r]+$/g, ""),
    );
    if (match && !refs.has(match[2] as string)) refs.set(match[2] as string, match[1] as string);
  };
  const start = bytes.subarray(0, 45).toString("latin1");
  if (/^[0-9a-f]{4}#/.test(start) || /^[0-9a-f]{4}[0-9a-f]{40} /.test(start)) {
    let i = 0;
    while (i + 4 <= bytes.length && isPktLength(bytes, i)) {
      const length = Number.parseInt(bytes.toString("latin1", i, i + 4), 16);
      if (length === 0) {
        i += 4; // flush-pkt
        continue;
      }
      if (length < 4 || i + length > bytes.length) break;
      const payload = bytes.toString("utf8", i + 4, i + length);
      if (!payload.startsWith("#")) add(payload.replace(/\n$/, ""));
      i += length;
    }
    return refs;
  }
  for (const line of bytes.toString("utf8").split("\n")) add(line);
  return refs;
}

export type PullRequestRefCheck =
  | { ok: true }
  | { ok: false; reason: "missing" | "stale"; actual?: string; message: string };

/**
 * Whether the pull request's head ref in the target repository (the provider's `forkHead`, DC
 * `refs/pull-requests/<n>/from`) points at the event's head commit. Bitbucket updates that ref lazily, so a stale
 * one means "try again shortly", not "build what is there".
 */
export function checkPullRequestRef(
  advertisement: Uint8Array | string,
  ref: string,
  headSha: string,
): PullRequestRefCheck {
  const actual = parseRefAdvertisement(advertisement).get(ref);
  if (actual === undefined) {
    return { ok: false, reason: "missing", message: `${ref} is not advertised by the target repository yet` };
  }
  if (actual.toLowerCase() !== headSha.toLowerCase()) {
    return {
      ok: false,
      reason: "stale",
      actual,
      message: `${ref} points at ${actual.slice(0, 11)}, not the pull request's head ${headSha.slice(0, 11)}; the host updates it lazily, retry shortly`,
    };
  }
  return { ok: true };
}

/** Workspace names that receive the run's git Secret when a PipelineRun leaves them unbound (catalog git-clone). */
export const gitAuthWorkspaces: readonly string[] = ["basic-auth", "git-auth"];

function isRecord(value: unknown): value is Record<string, unknown> {
  return value !== null && typeof value === "object" && !Array.isArray(value);
}

/** Keys of a workspace binding that name where its data comes from. */
const bindingSources = [
  "secret",
  "configMap",
  "emptyDir",
  "persistentVolumeClaim",
  "volumeClaimTemplate",
  "projected",
  "csi",
];

/**
 * Binds the run's git Secret to a `basic-auth` or `git-auth` workspace the PipelineRun declares but leaves
 * without a source: a binding with only a name, or a workspace of an embedded `pipelineSpec` that `spec.workspaces`
 * does not bind at all. Bindings the author wrote (usually `secret: {secretName: "{{ git_auth_secret }}"}`, PAC's
 * way) are kept as they are. Returns a new object; the input is not changed.
 */
export function bindGitAuthWorkspace<T extends { spec: Record<string, unknown> }>(run: T, secretName: string): T {
  const spec = { ...run.spec };
  const bindings = Array.isArray(spec.workspaces) ? [...(spec.workspaces as unknown[])] : [];
  let changed = false;
  const bound = new Set<string>();
  for (let i = 0; i < bindings.length; i++) {
    const binding = bindings[i];
    if (!isRecord(binding) || typeof binding.name !== "string") continue;
    bound.add(binding.name);
    if (!gitAuthWorkspaces.includes(binding.name)) continue;
    if (bindingSources.some((key) => binding[key] !== undefined)) continue;
    bindings[i] = { ...binding, secret: { secretName } };
    changed = true;
  }
  const pipelineSpec = isRecord(spec.pipelineSpec) ? spec.pipelineSpec : undefined;
  const declared = Array.isArray(pipelineSpec?.workspaces) ? (pipelineSpec.workspaces as unknown[]) : [];
  for (const workspace of declared) {
    if (!isRecord(workspace) || typeof workspace.name !== "string") continue;
    if (!gitAuthWorkspaces.includes(workspace.name) || bound.has(workspace.name)) continue;
    bindings.push({ name: workspace.name, secret: { secretName } });
    bound.add(workspace.name);
    changed = true;
  }
  if (!changed) return run;
  spec.workspaces = bindings;
  return { ...run, spec };
}
