import assert from "node:assert/strict";
import { createHmac } from "node:crypto";
import { readFileSync } from "node:fs";
import { createRequire } from "node:module";
import { after, before, describe, it } from "node:test";
import { type ReceivedRequest, startWebhookReceiver, type WebhookReceiver } from "../receiver.ts";
import { basicAuth, bearerAuth, extraHeader, git, http, tempDir } from "../testing.ts";
import { type GitHubSimulator, startGitHubSimulator } from "./index.ts";

type Example = Record<string, unknown>;
const examplesFile = createRequire(import.meta.url).resolve("@octokit/webhooks-examples");
const definitions = JSON.parse(readFileSync(examplesFile, "utf8")) as { name: string; examples: Example[] }[];

function examplesOf(event: string, action?: string): Example[] {
  const all = definitions.find((d) => d.name === event)?.examples ?? [];
  const picked = action === undefined ? all : all.filter((e) => e.action === action);
  assert.ok(picked.length > 0, `no published example of ${event}.${action}`);
  return picked;
}

/** Objects whose keys are data (which permissions an App holds), not part of the payload's shape. */
const DATA_MAPS = new Set(["permissions", "custom_properties"]);

const isObject = (v: unknown): v is Record<string, unknown> => v !== null && typeof v === "object" && !Array.isArray(v);

/**
 * Compares the key set of `ours` with the published examples, recursively: every key all examples have must be
 * there, and every key we send must appear in some example. Returns the differences as readable paths.
 */
function shapeProblems(ours: unknown, examples: unknown[], path = "$"): string[] {
  const objects = examples.filter(isObject);
  if (!isObject(ours) || objects.length === 0) return [];
  const problems: string[] = [];
  const union = new Set(objects.flatMap((o) => Object.keys(o)));
  const required = [...union].filter((k) => objects.every((o) => k in o));
  for (const k of required) if (!(k in ours)) problems.push(`${path}.${k} missing`);
  for (const k of Object.keys(ours)) {
    if (!union.has(k)) {
      problems.push(`${path}.${k} not in any example`);
      continue;
    }
    const value = ours[k];
    if (DATA_MAPS.has(k)) continue;
    const theirs = objects.map((o) => o[k]);
    if (Array.isArray(value) && value.length > 0)
      problems.push(...shapeProblems(value[0], theirs.filter(Array.isArray).flat(), `${path}.${k}[0]`));
    else problems.push(...shapeProblems(value, theirs, `${path}.${k}`));
  }
  return problems;
}

/** Every example of any event that has `pick(example)`: for parts only some events' examples show. */
function fromAnyEvent(pick: (e: Example) => unknown): Record<string, unknown>[] {
  return definitions.flatMap((d) => d.examples.map(pick)).filter(isObject);
}

/**
 * Two parts depend on the world rather than the event: `organization` (a repository of an organization) and
 * `issue.pull_request` (a comment on a pull request rather than an issue). Each is compared with every example,
 * of any event, that has one.
 */
function payloadProblems(payload: Record<string, unknown>, examples: Example[]): string[] {
  const { organization, ...rest } = payload;
  const problems: string[] = [];
  if (organization !== undefined)
    problems.push(
      ...shapeProblems(
        organization,
        fromAnyEvent((e) => e.organization),
        "$.organization",
      ),
    );
  if (isObject(rest.issue) && rest.issue.pull_request !== undefined) {
    const { pull_request, ...issue } = rest.issue;
    rest.issue = issue;
    const links = fromAnyEvent((e) => (isObject(e.issue) ? e.issue.pull_request : undefined));
    problems.push(...shapeProblems(pull_request, links, "$.issue.pull_request"));
  }
  return [
    ...problems,
    ...shapeProblems(
      rest,
      examples.map(({ organization: _, ...e }) => e),
    ),
  ];
}

