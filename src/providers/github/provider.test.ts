import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { BatonEvent } from "../../events/model.ts";
import { ManualClock } from "../../runtime/clock.ts";
import { type Recorded, type Reply, startServer, type TestServer } from "../http/test-server.ts";
import { examplesOf } from "./examples.ts";
import { GitHubProvider, githubWebhookIntake, pullRequestHeadRef } from "./provider.ts";

const opened = examplesOf("api.github.com", "pull_request").find((e) => e.action === "opened");
assert.ok(opened);
const repo = { owner: opened.repository.owner.login, name: opened.repository.name };

let routes: (req: Recorded) => Reply | undefined;
let server: TestServer;
let provider: GitHubProvider;

before(async () => {
  server = await startServer((req) => routes(req) ?? { status: 404, body: { message: "Not Found" } });
  provider = new GitHubProvider({
    server: { kind: "enterprise", webUrl: server.url, apiBase: server.url },
    clock: new ManualClock(),
  });
});
after(async () => {
  await provider.close();
  await server.close();
});

describe("GitHubProvider", () => {
  it("states what GitHub is: Basic x-access-token for git, refs/pull/N/head for forks, validate-only tokens", () => {
    assert.deepEqual(provider.capabilities.git, { kind: "basic", username: "x-access-token" });
    assert.deepEqual(provider.forkHead(repo, 12, "https://github.com/forker/x.git"), {
      kind: "base-ref",
      ref: "refs/pull/12/head",
      refspec: "+refs/pull/12/head:refs/remotes/origin/pull/12/head",
    });
    assert.throws(() => pullRequestHeadRef(0), /invalid/);
    assert.equal(
      provider.cloneUrl("https://github.com/", { owner: "octo", name: "hello" }),
      "https://github.com/octo/hello.git",
    );
    assert.equal(provider.capabilities.tokens.issuing, "validate-only");
  });

  it("the intake names the repository a delivery is for, GHES path prefix included", () => {
    assert.deepEqual(githubWebhookIntake.target(opened), {
      server: "https://github.com",
      project: "Codertocat",
      slug: "Hello-World",
    });
    const ghes = {
      repository: { ...opened.repository, html_url: "https://ghe.example.com/Codertocat/Hello-World" },
    };
    assert.equal(githubWebhookIntake.target(ghes)?.server, "https://ghe.example.com");
    assert.equal(githubWebhookIntake.target({ zen: "hi" }), undefined);
  });

  it("a command comment goes on as a draft, completed by reading its pull request with the caller's credentials", async () => {
    const comment = structuredClone(examplesOf("api.github.com", "issue_comment")[0]);
    assert.ok(comment);
    comment.issue.pull_request = { url: "u" };
    comment.comment.body = "/retest 🚀-build";
    const result = githubWebhookIntake.classify(
      "issue_comment",
      comment,
      { "x-github-delivery": "d-7" },
      {
        receivedAt: new Date(),
      },
    );
    assert.ok(result.ok);
    assert.deepEqual(result.ignored, []);
    const [draft] = result.events;
    assert.ok(draft?.type === "comment");
    BatonEvent.parse(draft);
    assert.equal(draft.sha, "", "no head until the pull request is read");

    const head = "c".repeat(40);
    const number = comment.issue.number;
    const open = { ...opened.pull_request, number, head: { ...opened.pull_request.head, sha: head } };
    routes = (req) => (req.pathname.endsWith(`/pulls/${number}`) ? { body: open } : undefined);
    const before = server.requests.length;
    const completed = await provider.completeEvent(draft, { auth: { kind: "bearer", token: "ghs_operator" } });
    assert.ok(completed.ok);
    assert.ok(completed.event.type === "comment");
    assert.equal(completed.event.sha, head);
    assert.equal(completed.event.pullRequest.latestCommit, head);
    assert.equal(completed.event.requestId, "d-7");
    assert.deepEqual(completed.event.comment.command, { kind: "retest", pipeline: "🚀-build" });
    const reads = server.requests.slice(before);
    assert.equal(reads.length, 1, "one call: GET the pull request");
    assert.equal(reads[0]?.headers.authorization, "Bearer ghs_operator");

    // A complete event costs nothing; a closed or vanished pull request starts nothing, saying why.
    assert.equal((await provider.completeEvent(completed.event)).ok, true);
    assert.equal(server.requests.length, before + 1);
    routes = (req) => (req.pathname.endsWith(`/pulls/${number}`) ? { body: { ...open, state: "closed" } } : undefined);
    const closed = await provider.completeEvent(draft);
    assert.equal(closed.ok, false);
    assert.match(closed.ok ? "" : closed.error, /is closed/);
    routes = () => undefined;
    const gone = await provider.completeEvent(draft);
    assert.match(gone.ok ? "" : gone.error, /is gone/);
  });

  it("catch-up turns a REST pull request into the pull_request event a delivery would give", async () => {
    routes = (req) => (req.pathname.endsWith("/pulls/2") ? { body: opened.pull_request } : undefined);
    const snapshot = await provider.getPullRequest(repo, 2);
    assert.equal(snapshot.latestCommit, opened.pull_request.head.sha);
    const result = provider.pullRequestEvent(snapshot, {
      serverUrl: "https://github.com",
      receivedAt: new Date("2030-01-01T00:00:00Z"),
      head: "f".repeat(40),
    });
    assert.ok(result.ok);
    BatonEvent.parse(result.event);
    assert.equal(result.event.sha, "f".repeat(40));
    assert.equal(result.event.pullRequest.number, 2);
    assert.equal(result.event.headers["x-baton-catch-up"], "true");
    const closed = provider.pullRequestEvent(
      { ...snapshot, raw: { ...opened.pull_request, state: "closed" } },
      { serverUrl: "https://github.com", receivedAt: new Date() },
    );
    assert.equal(closed.ok, false);
  });

  it("lists open pull requests of a branch of the repository itself, not a fork's branch of the same name", async () => {
    const fork = { ...opened.pull_request.head.repo, id: 999 };
    routes = (req) =>
      req.pathname.endsWith("/pulls")
        ? {
            body: [
              { ...opened.pull_request, number: 1 },
              { ...opened.pull_request, number: 3, head: { ...opened.pull_request.head, repo: fork } },
              { ...opened.pull_request, number: 4, head: { ...opened.pull_request.head, ref: "other" } },
            ],
          }
        : undefined;
    const all = await provider.listOpenPullRequests(repo);
    assert.deepEqual(
      all.map((p) => p.number),
      [1, 3, 4],
    );
    const mine = await provider.listOpenPullRequests(repo, { fromRef: `refs/heads/${opened.pull_request.head.ref}` });
    assert.deepEqual(
      mine.map((p) => p.number),
      [1],
    );
  });

  it("build status: one context per key, read back in neutral words", async () => {
    const posted: unknown[] = [];
    routes = (req) => {
      if (req.method === "POST") {
        posted.push(JSON.parse(req.body));
        return { status: 201, body: {} };
      }
      return {
        body: {
          statuses: [{ context: "baton-unit", state: "error", target_url: "https://k/r", description: "cancelled" }],
        },
      };
    };
    await provider.setBuildStatus(repo, "a".repeat(40), {
      key: "baton-unit",
      state: "CANCELLED",
      url: "https://k/r",
      description: "cancelled",
    });
    assert.deepEqual(posted, [
      { state: "error", target_url: "https://k/r", context: "baton-unit", description: "cancelled" },
    ]);
    assert.deepEqual(await provider.getBuildStatus(repo, "a".repeat(40), "baton-unit"), {
      key: "baton-unit",
      state: "CANCELLED",
      url: "https://k/r",
      description: "cancelled",
    });
    assert.equal(await provider.getBuildStatus(repo, "a".repeat(40), "other"), undefined);
    assert.deepEqual(await provider.buildStates(), ["INPROGRESS", "SUCCESSFUL", "FAILED", "CANCELLED"]);
  });

  it("a token whose installation has checks: write also gets the pipeline's check run; any other token does not", async () => {
    const grants = new Map([["ghs_checks", { checks: "write", statuses: "write" }]]);
    const withChecks = new GitHubProvider({
      server: { kind: "enterprise", webUrl: server.url, apiBase: server.url },
      clock: new ManualClock(),
      grantsOf: (token) => grants.get(token),
    });
    const posted: { path: string; body: unknown }[] = [];
    routes = (req) => {
      if (req.method === "POST") {
        posted.push({ path: req.pathname, body: JSON.parse(req.body) });
        return { status: 201, body: { id: 9, name: "unit", status: "in_progress" } };
      }
      if (req.pathname.endsWith("/check-runs")) return { body: { total_count: 0, check_runs: [] } };
      return undefined;
    };
    const sha = "b".repeat(40);
    const status = {
      key: "baton-ci-hello-unit",
      name: "unit",
      state: "INPROGRESS" as const,
      url: "https://k/r",
      description: "running",
      buildNumber: "hello-unit-x7k2p",
    };
    await withChecks.setBuildStatus(repo, sha, status, { auth: { kind: "bearer", token: "ghs_checks" } });
    assert.deepEqual(
      posted.map((p) => p.path.replace(/^.*\/(statuses|check-runs)\b.*$/, "$1")),
      ["statuses", "check-runs"],
    );
    assert.deepEqual(posted[1]?.body, {
      name: "unit",
      details_url: "https://k/r",
      external_id: "hello-unit-x7k2p",
      status: "in_progress",
      output: { title: "running", summary: "**unit**: running\n\nPipelineRun [hello-unit-x7k2p](https://k/r)" },
      head_sha: sha,
    });
    posted.length = 0;
    await withChecks.setBuildStatus(repo, sha, status, { auth: { kind: "bearer", token: "github_pat_other" } });
    assert.equal(posted.length, 1, "a token without checks: write posts the commit status only");
    await withChecks.close();
  });

  it("the App's hook is listed, repaired through its config, and never deleted", async () => {
    const patches: unknown[] = [];
    routes = (req) => {
      if (req.pathname !== "/app/hook/config") return undefined;
      if (req.method === "PATCH") {
        patches.push(JSON.parse(req.body));
        return {
          body: { url: "https://baton/hooks/github", content_type: "json", insecure_ssl: "0", secret: "********" },
        };
      }
      return { body: { url: "https://old/hooks/github", content_type: "json", insecure_ssl: "0" } };
    };
    const jwt = { auth: { kind: "bearer" as const, token: "jwt" } };
    const [hook] = await provider.listHooks({ kind: "app" }, jwt);
    assert.deepEqual(hook, {
      id: "app",
      name: "app",
      url: "https://old/hooks/github",
      events: [],
      active: true,
      secretSet: false,
      contentType: "json",
      insecureSsl: false,
    });
    const input = { name: "baton", url: "https://baton/hooks/github", events: ["push"], active: true, secret: "s" };
    await provider.updateHook({ kind: "app" }, "app", input, jwt);
    assert.deepEqual(patches, [{ url: input.url, content_type: "json", insecure_ssl: "0", secret: "s" }]);
    assert.equal(await provider.deleteHook({ kind: "app" }, "app", jwt), false);
    routes = (req) =>
      req.pathname === "/app/hook/config" ? { status: 404, body: { message: "Not Found" } } : undefined;
    assert.deepEqual(await provider.listHooks({ kind: "app" }, jwt), [], "an App without a webhook lists none");
    await assert.rejects(provider.createHook({ kind: "owner", owner: "octo" }, input), /organisation hooks/);
    await assert.rejects(provider.createHook({ kind: "repository", repo }, { ...input, secret: "" }), /needs a secret/);
  });

  it("validates a personal token with a call that does not count against the limit", async () => {
    routes = (req) =>
      req.pathname === "/rate_limit"
        ? String(req.headers.authorization).endsWith("good")
          ? { body: { resources: {} } }
          : { status: 401, body: { message: "Bad credentials" } }
        : undefined;
    assert.deepEqual(await provider.validateToken("github_pat_good"), { valid: true, neverExpires: true });
    const bad = await provider.validateToken("github_pat_bad");
    assert.equal(bad.valid, false);
    assert.match(bad.valid ? "" : bad.reason, /expired, revoked or mistyped/);
    const classic = await provider.validateToken("ghp_classic");
    assert.match(classic.valid ? "" : classic.reason, /classic personal token/);
  });
});
