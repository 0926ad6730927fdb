// The REST calls against a server answering as GitHub's REST documentation shows (status codes, bodies, Link
// paging, rate-limit headers).
import assert from "node:assert/strict";
import { after, before, beforeEach, describe, it } from "node:test";
import { ManualClock } from "../../runtime/clock.ts";
import { ForbiddenError, NotFoundError, RateLimitedError, TooManyResultsError } from "../http/errors.ts";
import { type Recorded, type Reply, startServer, type TestServer } from "../http/test-server.ts";
import { listFolder, pullRequestFiles, pushFiles, readFile } from "./content.ts";
import { createRepoHook, deleteRepoHook, listRepoHooks, updateRepoHook } from "./hooks.ts";
import { RateLimitGate } from "./ratelimit.ts";
import { commentOnPullRequest, hasWriteAccess } from "./repos.ts";
import { getCommitStatus, setCheckRun, setCommitStatus, statusDescription } from "./status.ts";
import { githubTransport } from "./transport.ts";

const repo = { owner: "octo-org", name: "hello-wörld" };
const sha = "6dcb09b5b57875f334f61aebed695e2e4193db5e";
let routes: (req: Recorded) => Reply | undefined;
let server: TestServer;
let clock: ManualClock;

before(async () => {
  server = await startServer((req) => routes(req) ?? { status: 404, body: { message: "Not Found" } });
});
after(() => server.close());
beforeEach(() => {
  server.requests.length = 0;
  clock = new ManualClock(Date.UTC(2030, 0, 1));
});

function client() {
  return githubTransport({ apiBase: server.url, clock, auth: { kind: "bearer", token: "ghs_test" } });
}

/** Runs `work` while moving the clock forward, so rate-limit waits on the manual clock elapse. */
async function withTime<T>(work: Promise<T>): Promise<T> {
  let done = false;
  const tracked = work.finally(() => {
    done = true;
  });
  // Awaited below; this only keeps a rejection during the loop from counting as unhandled.
  tracked.catch(() => {});
  while (!done) {
    await clock.advance(1000);
    await new Promise((resolve) => setTimeout(resolve, 2));
  }
  return tracked;
}

describe("contents", () => {
  it("lists a folder at a commit; an absent folder is NotFound", async () => {
    routes = (req) => {
      if (req.pathname === "/repos/octo-org/hello-w%C3%B6rld/contents/.tekton" && req.query.get("ref") === sha) {
        return {
          body: [
            { type: "file", name: "push.yaml", path: ".tekton/push.yaml", sha: "aaa", size: 120 },
            { type: "dir", name: "tasks", path: ".tekton/tasks", sha: "bbb", size: 0 },
            { type: "submodule", name: "shared", path: ".tekton/shared", sha: "ccc", size: 0 },
          ],
        };
      }
      return undefined;
    };
    const { http } = client();
    assert.deepEqual(await listFolder(http, repo, ".tekton", sha), [
      { path: "push.yaml", type: "FILE", contentId: "aaa", size: 120 },
      { path: "tasks", type: "DIRECTORY", contentId: "bbb", size: 0 },
      { path: "shared", type: "SUBMODULE", contentId: "ccc", size: 0 },
    ]);
    await assert.rejects(listFolder(http, repo, ".tekton", "f".repeat(40)), NotFoundError);
    assert.equal(server.requests[0]?.headers.authorization, "Bearer ghs_test");
    await http.close();
  });

  it("reads a file's bytes (non-ASCII intact) and refuses one over the limit", async () => {
    const text = "name: ünïcode 🚀\n";
    routes = (req) => {
      if (req.pathname.endsWith("/contents/.tekton/push.yaml")) {
        return {
          body: {
            type: "file",
            size: Buffer.byteLength(text),
            encoding: "base64",
            content: Buffer.from(text)
              .toString("base64")
              .replace(/(.{60})/g, "$1\n"),
          },
        };
      }
      if (req.pathname.endsWith("/contents/.tekton/huge.yaml")) {
        return { body: { type: "file", size: 5_000_000, encoding: "none", content: "" } };
      }
      return undefined;
    };
    const { http } = client();
    assert.equal(Buffer.from(await readFile(http, repo, ".tekton/push.yaml", sha)).toString("utf8"), text);
    await assert.rejects(readFile(http, repo, ".tekton/huge.yaml", sha), /5000000 bytes, more than the 1048576/);
    await http.close();
  });
});