describe("GitHub simulator: signed deliveries shaped like GitHub's", () => {
  let sim: GitHubSimulator;
  let receiver: WebhookReceiver;
  let home: { path: string; remove: () => Promise<void> };
  const secret = "s3cr3t-ünïcode-🔑";
  let installationId: number;
  let appId: number;

  before(async () => {
    sim = await startGitHubSimulator({ clock: { start: Date.UTC(2026, 11, 3, 12), frozen: true } });
    receiver = await startWebhookReceiver();
    home = await tempDir("gh-sim-deliveries-");
    sim.createAccount({ login: "octo-org", type: "Organization" });
    sim.createAccount({ login: "alice", email: "alice@example.com" });
    const app = sim.createApp({
      name: "Baton",
      owner: "octo-org",
      permissions: {
        contents: "write",
        pull_requests: "write",
        statuses: "write",
        repository_hooks: "write",
        checks: "write",
      },
      events: ["push", "pull_request", "issue_comment", "status", "check_run"],
      webhook: { url: receiver.url, secret },
    });
    await sim.createRepository({ owner: "octo-org", name: "svc", files: { "README.md": "# svc\n" } });
    installationId = sim.install({ appId: app.id, account: "octo-org" }).id;
    appId = app.id;
  });

  after(async () => {
    await sim.close();
    await receiver.close();
    await home.remove();
  });

  const received = async (event: string): Promise<ReceivedRequest[]> => {
    await sim.settled();
    return receiver.received.filter((r) => r.headers["x-github-event"] === event);
  };

  const verifySignature = (r: ReceivedRequest, key = secret, target = "integration"): void => {
    const expected = `sha256=${createHmac("sha256", key).update(r.body, "utf8").digest("hex")}`;
    assert.equal(r.headers["x-hub-signature-256"], expected);
    assert.match(String(r.headers["x-github-delivery"]), /^[0-9a-f-]{36}$/);
    assert.match(String(r.headers["user-agent"]), /^GitHub-Hookshot\//);
    assert.equal(r.headers["x-github-hook-installation-target-type"], target);
  };

  it("sends push, pull_request (opened from a fork, synchronize, closed) and issue_comment as the examples", async () => {
    await sim.push({ owner: "octo-org", repo: "svc", branch: "main", files: { "a.txt": "a\n" }, message: "add a" });
    const fork = await sim.fork({ owner: "octo-org", repo: "svc", into: "alice" });
    await sim.push({
      owner: "alice",
      repo: fork.name,
      branch: "feature/émoji-🚀",
      files: { "b.txt": "b\n" },
      as: "alice",
      message: "add b",
    });
    const pr = (await sim.openPullRequest({
      owner: "octo-org",
      repo: "svc",
      head: "alice:feature/émoji-🚀",
      title: "Add b ✨",
      as: "alice",
    })) as { number: number; head: { sha: string } };
    // The fork's head is fetchable from the base repository.
    assert.equal(
      await sim.resolve({ owner: "octo-org", repo: "svc", rev: `refs/pull/${pr.number}/head` }),
      pr.head.sha,
    );
    const next = await sim.push({
      owner: "alice",
      repo: fork.name,
      branch: "feature/émoji-🚀",
      files: { "b.txt": "b2\n" },
      as: "alice",
    });
    assert.equal(await sim.resolve({ owner: "octo-org", repo: "svc", rev: `refs/pull/${pr.number}/head` }), next.sha);
    sim.comment({ owner: "octo-org", repo: "svc", number: pr.number, body: "/retest", as: "alice" });
    await sim.mergePullRequest({ owner: "octo-org", repo: "svc", number: pr.number });

    const pushes = await received("push");
    assert.ok(pushes.length >= 2);
    for (const p of pushes) verifySignature(p);
    assert.deepEqual(payloadProblems(JSON.parse(pushes[0]?.body ?? "{}"), examplesOf("push")), []);

    const pulls = (await received("pull_request")).map((r) => {
      verifySignature(r);
      return JSON.parse(r.body) as Record<string, unknown> & {
        action: string;
        before?: string;
        after?: string;
        pull_request: { merged: boolean };
      };
    });
    assert.deepEqual(
      pulls.map((p) => p.action),
      ["opened", "synchronize", "closed"],
    );
    for (const p of pulls) assert.deepEqual(payloadProblems(p, examplesOf("pull_request", p.action)), [], p.action);
    assert.equal(pulls[1]?.after, next.sha);
    assert.equal(pulls[2]?.pull_request.merged, true);

    const comments = await received("issue_comment");
    assert.equal(comments.length, 1);
    const comment = JSON.parse(comments[0]?.body ?? "{}") as Record<string, unknown> & { comment: { body: string } };
    assert.equal(comment.comment.body, "/retest");
    assert.deepEqual(payloadProblems(comment, examplesOf("issue_comment")), []);
  });

  it("pings a new repository hook, signed with the hook's secret; a posted status sends a status event", async () => {
    const { token } = sim.installationToken({ installationId });
    const auth = bearerAuth(token);
    const created = await http(sim.url, "POST", "/repos/octo-org/svc/hooks", {
      auth,
      body: { config: { url: receiver.url, secret: "hook-secret", content_type: "json" }, events: ["push"] },
    });
    assert.equal(created.status, 201);
    const hook = created.json as { id: number; config: { secret: string } };
    assert.equal(hook.config.secret, "********");
    const pings = await received("ping");
    assert.equal(pings.length, 1);
    const ping = pings[0] as ReceivedRequest;
    verifySignature(ping, "hook-secret", "repository");
    assert.equal(ping.headers["x-github-hook-id"], String(hook.id));
    assert.deepEqual(payloadProblems(JSON.parse(ping.body), examplesOf("ping")), []);

    const sha = await sim.resolve({ owner: "octo-org", repo: "svc", rev: "main" });
    const posted = await http(sim.url, "POST", `/repos/octo-org/svc/statuses/${sha}`, {
      auth,
      body: { state: "pending", context: "baton/ci", target_url: "https://ci.example/1" },
    });
    assert.equal(posted.status, 201);
    await http(sim.url, "POST", `/repos/octo-org/svc/statuses/${sha}`, {
      auth,
      body: { state: "success", context: "baton/ci" },
    });
    await http(sim.url, "POST", `/repos/octo-org/svc/statuses/${sha}`, {
      auth,
      body: { state: "failure", context: "other" },
    });
    const combined = (await http(sim.url, "GET", `/repos/octo-org/svc/commits/${sha}/status`, { auth })).json as {
      state: string;
      statuses: { context: string; state: string }[];
    };
    assert.equal(combined.state, "failure");
    assert.deepEqual(combined.statuses.map((s) => [s.context, s.state]).sort(), [
      ["baton/ci", "success"],
      ["other", "failure"],
    ]);
    const statuses = await received("status");
    assert.equal(statuses.length, 3);
    for (const s of statuses) verifySignature(s);
    assert.deepEqual(payloadProblems(JSON.parse(statuses[0]?.body ?? "{}"), examplesOf("status")), []);
  });

  it("serves the pull request's files, its contents at a ref and a comparison, to a pull_requests:read token", async () => {
    await sim.push({
      owner: "octo-org",
      repo: "svc",
      branch: "topic",
      files: { "dir/c.txt": "c\n", "README.md": null },
    });
    const pr = (await sim.openPullRequest({
      owner: "octo-org",
      repo: "svc",
      head: "topic",
      title: "c",
      as: "alice",
    })) as {
      number: number;
    };
    const { token } = sim.installationToken({
      installationId,
      permissions: { pull_requests: "read", contents: "read" },
    });
    const auth = bearerAuth(token);
    const files = (await http(sim.url, "GET", `/repos/octo-org/svc/pulls/${pr.number}/files`, { auth })).json as {
      filename: string;
      status: string;
    }[];
    assert.deepEqual(files.map((f) => [f.filename, f.status]).sort(), [
      ["README.md", "removed"],
      ["dir/c.txt", "added"],
    ]);
    const dir = (await http(sim.url, "GET", "/repos/octo-org/svc/contents/dir?ref=topic", { auth })).json as {
      name: string;
      type: string;
    }[];
    assert.deepEqual(
      dir.map((e) => [e.name, e.type]),
      [["c.txt", "file"]],
    );
    const compare = (await http(sim.url, "GET", "/repos/octo-org/svc/compare/main...topic", { auth })).json as {
      status: string;
      ahead_by: number;
    };
    assert.deepEqual([compare.status, compare.ahead_by], ["ahead", 1]);
    const clone = await git(
      [
        ...extraHeader(basicAuth("x-access-token", token)),
        "ls-remote",
        `${sim.url}/octo-org/svc.git`,
        `refs/pull/${pr.number}/*`,
      ],
      { home: home.path },
    );
    assert.equal(clone.code, 0, clone.stderr);
    assert.match(clone.stdout, new RegExp(`refs/pull/${pr.number}/head`));
    assert.match(clone.stdout, new RegExp(`refs/pull/${pr.number}/merge`));
  });
  it("tells the App of its installation and of its check runs (created, completed, rerequested)", async () => {
    const installs = await received("installation");
    assert.equal(installs.length, 1);
    verifySignature(installs[0] as ReceivedRequest);
    const created = JSON.parse(installs[0]?.body ?? "{}") as Record<string, unknown> & { installation: { id: number } };
    assert.equal(created.installation.id, installationId);
    assert.deepEqual(payloadProblems(created, examplesOf("installation", "created")), []);

    await sim.push({ owner: "octo-org", repo: "svc", branch: "checked", files: { "x.txt": "x\n" } });
    const pr = (await sim.openPullRequest({
      owner: "octo-org",
      repo: "svc",
      head: "checked",
      title: "x",
      as: "alice",
    })) as {
      number: number;
      head: { sha: string };
    };
    const auth = bearerAuth(sim.installationToken({ installationId }).token);
    const run = await http(sim.url, "POST", "/repos/octo-org/svc/check-runs", {
      auth,
      body: { name: "baton", head_sha: pr.head.sha, status: "in_progress" },
    });
    assert.equal(run.status, 201, run.text);
    const id = (run.json as { id: number; pull_requests: { number: number }[] }).id;
    assert.deepEqual(
      (run.json as { pull_requests: { number: number }[] }).pull_requests.map((p) => p.number),
      [pr.number],
    );
    await http(sim.url, "PATCH", `/repos/octo-org/svc/check-runs/${id}`, { auth, body: { conclusion: "failure" } });
    sim.rerequestCheckRun({ id, as: "alice" });
    const events = (await received("check_run")).map((r) => {
      verifySignature(r);
      return JSON.parse(r.body) as Record<string, unknown> & { action: string };
    });
    assert.deepEqual(
      events.map((e) => e.action),
      ["created", "completed", "rerequested"],
    );
    // Few examples per action: a run's shape does not depend on the action, so all of them are the reference.
    for (const e of events) assert.deepEqual(payloadProblems(e, examplesOf("check_run")), [], e.action);
  });

  it("delivers as the App's hook config says: its URL, its secret, and a form body for content type form", async () => {
    const elsewhere = await startWebhookReceiver();
    try {
      sim.editAppHook(appId, { url: elsewhere.url, contentType: "form", secret: "rötated-🔑" });
      const pushed = await sim.push({ owner: "octo-org", repo: "svc", branch: "main", files: { "f.txt": "f\n" } });
      await sim.settled();
      const [form] = elsewhere.received.filter((r) => r.headers["x-github-event"] === "push");
      assert.ok(form, "the delivery went to the config's new URL");
      const app = (r: ReceivedRequest) => r.headers["x-github-hook-installation-target-type"] === "integration";
      assert.ok(!receiver.received.some((r) => app(r) && r.body.includes(pushed.sha)), "and not to the old one");
      assert.equal(form.headers["content-type"], "application/x-www-form-urlencoded");
      verifySignature(form, "rötated-🔑");
      const payload = JSON.parse(new URLSearchParams(form.body).get("payload") ?? "{}") as { after: string };
      assert.equal(payload.after, pushed.sha);
    } finally {
      sim.editAppHook(appId, { url: receiver.url, contentType: "json", secret });
      await elsewhere.close();
    }
  });
});
