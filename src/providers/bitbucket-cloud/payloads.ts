// Bitbucket Cloud webhook bodies (reference §4). The event key travels in the `X-Event-Key` header only: unlike
// Data Center, the body never names it, so a signed body of one kind could be replayed under another key. Each
// schema therefore requires the top-level keys that only its kind carries (`push`, `pullrequest`, `comment`),
// which makes a body readable under exactly one family of keys.
import { z } from "zod";
import { Account, Comment, CommitHash, PullRequest, Repository } from "./schemas.ts";

const RefTarget = z.object({
  hash: CommitHash,
  message: z.string().optional(),
  date: z.string().optional(),
  parents: z.array(z.object({ hash: CommitHash })).optional(),
});

/** `new`/`old` of a push change; `type` is `branch` or `tag` (Mercurial's kinds are gone with Mercurial). */
export const RefState = z.object({
  type: z.string(),
  name: z.string().min(1),
  /** For an annotated tag, the peeled commit (reference §4.2). */
  target: RefTarget,
});
export type RefState = z.infer<typeof RefState>;

export const PushChange = z.object({
  new: RefState.nullable(),
  old: RefState.nullable(),
  created: z.boolean(),
  closed: z.boolean(),
  forced: z.boolean().optional(),
  /** True when `commits` holds only the newest few (at most 5 in every capture). */
  truncated: z.boolean().optional(),
  /** Absent on deletions and tag creations. */
  commits: z.array(z.object({ hash: CommitHash, message: z.string().optional() })).optional(),
});
export type PushChange = z.infer<typeof PushChange>;

const Base = z.object({ actor: Account, repository: Repository });

export const PushPayload = Base.extend({ push: z.object({ changes: z.array(PushChange) }) });
export type PushPayload = z.infer<typeof PushPayload>;

export const PullRequestPayload = Base.extend({ pullrequest: PullRequest });
export type PullRequestPayload = z.infer<typeof PullRequestPayload>;

export const CommentPayload = PullRequestPayload.extend({ comment: Comment });
export type CommentPayload = z.infer<typeof CommentPayload>;

/** Any other event Baton may be subscribed to by someone else's hook: read only for a clear "ignored". */
export const OtherPayload = z.object({ actor: Account.optional(), repository: Repository.optional() });
export type OtherPayload = z.infer<typeof OtherPayload>;

export const payloadSchemas = {
  "repo:push": PushPayload,
  "pullrequest:created": PullRequestPayload,
  "pullrequest:updated": PullRequestPayload,
  "pullrequest:fulfilled": PullRequestPayload,
  "pullrequest:rejected": PullRequestPayload,
  "pullrequest:comment_created": CommentPayload,
} as const;
export type KnownEventKey = keyof typeof payloadSchemas;

/** The events Baton subscribes a Cloud webhook to. */
export const subscribedEvents: readonly KnownEventKey[] = Object.keys(payloadSchemas) as KnownEventKey[];

export function isKnownEventKey(key: string): key is KnownEventKey {
  return Object.hasOwn(payloadSchemas, key);
}

export type ParsedPayload =
  | { eventKey: "repo:push"; payload: PushPayload }
  | {
      eventKey: "pullrequest:created" | "pullrequest:updated" | "pullrequest:fulfilled" | "pullrequest:rejected";
      payload: PullRequestPayload;
    }
  | { eventKey: "pullrequest:comment_created"; payload: CommentPayload }
  | { eventKey: string; payload: OtherPayload; other: true };

export type ParsePayloadResult = { ok: true; value: ParsedPayload } | { ok: false; error: string };

/** Keys only one family of events carries, so a body cannot pass as another family (see the file comment). */
const familyMarkers: Record<KnownEventKey, { has: string[]; lacks: string[] }> = {
  "repo:push": { has: ["push"], lacks: ["pullrequest", "comment"] },
  "pullrequest:created": { has: ["pullrequest"], lacks: ["push", "comment"] },
  "pullrequest:updated": { has: ["pullrequest"], lacks: ["push", "comment"] },
  "pullrequest:fulfilled": { has: ["pullrequest"], lacks: ["push", "comment"] },
  "pullrequest:rejected": { has: ["pullrequest"], lacks: ["push", "comment"] },
  "pullrequest:comment_created": { has: ["pullrequest", "comment"], lacks: ["push"] },
};

/** Validates a JSON-decoded body as the payload of `eventKey` (the `X-Event-Key` header). */
export function parsePayload(eventKey: string, body: unknown): ParsePayloadResult {
  if (typeof body !== "object" || body === null || Array.isArray(body)) {
    return { ok: false, error: `the ${eventKey || "webhook"} body is not a JSON object` };
  }
  if (!isKnownEventKey(eventKey)) {
    const other = OtherPayload.safeParse(body);
    if (!other.success) return { ok: false, error: describe(eventKey, other.error) };
    return { ok: true, value: { eventKey, payload: other.data, other: true } };
  }
  const markers = familyMarkers[eventKey];
  const wrong = markers.lacks.find((key) => Object.hasOwn(body, key));
  if (wrong !== undefined) {
    return {
      ok: false,
      error: `the X-Event-Key header says ${eventKey}, but the body carries "${wrong}", which that event never has`,
    };
  }
  const result = payloadSchemas[eventKey].safeParse(body);
  if (!result.success) return { ok: false, error: describe(eventKey, result.error) };
  return { ok: true, value: { eventKey, payload: result.data } as ParsedPayload };
}

/** One line naming the first few fields that failed, for a 400 answer and the log. */
function describe(eventKey: string, error: z.ZodError): string {
  const problems = error.issues.slice(0, 3).map((i) => `${i.path.join(".") || "(body)"}: ${i.message}`);
  const more = error.issues.length > 3 ? ` (and ${error.issues.length - 3} more)` : "";
  return `invalid Bitbucket Cloud ${eventKey || "webhook"} payload: ${problems.join("; ")}${more}`;
}
