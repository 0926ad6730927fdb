// A Repository that names a GitHub App (spec.githubApp): the App's own webhook, set in the App's settings, delivers
// every installed repository's events, so there is no repository hook to create or delete, and runs get a token
// minted for each of them. What the Repository controller says is whether the App reaches the repository (its key
// is readable and valid, and GitHub answers with an installation token for it) and, with spec.webhook.managed,
// whether the App's one webhook delivers to Baton with this Repository's secret (app-hook.ts keeps it so).
import type { Repository } from "../api/repository.ts";
import type { AppProblem } from "../tokens/github-app.ts";
import { keyRefused } from "../tokens/github-app.ts";
import { type AppHookOutcome, appHookSynced } from "./app-hook.ts";
import type { RepositoryLocation } from "./decisions.ts";

type Condition = { type: string; status: "True" | "False" | "Unknown"; reason: string; message: string };

/** WebhookSynced from the App's webhook check (app-hook.ts). Pure. */
export function appWebhookCondition(repo: Pick<Repository, "spec">, outcome: AppHookOutcome): Condition {
  const app = `the GitHub App ${repo.spec.githubApp?.appId ?? ""}'s webhook`;
  const condition = (status: Condition["status"], reason: string, message: string): Condition => ({
    type: "WebhookSynced",
    status,
    reason,
    message,
  });
  switch (outcome.kind) {
    case "synced":
      return condition(
        "True",
        appHookSynced,
        `${app} delivers to ${outcome.url} as JSON, TLS verified, signed with the secret of spec.webhook.secretRef (shared by every Repository of the App)`,
      );
    case "conflict":
      return condition(
        "False",
        "AppWebhookConflict",
        `${app} is signed with the secret of Repository ${outcome.holder}, and an App has one webhook secret: this Repository's spec.webhook.secretRef holds another, so its deliveries would fail verification. Point spec.webhook.secretRef at the same value; Baton does not rewrite the webhook for this Repository while ${outcome.holder} uses it`,
      );
    case "problem":
      return condition("False", outcome.reason, outcome.message);
    case "failed":
      switch (outcome.failure) {
        case "unauthorized":
          return condition("False", "AppKeyRefused", `reading ${app}: ${keyRefused(repo).problem}`);
        case "rateLimited":
          return condition("False", "RateLimited", `GitHub is rate limiting Baton; will retry: ${outcome.detail}`);
        case "unavailable":
          return condition("False", "GitHubUnavailable", `could not reach GitHub; will retry: ${outcome.detail}`);
        default:
          return condition("False", "SyncFailed", `checking ${app}: ${outcome.detail}`);
      }
  }
}

/** The Normal Event of a repair: the fields that had drifted, by name (the secret's value never). */
export function appHookRepaired(
  repo: Pick<Repository, "spec">,
  outcome: Extract<AppHookOutcome, { kind: "synced" }>,
): [reason: string, message: string] {
  return [
    "AppWebhookRepaired",
    `repaired the GitHub App ${repo.spec.githubApp?.appId ?? ""}'s webhook with one update: ${outcome.repaired.join(", ")} differed from what Baton delivers with (now ${outcome.url})`,
  ];
}

/**
 * The conditions of an App-mode Repository from the answer to "may the App act on this repository?" and, with a
 * managed webhook, the App's webhook check (undefined: spec.webhook.managed is false, and nothing is said of it).
 * Pure.
 */
export function appModeConditions(
  repo: Pick<Repository, "spec">,
  location: RepositoryLocation,
  answer: { credential: unknown } | AppProblem,
  hook?: AppHookOutcome,
): Condition[] {
  const where = `${location.project}/${location.slug}`;
  const app = repo.spec.githubApp?.appId ?? "";
  const operatorToken = repo.spec.pipelines?.cloneWithOperatorToken === true;
  const webhook: Condition[] = hook ? [appWebhookCondition(repo, hook)] : [];
  if ("problem" in answer) {
    return [
      { type: "TokenReady", status: "False", reason: answer.reason, message: answer.problem },
      { type: "Ready", status: "False", reason: "TokenNotReady", message: answer.problem },
      ...webhook,
    ];
  }
  return [
    {
      type: "TokenReady",
      status: "True",
      reason: "AppInstalled",
      message: `the GitHub App ${app} is installed on ${where}; Baton's calls use its installation token, renewed before it expires`,
    },
    webhook[0]?.status === "False"
      ? { type: "Ready", status: "False", reason: "WebhookNotSynced", message: webhook[0].message }
      : { type: "Ready", status: "True", reason: "Connected", message: `the GitHub App ${app} reaches ${where}` },
    ...webhook,
    operatorToken
      ? {
          type: "CloneTokenReady",
          status: "True",
          reason: "OperatorToken",
          message: "runs clone with the App's installation token",
        }
      : {
          type: "CloneTokenReady",
          status: "True",
          reason: "PerRunAppToken",
          message: `each run clones with a token the App mints for it alone (contents: read on ${where})`,
        },
    operatorToken
      ? {
          type: "CloneTokenWarning",
          status: "True",
          reason: "OperatorToken",
          message:
            "spec.pipelines.cloneWithOperatorToken is on: every run holds the App's installation token, with every permission the App has; turn it off so each run gets a contents: read token for this repository alone",
        }
      : {
          type: "CloneTokenWarning",
          status: "False",
          reason: "ReadOnly",
          message: "runs can only read this repository",
        },
  ];
}
