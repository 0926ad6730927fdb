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

const synced = { kind: "synced", url: "https://baton/hooks/github", print: "p", repaired: [], expiresAt: 0 } as const;

test("an installed App with its webhook in sync makes the Repository Ready, with a read-only token per run", () => {
  const c = byType(appModeConditions(spec(), location, { credential: {} }, synced));
  assert.equal(c.Ready?.status, "True");
  assert.equal(c.TokenReady?.reason, "AppInstalled");
  assert.equal(c.CloneTokenReady?.reason, "PerRunAppToken");
  assert.equal(c.CloneTokenWarning?.status, "False");
  assert.deepEqual([c.WebhookSynced?.status, c.WebhookSynced?.reason], ["True", "AppWebhookSynced"]);
  assert.match(c.WebhookSynced?.message ?? "", /App 42's webhook delivers to https:\/\/baton\/hooks\/github/);
});

test("another Repository holding the App's secret: WebhookSynced=False naming it, and not Ready", () => {
  const c = byType(
    appModeConditions(spec(), location, { credential: {} }, { kind: "conflict", holder: "team-a/hello" }),
  );
  assert.deepEqual([c.WebhookSynced?.status, c.WebhookSynced?.reason], ["False", "AppWebhookConflict"]);
  assert.match(c.WebhookSynced?.message ?? "", /Repository team-a\/hello/);
  assert.deepEqual([c.Ready?.status, c.Ready?.reason], ["False", "WebhookNotSynced"]);
});

test("GitHub refusing the App's JWT names the key's Secret, never the key", () => {
  const refused = { kind: "failed", failure: "unauthorized", detail: "401 Bad credentials", expiresAt: 0 } as const;
  const c = byType(appModeConditions(spec(), location, { credential: {} }, refused));
  assert.deepEqual([c.WebhookSynced?.status, c.WebhookSynced?.reason], ["False", "AppKeyRefused"]);
  assert.match(c.WebhookSynced?.message ?? "", /Secret k key "private-key.pem" does not hold that App's current/);
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
