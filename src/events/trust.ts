// Who may make Baton run pipelines, decided without admin rights (DESIGN §3 "Trust without admin").
//
// Rule: pushes are trusted (pushing needs write access), and so is a pull request whose source branch lives in
// the repository itself (its author could have pushed). A pull request from a fork is trusted when its author is
// listed in spec.policy.trustedUsers, is in one of spec.policy.trustedGroups (when the caller could learn the
// author's groups), has REPO_WRITE on the target repository (asked through the user search any authenticated
// caller may use), or when a user with REPO_WRITE vouched for the current head commit with /ok-to-test. Comment
// commands are judged on the commenter: a REPO_WRITE commenter's /test, /retest or /ok-to-test vouches for the
// current head; the pull request's author may /test and /retest as far as the pull request is trusted on its own;
// anyone else is refused (a read-only user cannot make the cluster run things, even trusted code). /cancel needs
// REPO_WRITE or being the author.
//
// Untrusted events start nothing. The caller still reads the `.tekton` definitions, but from the target branch
// (`definitionsFrom`), never from the untrusted head: that tells which pipelines are waiting (for a build status)
// without parsing or evaluating anything the untrusted author wrote.
//
// Missing facts count as "no", so a failed lookup can only withhold runs, never grant them; `nextFactToFetch`
// says which lookup is worth making next, so a same-repository pull request costs no call at all. A lookup
// Bitbucket refuses outright (a 400: the search names a project or repository it does not have) is a "no" as
// well, decided at once: asking again would get the same answer.

import { parseComment } from "./comments.ts";
import type { BatonEvent, CommentEvent, EventUser, PullRequestScopedEvent } from "./model.ts";

export interface TrustPolicy {
  trustedUsers?: readonly string[] | undefined;
  trustedGroups?: readonly string[] | undefined;
}

/** Facts only the caller can fetch. Undefined means not asked, which counts as "no". */
export interface TrustFacts {
  /** The pull request's author has REPO_WRITE on the target repository (user search with a permission filter). */
  authorHasWrite?: boolean;
  /** For comment events: the commenter has REPO_WRITE on the target repository. */
  commenterHasWrite?: boolean;
  /** The author's Bitbucket groups, when the caller could learn them (group lookups usually need admin rights). */
  authorGroups?: readonly string[];
  /** A REPO_WRITE user's /ok-to-test covering the current head (see `okToTestFor`); null: looked, none found. */
  okToTest?: { by: string } | null;
  /** Bitbucket's message when it refused a permission lookup; the "no" it stands for is then not about the user. */
  lookupRefused?: string;
}

export type TrustReason =
  | "push"
  | "no-run"
  | "same-repository"
  | "trusted-user"
  | "trusted-group"
  | "author-has-write"
  | "ok-to-test"
  | "commenter-has-write"
  | "commenter-is-author";

export type UntrustedReason = "fork-author-not-trusted" | "commenter-not-allowed" | "ok-to-test-other-commit";

/** Where to read `.tekton` for this event: the event's head commit, or the target branch of a pull request. */
export interface DefinitionsSource {
  from: "head" | "target";
  /** A commit id, or a full ref when the payload gave no target commit. */
  at: string;
}

export type TrustDecision =
  | { trusted: true; reason: TrustReason; detail: string; definitionsFrom: DefinitionsSource }
  | {
      trusted: false;
      reason: UntrustedReason;
      detail: string;
      /** User-facing: what must happen for the runs to start (for a build status description or a comment). */
      whatIsNeeded: string;
      definitionsFrom: DefinitionsSource;
    };

export type TrustFact = "authorHasWrite" | "commenterHasWrite" | "okToTest";

const same = (a: string, b: string) => a.toLowerCase() === b.toLowerCase();
const short = (sha: string) => sha.slice(0, 11);

function inList(list: readonly string[] | undefined, value: string | undefined): boolean {
  return value !== undefined && (list ?? []).some((entry) => same(entry, value));
}

function userId(user: { slug?: string | undefined; name: string }): string {
  return user.slug ?? user.name;
}

function head(event: BatonEvent): DefinitionsSource {
  return { from: "head", at: "sha" in event ? event.sha : "" };
}

function target(event: PullRequestScopedEvent): DefinitionsSource {
  return { from: "target", at: event.pullRequest.targetCommit ?? event.pullRequest.targetRef };
}

