// GitHub end to end through the operator: a GitHub App Repository on the GitHub simulator (src/simulator/github/,
// served as an Enterprise Server: `provider: github`). The App's signed deliveries reach Baton's /hooks/github;
// Baton mints the App's installation token for its own calls, reads .tekton at the head, creates the PipelineRun
// and a git Secret holding a token minted for that run alone (this repository, contents: read), and reports a commit
// status and a check run. A fork's pull request runs only after /ok-to-test from a collaborator with write, and an
// hour of simulated time later Baton's calls still go through with a renewed token.
import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { PipelineRuns } from "../../src/pipelines/tekton.ts";
import { openForkPullRequest } from "../../src/providers/github/testing.ts";
import { Repositories } from "../../src/repositories/resource.ts";
import { type KubeClient, Secrets } from "../../src/runtime/kube.ts";
import type { GitHubSimulator } from "../../src/simulator/github/index.ts";
import { basicAuth, extraHeader, git } from "../../src/simulator/testing.ts";
import { condition, type GitHubWorld, githubWorld, githubPipeline as pipeline } from "../support/github-world.ts";
import { waitFor } from "../support/wait.ts";

describe("GitHub end to end through the operator", () => {
  let w: GitHubWorld;
  let sim: GitHubSimulator;
  let kube: KubeClient;
  let ns: string;
  let home: { path: string };
  const closers: (() => Promise<void> | void)[] = [];
  const scope = { after: (fn: () => Promise<void> | void) => closers.push(fn) };
  const runsAt = (sha: string) => w.runsAt(sha);
  const runToken = (run: { metadata?: { annotations?: Record<string, string> } }) => w.runToken(run);

  before(async () => {
    w = await githubWorld(scope);
    ({ sim, kube, ns } = w);
    home = { path: w.home };
  });

  after(async () => {
    for (const close of closers.reverse()) await close();
  });

  test("the App's Repository is Ready: the App is installed on it, each run gets its own token, no finalizer", async () => {
    const repo = await waitFor(
      async () => {
        const r = await kube.get(Repositories, { namespace: ns, name: "hello" });
        return condition(r, "Ready")?.status === "True" ? r : undefined;
      },
      { message: "the GitHub App Repository to be Ready" },
    );
    assert.equal(condition(repo, "TokenReady")?.reason, "AppInstalled");
    assert.equal(condition(repo, "CloneTokenReady")?.reason, "PerRunAppToken");
    assert.equal(condition(repo, "CloneTokenWarning")?.status, "False");
    assert.equal(condition(repo, "WebhookSynced"), undefined, "webhook.managed: false says nothing of the webhook");
    assert.deepEqual(repo.metadata?.finalizers ?? [], [], "no hook of its own to remove at deletion");
  });

  test("a signed pull_request → a run at the head whose git token reads only this repository → status and check run", async () => {
    const pushed = await sim.push({
      owner: "octo-org",
      repo: "hello",
      branch: "feature/ünï",
      files: { "src/app.ts": "export {};\n" },
      as: "mona",
      startPoint: "main",
    });
    const mark = sim.markRequests();
    await sim.openPullRequest({
      owner: "octo-org",
      repo: "hello",
      head: "feature/ünï",
      title: "Feature ✨",
      as: "mona",
    });
    await sim.settled();
    const [run] = await runsAt(pushed.sha);
    assert.ok(run);
    const params = (run.spec?.params ?? []) as { name: string; value: string }[];
    assert.equal(params.find((p) => p.name === "url")?.value, `${sim.url}/octo-org/hello.git`);

    // The run's token: minted for it, contents: read on this repository; another repository and a push are refused.
    const token = await runToken(run);
    const auth = extraHeader(basicAuth("x-access-token", token));
    const at = { cwd: home.path, home: home.path };
    const clone = await git([...auth, "clone", `${sim.url}/octo-org/hello.git`, "hello"], at);
    assert.equal(clone.code, 0, clone.stderr);
    const other = await git([...auth, "ls-remote", `${sim.url}/octo-org/secret-sauce.git`], at);
    assert.notEqual(other.code, 0, "the run's token cannot read another repository of the installation");
    const cwd = `${home.path}/hello`;
    await git(["commit", "--allow-empty", "-m", "sneaky"], { cwd, home: home.path });
    const push = await git([...auth, "push", "origin", "HEAD:main"], { cwd, home: home.path });
    assert.notEqual(push.code, 0, "the run's token cannot push");

    const status = await waitFor(
      () => (sim.statuses({ owner: "octo-org", repo: "hello", sha: pushed.sha }) as { state: string }[])[0],
      { message: "a commit status" },
    );
    assert.equal(status.state, "pending");
    const check = await waitFor(
      () => (sim.checkRuns({ owner: "octo-org", repo: "hello", sha: pushed.sha }) as { status: string }[])[0],
      { message: "a check run (the App has checks: write)" },
    );
    assert.equal(check.status, "in_progress");
    const calls = sim
      .requests({ since: mark })
      .filter((r) => r.group !== "git")
      .map((r) => `${r.method} ${r.route ?? r.path} ${r.status}`);
    console.log(`GitHub calls for one pull_request starting one pipeline: ${calls.length}\n${calls.join("\n")}`);
  });

  test("a push to main runs at the pushed commit", async () => {
    const pushed = await sim.push({
      owner: "octo-org",
      repo: "hello",
      branch: "main",
      files: { "docs/guide.md": "# guide\n" },
      as: "mona",
    });
    await sim.settled();
    const [run] = await runsAt(pushed.sha);
    assert.ok(run);
    await runToken(run);
  });

  test("a fork's pull request runs only after /ok-to-test from a collaborator with write", async () => {
    const { pushed, pr } = await openForkPullRequest(sim, {
      files: { "src/fix.ts": "export const fixed = true;\n" },
      title: "Fix from a fork",
    });
    await sim.settled();
    // The untrusted author is told (a comment on the pull request); no run.
    await waitFor(() => sim.comments({ owner: "octo-org", repo: "hello", number: pr.number })[0], {
      message: "an approval notice",
    });
    const before = await kube.list(PipelineRuns, { namespace: ns });
    assert.equal(
      before.items.filter((r) => JSON.stringify(r.spec?.params).includes(pushed.sha)).length,
      0,
      "no run before /ok-to-test",
    );
    // A comment by the fork's author does not vouch for it.
    sim.comment({ owner: "octo-org", repo: "hello", number: pr.number, body: "/ok-to-test", as: "forker" });
    await sim.settled();
    const afterOwn = await kube.list(PipelineRuns, { namespace: ns });
    assert.equal(
      afterOwn.items.filter((r) => JSON.stringify(r.spec?.params).includes(pushed.sha)).length,
      0,
      "the author's own /ok-to-test starts nothing",
    );
    sim.comment({ owner: "octo-org", repo: "hello", number: pr.number, body: "Looks safe.\n/ok-to-test", as: "mona" });
    await sim.settled();
    const [run] = await runsAt(pushed.sha);
    assert.ok(run);
    await runToken(run);
  });

  test("personal-token mode: Baton's calls with a fine-grained token, the run's git with the narrower clone token", async () => {
    await sim.createRepository({ owner: "octo-org", name: "pat-repo", files: { ".tekton/build.yaml": pipeline } });
    sim.setCollaborator({ owner: "octo-org", repo: "pat-repo", login: "mona", role: "admin" });
    const operatorPat = sim.personalToken({
      user: "mona",
      owner: "octo-org",
      repositories: ["pat-repo"],
      permissions: { contents: "read", metadata: "read", statuses: "write", pull_requests: "write", issues: "write" },
    });
    const clonePat = sim.personalToken({
      user: "mona",
      owner: "octo-org",
      repositories: ["pat-repo"],
      permissions: { contents: "read", metadata: "read" },
    });
    for (const [name, token] of [
      ["pat", operatorPat.token],
      ["clone-pat", clonePat.token],
    ] as const) {
      await kube.create(Secrets, {
        apiVersion: "v1",
        kind: "Secret",
        metadata: { name, namespace: ns },
        stringData: { token },
      });
    }
    await kube.create(Repositories, {
      apiVersion: "baton.dev/v1alpha1",
      kind: "Repository",
      metadata: { name: "pat-repo", namespace: ns },
      spec: {
        url: `${sim.url}/octo-org/pat-repo`,
        provider: "github",
        secretRef: { name: "pat" },
        cloneTokenRef: { kind: "Secret", name: "clone-pat" },
        webhook: { managed: false, scope: "repository", secretRef: { name: "hook", key: "secret" } },
      },
    } as never);
    const pushed = await waitFor(
      async () => {
        const attempt = await sim.push({
          owner: "octo-org",
          repo: "pat-repo",
          branch: "main",
          files: { "p.txt": "p\n" },
        });
        await sim.settled();
        const { items } = await kube.list(PipelineRuns, { namespace: ns });
        return items.some((r) => JSON.stringify(r.spec?.params).includes(attempt.sha)) ? attempt : undefined;
      },
      { message: "a run for the personal-token Repository once the intake knows it" },
    );
    const [run] = await runsAt(pushed.sha);
    assert.ok(run);
    assert.equal(await runToken(run), clonePat.token, "the run holds the clone token, never the operator's");
    const status = await waitFor(
      () => (sim.statuses({ owner: "octo-org", repo: "pat-repo", sha: pushed.sha }) as { state: string }[])[0],
      { message: "a commit status written with the personal token" },
    );
    assert.equal(status.state, "pending");
    assert.deepEqual(
      sim.checkRuns({ owner: "octo-org", repo: "pat-repo", sha: pushed.sha }),
      [],
      "no App, no check run",
    );
  });

  test("a Repository whose App key Secret is missing is answered 503 saying so, and runs nothing", async () => {
    await sim.createRepository({ owner: "octo-org", name: "broken", files: { ".tekton/build.yaml": pipeline } });
    await kube.create(Repositories, {
      apiVersion: "baton.dev/v1alpha1",
      kind: "Repository",
      metadata: { name: "broken", namespace: ns },
      spec: {
        url: `${sim.url}/octo-org/broken`,
        provider: "github",
        githubApp: { appId: "1", privateKeyRef: { name: "missing-key" } },
        webhook: { managed: false, scope: "repository", secretRef: { name: "hook", key: "secret" } },
      },
    } as never);
    const mark = sim.deliveries().length;
    const pushed = await waitFor(
      async () => {
        const attempt = await sim.push({
          owner: "octo-org",
          repo: "broken",
          branch: "main",
          files: { "x.txt": "x\n" },
        });
        await sim.settled();
        const answered = sim
          .deliveries()
          .slice(mark)
          .find((d) => d.body.includes(attempt.sha) && d.status !== 401);
        return answered ? { attempt, answered } : undefined;
      },
      { message: "a delivery for the broken Repository once the intake knows it" },
    );
    assert.equal(pushed.answered.status, 503);
    assert.match(pushed.answered.responseBody ?? "", /the Secret missing-key holding the App's key does not exist/);
    // kubectl describe says the same, on the Repository itself.
    const broken = await waitFor(
      async () => {
        const r = await kube.get(Repositories, { namespace: ns, name: "broken" });
        return condition(r, "TokenReady")?.reason === "SecretNotFound" ? r : undefined;
      },
      { message: "the broken Repository's TokenReady to name the missing Secret" },
    );
    assert.equal(condition(broken, "Ready")?.status, "False");
    assert.match(condition(broken, "TokenReady")?.message ?? "", /missing-key/);
    const { items } = await kube.list(PipelineRuns, { namespace: ns });
    assert.equal(items.filter((r) => JSON.stringify(r.spec?.params).includes(pushed.attempt.sha)).length, 0);
  });

  test("an hour of simulated time later the App's token was renewed: no call refused", async () => {
    const contentReads = (since?: number) =>
      new Set(
        sim
          .requests(since === undefined ? {} : { since })
          .filter((r) => r.path.includes("/contents/") && r.status === 200)
          .map((r) => r.tokenId),
      );
    const earlier = contentReads();
    const mark = sim.markRequests();
    sim.clock.advance(55 * 60_000);
    const first = await sim.push({ owner: "octo-org", repo: "hello", branch: "main", files: { "a.txt": "1\n" } });
    await sim.settled();
    await runsAt(first.sha);
    sim.clock.advance(20 * 60_000);
    const second = await sim.push({ owner: "octo-org", repo: "hello", branch: "main", files: { "b.txt": "2\n" } });
    await sim.settled();
    await runsAt(second.sha);
    await waitFor(() => sim.statuses({ owner: "octo-org", repo: "hello", sha: second.sha })[0], {
      message: "a status after the renewal",
    });
    const later = contentReads(mark);
    assert.ok(later.size > 0);
    for (const token of later) assert.ok(!earlier.has(token), "Baton's own token was renewed past 50 minutes");
    const refused = sim.requests({ since: mark }).filter((r) => r.status === 401 || r.status === 403);
    assert.deepEqual(
      refused.map((r) => `${r.method} ${r.path} ${r.status}`),
      [],
    );
  });

  test("a simulated day: Baton's token renewed ahead of expiry about once an hour, no call refused, every run reported", async () => {
    // Every 20 minutes of a day something is pushed: a branch no pipeline builds (Baton still lists .tekton, one
    // call with its own token), and every fourth step a push to main or to the pull request's branch, each a run.
    const step = 20 * 60_000;
    const steps = (24 * 3_600_000) / step;
    const own = () => sim.installationTokens().filter((token) => token.repositories === null);
    const perRun = () => sim.installationTokens().filter((token) => token.repositories !== null);
    const [ownBefore, perRunBefore] = [own().length, perRun().length];
    const mark = sim.markRequests();
    await sim.push({
      owner: "octo-org",
      repo: "hello",
      branch: "daily",
      files: { "d.txt": "0\n" },
      startPoint: "main",
    });
    await sim.openPullRequest({ owner: "octo-org", repo: "hello", head: "daily", title: "A day's work", as: "mona" });
    const quiet = async () => {
      for (let seen = -1; ; ) {
        const now = sim.requests().length;
        if (now === seen) return;
        seen = now;
        await new Promise((resolve) => setTimeout(resolve, 300));
      }
    };
    const built: string[] = [];
    for (let i = 1; i <= steps; i++) {
      // A real clock never jumps 20 minutes under a call that already holds its credential: the clock moves only
      // once Baton has made no call for a while (the status reporter may still be posting after the check run).
      await quiet();
      sim.clock.advance(step);
      const branch = i % 8 === 0 ? "main" : i % 8 === 4 ? "daily" : `scratch-${i}`;
      const pushed = await sim.push({
        owner: "octo-org",
        repo: "hello",
        branch,
        files: { "day.txt": `${i}\n` },
        ...(branch.startsWith("scratch") ? { startPoint: "main" } : {}),
      });
      await sim.settled();
      if (branch.startsWith("scratch")) continue;
      await runsAt(pushed.sha);
      await waitFor(() => sim.statuses({ owner: "octo-org", repo: "hello", sha: pushed.sha })[0], {
        message: `a status at step ${i} (${branch})`,
      });
      await waitFor(() => sim.checkRuns({ owner: "octo-org", repo: "hello", sha: pushed.sha })[0], {
        message: `a check run at step ${i} (${branch})`,
      });
      built.push(pushed.sha);
    }
    assert.equal(built.length, steps / 4);

    const calls = sim.requests({ since: mark }).filter((r) => r.group !== "git");
    assert.deepEqual(
      calls.filter((r) => r.status === 401 || r.status === 403).map((r) => `${r.method} ${r.path} ${r.status}`),
      [],
      "no call refused all day",
    );
    const minted = own().slice(ownBefore);
    // A call every 20 minutes, renewal at the first call with under 10 minutes left: one mint an hour, not per call.
    assert.ok(
      minted.length >= 22 && minted.length <= 30,
      `${minted.length} mints of Baton's own token in a day of ${calls.length} calls`,
    );
    console.log(
      `a simulated day: ${calls.length} GitHub calls, ${minted.length} mints of Baton's own token, ${built.length + 1} runs`,
    );
    const expiryOf = new Map(own().map((token) => [token.id, token.expiresAt]));
    for (const call of calls) {
      const expiresAt = call.tokenId === null ? undefined : expiryOf.get(call.tokenId);
      if (expiresAt === undefined) continue;
      assert.ok(
        expiresAt - call.time >= 10 * 60_000,
        `${call.method} ${call.path} went with ${Math.round((expiresAt - call.time) / 60_000)} minutes of its token left`,
      );
    }
    // Each run got its own token, and nothing else was minted narrowed.
    assert.equal(perRun().length - perRunBefore, built.length + 1);
  });

  test("every delivery of the App's hook to the first Repository was answered 2xx, installation events included", () => {
    const failed = sim
      .deliveries()
      // Repositories created mid-way may see a push before the intake knows them; theirs are checked above.
      .filter((d) => !d.body.includes('"name":"broken"') && !d.body.includes('"name":"pat-repo"'))
      .filter((d) => d.status === null || d.status >= 300)
      .map((d) => `${d.eventKey} ${d.status}: ${d.responseBody}`);
    assert.deepEqual(failed, []);
    assert.ok(sim.deliveries().some((d) => d.eventKey === "installation"));
  });
});