describe("changed files", () => {
  it("pages a pull request's files by Link, listing both paths of a rename", async () => {
    routes = (req) => {
      if (!req.pathname.endsWith("/pulls/7/files")) return undefined;
      const page = Number(req.query.get("page"));
      assert.equal(req.query.get("per_page"), "100");
      if (page === 1) {
        return {
          headers: {
            link: `<${server.url}${req.pathname}?per_page=100&page=2>; rel="next", <${server.url}${req.pathname}?per_page=100&page=2>; rel="last"`,
          },
          body: [
            { filename: "docs/new.md", status: "added" },
            { filename: "src/a.ts", status: "modified" },
          ],
        };
      }
      return {
        body: [
          { filename: "lib/moved.ts", status: "renamed", previous_filename: "docs/moved.ts" },
          { filename: "old.txt", status: "removed" },
        ],
      };
    };
    const { http } = client();
    const result = await pullRequestFiles(http, repo, 7);
    assert.deepEqual(result, {
      truncated: false,
      files: {
        all: ["docs/new.md", "src/a.ts", "lib/moved.ts", "docs/moved.ts", "old.txt"],
        added: ["docs/new.md"],
        deleted: ["old.txt"],
        modified: ["src/a.ts"],
        renamed: ["lib/moved.ts"],
      },
    });
    assert.equal(server.requests.length, 2);
    await http.close();
  });

  it("a listing that never ends stops at its cap", async () => {
    routes = (req) => ({
      headers: { link: `<${server.url}${req.pathname}?page=99>; rel="next"` },
      body: Array.from({ length: 100 }, (_, i) => ({ filename: `f${req.query.get("page")}-${i}`, status: "added" })),
    });
    const { http } = client();
    await assert.rejects(pullRequestFiles(http, repo, 8), TooManyResultsError);
    assert.equal(server.requests.length, 31);
    await http.close();
  });

  it("a push range uses compare; a new branch uses its head commit", async () => {
    routes = (req) => {
      if (req.pathname === `/repos/octo-org/hello-w%C3%B6rld/compare/aaa...${sha}`) {
        return { body: { files: [{ filename: "a", status: "modified" }] } };
      }
      if (req.pathname === `/repos/octo-org/hello-w%C3%B6rld/commits/${sha}`) {
        return { body: { files: [{ filename: "b", status: "added" }] } };
      }
      return undefined;
    };
    const { http } = client();
    assert.deepEqual((await pushFiles(http, repo, { from: "aaa", to: sha })).files.modified, ["a"]);
    assert.deepEqual((await pushFiles(http, repo, { to: sha })).files.added, ["b"]);
    await http.close();
  });
});

describe("status", () => {
  it("posts one commit status per pipeline context with GitHub's states", async () => {
    routes = (req) => (req.method === "POST" ? { status: 201, body: { id: 1 } } : undefined);
    const { http } = client();
    const long = `${"é".repeat(139)}🚀🚀`;
    await setCommitStatus(http, repo, sha, {
      context: "baton/unit",
      state: "INPROGRESS",
      url: "https://k/run",
      description: long,
    });
    await setCommitStatus(http, repo, sha, { context: "baton/unit", state: "CANCELLED", url: "https://k/run" });
    const [first, second] = server.requests.map((r) => ({ path: r.pathname, body: JSON.parse(r.body) }));
    assert.equal(first?.path, `/repos/octo-org/hello-w%C3%B6rld/statuses/${sha}`);
    assert.deepEqual(first?.body, {
      state: "pending",
      target_url: "https://k/run",
      context: "baton/unit",
      description: statusDescription(long),
    });
    assert.equal([...String(first?.body.description)].length, 140);
    assert.equal(second?.body.state, "error");
    await http.close();
  });

  it("reads a context's latest status from the combined status", async () => {
    routes = () => ({
      body: {
        state: "failure",
        statuses: [
          {
            context: "baton/unit",
            state: "failure",
            target_url: "https://k/r1",
            description: "failed",
            updated_at: "2030-01-01T00:00:00Z",
          },
          { context: "other", state: "success", target_url: null, description: null },
        ],
      },
    });
    const { http } = client();
    assert.deepEqual(await getCommitStatus(http, repo, sha, "baton/unit"), {
      context: "baton/unit",
      state: "FAILED",
      url: "https://k/r1",
      description: "failed",
      updatedAt: Date.UTC(2030, 0, 1),
    });
    assert.equal(await getCommitStatus(http, repo, sha, "baton/none"), undefined);
    await http.close();
  });

  it("creates a check run with the PipelineRun link and summary, then updates the same one", async () => {
    let existing: unknown[] = [];
    routes = (req) => {
      if (req.method === "GET") return { body: { total_count: existing.length, check_runs: existing } };
      const body = JSON.parse(req.body) as Record<string, unknown>;
      const run = {
        id: 55,
        name: body.name,
        status: body.status,
        conclusion: body.conclusion ?? null,
        external_id: body.external_id,
        details_url: body.details_url,
      };
      existing = [run];
      return { status: req.method === "POST" ? 201 : 200, body: run };
    };
    const { http } = client();
    const input = {
      name: "unit",
      detailsUrl: "https://k/run/r1",
      externalId: "r1",
      title: "unit is running",
      summary: "**r1** started",
    };
    await setCheckRun(http, repo, sha, { ...input, state: "INPROGRESS" });
    await setCheckRun(http, repo, sha, { ...input, state: "FAILED", title: "unit failed" });
    const writes = server.requests.filter((r) => r.method !== "GET");
    assert.deepEqual(
      writes.map((r) => [r.method, r.pathname]),
      [
        ["POST", "/repos/octo-org/hello-w%C3%B6rld/check-runs"],
        ["PATCH", "/repos/octo-org/hello-w%C3%B6rld/check-runs/55"],
      ],
    );
    assert.deepEqual(JSON.parse(writes[0]?.body ?? ""), {
      name: "unit",
      details_url: "https://k/run/r1",
      external_id: "r1",
      status: "in_progress",
      output: { title: "unit is running", summary: "**r1** started" },
      head_sha: sha,
    });
    const update = JSON.parse(writes[1]?.body ?? "");
    assert.equal(update.conclusion, "failure");
    assert.equal(update.status, "completed");
    assert.equal(server.requests[0]?.query.get("check_name"), "unit");
    await http.close();
  });
});

