// Baton's GitHub pieces end to end against the GitHub simulator (src/simulator/github/): deliveries received over
// HTTP and verified with the App's webhook secret, mapped to neutral events, and answered through the REST calls
// with installation tokens minted from the App's JWT; runs' narrowed tokens checked on REST and on git.
import assert from "node:assert/strict";
import { createServer, type IncomingHttpHeaders } from "node:http";
import type { AddressInfo } from "node:net";
import { after, before, describe, it } from "node:test";
import type { BatonEvent } from "../../events/model.ts";
import type { Clock } from "../../runtime/clock.ts";
import { type GitHubSimulator, startGitHubSimulator } from "../../simulator/github/index.ts";
import { basicAuth, extraHeader, git, tempDir } from "../../simulator/testing.ts";
import { AppJwtSigner, parseAppPrivateKey } from "./app-jwt.ts";
import { AppTokens, appPermissionsUsed } from "./app-tokens.ts";
import { classifyGitHubDelivery, commentEvent, type GitHubClassifyResult } from "./classify.ts";
import { listFolder, pushFiles, readFile } from "./content.ts";
import { getAppHookConfig, repairAppHookConfig } from "./hooks.ts";
import { readDeliveryHeaders, verifyGitHubSignature } from "./intake.ts";
import { getPullRequest, hasWriteAccess } from "./repos.ts";
import { canUseCheckRuns, getCommitStatus, setCheckRun, setCommitStatus } from "./status.ts";
import { openForkPullRequest, simulatorClock } from "./testing.ts";
import { githubTransport } from "./transport.ts";

// The simulator's HTTP `Date` header is the machine's time, not its clock's, so its clock starts at the machine's
// time: a clock hours behind `Date` makes every fresh token look nearly lapsed (GitHub's `Date` and `expires_at`
// agree), and Baton would rightly renew it at every call.
const START = Math.floor(Date.now() / 1000) * 1000;
const webhookSecret = "hoọk-sécret-🔑";
const permissions = appPermissionsUsed;

interface Received {
  headers: IncomingHttpHeaders;
  body: Buffer;
}