/** The pull request's own trust, independent of any comment. */
function pullRequestTrust(event: PullRequestScopedEvent, facts: TrustFacts, policy: TrustPolicy): TrustDecision {
  const pr = event.pullRequest;
  const repo = `${event.repository.project}/${event.repository.slug}`;
  if (!pr.fromRepository.fork) {
    return {
      trusted: true,
      reason: "same-repository",
      detail: `pull request #${pr.number} comes from a branch of ${repo}, so its author could push`,
      definitionsFrom: head(event),
    };
  }
  const author = userId(pr.author);
  if (inList(policy.trustedUsers, author)) {
    return {
      trusted: true,
      reason: "trusted-user",
      detail: `${author} is listed in spec.policy.trustedUsers`,
      definitionsFrom: head(event),
    };
  }
  const group = (facts.authorGroups ?? []).find((g) => inList(policy.trustedGroups, g));
  if (group !== undefined) {
    return {
      trusted: true,
      reason: "trusted-group",
      detail: `${author} is in group ${group}, listed in spec.policy.trustedGroups`,
      definitionsFrom: head(event),
    };
  }
  if (facts.authorHasWrite === true) {
    return {
      trusted: true,
      reason: "author-has-write",
      detail: `${author} has write access to ${repo}`,
      definitionsFrom: head(event),
    };
  }
  if (facts.okToTest) {
    return {
      trusted: true,
      reason: "ok-to-test",
      detail: `${facts.okToTest.by} vouched for commit ${short(event.sha)} with /ok-to-test`,
      definitionsFrom: head(event),
    };
  }
  const fork = `${pr.fromRepository.project}/${pr.fromRepository.slug}`;
  return {
    trusted: false,
    reason: "fork-author-not-trusted",
    detail:
      facts.lookupRefused === undefined
        ? `pull request #${pr.number} comes from the fork ${fork} and ${author} has no write access to ${repo}`
        : `pull request #${pr.number} comes from the fork ${fork} and Bitbucket refused to say whether ${author} ` +
          `has write access to ${repo} (${facts.lookupRefused}), which counts as no`,
    whatIsNeeded:
      `Pull request #${pr.number} comes from the fork ${fork}, and its author ${author} has no write access to ` +
      `${repo}. Someone with write access can comment /ok-to-test to run the pipelines for commit ${short(event.sha)}.`,
    definitionsFrom: target(event),
  };
}

function commentTrust(event: CommentEvent, facts: TrustFacts, policy: TrustPolicy): TrustDecision {
  const command = event.comment.command;
  const commenter = userId(event.comment.author);
  const repo = `${event.repository.project}/${event.repository.slug}`;
  const pr = event.pullRequest;

  // A user the Repository lists as trusted speaks for it like one with write access: on a host whose tokens cannot
  // ask anyone's permission (Bitbucket Cloud), the list is the only way to name who may /ok-to-test.
  const listed = inList(policy.trustedUsers, commenter);
  const vouches = facts.commenterHasWrite === true || listed;
  const standing = facts.commenterHasWrite === true ? `write access to ${repo}` : "listed in spec.policy.trustedUsers";

  if (command.kind === "cancel") {
    if (vouches) {
      return {
        trusted: true,
        reason: "commenter-has-write",
        detail: `${commenter} has ${standing}`,
        definitionsFrom: head(event),
      };
    }
    if (same(commenter, userId(pr.author))) {
      return {
        trusted: true,
        reason: "commenter-is-author",
        detail: `${commenter} wrote pull request #${pr.number}`,
        definitionsFrom: head(event),
      };
    }
    return {
      trusted: false,
      reason: "commenter-not-allowed",
      detail: `${commenter} neither wrote pull request #${pr.number} nor has write access to ${repo}`,
      whatIsNeeded: `Only the author of pull request #${pr.number} or a user with write access to ${repo} can cancel its runs.`,
      definitionsFrom: head(event),
    };
  }

  if (vouches) {
    if (
      command.kind === "ok-to-test" &&
      command.sha !== undefined &&
      !event.sha.toLowerCase().startsWith(command.sha)
    ) {
      return {
        trusted: false,
        reason: "ok-to-test-other-commit",
        detail: `/ok-to-test names commit ${command.sha}, but the head of pull request #${pr.number} is ${short(event.sha)}`,
        whatIsNeeded:
          `The /ok-to-test names commit ${command.sha}, but pull request #${pr.number} is now at ${short(event.sha)}. ` +
          `Review the new commits and comment /ok-to-test again.`,
        definitionsFrom: pr.fromRepository.fork ? target(event) : head(event),
      };
    }
    // The comment is the vouching: a REPO_WRITE user asked for this head to run.
    return {
      trusted: true,
      reason: command.kind === "ok-to-test" ? "ok-to-test" : "commenter-has-write",
      detail: `${commenter} (${standing}) asked with /${command.kind} for commit ${short(event.sha)}`,
      definitionsFrom: head(event),
    };
  }

  // The author may re-run their own pull request, as far as it is trusted on its own.
  const own = pullRequestTrust(event, facts, policy);
  if (same(commenter, userId(pr.author))) {
    if (own.trusted || command.kind !== "ok-to-test") return own;
    return {
      ...own,
      reason: "commenter-not-allowed",
      whatIsNeeded: `An author cannot vouch for their own pull request; ${own.whatIsNeeded}`,
    };
  }
  return {
    trusted: false,
    reason: "commenter-not-allowed",
    detail: `${commenter} neither wrote pull request #${pr.number} nor has write access to ${repo}`,
    whatIsNeeded:
      command.kind === "ok-to-test"
        ? `Only a user with write access to ${repo} can vouch for a pull request with /ok-to-test.`
        : `Only the author of pull request #${pr.number} or a user with write access to ${repo} can start its runs with /${command.kind}.`,
    definitionsFrom: own.trusted ? head(event) : own.definitionsFrom,
  };
}

