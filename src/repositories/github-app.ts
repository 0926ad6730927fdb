// A Repository that names a GitHub App (spec.githubApp): the App's own webhook, set in the App's settings, delivers
// every installed repository's events, so there is no repository hook to create, repair or delete, and runs get a
// token minted for each of them. What the Repository controller can say is whether the App reaches the repository:
// its key is readable and valid, and GitHub answers with an installation token for it.
import type { Repository } from "../api/repository.ts";
import type { AppProblem } from "../tokens/github-app.ts";
import type { RepositoryLocation } from "./decisions.ts";

type Condition = { type: string; status: "True" | "False" | "Unknown"; reason: string; message: string };

/** The conditions of an App-mode Repository from the answer to "may the App act on this repository?". Pure. */
export function appModeConditions(
  repo: Pick<Repository, "spec">,
  location: RepositoryLocation,
  answer: { credential: unknown } | AppProblem,
): Condition[] {
  const where = `${location.project}/${location.slug}`;
  const app = repo.spec.githubApp?.appId ?? "";
  const operatorToken = repo.spec.pipelines?.cloneWithOperatorToken === true;
  // spec.webhook.managed: false is hands off: no word on the webhook at all.
  const webhook: Condition[] = repo.spec.webhook.managed
    ? [
        {
          type: "WebhookSynced",
          status: "Unknown",
          reason: "AppWebhook",
          message: `the GitHub App ${app}'s own webhook delivers this repository's events; Baton does not check it yet: set its URL to Baton's intake (path /hooks/github) and its secret in the App's settings`,
        },
      ]
    : [];
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
    { type: "Ready", status: "True", reason: "Connected", message: `the GitHub App ${app} reaches ${where}` },
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
