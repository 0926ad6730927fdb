// Pipelines-as-Code `{{ variable }}` placeholders.
//
// Substitution happens in the parsed object's strings, not in the YAML text. PAC substitutes in the text before
// parsing, so a value carrying YAML syntax becomes structure: a branch named `x"\n  serviceAccountName: admin` or a
// comment (`trigger_comment`, `body.*`, `headers[...]` are written by whoever triggers the event) could add fields
// to the PipelineRun. Here every value lands inside one existing string and stays a string, whatever it contains.
// (What a pipeline then does with that string, e.g. pasting it into a shell script, is still its author's
// business: quote such values there.)
//
// Names and values follow PAC (pkg/customparams/standard.go): `repo_owner`, `repo_name` and `sender` are
// lower-cased; `source_branch`/`target_branch` drop `refs/heads/` (a push's is the pushed ref, a tag stays
// `refs/tags/…`); `trigger_comment` is one line with literal `\n`; a standard variable whose value is empty (e.g.
// `pull_request_number` on a push, `git_tag` on a branch) is not substituted; the Repository's `params` win over
// standard variables of the same name; unknown placeholders are left as they are.
import { commentEventType } from "../events/comments.ts";
import type { BatonEvent, ChangedFiles } from "../events/model.ts";
import { CelContext, type CelVariables, celValueToString } from "./cel.ts";

export interface TemplateContext {
  event: Exclude<BatonEvent, { type: "ping" }>;
  /** Name of the run's git credentials Secret (`{{ git_auth_secret }}`). */
  gitAuthSecret: string;
  /** The Repository's namespace (`{{ target_namespace }}`). */
  targetNamespace: string;
  /** The Repository's `spec.params`. */
  params?: readonly { name: string; value: string }[];
  changedFiles?: ChangedFiles;
  /** Where the run clones from when not the target repository: a fork, on a host with no pull-request refs. */
  repoUrl?: string;
}

const emptyFiles: ChangedFiles = { all: [], added: [], deleted: [], modified: [], renamed: [] };

/** PAC's `event` (the trigger target): comment commands run as pull requests. */
export function triggerTarget(event: Exclude<BatonEvent, { type: "ping" }>): string {
  if (event.type === "comment") return "pull_request";
  return event.type;
}

/** PAC's `event_type`: the trigger target, or the comment command's type (`retest-comment`…). */
export function eventTypeOf(event: Exclude<BatonEvent, { type: "ping" }>): string {
  return event.type === "comment" ? commentEventType(event.comment.command) : triggerTarget(event);
}

function sanitizeBranch(ref: string): string {
  return ref.startsWith("refs/heads/") ? ref.slice("refs/heads/".length) : ref;
}

/** Source and target as PAC's BaseBranch/HeadBranch: for a push both are the pushed ref. */
export function pacBranches(event: Exclude<BatonEvent, { type: "ping" }>): { target: string; source: string } {
  if (event.type === "push") return { target: event.ref, source: event.ref };
  return { target: event.pullRequest.targetBranch, source: event.pullRequest.sourceBranch };
}

/** The standard variables plus the Repository's params, as PAC resolves them; empty values left out. */
export function templateVariables(ctx: TemplateContext): Record<string, string> {
  const { event } = ctx;
  const branches = pacBranches(event);
  const pr = event.type === "push" ? undefined : event.pullRequest;
  const owner = event.repository.project.replace(/^~/, "");
  const standard: Record<string, string> = {
    revision: event.sha,
    // The target repository's clone URL: the one the run's token can read, also for fork PRs (whose commits are
    // fetched from the target's refs/pull-requests/<id>/from). A host without such refs (Bitbucket Cloud) names the
    // fork instead, checked readable before the run is created.
    repo_url: ctx.repoUrl ?? event.repository.cloneUrl ?? event.repository.browseUrl ?? "",
    repo_owner: owner.toLowerCase(),
    repo_name: event.repository.slug.toLowerCase(),
    target_branch: sanitizeBranch(branches.target),
    source_branch: sanitizeBranch(branches.source),
    git_tag: event.type === "push" && event.refKind === "tag" ? event.refName : "",
    source_url: pr?.fromRepository.browseUrl ?? event.repository.browseUrl ?? "",
    sender: event.sender.name.toLowerCase(),
    target_namespace: ctx.targetNamespace,
    event: triggerTarget(event),
    event_type: eventTypeOf(event),
    trigger_comment:
      event.type === "comment" ? event.comment.text.replaceAll("\r\n", "\\n").replaceAll("\n", "\\n") : "",
    pull_request_number: pr === undefined ? "" : String(pr.number),
    git_auth_secret: ctx.gitAuthSecret,
  };
  const out: Record<string, string> = {};
  for (const param of ctx.params ?? []) out[param.name] = param.value;
  for (const [name, value] of Object.entries(standard)) {
    if (value !== "" && !Object.hasOwn(out, name)) out[name] = value;
  }
  return out;
}

