import assert from "node:assert/strict";
import { readdirSync, readFileSync } from "node:fs";
import { describe, test } from "node:test";
import { z } from "zod";
import { SchemaError } from "../http/errors.ts";
import { ErrorBodySchema } from "../http/failures.ts";
import { parseBody } from "../http/parse.ts";
import {
  AccessTokenSchema,
  ApplicationPropertiesSchema,
  ChangesPageSchema,
  CommitSchema,
  CreatedAccessTokenSchema,
  PullRequestSchema,
  pageOf,
  RepositorySchema,
  TimestampSchema,
  UserSchema,
  WebhookSchema,
} from "./schemas.ts";

const FIXTURES = new URL("../../../test/fixtures/bitbucket-dc/", import.meta.url);

function fixture(name: string): unknown {
  return JSON.parse(readFileSync(new URL(name, FIXTURES), "utf8"));
}

// Every captured REST body, with the schema the client parses it with, or why the client never reads it.
const REST_FIXTURES: Record<string, z.ZodType | string> = {
  "rest-application-properties-7.11.2.sourcegraph.json": ApplicationPropertiesSchema,
  "rest-branch-list-paged.bbs-plugin.json": "branches are not read by Baton",
  "rest-branch-list-paged.go-scm.json": "branches are not read by Baton",
  "rest-build-status-list-paged.go-scm.json": "legacy /rest/build-status/1.0 listing; Baton uses the repository API",
  "rest-capabilities.jenkins-atlassian.json": "/rest/capabilities is not read by Baton",
  "rest-commit-changes-paged.go-scm.json": ChangesPageSchema,
  "rest-commit-get.bbs-plugin.json": CommitSchema,
  "rest-commit-get.go-scm.json": CommitSchema,
  "rest-commits-since-paged-dc9.bbs-plugin.json": pageOf(CommitSchema),
  "rest-error-duplicate-pr.sourcegraph.json": ErrorBodySchema,
  "rest-error-merge-vetoed.sourcegraph.json": ErrorBodySchema,
  "rest-error-no-such-commit.jenkins-atlassian.json": ErrorBodySchema,
  "rest-error-no-such-project.go-scm.json": ErrorBodySchema,
  "rest-error-pr-not-found.sourcegraph.json": ErrorBodySchema,
  "rest-files-list-paged.drone-go-scm.json": pageOf(z.string()),
  "rest-pr-activities-paged.drone-go-scm.json": "pull-request activities are not read by Baton",
  "rest-pr-changes-paged.atlantis.json": ChangesPageSchema,
  "rest-pr-changes-paged.go-scm.json": ChangesPageSchema,
  "rest-pr-get-fork-2017.bbs-plugin.json": PullRequestSchema,
  "rest-pr-get-fork.bbs-plugin.json": PullRequestSchema,
  "rest-pr-get-merged.atlantis.json": PullRequestSchema,
  "rest-pr-get.atlantis.json": PullRequestSchema,
  "rest-pr-get.go-scm.json": PullRequestSchema,
  "rest-pr-list-paged-with-fork.bbs-plugin.json": pageOf(PullRequestSchema),
  "rest-pr-list-paged.go-scm.json": pageOf(PullRequestSchema),
  "rest-pr-list-paged.jenkins-atlassian.json": pageOf(PullRequestSchema),
  "rest-repo-get.go-scm.json": RepositorySchema,
  "rest-tag-list-paged.go-scm.json": "tags are not read by Baton",
  "rest-user-get.go-scm.json": UserSchema,
  "rest-webhook-capabilities.jenkins-atlassian.json": "/rest/webhooks/latest/capabilities is not read by Baton",
  "rest-webhook-create-response.jenkins-atlassian.json": WebhookSchema,
  "rest-webhook-get.go-scm.json": WebhookSchema,
  "rest-webhook-list-last-page.jenkins-atlassian.json": pageOf(WebhookSchema),
  "rest-webhook-list-paged-dc9.bbs-plugin.json": pageOf(WebhookSchema),
  "rest-webhook-list-paged.go-scm.json": pageOf(WebhookSchema),
  "rest-webhook-list-paged.jenkins-atlassian.json": pageOf(WebhookSchema),
};

const files = readdirSync(FIXTURES).filter((f) => f.endsWith(".json"));

describe("schemas accept the captured REST bodies", () => {
  test("every rest-*.json fixture is classified", () => {
    const rest = files.filter((f) => f.startsWith("rest-")).sort();
    assert.deepEqual(rest, Object.keys(REST_FIXTURES).sort());
  });

  for (const [name, schema] of Object.entries(REST_FIXTURES)) {
    if (typeof schema === "string") continue;
    test(name, () => {
      const result = schema.safeParse(fixture(name));
      assert.ok(result.success, result.success ? "" : JSON.stringify(result.error.issues.slice(0, 3)));
    });
  }

  // Webhook payloads carry the same pull-request entity, including the only DC 10 captures with ISO dates.
  for (const name of files.filter((f) => f.startsWith("webhook-pr-"))) {
    test(`pullRequest in ${name}`, () => {
      const body = fixture(name) as { pullRequest: unknown };
      const pr = PullRequestSchema.parse(body.pullRequest);
      assert.equal(typeof pr.createdDate, "number");
    });
  }
});