describe("trust and comments", () => {
  it("write, maintain (write) and admin are trusted; read, triage (read), none and strangers are not", async () => {
    const permissions: Record<string, { permission: string; role_name: string } | undefined> = {
      alice: { permission: "admin", role_name: "admin" },
      bob: { permission: "write", role_name: "maintain" },
      carol: { permission: "write", role_name: "write" },
      dan: { permission: "read", role_name: "triage" },
      erin: { permission: "none", role_name: "" },
    };
    routes = (req) => {
      const user = decodeURIComponent(req.pathname.split("/")[5] ?? "");
      const answer = permissions[user];
      return answer ? { body: { ...answer, user: { login: user } } } : undefined;
    };
    const { http } = client();
    const results = Object.fromEntries(
      await Promise.all(
        ["alice", "bob", "carol", "dan", "erin", "zoë-stranger"].map(async (u) => [
          u,
          await hasWriteAccess(http, repo, u),
        ]),
      ),
    );
    assert.deepEqual(results, { alice: true, bob: true, carol: true, dan: false, erin: false, "zoë-stranger": false });
    await http.close();
  });

  it("comments on a pull request's conversation", async () => {
    routes = () => ({ status: 201, body: { id: 1 } });
    const { http } = client();
    await commentOnPullRequest(http, repo, 12, "Baton: `/ok-to-test` needed 🙏");
    assert.equal(server.requests[0]?.pathname, "/repos/octo-org/hello-w%C3%B6rld/issues/12/comments");
    assert.deepEqual(JSON.parse(server.requests[0]?.body ?? ""), { body: "Baton: `/ok-to-test` needed 🙏" });
    await http.close();
  });
});

describe("hooks", () => {
  it("creates, lists, repairs and deletes a repository hook; the secret never shows in an error", async () => {
    const secret = "s3cret-value-for-hook";
    routes = (req) => {
      if (req.method === "GET") {
        return {
          body: [
            {
              id: 1,
              name: "web",
              active: true,
              events: ["push"],
              config: {
                url: "https://baton/hooks/github",
                content_type: "json",
                insecure_ssl: "0",
                secret: "********",
              },
            },
            {
              id: 2,
              name: "web",
              active: true,
              events: ["push"],
              config: { url: "https://other", content_type: "form", insecure_ssl: "0" },
            },
          ],
        };
      }
      if (req.method === "POST") {
        const body = JSON.parse(req.body) as { config: { url: string } };
        if (body.config.url === "bad") return { status: 422, body: { message: `Validation Failed for ${secret}` } };
        return {
          status: 201,
          body: {
            id: 3,
            name: "web",
            active: true,
            events: ["push", "pull_request"],
            config: { ...body.config, secret: "********" },
          },
        };
      }
      if (req.method === "PATCH")
        return {
          body: {
            id: 1,
            name: "web",
            active: true,
            events: ["push"],
            config: { url: "https://baton/hooks/github", secret: "********" },
          },
        };
      if (req.method === "DELETE")
        return req.pathname.endsWith("/9") ? { status: 404, body: { message: "Not Found" } } : { status: 204 };
      return undefined;
    };
    const { http } = client();
    const input = { url: "https://baton/hooks/github", events: ["push", "pull_request"], active: true, secret };
    const created = await createRepoHook(http, repo, input);
    assert.deepEqual(created, {
      id: "3",
      url: input.url,
      events: ["push", "pull_request"],
      active: true,
      secretSet: true,
      contentType: "json",
      insecureSsl: false,
    });
    assert.deepEqual(JSON.parse(server.requests[0]?.body ?? "").config, {
      url: input.url,
      content_type: "json",
      insecure_ssl: "0",
      secret,
    });
    const hooks = await listRepoHooks(http, repo);
    assert.deepEqual(
      hooks.map((h) => [h.id, h.secretSet]),
      [
        ["1", true],
        ["2", false],
      ],
    );
    await updateRepoHook(http, repo, "1", input);
    assert.equal(server.requests.at(-1)?.method, "PATCH");
    assert.equal(await deleteRepoHook(http, repo, "1"), true);
    assert.equal(await deleteRepoHook(http, repo, "9"), false);
    await assert.rejects(createRepoHook(http, repo, { ...input, url: "bad" }), (err: unknown) => {
      return err instanceof Error && !err.message.includes(secret) && !JSON.stringify(err).includes(secret);
    });
    await http.close();
  });
});

