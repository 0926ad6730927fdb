// The simulator's HTTP control API (/_sim/), used by the demo and by out-of-process tests, and the
// `npm run sim` entry point with its seeded demo world, cloned with the printed command.
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { mkdir, readFile, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import { parse } from "yaml";
import {
  type Simulator,
  startSimulator,
  startWebhookReceiver,
  type WebhookReceiver,
} from "../../src/simulator/index.ts";
import { basicAuth, bearerAuth, git, http, tempDir } from "../../src/simulator/testing.ts";

let sim: Simulator;
let receiver: WebhookReceiver;
let work: { path: string; remove: () => Promise<void> };
const ctl = (method: string, path: string, body?: unknown) => http(sim.url, method, `/_sim${path}`, { body });

before(async () => {
  sim = await startSimulator();
  receiver = await startWebhookReceiver();
  work = await tempDir("sim-control-");
});

after(async () => {
  await sim?.close();
  await receiver?.close();
  await work?.remove();
});

describe("HTTP control API", () => {
  test("arrange a world, act, and observe it over HTTP", async () => {
    assert.equal((await ctl("POST", "/users", { name: "admin", password: "pw", admin: true })).status, 200);
    assert.equal((await ctl("POST", "/users", { name: "dev", password: "pw" })).status, 200);
    assert.equal((await ctl("POST", "/projects", { key: "PRJ" })).status, 200);
    const repo = await ctl("POST", "/repos", {
      project: "PRJ",
      slug: "app",
      files: { "README.md": "# app\n" },
      as: "admin",
    });
    assert.equal((repo.json as { cloneUrl: string }).cloneUrl, `${sim.url}/scm/prj/app.git`);
    assert.equal(
      (await ctl("POST", "/grants", { permission: "REPO_WRITE", user: "dev", project: "PRJ", repo: "app" })).status,
      200,
    );
    const hook = await ctl("POST", "/webhooks", {
      project: "PRJ",
      repo: "app",
      name: "r",
      url: receiver.url,
      events: ["repo:refs_changed", "pr:opened", "pr:comment:added"],
      configuration: { secret: "s" },
    });
    assert.equal((hook.json as { secret: string }).secret, "s");

    const token = (
      await ctl("POST", "/tokens", {
        scope: { kind: "project", project: "PRJ" },
        name: "ci",
        permissions: ["REPO_READ"],
        expiryDays: 1,
      })
    ).json as { id: string; token: string; user: string };
    assert.match(token.token, /^BBDC-/);

    const pushed = (
      await ctl("POST", "/push", { project: "PRJ", repo: "app", branch: "feature", files: { "a.txt": "a" }, as: "dev" })
    ).json as { sha: string };
    assert.match(pushed.sha, /^[0-9a-f]{40}$/);
    const pr = (
      await ctl("POST", "/pull-requests", {
        project: "PRJ",
        repo: "app",
        from: { branch: "feature" },
        title: "F",
        as: "dev",
      })
    ).json as {
      id: number;
      fromRef: { latestCommit: string };
    };
    assert.equal(pr.fromRef.latestCommit, pushed.sha);
    const comment = await ctl("POST", `/pull-requests/PRJ/app/${pr.id}/comments`, { text: "/test", as: "admin" });
    assert.equal((comment.json as { text: string }).text, "/test");
    assert.equal((await ctl("POST", "/settled")).status, 200);
    const deliveries = (await ctl("GET", "/deliveries")).json as { eventKey: string; status: number }[];
    assert.deepEqual(
      deliveries.map((d) => [d.eventKey, d.status]),
      [
        ["repo:refs_changed", 200],
        ["pr:opened", 200],
        ["pr:comment:added", 200],
      ],
    );
    assert.equal(((await ctl("GET", "/comments?project=PRJ&repo=app")).json as unknown[]).length, 1);

    // Build statuses posted through REST show up in the control view.
    const mark = ((await ctl("GET", "/requests/mark")).json as { mark: number }).mark;
    const posted = await http(sim.url, "POST", `/rest/api/latest/projects/PRJ/repos/app/commits/${pushed.sha}/builds`, {
      auth: bearerAuth(token.token),
      body: { key: "ci", state: "INPROGRESS", url: "https://ci/1" },
    });
    assert.equal(posted.status, 204);
    const statuses = (await ctl("GET", `/build-statuses?commit=${pushed.sha}`)).json as {
      key: string;
      postedBy: string;
    }[];
    assert.deepEqual(
      statuses.map((s) => [s.key, s.postedBy]),
      [["ci", token.user]],
    );
    const requests = (await ctl("GET", `/requests?since=${mark}&group=build-status`)).json as {
      method: string;
      status: number;
      tokenId: string;
    }[];
    assert.deepEqual(
      requests.map((r) => [r.method, r.status, r.tokenId]),
      [["POST", 204, token.id]],
    );

    // Lost deliveries, the clock and token expiry.
    assert.equal((await ctl("POST", "/deliveries/drop", { count: 1 })).status, 200);
    await ctl("POST", "/push", { project: "PRJ", repo: "app", branch: "feature", files: { "a.txt": "b" }, as: "dev" });
    await ctl("POST", "/settled");
    assert.equal(
      ((await ctl("GET", "/deliveries?eventKey=repo:refs_changed")).json as { dropped: boolean }[]).at(-1)?.dropped,
      true,
    );
    const before = ((await ctl("GET", "/clock")).json as { now: number }).now;
    const advanced = ((await ctl("POST", "/clock/advance", { ms: 86_400_000 })).json as { now: number }).now;
    assert.ok(advanced >= before + 86_400_000);
    assert.equal(
      (await http(sim.url, "GET", "/rest/api/latest/projects/PRJ/repos/app", { auth: bearerAuth(token.token) })).status,
      401,
      "expired",
    );

    // Switches and revocation.
    assert.equal(
      ((await ctl("PATCH", "/switches", { lazyPullRequestRefs: true })).json as { lazyPullRequestRefs: boolean })
        .lazyPullRequestRefs,
      true,
    );
    assert.equal(sim.switches.lazyPullRequestRefs, true);
    await ctl("PATCH", "/switches", { lazyPullRequestRefs: false });
    assert.equal((await ctl("DELETE", `/tokens/${token.id}`)).status, 204);
    assert.equal((await ctl("DELETE", `/tokens/${token.id}`)).status, 404);
  });

  test("a changed password: the old one is refused at once, the new one works", async () => {
    assert.equal((await ctl("POST", "/users", { name: "ops", password: "old-pass-4e1", admin: true })).status, 200);
    // What Baton does with admin credentials: manage access tokens.
    const tokens = (password: string) =>
      http(sim.url, "GET", "/rest/access-tokens/latest/users/ops", { auth: basicAuth("ops", password) });
    assert.equal((await tokens("old-pass-4e1")).status, 200);

    assert.equal((await ctl("PUT", "/users/ops/password", { password: "new-pass-9c2" })).status, 204);
    const old = await tokens("old-pass-4e1");
    assert.equal(old.status, 401);
    assert.match(
      (old.json as { errors: { exceptionName: string }[] }).errors[0]?.exceptionName ?? "",
      /IncorrectPasswordAuthenticationException/,
    );
    assert.equal((await tokens("new-pass-9c2")).status, 200);

    const unknown = await ctl("PUT", "/users/nobody/password", { password: "x" });
    assert.equal(unknown.status, 404);
    assert.match(
      (unknown.json as { errors: { exceptionName: string }[] }).errors[0]?.exceptionName ?? "",
      /NoSuchUserException/,
    );
    assert.equal((await ctl("PUT", "/users/ops/password", { password: "" })).status, 400);
    assert.equal((await tokens("new-pass-9c2")).status, 200, "a refused change keeps the password");
  });

  test("bad control input is a 400 and unknown objects a 404, with the error envelope", async () => {
    const bad = await ctl("POST", "/push", { project: "PRJ" });
    assert.equal(bad.status, 400);
    assert.ok((bad.json as { errors: { context: string }[] }).errors[0]?.context);
    const missing = await ctl("POST", "/push", { project: "PRJ", repo: "ghost", branch: "main", files: {} });
    assert.equal(missing.status, 404);
    assert.match(
      (missing.json as { errors: { exceptionName: string }[] }).errors[0]?.exceptionName ?? "",
      /NoSuchRepositoryException/,
    );
    const unknownSwitch = await ctl("PATCH", "/switches", { lazyPullRequestRefs: "yes" });
    assert.equal(unknownSwitch.status, 400);
  });
});

/** Runs `node src/simulator/main.ts` and collects its output until `done` says so. */
function runMain(args: string[], done: (out: string) => boolean) {
  const child = spawn(process.execPath, ["src/simulator/main.ts", ...args], {
    cwd: join(import.meta.dirname, "..", ".."),
    stdio: ["ignore", "pipe", "pipe"],
  });
  let out = "";
  const exited = new Promise<number | null>((resolve) => child.on("exit", (code) => resolve(code)));
  const ready = new Promise<string>((resolve) => {
    const check = (chunk: Buffer) => {
      out += chunk.toString();
      if (done(out)) resolve(out);
    };
    child.stdout.on("data", check);
    child.stderr.on("data", check);
    // Resolves on exit as well, so a test sees the output of a run that ended early.
    exited.then(() => resolve(out));
  });
  return { child, ready, exited };
}

describe("npm run sim", () => {
  test("seeds the demo and prints a clone command that works with a Bearer project token", async () => {
    const data = join(work.path, "data");
    const main = runMain(["--port", "0", "--data", data], (out) => out.includes("clone: "));
    try {
      const out = await main.ready;
      const url = /listening on (http:\/\/\S+)/.exec(out)?.[1];
      const command = /clone: (git .*)$/m.exec(out)?.[1] ?? "";
      const token = /Bearer (\S+)"/.exec(command)?.[1] ?? "";
      const password = /password: (\S+)/.exec(out)?.[1];
      assert.ok(url && token && password, out);
      assert.equal(command, `git -c http.extraHeader="Authorization: Bearer ${token}" clone ${url}/scm/demo/hello.git`);

      const target = join(work.path, "hello");
      const cloned = await git(
        [
          "-c",
          `http.extraHeader=Authorization: Bearer ${token}`,
          "clone",
          "--quiet",
          `${url}/scm/demo/hello.git`,
          target,
        ],
        { home: work.path },
      );
      assert.equal(cloned.code, 0, cloned.stderr);
      const run = parse(await readFile(join(target, ".tekton", "pull-request.yaml"), "utf8")) as {
        kind: string;
        metadata: { annotations: Record<string, string> };
      };
      assert.equal(run.kind, "PipelineRun");
      assert.equal(run.metadata.annotations["pipelinesascode.tekton.dev/on-event"], "[pull_request]");
      assert.equal(run.metadata.annotations["pipelinesascode.tekton.dev/on-target-branch"], "[main]");
      assert.match(await readFile(join(target, "README.md"), "utf8"), /^# hello/);

      const props = await http(url, "GET", "/rest/api/latest/application-properties");
      assert.equal((props.json as { version: string }).version, "9.4.0");
      const admin = await http(url, "GET", "/rest/api/latest/projects/DEMO/repos/hello", {
        auth: `Basic ${Buffer.from(`admin:${password}`).toString("base64")}`,
      });
      assert.equal(admin.status, 200);
      const asBasic = await git(
        [
          "ls-remote",
          `${url}/scm/demo/hello.git`.replace("http://", `http://x-token-auth:${encodeURIComponent(token)}@`),
        ],
        { home: work.path },
      );
      assert.notEqual(asBasic.code, 0, "the demo token is Bearer-only too");
    } finally {
      main.child.kill("SIGTERM");
    }
    assert.equal(await main.exited, 0);
  });

  test("refuses a data directory whose repositories it did not create", async () => {
    const data = join(work.path, "foreign");
    await mkdir(join(data, "repositories"), { recursive: true });
    await writeFile(join(data, "repositories", "precious.txt"), "keep me\n");
    const main = runMain(["--port", "0", "--data", data, "--no-seed"], () => false);
    const code = await main.exited;
    assert.equal(code, 1);
    assert.match(await main.ready, /was not created by the simulator; choose another --data directory/);
    assert.equal(await readFile(join(data, "repositories", "precious.txt"), "utf8"), "keep me\n");
  });
});
