// The Cloud simulator driven from outside, as the demo and out-of-process tests do: `npm run sim -- --provider
// cloud` seeds a world and prints a working x-token-auth clone command, and the /_sim/ control API arranges a PR,
// a token and a hook and moves the clock.
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { readFile } from "node:fs/promises";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import { startWebhookReceiver, type WebhookReceiver } from "../../src/simulator/index.ts";
import { bearerAuth, git, http, tempDir } from "../../src/simulator/testing.ts";

let work: { path: string; remove: () => Promise<void> };
let receiver: WebhookReceiver;

before(async () => {
  work = await tempDir("sim-cloud-control-");
  receiver = await startWebhookReceiver();
});

after(async () => {
  await receiver?.close();
  await work?.remove();
});

/** Runs `node src/simulator/main.ts` until its output has the clone command. */
function runMain(args: string[]) {
  const child = spawn(process.execPath, ["src/simulator/main.ts", ...args], {
    cwd: join(import.meta.dirname, "..", ".."),
    stdio: ["ignore", "pipe", "pipe"],
  });
  let out = "";
  const exited = new Promise<number | null>((resolve) => child.on("exit", (code) => resolve(code)));
  const ready = new Promise<string>((resolve) => {
    const check = (chunk: Buffer) => {
      out += chunk.toString();
      if (out.includes("clone: ")) resolve(out);
    };
    child.stdout.on("data", check);
    child.stderr.on("data", check);
    exited.then(() => resolve(out));
  });
  return { child, ready, exited };
}

describe("npm run sim -- --provider cloud", () => {
  test("seeds workspace demo and prints a clone command with x-token-auth; the control API drives a PR to a hook", async () => {
    const main = runMain(["--provider", "cloud", "--port", "0", "--data", join(work.path, "data")]);
    try {
      const out = await main.ready;
      const url = /listening on (http:\/\/\S+)/.exec(out)?.[1] ?? "";
      const cloneUrl = /clone: git clone (\S+)$/m.exec(out)?.[1] ?? "";
      const token = decodeURIComponent(/x-token-auth:([^@]+)@/.exec(cloneUrl)?.[1] ?? "");
      assert.ok(url && token.startsWith("ATCTT3xFfGN0"), out);
      const target = join(work.path, "hello");
      const cloned = await git(["clone", "--quiet", cloneUrl, target], { home: work.path });
      assert.equal(cloned.code, 0, cloned.stderr);
      assert.match(await readFile(join(target, ".tekton", "pull-request.yaml"), "utf8"), /kind: PipelineRun/);

      const ctl = (method: string, path: string, body?: unknown) => http(url, method, `/_sim${path}`, { body });
      assert.equal((await ctl("POST", "/users", { nickname: "dev", email: "dev@example.com" })).status, 200);
      assert.equal((await ctl("POST", "/workspaces/demo/members", { user: "dev" })).status, 204);
      const hook = await ctl("POST", "/webhooks", {
        workspace: "demo",
        repo: "hello",
        url: receiver.url,
        events: ["pullrequest:created"],
        secret: "s",
      });
      assert.equal((hook.json as { secret_set: boolean }).secret_set, true);
      const pushed = await ctl("POST", "/push", {
        workspace: "demo",
        repo: "hello",
        branch: "feat",
        files: { "f.txt": "f\n" },
        as: "dev",
      });
      assert.match((pushed.json as { commit: string }).commit, /^[0-9a-f]{40}$/);
      const pr = await ctl("POST", "/pull-requests", {
        workspace: "demo",
        repo: "hello",
        title: "Feat",
        sourceBranch: "feat",
        author: "dev",
      });
      assert.equal((pr.json as { id: number }).id, 1);
      await ctl("POST", "/settled");
      assert.equal(receiver.received.length, 1);
      assert.equal(receiver.received[0]?.headers["x-event-key"], "pullrequest:created");
      const deliveries = await ctl("GET", "/deliveries?eventKey=pullrequest:created");
      assert.equal((deliveries.json as unknown[]).length, 1);

      const made = await ctl("POST", "/tokens", {
        kind: "repository",
        workspace: "demo",
        repo: "hello",
        scopes: ["pullrequest"],
        expiresInDays: 90,
      });
      const secret = (made.json as { token: string }).token;
      const prs = await http(`${url}/2.0`, "GET", "/repositories/demo/hello/pullrequests", {
        auth: bearerAuth(secret),
      });
      assert.equal((prs.json as { values: unknown[] }).values.length, 1);
      const now = ((await ctl("GET", "/clock")).json as { now: number }).now;
      await ctl("PUT", "/clock", { now: now + 91 * 86_400_000 });
      const expired = await http(`${url}/2.0`, "GET", "/repositories/demo/hello/pullrequests", {
        auth: bearerAuth(secret),
      });
      assert.equal(expired.status, 401);
      assert.equal(
        (await ctl("POST", "/tokens", { kind: "repository", workspace: "demo", repo: "hello", scopes: ["account"] }))
          .status,
        400,
      );
      assert.equal((await ctl("GET", "/requests?status=401")).status, 200);
    } finally {
      main.child.kill("SIGTERM");
      assert.equal(await main.exited, 0);
    }
  });
});