describe("parsed values", () => {
  test("DC 10 ISO timestamps become epoch milliseconds", () => {
    const body = fixture("webhook-pr-opened-dc10-iso-dates.bbs-plugin.json") as {
      pullRequest: { createdDate: string };
    };
    const pr = PullRequestSchema.parse(body.pullRequest);
    assert.equal(pr.createdDate, Date.parse(body.pullRequest.createdDate));
  });

  test("timestamps: epoch ms, digit strings and ISO strings; garbage is rejected", () => {
    assert.equal(TimestampSchema.parse(1530766870981), 1530766870981);
    assert.equal(TimestampSchema.parse("1616539597394"), 1616539597394);
    assert.equal(TimestampSchema.parse("2026-08-19T17:27:55.266Z"), Date.UTC(2026, 7, 19, 17, 27, 55, 266));
    assert.equal(TimestampSchema.safeParse("yesterday").success, false);
  });

  test("a fork pull request keeps the fork's origin and personal project", () => {
    const pr = PullRequestSchema.parse(fixture("rest-pr-get-fork-2017.bbs-plugin.json"));
    assert.equal(pr.fromRef.repository.project.key, "~USER");
    assert.equal(pr.fromRef.repository.origin?.project.key, "PROJECT_1");
    assert.equal(pr.toRef.repository.origin, undefined);
  });

  test("unknown fields are dropped, webhook configuration keys are kept", () => {
    const webhooks = pageOf(WebhookSchema).parse(fixture("rest-webhook-list-paged-dc9.bbs-plugin.json"));
    assert.deepEqual(webhooks.values[0]?.configuration, { createdBy: "bitbucket" });
    const prs = pageOf(PullRequestSchema).parse(fixture("rest-pr-list-paged.jenkins-atlassian.json"));
    assert.equal("properties" in (prs.values[0] ?? {}), false);
  });

  test("explicit nulls in optional fields read as absent", () => {
    const user = UserSchema.parse({ name: "svc", slug: "svc", emailAddress: null, displayName: null });
    assert.equal(user.emailAddress, undefined);
    const hook = WebhookSchema.parse({ ...(fixture("rest-webhook-get.go-scm.json") as object), configuration: null });
    assert.equal(hook.configuration, undefined);
  });

  test("changes with `links.self: [null]` parse", () => {
    const changes = ChangesPageSchema.parse(fixture("rest-pr-changes-paged.go-scm.json"));
    assert.deepEqual(
      changes.values.map((c) => c.path.toString),
      ["COPYING", "README", "README.md", "main.go"],
    );
  });

  test("access tokens: numeric ids become strings, the create response needs the secret", () => {
    const token = { id: 252973515069, name: "ci", createdDate: 1700000000000, permissions: ["REPO_READ"] };
    assert.equal(AccessTokenSchema.parse(token).id, "252973515069");
    assert.equal(CreatedAccessTokenSchema.safeParse(token).success, false);
    assert.equal(CreatedAccessTokenSchema.parse({ ...token, token: "BBDC-x" }).token, "BBDC-x");
  });
});

describe("a missing or wrong field names its path and the endpoint", () => {
  const ctx = {
    group: "pull-requests",
    method: "GET",
    path: "/rest/api/latest/projects/P/repos/r/pull-requests",
  } as const;

  test("missing nested field in a page", () => {
    const body = fixture("rest-pr-list-paged.jenkins-atlassian.json") as {
      values: { fromRef: Record<string, unknown> }[];
    };
    delete body.values[1]?.fromRef.latestCommit;
    const err = catchError(() => parseBody(pageOf(PullRequestSchema), Buffer.from(JSON.stringify(body)), ctx));
    assert.ok(err instanceof SchemaError);
    assert.equal(err.fieldPath, "values[1].fromRef.latestCommit");
    assert.match(err.message, /field values\[1\]\.fromRef\.latestCommit is missing/);
    assert.match(err.message, /GET \/rest\/api\/latest\/projects\/P\/repos\/r\/pull-requests \(pull-requests\)/);
  });

  test("missing union-typed timestamp is reported as missing", () => {
    const pr = fixture("rest-pr-get.go-scm.json") as Record<string, unknown>;
    delete pr.createdDate;
    const err = catchError(() => parseBody(PullRequestSchema, Buffer.from(JSON.stringify(pr)), ctx));
    assert.ok(err instanceof SchemaError);
    assert.equal(err.fieldPath, "createdDate");
    assert.match(err.message, /createdDate is missing/);
  });

  test("a wrong type is reported without quoting the value", () => {
    const hook = { ...(fixture("rest-webhook-get.go-scm.json") as object), url: 12345678 };
    const err = catchError(() =>
      parseBody(WebhookSchema, Buffer.from(JSON.stringify(hook)), { ...ctx, group: "webhooks" }),
    );
    assert.ok(err instanceof SchemaError);
    assert.equal(err.fieldPath, "url");
    assert.match(err.message, /field url is invalid/);
    assert.doesNotMatch(err.message, /12345678/);
  });

  test("a body that is not JSON", () => {
    assert.throws(
      () => parseBody(UserSchema, Buffer.from("<html>login</html>"), ctx),
      (err: unknown) => err instanceof SchemaError && /not JSON/.test(err.message) && err.fieldPath === "",
    );
  });
});

function catchError(fn: () => unknown): unknown {
  try {
    fn();
  } catch (err) {
    return err;
  }
  return assert.fail("expected an error");
}