describe("rate limits", () => {
  const reset = () => Math.floor(clock.now() / 1000) + 120;

  it("a spent primary limit (403, remaining 0) waits for the reset, then the call succeeds", async () => {
    let calls = 0;
    const resetAt = reset();
    routes = () => {
      calls++;
      if (calls === 1) {
        return {
          status: 403,
          headers: {
            "x-ratelimit-limit": "5000",
            "x-ratelimit-remaining": "0",
            "x-ratelimit-reset": String(resetAt),
            "x-ratelimit-resource": "core",
          },
          body: { message: "API rate limit exceeded for installation ID 1." },
        };
      }
      return { status: 201, body: {} };
    };
    const { http } = githubTransport({
      apiBase: server.url,
      clock,
      auth: { kind: "bearer", token: "t" },
      maxRateLimitWaitMs: 10 * 60_000,
    });
    await withTime(commentOnPullRequest(http, repo, 1, "hi"));
    assert.equal(calls, 2);
    assert.ok(clock.now() >= resetAt * 1000, "the retry waited for the reset");
    await http.close();
  });

  it("a secondary limit (403 with retry-after) waits as told; a plain 403 is a refusal, not retried", async () => {
    let calls = 0;
    routes = (req) => {
      calls++;
      if (req.pathname.endsWith("/1/comments") && calls === 1) {
        return {
          status: 403,
          headers: { "retry-after": "30" },
          body: { message: "You have exceeded a secondary rate limit." },
        };
      }
      if (req.pathname.endsWith("/2/comments")) {
        return { status: 403, body: { message: "Resource not accessible by integration" } };
      }
      return { status: 201, body: {} };
    };
    const { http } = client();
    const started = clock.now();
    await withTime(commentOnPullRequest(http, repo, 1, "hi"));
    assert.ok(clock.now() - started >= 30_000);
    calls = 0;
    await assert.rejects(commentOnPullRequest(http, repo, 2, "hi"), ForbiddenError);
    assert.equal(calls, 1);
    await http.close();
  });

  it("a limit that outlasts the call's patience fails as RateLimitedError", async () => {
    routes = () => ({ status: 429, headers: { "retry-after": "3600" }, body: { message: "secondary rate limit" } });
    const { http } = client();
    await assert.rejects(withTime(commentOnPullRequest(http, repo, 1, "hi")), RateLimitedError);
    await http.close();
  });

  it("the gate learns from every answer and holds new calls until the reset once the limit is spent", async () => {
    const resetAt = reset();
    routes = () => ({
      headers: {
        "x-ratelimit-limit": "5000",
        "x-ratelimit-remaining": "0",
        "x-ratelimit-reset": String(resetAt),
        "x-ratelimit-resource": "core",
      },
      body: [],
    });
    const { http, gate } = client();
    await listFolder(http, repo, ".tekton", sha);
    assert.deepEqual(gate.core, { resource: "core", limit: 5000, remaining: 0, resetAt: resetAt * 1000 });
    assert.equal(gate.waitMs(), resetAt * 1000 - clock.now());
    const before = server.requests.length;
    await withTime(listFolder(http, repo, ".tekton", sha));
    assert.equal(server.requests.length, before + 1);
    assert.ok(clock.now() >= resetAt * 1000);
    await http.close();
  });

  it("answers arriving out of order do not raise the remaining count within a window", () => {
    const gate = new RateLimitGate({ clock });
    const h = (remaining: number) => ({
      "x-ratelimit-limit": "5000",
      "x-ratelimit-remaining": String(remaining),
      "x-ratelimit-reset": "1900000000",
    });
    gate.observe(h(10));
    gate.observe(h(12));
    assert.equal(gate.core?.remaining, 10);
    gate.observe({ ...h(4999), "x-ratelimit-reset": "1900003600" });
    assert.equal(gate.core?.remaining, 4999);
  });
});
