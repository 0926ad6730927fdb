// Which PipelineRuns Baton created. Pure.
//
// Anyone who may create PipelineRuns in a Repository's namespace can put Baton's labels on one; the status reporter
// would then post its outcome to Bitbucket with the operator's token, under a real pipeline's key, for any commit.
// So Baton signs each run it creates: an HMAC, with a key only the operator can read (signing-key.ts), over
// everything the reporter takes from the run to build a status (namespace, name, repository, commit, pipeline, pull
// request, branch). A label changed, or a signature copied onto another run, no longer verifies.
//
// The name is signed because it is unique in the namespace: a copy of a genuine run's metadata onto a new run needs
// a new name. The uid is not (it exists only once the run is created, and an operator stopped between the create
// and a second write would leave a run it can never report). So someone who may delete runs could delete a genuine
// run and create one of the same name with its metadata: that replays a status Baton did start, for the same commit
// and pipeline, and nothing else (README, Trust boundaries).
//
// Runs from before signing existed (an upgrade) carry no signature; they are reported when the API server created
// them before it created the key, a time no one can backdate.
import { createHmac, timingSafeEqual } from "node:crypto";
import { labels, pac } from "./build.ts";

export const signatureAnnotation = "baton.dev/signature";

const scheme = "v1";

/** The metadata of a run, as the reporter sees it (a cached run keeps all of these). */
export interface SignableRun {
  metadata?: {
    name?: string | undefined;
    namespace?: string | undefined;
    creationTimestamp?: string | undefined;
    labels?: Record<string, string> | undefined;
    annotations?: Record<string, string> | undefined;
  };
}

export interface SigningKey {
  /** The HMAC key. */
  secret: Uint8Array;
  /** When the API server created the key (epoch ms): runs created before it are from an unsigned version. */
  createdAt: number;
}

/** The annotations the signature covers, besides Baton's own labels: the reporter posts the branch from them. */
export const signedAnnotations = [pac.sourceBranch, pac.branch] as const;

function signedText(run: SignableRun): string {
  const m = run.metadata ?? {};
  const l = m.labels ?? {};
  const a = m.annotations ?? {};
  return JSON.stringify([
    scheme,
    m.namespace ?? "",
    m.name ?? "",
    l[labels.repository] ?? "",
    l[labels.sha] ?? "",
    l[labels.pipeline] ?? "",
    l[labels.pullRequest] ?? "",
    ...signedAnnotations.map((k) => a[k] ?? ""),
  ]);
}

function mac(run: SignableRun, key: Uint8Array): Buffer {
  return createHmac("sha256", key).update(signedText(run)).digest();
}

/** The value of the signature annotation for a run about to be created (its name already chosen). */
export function signRun(run: SignableRun, key: Uint8Array): string {
  return `${scheme}.${mac(run, key).toString("base64url")}`;
}

export type Provenance =
  /** Signed by this installation's key. */
  | "signed"
  /** Unsigned, and older than the key: created by a version of Baton that did not sign. */
  | "predates-signing"
  /** Unsigned and newer than the key: not Baton's. */
  | "unsigned"
  /** A signature that does not verify: metadata changed since Baton created it, or copied from another run. */
  | "forged";

export function provenance(run: SignableRun, key: SigningKey): Provenance {
  const signature = run.metadata?.annotations?.[signatureAnnotation];
  if (signature === undefined) {
    const created = Date.parse(run.metadata?.creationTimestamp ?? "");
    return Number.isFinite(created) && created < key.createdAt ? "predates-signing" : "unsigned";
  }
  const [version, value] = signature.split(".", 2);
  if (version !== scheme || value === undefined) return "forged";
  const given = Buffer.from(value, "base64url");
  const expected = mac(run, key.secret);
  return given.length === expected.length && timingSafeEqual(given, expected) ? "signed" : "forged";
}

/** Whether the reporter may speak for this run. */
export function createdByBaton(run: SignableRun, key: SigningKey): boolean {
  const p = provenance(run, key);
  return p === "signed" || p === "predates-signing";
}

// Kubernetes' own generateName alphabet (no vowels, no look-alikes).
const alphabet = "bcdfghjklmnpqrstvwxz2456789";

/**
 * The run signed, under its name or, with only a generateName, a name Baton chose (the prefix plus 5 random
 * characters, as the API server would pick): the name has to be known before the create for the signature to cover
 * it. A chosen name already taken gets AlreadyExists; the caller picks again.
 */
export function namedAndSigned<
  T extends SignableRun & { metadata: { name?: string | undefined; generateName?: string | undefined } },
>(run: T, key: Uint8Array, random: (n: number) => Uint8Array): T {
  const { generateName, ...metadata } = run.metadata;
  const suffix = () => [...random(5)].map((b) => alphabet[b % alphabet.length]).join("");
  const named = { ...run, metadata: { ...metadata, name: metadata.name ?? `${generateName ?? "run-"}${suffix()}` } };
  named.metadata.annotations = { ...named.metadata.annotations, [signatureAnnotation]: signRun(named, key) };
  return named;
}
