// The runner's pure helpers: git-auth workspace binding, run phases, /retest selection, the `.tekton` cache, and
// the fork ref check's retry loop.
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { DefinitionCache, FileTooLarge, type TektonSource } from "./definitions.ts";
import { waitForPullRequestRef } from "./forkref.ts";
import { bindGitAuthWorkspace } from "./gitsecret.ts";
import { type PipelineRun, retestable, runPhase } from "./tekton.ts";

describe("bindGitAuthWorkspace", () => {
  it("binds an unbound basic-auth or git-auth workspace to the run's Secret", () => {
    const run = { spec: { workspaces: [{ name: "basic-auth" }, { name: "source", emptyDir: {} }] } };
    assert.deepEqual(bindGitAuthWorkspace(run, "baton-git-abc").spec.workspaces, [
      { name: "basic-auth", secret: { secretName: "baton-git-abc" } },
      { name: "source", emptyDir: {} },
    ]);
    assert.deepEqual(run.spec.workspaces[0], { name: "basic-auth" }, "the input is not changed");
  });

  it("adds a binding for a git-auth workspace an embedded pipelineSpec declares", () => {
    const run: { spec: Record<string, unknown> } = {
      spec: { pipelineSpec: { workspaces: [{ name: "git-auth" }, { name: "other" }] } },
    };
    assert.deepEqual(bindGitAuthWorkspace(run, "baton-git-x").spec.workspaces, [
      { name: "git-auth", secret: { secretName: "baton-git-x" } },
    ]);
  });

  it("keeps what the author bound, and leaves runs without such a workspace alone", () => {
    const bound = { spec: { workspaces: [{ name: "basic-auth", secret: { secretName: "baton-git-x" } }] } };
    assert.equal(bindGitAuthWorkspace(bound, "baton-git-y"), bound);
    const none = { spec: { workspaces: [{ name: "cache", persistentVolumeClaim: { claimName: "c" } }] } };
    assert.equal(bindGitAuthWorkspace(none, "baton-git-y"), none);
  });
});

const run = (
  name: string,
  pipeline: string,
  created: string,
  options: { spec?: string; succeeded?: "True" | "False" | "Unknown" } = {},
): PipelineRun => ({
  metadata: {
    name,
    creationTimestamp: created,
    annotations: { "pipelinesascode.tekton.dev/original-prname": pipeline },
  },
  spec: options.spec === undefined ? {} : { status: options.spec },
  ...(options.succeeded ? { status: { conditions: [{ type: "Succeeded", status: options.succeeded }] } } : {}),
});

describe("runPhase", () => {
  it("tells pending, active, stopping and finished runs apart", () => {
    assert.equal(runPhase(run("a", "p", "", { spec: "PipelineRunPending" })), "pending");
    assert.equal(runPhase(run("a", "p", "")), "active");
    assert.equal(runPhase(run("a", "p", "", { succeeded: "Unknown" })), "active");
    assert.equal(runPhase(run("a", "p", "", { spec: "Cancelled" })), "stopping");
    assert.equal(runPhase(run("a", "p", "", { succeeded: "False", spec: "Cancelled" })), "finished");
    assert.equal(runPhase(run("a", "p", "", { succeeded: "True" })), "finished");
  });
});

describe("retestable", () => {
  it("retries pipelines whose newest run failed or was cancelled, and those that never ran", () => {
    const runs = [
      run("b1", "build", "2026-01-01T00:00:00Z", { succeeded: "True" }),
      run("b2", "build", "2026-01-01T00:01:00Z", { succeeded: "False" }),
      run("l1", "lint", "2026-01-01T00:00:00Z", { succeeded: "False" }),
      run("l2", "lint", "2026-01-01T00:01:00Z", { succeeded: "True" }),
      run("t1", "test", "2026-01-01T00:01:00Z"),
      run("c1", "cancelled", "2026-01-01T00:01:00Z", { spec: "Cancelled" }),
    ];
    assert.deepEqual([...retestable(runs, ["build", "lint", "test", "cancelled", "new"])].sort(), [
      "build",
      "cancelled",
      "new",
    ]);
  });
});

function countingSource(files: Record<string, string>, blobIds = false) {
  const calls: string[] = [];
  const source: TektonSource = {
    async list(folder, commit) {
      calls.push(`list ${folder}@${commit}`);
      if (commit === "nofolder") return undefined;
      return Object.keys(files).map((path) => ({ path, ...(blobIds ? { blobId: `blob-${files[path]}` } : {}) }));
    },
    async read(path, commit, maxBytes) {
      calls.push(`read ${path}@${commit}`);
      const text = files[path] ?? "";
      if (text.length > maxBytes) throw new FileTooLarge(path, maxBytes);
      return text;
    },
  };
  return { calls, source };
}

