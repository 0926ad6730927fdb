import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { hookOf } from "../providers/bitbucket-datacenter/provider.ts";
import { WebhookSchema } from "../providers/bitbucket-datacenter/schemas.ts";
import type { Hook } from "../providers/provider.ts";
import {
  desiredWebhook,
  identifyHooks,
  intakeUrlOf,
  jittered,
  parseRepositoryUrl,
  planWebhook,
  projectWebhookEvents,
  pullRequestsToCatchUp,
  repositoryIdentity,
  retryDelay,
  secretPrintOf,
  siblingsUnhandled,
  siblingsWithoutRun,
  syncTimeDue,
  updatedSince,
  webhookDrift,
  webhookFailure,
  webhookName,
} from "./decisions.ts";

describe("parseRepositoryUrl", () => {
  const cases: [string, ReturnType<typeof parseRepositoryUrl>][] = [
    [
      "https://bitbucket.example.com/projects/PLATFORM/repos/payments-api",
      { server: "https://bitbucket.example.com", project: "PLATFORM", slug: "payments-api" },
    ],
    [
      "https://bitbucket.example.com/projects/PLATFORM/repos/payments-api/browse",
      { server: "https://bitbucket.example.com", project: "PLATFORM", slug: "payments-api" },
    ],
    [
      "https://example.com:8443/bitbucket/projects/P_1/repos/api.v2/",
      { server: "https://example.com:8443/bitbucket", project: "P_1", slug: "api.v2" },
    ],
    [
      "https://bitbucket.example.com/scm/platform/payments-api.git",
      { server: "https://bitbucket.example.com", project: "PLATFORM", slug: "payments-api" },
    ],
    [
      "http://127.0.0.1:7990/ctx/scm/demo/hello",
      { server: "http://127.0.0.1:7990/ctx", project: "DEMO", slug: "hello" },
    ],
    ["https://bitbucket.example.com/users/alice/repos/fork", undefined],
    ["bitbucket.example.com/projects/P/repos/x", undefined],
    ["https://bitbucket.example.com/projects/P", undefined],
    // Credentials pasted into the URL: refused, so they never travel into status, logs or calls.
    ["https://ci:s3cr3t-Passw0rd@bitbucket.example.com/scm/platform/api.git", undefined],
    [
      `https://bitbucket.example.com/${"BBDC-"}MTIzNDU2Nzg5MDEyOn9x1bQkR2vLd8sZpW3eTy4uHc/projects/P/repos/x`,
      undefined,
    ],
  ];
  for (const [url, expected] of cases) test(url, () => assert.deepEqual(parseRepositoryUrl(url), expected));

  test("Bitbucket Cloud: workspace and slug, by host or by spec.provider", () => {
    assert.deepEqual(parseRepositoryUrl("https://bitbucket.org/My-Team/Payments.API.git"), {
      server: "https://bitbucket.org",
      project: "my-team",
      slug: "payments.api",
    });
    assert.deepEqual(parseRepositoryUrl("http://127.0.0.1:8080/ws/app/", "bitbucket-cloud"), {
      server: "http://127.0.0.1:8080",
      project: "ws",
      slug: "app",
    });
    // Two segments are no Data Center URL, and a Data Center URL is no Cloud one.
    assert.equal(parseRepositoryUrl("http://127.0.0.1:8080/ws/app"), undefined);
    assert.equal(parseRepositoryUrl("https://bitbucket.org/projects/P/repos/x"), undefined);
  });

  test("browse and clone URLs of one repository have one identity", () => {
    const a = parseRepositoryUrl("https://Bitbucket.example.com/projects/PLATFORM/repos/api");
    const b = parseRepositoryUrl("https://bitbucket.example.com/scm/platform/api.git");
    assert.ok(a && b);
    assert.equal(repositoryIdentity(a), repositoryIdentity(b));
  });
});

// Built through the client's schema, so the test data has exactly the shape the client hands over.
const hook = (over: Record<string, unknown> = {}): Hook =>
  hookOf(
    WebhookSchema.parse({
      id: 10,
      name: "baton",
      url: "https://baton.example.com/hooks/bitbucket",
      active: true,
      events: ["pr:opened", "repo:refs_changed"],
      configuration: { secret: "s3cret" },
      ...over,
    }),
  );

