import assert from "node:assert/strict";
import { test } from "node:test";
import { appModeConditions } from "./github-app.ts";

const location = { server: "https://github.com", project: "octo-org", slug: "hello-🚀" };
const spec = (over: Record<string, unknown> = {}) =>
  ({
    spec: {
      url: "https://github.com/octo-org/hello",
      githubApp: { appId: "42", privateKeyRef: { name: "k", key: "private-key.pem" } },
      webhook: { managed: true, scope: "repository" },
      ...over,
    },
  }) as never;
const byType = (conditions: ReturnType<typeof appModeConditions>) =>
  Object.fromEntries(conditions.map((c) => [c.type, c]));

test("an installed App makes the Repository Ready, with a read-only token per run and the webhook left to the App", () => {
  const c = byType(appModeConditions(spec(), location, { credential: {} }));
  assert.equal(c.Ready?.status, "True");
  assert.equal(c.TokenReady?.reason, "AppInstalled");
  assert.equal(c.CloneTokenReady?.reason, "PerRunAppToken");
  assert.equal(c.CloneTokenWarning?.status, "False");
  assert.equal(c.WebhookSynced?.status, "Unknown", "Baton does not claim the App's webhook is right");
});

test("a problem reaching the App is TokenReady=False with its reason, and nothing about clone tokens", () => {
  const problem = { reason: "AppNotInstalled", problem: "the App 42 is not installed on octo-org/hello-🚀" };
  const c = byType(appModeConditions(spec(), location, problem));
  assert.deepEqual([c.TokenReady?.status, c.TokenReady?.reason], ["False", "AppNotInstalled"]);
  assert.deepEqual([c.Ready?.status, c.Ready?.reason], ["False", "TokenNotReady"]);
  assert.equal(c.CloneTokenReady, undefined);
});

test("cloneWithOperatorToken hands runs the installation token and says so as a warning", () => {
  const c = byType(
    appModeConditions(spec({ pipelines: { cloneWithOperatorToken: true } }), location, { credential: {} }),
  );
  assert.equal(c.CloneTokenWarning?.status, "True");
  assert.equal(c.CloneTokenWarning?.reason, "OperatorToken");
});

test("webhook.managed: false says nothing about the webhook", () => {
  const c = byType(
    appModeConditions(spec({ webhook: { managed: false, scope: "repository" } }), location, { credential: {} }),
  );
  assert.equal(c.WebhookSynced, undefined);
});
