// The GitProvider interface as the domain calls it, against the GitHub simulator: what the runner and status
// reporter do for one pull request, with the credentials an App installation gives.
import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { type GitHubSimulator, startGitHubSimulator } from "../../simulator/github/index.ts";
import { basicAuth, extraHeader, git, tempDir } from "../../simulator/testing.ts";
import { NotFoundError } from "../http/errors.ts";
import { AppJwtSigner, parseAppPrivateKey } from "./app-jwt.ts";
import { AppTokens } from "./app-tokens.ts";
import { GitHubProvider } from "./provider.ts";
import { openForkPullRequest, simulatorClock } from "./testing.ts";
import { githubTransport } from "./transport.ts";

describe("GitHubProvider against the GitHub simulator", () => {
  let sim: GitHubSimulator;
  let provider: GitHubProvider;
  let tokens: AppTokens;
  let installation: number;
  let home: { path: string; remove: () => Promise<void> };
  const closers: (() => Promise<void>)[] = [];
  const repo = { owner: "octo-org", name: "hello" };

  before(async () => {
    sim = await startGitHubSimulator({ clock: { start: Math.floor(Date.now() / 1000) * 1000, frozen: true } });
    const clock = simulatorClock(sim);
    home = await tempDir("baton-github-provider-");
    sim.createAccount({ login: "octo-org", type: "Organization" });
    sim.createAccount({ login: "mona" });
    sim.createAccount({ login: "forker" });
    const permissions = {
      contents: "read",
      metadata: "read",
      statuses: "write",
      pull_requests: "write",
      issues: "write",
    } as const;
    const app = sim.createApp({ name: "Baton", owner: "octo-org", permissions });
    await sim.createRepository({
      owner: "octo-org",
      name: "hello",
      files: { ".tekton/pr.yaml": "kind: PipelineRun # 🚀\n", ".tekton/tasks/lint.yaml": "kind: Task\n" },
    });
    sim.install({ appId: app.id, account: "octo-org", permissions });
    sim.setCollaborator({ owner: "octo-org", repo: "hello", login: "mona", role: "maintain" });
    const signer = new AppJwtSigner(String(app.id), parseAppPrivateKey(app.privateKey), () => clock.now());
    const appHttp = githubTransport({ apiBase: sim.url, clock }).http;
    closers.push(() => appHttp.close());
    tokens = new AppTokens({ http: appHttp, signer, clock });
    installation = await tokens.installationId(repo.owner, repo.name);
    provider = new GitHubProvider({
      server: { kind: "enterprise", webUrl: sim.url, apiBase: sim.url },
      clock,
    });
    closers.push(() => provider.close());
  });

  after(async () => {
    for (const close of closers) await close();
    await sim.close();
    await home.remove();
  });

  it("reads .tekton at the head, trusts a maintainer, reports status, and fetches a fork's head by its ref", async () => {
    const auth = await tokens.credential(installation);
    const call = { auth };
    const { pushed, pr } = await openForkPullRequest(sim, {
      files: { "src/fix.ts": "export {};\n" },
      title: "Fix",
    });

    const snapshot = await provider.getPullRequest(repo, pr.number, call);
    assert.equal(snapshot.latestCommit, pushed.sha);
    const event = provider.pullRequestEvent(snapshot, { serverUrl: sim.url, receivedAt: new Date() });
    assert.ok(event.ok);
    assert.equal(event.event.pullRequest.fromRepository.fork, true);

    const entries = await provider.listFolder(repo, ".tekton", pushed.sha, call);
    assert.deepEqual(entries?.map((e) => [e.path, e.type]).sort(), [
      ["pr.yaml", "FILE"],
      ["tasks", "DIRECTORY"],
    ]);
    assert.equal(await provider.listFolder(repo, ".tekton/pr.yaml", pushed.sha, call), undefined);
    await assert.rejects(provider.listFolder(repo, "nowhere", pushed.sha, call), NotFoundError);
    assert.equal(await provider.readFile(repo, ".tekton/pr.yaml", pushed.sha, call), "kind: PipelineRun # 🚀\n");
    const changed = await provider.changedFiles(repo, { pullRequest: pr.number }, call);
    assert.deepEqual(changed.files.added, ["src/fix.ts"]);

    assert.deepEqual(await provider.hasWriteAccess(repo, "forker", call), { kind: "answered", granted: false });
    assert.deepEqual(await provider.hasWriteAccess(repo, "mona", call), { kind: "answered", granted: true });

    const url = "https://tekton.example/run";
    await provider.setBuildStatus(repo, pushed.sha, { key: "baton-pr", state: "INPROGRESS", url }, call);
    await provider.setBuildStatus(
      repo,
      pushed.sha,
      { key: "baton-pr", state: "CANCELLED", url, description: "cancelled" },
      call,
    );
    assert.equal((await provider.getBuildStatus(repo, pushed.sha, "baton-pr", call))?.state, "CANCELLED");
    await provider.commentOnPullRequest(repo, pr.number, "Waiting for `/ok-to-test` from a maintainer.", call);
    const comments = sim.comments({ owner: "octo-org", repo: "hello", number: pr.number }) as { body: string }[];
    assert.ok(comments.some((c) => c.body.includes("/ok-to-test")));

    const head = provider.forkHead(repo, pr.number, event.event.pullRequest.fromRepository.cloneUrl ?? "");
    assert.equal(head.kind, "base-ref");
    const run = await tokens.runToken(installation, "hello");
    const { username } = provider.capabilities.git.kind === "basic" ? provider.capabilities.git : { username: "" };
    const refs = await git(
      [
        ...extraHeader(basicAuth(username, run.token)),
        "ls-remote",
        provider.cloneUrl(sim.url, repo),
        head.kind === "base-ref" ? head.ref : "",
      ],
      { home: home.path },
    );
    assert.equal(refs.code, 0, refs.stderr);
    assert.equal(
      refs.stdout.split("\t")[0],
      pushed.sha,
      "the base repository's refs/pull/N/head is the event's commit",
    );
  });
});