describe("webhooks", () => {
  const desired = desiredWebhook({
    name: "baton",
    intakeUrl: "https://baton.example.com/hooks/bitbucket",
    secret: "s3cret",
    events: ["repo:refs_changed", "pr:opened"],
  });

  test("the desired webhook subscribes to every handled event by default", () => {
    const all = desiredWebhook({ name: "baton", intakeUrl: "https://x/hooks", secret: "s" });
    assert.deepEqual(all.events, [
      "pr:comment:added",
      "pr:declined",
      "pr:deleted",
      "pr:from_ref_updated",
      "pr:merged",
      "pr:modified",
      "pr:opened",
      "repo:refs_changed",
    ]);
    assert.equal(all.active, true);
  });

  test("missing → create", () =>
    assert.deepEqual(planWebhook([hook({ name: "jenkins" })], desired), { action: "create" }));
  test("matching → none", () => assert.equal(planWebhook([hook()], desired).action, "none"));
  test("event order does not matter", () =>
    assert.equal(planWebhook([hook({ events: ["repo:refs_changed", "pr:opened"] })], desired).action, "none"));

  const drifts: [string, Record<string, unknown>, string[]][] = [
    ["url changed", { url: "https://elsewhere/hooks" }, ["url"]],
    ["deactivated", { active: false }, ["active"]],
    ["an event removed", { events: ["pr:opened"] }, ["events"]],
    ["secret cleared by a PUT without configuration", { configuration: undefined }, ["secret"]],
    ["secret changed", { configuration: { secret: "other" } }, ["secret"]],
    ["everything", { url: "x", active: false, events: [], configuration: {} }, ["url", "active", "events", "secret"]],
  ];
  for (const [name, change, fields] of drifts) {
    test(`${name} → replace, naming ${fields.join(", ")}`, () => {
      const plan = planWebhook([hook(change)], desired);
      assert.equal(plan.action, "replace");
      assert.deepEqual(plan.action === "replace" ? plan.drift : [], fields);
    });
  }

  test("drift never carries the secret's value", () =>
    assert.ok(
      !webhookDrift(hook({ configuration: { secret: "leaked?" } }), desired)
        .join()
        .includes("leaked"),
    ));

  test("other tools' webhooks are never considered, even at the same URL", () => {
    const plan = planWebhook([hook({ id: 1, name: "someone-else" }), hook({ id: 2 })], desired);
    assert.deepEqual(plan, { action: "none", webhook: hook({ id: 2 }) });
  });

  test("duplicates with Baton's name → keep the oldest, remove the rest", () => {
    const plan = planWebhook([hook({ id: 12 }), hook({ id: 11 }), hook({ id: 13 })], desired);
    assert.equal(plan.action, "deduplicate");
    if (plan.action === "deduplicate") {
      assert.equal(plan.keep.id, "11");
      assert.deepEqual(
        plan.remove.map((w) => w.id),
        ["12", "13"],
      );
    }
  });
});

test("catch-up picks open pull requests whose head has neither a run nor a status", () => {
  const open = [
    { id: 1, headSha: "a".repeat(40) },
    { id: 2, headSha: "b".repeat(40) },
    { id: 3, headSha: "c".repeat(40) },
  ];
  assert.deepEqual(pullRequestsToCatchUp(open, new Set(["a".repeat(40)]), new Set(["b".repeat(40)])), [
    { id: 3, headSha: "c".repeat(40) },
  ]);
});

test("catch-up also picks a head whose runs name a sibling pipeline that never got a run", () => {
  const open = [
    { id: 1, headSha: "a".repeat(40) },
    { id: 2, headSha: "b".repeat(40) },
  ];
  const withRuns = new Set(["a".repeat(40), "b".repeat(40)]);
  const missing = siblingsWithoutRun([
    { sha: "a".repeat(40), pipeline: "build", siblings: ["build", "lint"] },
    { sha: "a".repeat(40), pipeline: "lint", siblings: ["build", "lint"] },
    { sha: "b".repeat(40), pipeline: "build", siblings: ["build", "lint"] },
  ]);
  assert.deepEqual(missing, new Map([["b".repeat(40), new Set(["lint"])]]));
  assert.deepEqual(pullRequestsToCatchUp(open, withRuns, new Set(), siblingsUnhandled(missing, new Set())), [
    { id: 2, headSha: "b".repeat(40) },
  ]);
});