describe("GitHub provider against the GitHub simulator", () => {
  let sim: GitHubSimulator;
  let clock: Clock;
  let receiver: ReturnType<typeof createServer>;
  let hookUrl: string;
  const received: Received[] = [];
  let home: { path: string; remove: () => Promise<void> };
  let tokens: AppTokens;
  let signer: AppJwtSigner;
  let installation: number;
  const closers: (() => Promise<void>)[] = [];

  /** The installation's transport: Baton's own calls, each with a token that has at least 10 minutes left. */
  function installationHttp() {
    const { http } = githubTransport({ apiBase: sim.url, clock, auth: () => tokens.credential(installation) });
    closers.push(() => http.close());
    return http;
  }

  /** Takes the deliveries received since the last call, verified and classified as the intake would. */
  async function deliveries(): Promise<{ event: string; result: GitHubClassifyResult }[]> {
    await sim.settled();
    const batch = received.splice(0);
    return batch.map((d) => {
      const headers = readDeliveryHeaders(d.headers);
      assert.ok(headers.ok);
      const check = verifyGitHubSignature(d.body, d.headers, [webhookSecret]);
      assert.deepEqual(check, { ok: true }, `${headers.event} is signed with the App's webhook secret`);
      const result = classifyGitHubDelivery(headers.event, JSON.parse(d.body.toString("utf8")), d.headers, {
        receivedAt: new Date(clock.now()),
      });
      assert.ok(result.ok, result.ok ? "" : result.error);
      return { event: headers.event, result };
    });
  }

  function only<T extends BatonEvent["type"]>(
    batch: { event: string; result: GitHubClassifyResult }[],
    type: T,
  ): Extract<BatonEvent, { type: T }> {
    const events = batch.flatMap((d) => d.result.events).filter((e) => e.type === type);
    assert.equal(events.length, 1, `one ${type} event in ${JSON.stringify(batch.map((d) => d.event))}`);
    return events[0] as Extract<BatonEvent, { type: T }>;
  }

  before(async () => {
    receiver = createServer(async (req, res) => {
      const chunks: Buffer[] = [];
      for await (const chunk of req) chunks.push(chunk as Buffer);
      received.push({ headers: req.headers, body: Buffer.concat(chunks) });
      res.writeHead(200).end();
    });
    await new Promise<void>((resolve) => receiver.listen(0, "127.0.0.1", resolve));
    hookUrl = `http://127.0.0.1:${(receiver.address() as AddressInfo).port}/hooks/github`;
    sim = await startGitHubSimulator({ clock: { start: START, frozen: true } });
    clock = simulatorClock(sim);
    home = await tempDir("baton-github-e2e-");
    sim.createAccount({ login: "octo-org", type: "Organization" });
    sim.createAccount({ login: "mona" });
    sim.createAccount({ login: "forker" });
    const app = sim.createApp({
      name: "Baton",
      owner: "octo-org",
      permissions,
      events: ["push", "pull_request", "issue_comment"],
      webhook: { url: hookUrl, secret: webhookSecret },
    });
    await sim.createRepository({
      owner: "octo-org",
      name: "hello",
      files: {
        ".tekton/pull-request.yaml": "kind: PipelineRun\nmetadata:\n  name: pr # ünïcode 🚀\n",
        ".tekton/push.yaml": "kind: PipelineRun\nmetadata:\n  name: push\n",
        "README.md": "# hello\n",
      },
    });
    await sim.createRepository({ owner: "octo-org", name: "secret-sauce", files: { "recipe.txt": "salt\n" } });
    sim.install({ appId: app.id, account: "octo-org", permissions });
    sim.setCollaborator({ owner: "octo-org", repo: "hello", login: "mona", role: "write" });
    signer = new AppJwtSigner(String(app.id), parseAppPrivateKey(app.privateKey), () => clock.now());
    const appTransport = githubTransport({ apiBase: sim.url, clock });
    closers.push(() => appTransport.http.close());
    tokens = new AppTokens({ http: appTransport.http, signer, clock });
    installation = await tokens.installationId("octo-org", "hello");
    await deliveries();
  });

  after(async () => {
    for (const close of closers) await close();
    await sim.close();
    receiver.close();
    await home.remove();
  });

  it("pull request → event → .tekton at its head → one status per pipeline, and a check run", async () => {
    const http = installationHttp();
    const pushed = await sim.push({
      owner: "octo-org",
      repo: "hello",
      branch: "feature/ünï",
      files: { "src/app.ts": "export {};\n" },
      as: "mona",
      startPoint: "main",
    });
    await sim.openPullRequest({
      owner: "octo-org",
      repo: "hello",
      head: "feature/ünï",
      title: "Feature ✨",
      as: "mona",
    });
    const event = only(await deliveries(), "pull_request");
    assert.equal(event.action, "opened");
    assert.equal(event.sha, pushed.sha);
    assert.equal(event.pullRequest.sourceBranch, "feature/ünï");
    assert.equal(event.pullRequest.fromRepository.fork, false);
    assert.equal(event.sender.name, "mona");
    const repo = { owner: event.repository.project, name: event.repository.slug };

    const files = await listFolder(http, repo, ".tekton", event.sha);
    assert.deepEqual(files?.map((f) => f.path).sort(), ["pull-request.yaml", "push.yaml"]);
    const text = Buffer.from(await readFile(http, repo, ".tekton/pull-request.yaml", event.sha)).toString("utf8");
    assert.match(text, /ünïcode 🚀/);

    const url = "https://tekton.example/#/namespaces/ci/pipelineruns/hello-pr-abcde";
    await setCommitStatus(http, repo, event.sha, { context: "baton-pr", state: "INPROGRESS", url });
    await setCommitStatus(http, repo, event.sha, {
      context: "baton-pr",
      state: "SUCCESSFUL",
      url,
      description: "done",
    });
    const statuses = sim.statuses({ owner: "octo-org", repo: "hello", sha: event.sha }) as {
      context: string;
      state: string;
      target_url: string;
    }[];
    assert.deepEqual(
      statuses.filter((s) => s.context === "baton-pr").map((s) => [s.state, s.target_url]),
      [
        ["pending", url],
        ["success", url],
      ],
    );
    assert.equal((await getCommitStatus(http, repo, event.sha, "baton-pr"))?.state, "SUCCESSFUL");

    assert.equal(canUseCheckRuns(tokens.permissionsOf(installation)), true, "the App was granted checks: write");
    const check = await setCheckRun(http, repo, event.sha, {
      name: "pr",
      state: "FAILED",
      detailsUrl: url,
      externalId: "hello-pr-abcde",
      title: "pr failed",
      summary: "step `test` failed",
    });
    assert.equal(check.details_url, url);
    const runs = sim.checkRuns({ owner: "octo-org", repo: "hello", sha: event.sha }) as { conclusion: string }[];
    assert.deepEqual(
      runs.map((r) => r.conclusion),
      ["failure"],
    );
  });

  it("push → event with the pushed commit and its changed files", async () => {
    const http = installationHttp();
    const before = await sim.resolve({ owner: "octo-org", repo: "hello", rev: "main" });
    const pushed = await sim.push({
      owner: "octo-org",
      repo: "hello",
      branch: "main",
      files: { "docs/guide.md": "# guide\n" },
      as: "mona",
    });
    const event = only(await deliveries(), "push");
    assert.equal(event.sha, pushed.sha);
    assert.equal(event.ref, "refs/heads/main");
    assert.equal(event.previousSha, before);
    const changed = await pushFiles(
      http,
      { owner: "octo-org", name: "hello" },
      { from: event.previousSha, to: event.sha },
    );
    assert.deepEqual(changed.files.all, ["docs/guide.md"]);
  });

  it("a fork's pull request waits for /ok-to-test from a writer; its head is fetched from refs/pull/N/head", async () => {
    const http = installationHttp();
    const { pushed, pr } = await openForkPullRequest(sim, {
      files: { "src/fix.ts": "export const fixed = true;\n" },
      title: "Fix from a fork",
    });
    const opened = only(await deliveries(), "pull_request");
    assert.equal(opened.pullRequest.fromRepository.fork, true);
    assert.equal(opened.pullRequest.fromRepository.project, "forker");
    const repo = { owner: "octo-org", name: "hello" };
    assert.equal(await hasWriteAccess(http, repo, opened.sender.name), false, "the fork's author is not trusted");

    sim.comment({ owner: "octo-org", repo: "hello", number: pr.number, body: "Looks safe.\n/ok-to-test", as: "mona" });
    const batch = await deliveries();
    const pending = batch.flatMap((d) => d.result.pending);
    assert.equal(pending.length, 1);
    const [waiting] = pending;
    assert.ok(waiting);
    assert.deepEqual(waiting.comment.command, { kind: "ok-to-test" });
    assert.equal(await hasWriteAccess(http, repo, waiting.comment.author.name), true, "the voucher may push");
    const comment = commentEvent(waiting, await getPullRequest(http, repo, waiting.pullNumber));
    assert.equal(comment.sha, pushed.sha);

    // The run fetches the fork's head from the base repository with its own narrowed token.
    const run = await tokens.runToken(installation, "hello");
    const refs = await git(
      [...extraHeader(basicAuth("x-access-token", run.token)), "ls-remote", `${sim.url}/octo-org/hello.git`],
      { home: home.path },
    );
    assert.equal(refs.code, 0, refs.stderr);
    const head = refs.stdout.split("\n").find((line) => line.endsWith(`\trefs/pull/${pr.number}/head`));
    assert.equal(head?.split("\t")[0], comment.sha);
  });

  it("a run's token reads its repository and nothing else, and cannot push", async () => {
    const run = await tokens.runToken(installation, "hello");
    assert.deepEqual(run.permissions, { contents: "read", metadata: "read" });
    const auth = extraHeader(basicAuth("x-access-token", run.token));
    const at = { cwd: home.path, home: home.path };
    const clone = await git([...auth, "clone", `${sim.url}/octo-org/hello.git`, "hello"], at);
    assert.equal(clone.code, 0, clone.stderr);
    const other = await git([...auth, "clone", `${sim.url}/octo-org/secret-sauce.git`, "sauce"], at);
    assert.notEqual(other.code, 0, "another repository of the same installation is out of reach");

    const cwd = `${home.path}/hello`;
    await git(["commit", "--allow-empty", "-m", "sneaky"], { cwd, home: home.path });
    const push = await git([...auth, "push", "origin", "HEAD:main"], { cwd, home: home.path });
    assert.notEqual(push.code, 0, "contents: read cannot push");

    const { http } = githubTransport({ apiBase: sim.url, clock, auth: { kind: "bearer", token: run.token } });
    closers.push(() => http.close());
    const head = await sim.resolve({ owner: "octo-org", repo: "hello", rev: "main" });
    assert.ok(head);
    await assert.rejects(readFile(http, { owner: "octo-org", name: "secret-sauce" }, "recipe.txt", "main"), {
      status: 404,
    });
    assert.equal(Buffer.from(await readFile(http, { owner: "octo-org", name: "hello" }, "README.md", head)).length, 8);
    await assert.rejects(
      setCommitStatus(http, { owner: "octo-org", name: "hello" }, head, { context: "x", state: "FAILED", url: "u" }),
      { status: 403 },
    );
  });

  it("the App's hook config is read, judged and repaired", async () => {
    const { http } = githubTransport({ apiBase: sim.url, clock });
    closers.push(() => http.close());
    const jwt = () => ({ auth: { kind: "bearer" as const, token: signer.jwt() } });
    const moved = `${hookUrl}?moved`;
    const shown = { url: hookUrl, content_type: "json", insecure_ssl: "0", secret: "********" };
    assert.deepEqual(await getAppHookConfig(http, jwt()), shown, "the secret is masked, as GitHub does");
    assert.deepEqual(await repairAppHookConfig(http, { url: moved, secret: webhookSecret }, jwt()), {
      ...shown,
      url: moved,
    });
    assert.deepEqual(await getAppHookConfig(http, jwt()), { ...shown, url: moved });
    await assert.rejects(getAppHookConfig(http, {}), { status: 401 }, "only the App's JWT reads it");
    await repairAppHookConfig(http, { url: hookUrl, secret: webhookSecret }, jwt());
  });

  it("tokens renewed across a simulated day: every call succeeds, none with a token about to lapse", async () => {
    const http = installationHttp();
    const repo = { owner: "octo-org", name: "hello" };
    const mintsBefore = tokens.mints;
    const steps = Math.ceil((24 * 60) / 7);
    let least = Number.POSITIVE_INFINITY;
    for (let step = 0; step < steps; step++) {
      assert.equal(await hasWriteAccess(http, repo, "mona"), true);
      const renewsAt = tokens.renewsAt(installation);
      assert.ok(renewsAt !== undefined);
      least = Math.min(least, renewsAt + tokens.renewBeforeMs - clock.now());
      sim.clock.advance(7 * 60_000);
    }
    const mints = tokens.mints - mintsBefore;
    assert.ok(mints >= 24 && mints <= 29, `${mints} mints in a simulated day`);
    assert.ok(least >= tokens.renewBeforeMs, `the shortest life left at a call was ${least} ms`);
  });
});
