// Building blocks shared by Baton's resources. These schemas are the single source of truth: the CRD YAML in
// crds/ is generated from them, and the controllers validate what they read with them.
import { z } from "zod";

export const group = "baton.dev";
export const version = "v1alpha1";
export const apiVersion = `${group}/${version}`;

/**
 * Pattern → the message users see when a value does not match. The CRD generator turns each such pattern into a
 * CEL `matches()` rule carrying the message, because the API server's own pattern error shows only the regex.
 */
export const patternMessages = new Map<string, string>();

/** A string that must match `pattern`; `message` says, in the user's words, what is expected. */
export function matching(pattern: RegExp, message: string) {
  patternMessages.set(pattern.source, message);
  return z.string().regex(pattern, { error: message });
}

/** A Go duration as Kubernetes writes them ("2160h", "90m", "1h30m"); CEL's duration() parses the same form. */
export const durationPattern = /^([0-9]+(\.[0-9]+)?(ns|us|µs|ms|s|m|h))+$/;

export const Duration = matching(durationPattern, "must be a duration such as 2160h, 90m or 1h30m").meta({
  description: "A duration in Go's format, e.g. 2160h (90 days), 48h, 90m.",
});

/**
 * A CEL rule over duration fields of `self` that holds when any of them is absent or malformed: the field's own
 * pattern rule reports a malformed value, and CEL's duration() would otherwise fail with a type-conversion error.
 */
export function durationRule(fields: string[], rule: string): string {
  const guards = fields.map((f) => `!has(self.${f}) || !self.${f}.matches(r'${durationPattern.source}')`);
  return `${guards.join(" || ")} || (${rule})`;
}

const unitMillis: Record<string, number> = {
  ns: 1e-6,
  us: 1e-3,
  µs: 1e-3,
  ms: 1,
  s: 1000,
  m: 60_000,
  h: 3_600_000,
};

/** Milliseconds of a Go duration string; throws on a malformed one (the CRD has already rejected those). */
export function parseDuration(text: string): number {
  if (!durationPattern.test(text)) throw new Error(`invalid duration ${JSON.stringify(text)}`);
  let total = 0;
  for (const [, amount, , unit] of text.matchAll(/([0-9]+(\.[0-9]+)?)(ns|us|µs|ms|s|m|h)/g)) {
    total += Number(amount) * (unitMillis[unit as string] ?? Number.NaN);
  }
  return Math.round(total);
}

/** Like parseDuration, but undefined for malformed text; also reads Go's bare "0". For flags and settings. */
export function tryParseDuration(text: string): number | undefined {
  const trimmed = text.trim();
  if (trimmed === "0") return 0;
  return durationPattern.test(trimmed) ? parseDuration(trimmed) : undefined;
}

/** Formats milliseconds as a Go duration, the way `kubectl` users read them ("720h0m0s" → "720h"). */
export function formatDuration(ms: number): string {
  const hours = Math.floor(ms / 3_600_000);
  const minutes = Math.floor((ms % 3_600_000) / 60_000);
  const seconds = Math.floor((ms % 60_000) / 1000);
  const parts = [hours ? `${hours}h` : "", minutes ? `${minutes}m` : "", seconds ? `${seconds}s` : ""].join("");
  return parts || "0s";
}

/** RFC 3339 timestamp, truncated to seconds as Kubernetes metav1.Time is. */
export const Timestamp = z.iso.datetime({ offset: true });

export const LocalObjectReference = z.object({
  name: z.string().min(1).max(253).meta({ description: "Name of the object in the same namespace." }),
});

export const SecretKeyReference = z.object({
  name: z.string().min(1).max(253).meta({ description: "Name of a Secret in the same namespace." }),
  key: z.string().min(1).max(253).default("token").meta({ description: "Key within the Secret." }),
});

/** metav1.Condition, the shape `kubectl wait --for=condition=Ready` and every dashboard understand. */
export const Condition = z.object({
  type: z
    .string()
    .max(316)
    .regex(
      /^([a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*\/)?(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])$/,
    )
    .meta({ description: "What the condition is about, in CamelCase, e.g. Ready." }),
  status: z.enum(["True", "False", "Unknown"]).meta({ description: "True, False or Unknown." }),
  observedGeneration: z.int().min(0).optional().meta({
    description: "The metadata.generation the condition was set for; lower than the object's when it is stale.",
  }),
  lastTransitionTime: Timestamp.meta({ description: "When the status last changed from one value to another." }),
  reason: z
    .string()
    .min(1)
    .max(1024)
    .regex(/^[A-Za-z]([A-Za-z0-9_,:]*[A-Za-z0-9_])?$/, "reason must be CamelCase")
    .meta({ description: "Why the condition has its status, as one CamelCase word to match on, e.g. Issued." }),
  message: z.string().max(32768).meta({ description: "Why, in a sentence a person can act on." }),
});
export type Condition = z.infer<typeof Condition>;

export const Conditions = z
  .array(Condition)
  .meta({ "x-kubernetes-list-type": "map", "x-kubernetes-list-map-keys": ["type"] });

/** The parts of ObjectMeta Baton reads; the API server owns the rest and the CRD schema leaves it open. */
export const ObjectMeta = z.looseObject({
  name: z.string(),
  namespace: z.string().optional(),
  uid: z.string().optional(),
  generation: z.int().optional(),
  resourceVersion: z.string().optional(),
  creationTimestamp: z.string().optional(),
  deletionTimestamp: z.string().optional(),
  labels: z.record(z.string(), z.string()).optional(),
  annotations: z.record(z.string(), z.string()).optional(),
  finalizers: z.array(z.string()).optional(),
});