test("a sibling pruned by max-keep-runs (its build status is on the commit) does not make its head look lost", () => {
  const head = "c".repeat(40);
  const open = [{ id: 3, headSha: head }];
  // lint's run was pruned; build's survives and names both.
  const missing = siblingsWithoutRun([{ sha: head, pipeline: "build", siblings: ["build", "lint"] }]);
  assert.deepEqual(missing, new Map([[head, new Set(["lint"])]]));
  const unhandled = siblingsUnhandled(missing, new Set([`${head}|lint`]));
  assert.deepEqual(pullRequestsToCatchUp(open, new Set([head]), new Set(), unhandled), []);
  // Without lint's status on the commit the event stopped half way: run it.
  assert.deepEqual(
    pullRequestsToCatchUp(open, new Set([head]), new Set(), siblingsUnhandled(missing, new Set())),
    open,
  );
});

test("jitter stays within ±10% of the interval", () => {
  assert.equal(
    jittered(600_000, () => 0),
    540_000,
  );
  assert.equal(
    jittered(600_000, () => 1),
    660_000,
  );
  assert.equal(
    jittered(600_000, () => 0.5),
    600_000,
  );
});

describe("webhooks on a host that never shows the secret (Cloud's secret_set)", () => {
  const desired = desiredWebhook({ name: "baton", intakeUrl: "https://b/hooks", secret: "s3cret" });
  const cloud = (over: Partial<Hook> = {}): Hook => ({
    id: "{0b9c}",
    name: "baton",
    url: "https://b/hooks",
    events: desired.events,
    active: true,
    secretSet: true,
    ...over,
  });
  const record = { id: "{0b9c}", secretPrint: secretPrintOf("s3cret") };

  test("the secret Baton recorded setting on this hook, still set → none", () =>
    assert.equal(planWebhook([cloud()], desired, record).action, "none"));
  test("secret removed (secret_set false) → replace", () =>
    assert.deepEqual(webhookDrift(cloud({ secretSet: false }), desired, record.secretPrint), ["secret"]));
  test("the Secret rotated since Baton set it → replace", () =>
    assert.deepEqual(webhookDrift(cloud(), desired, secretPrintOf("old")), ["secret"]));
  test("no record for this hook (another id, or none) → replace once, so the record holds", () => {
    assert.equal(planWebhook([cloud()], desired, { id: "{other}", secretPrint: record.secretPrint }).action, "replace");
    assert.equal(planWebhook([cloud()], desired).action, "replace");
  });
  test("the record is a print, not the secret", () => assert.ok(!record.secretPrint.includes("s3cret")));
  test("a host that says its encoding and TLS check (GitHub): form bodies or an unchecked certificate → replace", () => {
    assert.equal(planWebhook([cloud({ contentType: "json", insecureSsl: false })], desired, record).action, "none");
    assert.deepEqual(webhookDrift(cloud({ contentType: "form" }), desired, record.secretPrint), ["content_type"]);
    assert.deepEqual(webhookDrift(cloud({ insecureSsl: true }), desired, record.secretPrint), ["insecure_ssl"]);
  });
});

describe("webhooks after an upgrade from the fixed instance name", () => {
  const desired = desiredWebhook({ name: "baton-east", intakeUrl: "https://east/hooks", secret: "s3cret" });
  const legacy = hook({ id: 7, url: "https://east/hooks", events: desired.events });

  test("the legacy hook this Repository recorded is adopted and renamed, not duplicated", () =>
    assert.deepEqual(planWebhook([legacy], desired, { id: "7" }), {
      action: "replace",
      webhook: legacy,
      drift: ["name"],
    }));
  test("a legacy hook it did not record (another cluster's) is left alone", () =>
    assert.deepEqual(planWebhook([legacy], desired, { id: "8" }), { action: "create" }));
  test("without a record, no legacy hook is ours", () =>
    assert.deepEqual(planWebhook([legacy], desired), { action: "create" }));
  test("another installation's named hook is never ours, even when recorded", () =>
    assert.deepEqual(planWebhook([hook({ id: 7, name: "baton-west" })], desired, { id: "7" }), { action: "create" }));
});

test("webhook name: plain baton for the default instance, suffixed otherwise", () => {
  assert.equal(webhookName("baton"), "baton");
  assert.equal(webhookName("prod"), "baton-prod");
});

test("a project webhook subscribes to the union of its members' events; no events means every event", () => {
  assert.deepEqual(projectWebhookEvents([["pr:opened"], ["repo:refs_changed", "pr:opened"]]), [
    "pr:opened",
    "repo:refs_changed",
  ]);
  assert.equal(projectWebhookEvents([["pr:opened"], undefined]).length, 8);
});