/** The CEL variables for an event (shared by matching and `{{ body.* }}`). */
export function celVariables(
  event: Exclude<BatonEvent, { type: "ping" }>,
  changedFiles: ChangedFiles | undefined,
  headerNames: "lower" | "both" = "lower",
): CelVariables {
  const branches = pacBranches(event);
  const headers: Record<string, string> = {};
  for (const [name, value] of Object.entries(event.headers)) {
    headers[name] = value;
    // PAC's templates see Go's canonical header names (X-Event-Key); matching sees lower case.
    if (headerNames === "both") headers[canonicalHeader(name)] = value;
  }
  return {
    event: triggerTarget(event),
    event_type: eventTypeOf(event),
    event_title: event.type === "push" ? (event.commitTitle ?? "") : event.pullRequest.title,
    target_branch: branches.target,
    source_branch: branches.source,
    target_url: event.repository.browseUrl ?? "",
    source_url:
      event.type === "push" ? (event.repository.browseUrl ?? "") : (event.pullRequest.fromRepository.browseUrl ?? ""),
    body: event.body ?? {},
    headers,
    files: changedFiles ?? event.changedFiles ?? emptyFiles,
  };
}

function canonicalHeader(name: string): string {
  return name.replace(/(^|-)([a-z])/g, (_m, dash: string, c: string) => dash + c.toUpperCase());
}

/** `{{ name }}` with any whitespace inside the braces; PAC's `{{([^}]{2,})}}`. */
const placeholder = /\{\{([^{}]{1,1024}?)\}\}/g;

/** Expressions of `{{ body.… }}`, `{{ headers[…] }}` and `{{ files.… }}`, which PAC evaluates as CEL. */
const celPrefix = /^(body|headers|files)\b/;

/** Whether `value` has a `{{ body… }}`, `{{ headers… }}` or `{{ files… }}` placeholder in a string: CEL to evaluate. */
export function hasCelPlaceholder(value: unknown, depth = 0): boolean {
  if (typeof value === "string") {
    if (!value.includes("{{")) return false;
    for (const [, inner] of value.matchAll(placeholder)) if (celPrefix.test((inner as string).trim())) return true;
    return false;
  }
  if (depth > 200 || value === null || typeof value !== "object") return false;
  return Object.values(value).some((child) => hasCelPlaceholder(child, depth + 1));
}

/** A substitution function for one run: `{{ … }}` in a string → the value, or unchanged when unknown. */
export function makeSubstituter(ctx: TemplateContext): (text: string) => string {
  const variables = templateVariables(ctx);
  let cel: CelContext | undefined;
  const dynamic = (expression: string): string | undefined => {
    cel ??= new CelContext(celVariables(ctx.event, ctx.changedFiles, "both"));
    const outcome = cel.evaluate(expression);
    return outcome.ok ? celValueToString(outcome.value) : undefined;
  };
  return (text: string) => {
    if (!text.includes("{{")) return text;
    return text.replace(placeholder, (whole, inner: string) => {
      const key = inner.trim();
      if (Object.hasOwn(variables, key)) return variables[key] as string;
      if (celPrefix.test(key)) return dynamic(key) ?? whole;
      return whole;
    });
  };
}

/** Substitutes placeholders in one string. */
export function substitute(text: string, ctx: TemplateContext): string {
  return makeSubstituter(ctx)(text);
}

/**
 * A deep copy of `value` with placeholders substituted in every string value (map keys are left alone). The
 * result has exactly the structure of the input: substitution cannot add, remove or retype a field.
 */
export function templateObject<T>(value: T, ctx: TemplateContext): T {
  const sub = makeSubstituter(ctx);
  const walk = (node: unknown, depth: number): unknown => {
    if (typeof node === "string") return sub(node);
    if (depth > 200 || node === null || typeof node !== "object") return node;
    if (Array.isArray(node)) return node.map((item) => walk(item, depth + 1));
    const out: Record<string, unknown> = {};
    for (const [key, child] of Object.entries(node as Record<string, unknown>)) out[key] = walk(child, depth + 1);
    return out;
  };
  return walk(value, 0) as T;
}