describe("DefinitionCache", () => {
  it("lists a commit once, reads only YAML files, and shares concurrent fetches", async () => {
    const cache = new DefinitionCache();
    const { calls, source } = countingSource({ ".tekton/a.yaml": "a", ".tekton/README.md": "r" });
    const [one, two] = await Promise.all([
      cache.fetch("repo", ".tekton", "c1", source),
      cache.fetch("repo", ".tekton", "c1", source),
    ]);
    assert.deepEqual([...one.files], [[".tekton/a.yaml", "a"]]);
    assert.deepEqual([...two.files], [[".tekton/a.yaml", "a"]]);
    await cache.fetch("repo", ".tekton", "c1", source);
    assert.deepEqual(calls, ["list .tekton@c1", "read .tekton/a.yaml@c1"]);
  });

  it("keys files by blob id when the listing has them, so a new commit reads only changed files", async () => {
    const cache = new DefinitionCache();
    const { calls, source } = countingSource({ ".tekton/a.yaml": "a" }, true);
    await cache.fetch("repo", ".tekton", "c1", source);
    await cache.fetch("repo", ".tekton", "c2", source);
    assert.deepEqual(calls, ["list .tekton@c1", "read .tekton/a.yaml@c1", "list .tekton@c2"]);
  });

  it("says when the folder is missing, and turns an oversized file into a problem", async () => {
    const cache = new DefinitionCache({ fileLimitBytes: 3 });
    const { source } = countingSource({ ".tekton/big.yaml": "0123456789", ".tekton/ok.yaml": "ok" });
    assert.equal((await cache.fetch("repo", ".tekton", "nofolder", source)).folderExists, false);
    const fetched = await cache.fetch("repo", ".tekton", "c1", source);
    assert.deepEqual([...fetched.files.keys()], [".tekton/ok.yaml"]);
    assert.match(fetched.problems[0]?.message ?? "", /larger than the 3-byte limit/);
  });
});

const head = "a".repeat(40);
const old = "b".repeat(40);
const pkt = (line: string) => `${(line.length + 4).toString(16).padStart(4, "0")}${line}`;
const advertisement = (sha: string) =>
  `${pkt("# service=git-upload-pack\n")}0000${pkt(`${sha} refs/pull-requests/7/from\0multi_ack\n`)}0000`;

describe("waitForPullRequestRef", () => {
  it("rescopes a lagging ref and retries until it points at the head", async () => {
    let served = old;
    const seen: string[] = [];
    const result = await waitForPullRequestRef({
      cloneUrl: "https://bb.example.com/scm/prj/app.git",
      token: "t0k3n-value",
      git: { kind: "header" },
      ref: "refs/pull-requests/7/from",
      sha: head,
      refresh: async () => {
        served = head;
      },
      delaysMs: [1, 1],
      sleep: async () => {},
      fetch: async (url, init) => {
        seen.push(`${url} ${init.headers.authorization}`);
        return { status: 200, arrayBuffer: async () => new TextEncoder().encode(advertisement(served)).buffer };
      },
    });
    assert.deepEqual(result, { ok: true, attempts: 2 });
    assert.equal(
      seen[0],
      "https://bb.example.com/scm/prj/app.git/info/refs?service=git-upload-pack Bearer t0k3n-value",
    );
  });

  it("gives up with a reason that never quotes the token", async () => {
    const result = await waitForPullRequestRef({
      cloneUrl: "https://bb.example.com/scm/prj/app.git",
      token: "t0k3n-value",
      git: { kind: "header" },
      ref: "refs/pull-requests/7/from",
      sha: head,
      refresh: async () => {},
      delaysMs: [1, 1, 1],
      sleep: async () => {},
      fetch: async () => ({
        status: 200,
        arrayBuffer: async () => new TextEncoder().encode(advertisement(old)).buffer,
      }),
    });
    assert.equal(result.ok, false);
    assert.equal(result.attempts, 4);
    assert.match(result.ok ? "" : result.message, /points at bbbbbbbbbbb, not the pull request's head aaaaaaaaaaa/);
    const denied = await waitForPullRequestRef({
      cloneUrl: "https://bb.example.com/scm/prj/app.git",
      token: "t0k3n-value",
      git: { kind: "header" },
      ref: "refs/pull-requests/7/from",
      sha: head,
      refresh: async () => {},
      delaysMs: [],
      fetch: async () => ({ status: 401, arrayBuffer: async () => new ArrayBuffer(0) }),
    });
    assert.match(denied.ok ? "" : denied.message, /401.*can the clone token read this repository/);
    assert.ok(!JSON.stringify(denied).includes("t0k3n-value"));
  });
});