describe("syncTimeDue", () => {
  const now = Date.parse("2030-01-01T12:00:00Z");
  const cases: [string, string | undefined, boolean, boolean][] = [
    ["never synced", undefined, false, true],
    ["changed", "2030-01-01T11:59:00Z", true, true],
    ["no-op check a minute later", "2030-01-01T11:59:00Z", false, false],
    ["no-op check after an hour", "2030-01-01T11:00:00Z", false, true],
  ];
  for (const [name, previous, changed, expected] of cases)
    test(name, () => assert.equal(syncTimeDue(previous, now, changed), expected));
});

describe("webhookFailure names what the user must do", () => {
  test("401 on repository scope → InsufficientPermissions naming REPO_ADMIN", () => {
    const f = webhookFailure("unauthorized", "repository", "PRJ/app", "401");
    assert.equal(f.reason, "InsufficientPermissions");
    assert.match(f.message, /REPO_ADMIN/);
  });
  test("401 on project scope → InsufficientPermissions naming PROJECT_ADMIN", () => {
    const f = webhookFailure("unauthorized", "project", "project PRJ", "401");
    assert.equal(f.reason, "InsufficientPermissions");
    assert.match(f.message, /PROJECT_ADMIN/);
  });
  test("404", () => assert.equal(webhookFailure("notFound", "repository", "PRJ/app", "").reason, "RepositoryNotFound"));
  test("429", () => assert.equal(webhookFailure("rateLimited", "repository", "PRJ/app", "").reason, "RateLimited"));
  test("outage", () =>
    assert.equal(webhookFailure("unavailable", "project", "PRJ", "").reason, "BitbucketUnavailable"));
});

test("retry delay doubles from 30 s and stops at the drift interval", () => {
  assert.deepEqual(
    [1, 2, 3, 4, 5, 50].map((n) => retryDelay(n, 600_000)),
    [30_000, 60_000, 120_000, 240_000, 480_000, 600_000],
  );
});

test("catch-up ignores pull requests last updated before the Repository existed", () => {
  const since = Date.parse("2030-01-01T12:00:00Z");
  const prs = [
    { id: 1, headSha: "a", updatedDate: since - 3_600_000 },
    { id: 2, headSha: "b", updatedDate: since - 60_000 },
    { id: 3, headSha: "c", updatedDate: since + 60_000 },
  ];
  assert.deepEqual(
    updatedSince(prs, since).map((p) => p.id),
    [2, 3],
  );
  assert.equal(updatedSince(prs, Number.NaN).length, 3, "no creation time known: all of them");
});

test("each host's webhook delivers to its own intake path beside the configured (Data Center) one", () => {
  assert.equal(
    intakeUrlOf("https://ci.example.com/hooks/bitbucket", "/hooks/bitbucket"),
    "https://ci.example.com/hooks/bitbucket",
  );
  assert.equal(
    intakeUrlOf("https://ci.example.com/baton/hooks/bitbucket", "/hooks/bitbucket-cloud"),
    "https://ci.example.com/baton/hooks/bitbucket-cloud",
  );
  assert.equal(
    intakeUrlOf("https://ci.example.com/baton/", "/hooks/bitbucket-cloud"),
    "https://ci.example.com/baton/hooks/bitbucket-cloud",
  );
});

describe("identifyHooks", () => {
  const hook = (id: string, url: string) => ({ id, name: "web", url, events: ["push"], active: true, secretSet: true });
  const intake = "https://baton.example/hooks/github";

  test("on a host without hook names, the recorded hook and one delivering to the intake become Baton's", () => {
    const hooks = [hook("1", "https://elsewhere/ci"), hook("2", "https://moved.example/x"), hook("3", intake)];
    const named = identifyHooks(hooks, "url", "baton", intake, "2");
    assert.deepEqual(
      named.map((h) => h.name),
      ["web", "baton", "baton"],
    );
    // The plan keeps the oldest of Baton's and repairs its URL; the other tool's hook is never touched.
    const plan = planWebhook(
      named,
      { name: "baton", url: intake, events: ["push"], active: true, secret: "s" },
      {
        id: "2",
      },
    );
    assert.equal(plan.action, "deduplicate");
  });

  test("leaves named hosts' hooks as they are", () => {
    const hooks = [hook("1", intake)];
    assert.deepEqual(identifyHooks(hooks, "name", "baton", intake, "1"), hooks);
  });
});