/** The trust decision for an event, from facts the caller fetched (see `nextFactToFetch`). */
export function decideTrust(event: BatonEvent, facts: TrustFacts, policy: TrustPolicy = {}): TrustDecision {
  switch (event.type) {
    case "push":
      return { trusted: true, reason: "push", detail: "a push needs write access", definitionsFrom: head(event) };
    case "ping":
    case "pull_request_closed":
      return {
        trusted: true,
        reason: "no-run",
        detail: `a ${event.type} event starts no runs`,
        definitionsFrom: head(event),
      };
    case "pull_request":
      return pullRequestTrust(event, facts, policy);
    case "comment":
      return commentTrust(event, facts, policy);
  }
}

/**
 * The next lookup that could change the decision, or undefined when none can (decide now). Lookups are ordered by
 * cost: the commenter's and author's permission are one user search each; /ok-to-test needs the PR's activities.
 */
export function nextFactToFetch(event: BatonEvent, facts: TrustFacts, policy: TrustPolicy = {}): TrustFact | undefined {
  if (decideTrust(event, facts, policy).trusted) return undefined;
  if (event.type === "comment") {
    if (facts.commenterHasWrite === undefined) return "commenterHasWrite";
    // Beyond the commenter's own permission, only the author's /test or /retest depends on the PR's trust.
    const command = event.comment.command.kind;
    const byAuthor = same(userId(event.comment.author), userId(event.pullRequest.author));
    if (!byAuthor || command === "cancel" || command === "ok-to-test") return undefined;
  } else if (event.type !== "pull_request") {
    return undefined;
  }
  if (facts.authorHasWrite === undefined) return "authorHasWrite";
  if (facts.okToTest === undefined) return "okToTest";
  return undefined;
}

/** How the caller answers the lookups `nextFactToFetch` asks for. */
export interface TrustLookups {
  /** REPO_WRITE on the target repository; `refused` (Bitbucket's 400 message) also means no. */
  hasWrite(user: EventUser): Promise<{ granted: boolean; refused?: string }>;
  okToTest(): Promise<{ by: string } | null>;
}

/** Fetches the facts worth fetching, cheapest first, and decides. Each lookup is made at most once. */
export async function resolveTrust(
  event: BatonEvent,
  lookups: TrustLookups,
  policy: TrustPolicy = {},
): Promise<TrustDecision> {
  const facts: TrustFacts = {};
  const hasWrite = async (user: EventUser): Promise<boolean> => {
    const answer = await lookups.hasWrite(user);
    if (answer.refused !== undefined) facts.lookupRefused = answer.refused;
    return answer.granted;
  };
  // Every lookup settles its fact, so each is asked at most once: three rounds at most.
  for (let round = 0; round < 3; round++) {
    const fact = nextFactToFetch(event, facts, policy);
    if (fact === undefined) break;
    if (fact === "authorHasWrite" && "pullRequest" in event) {
      facts.authorHasWrite = await hasWrite(event.pullRequest.author);
    } else if (fact === "commenterHasWrite" && event.type === "comment") {
      facts.commenterHasWrite = await hasWrite(event.comment.author);
    } else {
      facts.okToTest = await lookups.okToTest();
    }
  }
  return decideTrust(event, facts, policy);
}

export interface PullRequestComment {
  /** Slug (or name) of the comment's author. */
  author: string;
  /** The author has REPO_WRITE on the target repository. */
  authorHasWrite: boolean;
  text: string;
  /** Server time of the comment, epoch ms. */
  at: number;
}

/**
 * The /ok-to-test that covers `headSha`, if any: written by a REPO_WRITE user, and either naming this commit
 * (`/ok-to-test <sha>`) or written at or after `headSince`.
 *
 * `headSince` must be a server time: when Bitbucket recorded the head moving to `headSha` (the PR's RESCOPED
 * activity, the `pr:from_ref_updated` delivery date, or the PR's creation when it never moved). Never a commit's
 * author or committer date: the untrusted author sets those, and a back-dated commit would inherit an earlier
 * /ok-to-test.
 */
export function okToTestFor(
  headSha: string,
  headSince: number,
  comments: readonly PullRequestComment[],
): { by: string } | undefined {
  const sha = headSha.toLowerCase();
  for (const comment of comments) {
    if (!comment.authorHasWrite) continue;
    const command = parseComment(comment.text);
    if (command?.kind !== "ok-to-test") continue;
    if (command.sha !== undefined ? sha.startsWith(command.sha) : comment.at >= headSince) {
      return { by: comment.author };
    }
  }
  return undefined;
}
