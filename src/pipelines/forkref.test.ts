// The fork ref check against what real git serves: `git http-backend` answering `info/refs` for a repository
// whose branch names are not ASCII. pkt-line lengths count bytes, so a parser counting string characters loses
// every ref after the first such branch (refs/pull-requests/* sort after refs/heads/*).
import assert from "node:assert/strict";
import { execFileSync, spawnSync } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { waitForPullRequestRef } from "./forkref.ts";
import { checkPullRequestRef, parseRefAdvertisement } from "./gitsecret.ts";

const branches = ["fix/ü", "feat/🚀-launch", "文档/更新", "zz-ascii-after"];

let root: string;
let gitDir: string;
let head: string;
let older: string;

const env = () => ({
  PATH: process.env.PATH ?? "/usr/bin:/bin",
  HOME: root,
  GIT_CONFIG_NOSYSTEM: "1",
  GIT_CONFIG_GLOBAL: "/dev/null",
  LANG: "C",
});
const git = (...args: string[]) => execFileSync("git", ["--git-dir", gitDir, ...args], { env: env() });
const text = (...args: string[]) =>
  git(...args)
    .toString("utf8")
    .trim();

/** The body git http-backend answers to `GET …/info/refs?service=git-upload-pack` (CGI head stripped). */
function advertisement(): Buffer {
  const served = spawnSync("git", ["http-backend"], {
    env: {
      ...env(),
      GIT_PROJECT_ROOT: root,
      GIT_HTTP_EXPORT_ALL: "1",
      GATEWAY_INTERFACE: "CGI/1.1",
      REQUEST_METHOD: "GET",
      PATH_INFO: "/app.git/info/refs",
      QUERY_STRING: "service=git-upload-pack",
      REMOTE_ADDR: "127.0.0.1",
    },
  });
  assert.equal(served.status, 0, served.stderr.toString());
  const end = served.stdout.indexOf("\r\n\r\n");
  assert.ok(end > 0, "a CGI head");
  assert.match(served.stdout.subarray(0, end).toString(), /application\/x-git-upload-pack-advertisement/);
  return served.stdout.subarray(end + 4);
}

before(() => {
  root = mkdtempSync(join(tmpdir(), "baton-forkref-"));
  gitDir = join(root, "app.git");
  execFileSync("git", ["init", "--quiet", "--bare", "--initial-branch=main", gitDir], { env: env() });
  const tree = execFileSync("git", ["--git-dir", gitDir, "hash-object", "-w", "-t", "tree", "--stdin"], {
    env: env(),
    input: "",
  })
    .toString()
    .trim();
  const commit = (message: string, parent?: string) =>
    text(
      "-c",
      "user.name=t",
      "-c",
      "user.email=t@example.com",
      "commit-tree",
      tree,
      ...(parent ? ["-p", parent] : []),
      "-m",
      message,
    );
  older = commit("one");
  head = commit("two", older);
  git("update-ref", "refs/heads/main", older);
  for (const branch of branches) git("update-ref", `refs/heads/${branch}`, older);
  // A ref name git allows but that is not UTF-8 at all (Latin-1 "ü"); argv from Node is always UTF-8, so printf.
  execFileSync(
    "sh",
    ["-c", `git --git-dir "$1" update-ref "$(printf 'refs/heads/l\\374')" "$2"`, "sh", gitDir, older],
    {
      env: env(),
    },
  );
  git("update-ref", "refs/pull-requests/3/from", head);
  git("update-ref", "refs/pull-requests/3/merge", older);
});

after(() => rmSync(root, { recursive: true, force: true }));

describe("the ref advertisement of a repository with non-ASCII branch names (real git http-backend)", () => {
  it("yields every ref git itself lists, with the object it points at", () => {
    const listed = new Map(
      git("for-each-ref", "--format=%(refname) %(objectname)")
        .toString("utf8")
        .split("\n")
        .filter((line) => line !== "")
        .map((line) => [line.slice(0, line.lastIndexOf(" ")), line.slice(line.lastIndexOf(" ") + 1)] as const),
    );
    assert.ok(listed.has("refs/heads/fix/ü") && listed.size === branches.length + 4, [...listed.keys()].join(", "));
    const parsed = parseRefAdvertisement(advertisement());
    parsed.delete("HEAD");
    assert.deepEqual(parsed, listed);
  });

  it("finds refs/pull-requests/<id>/from at the head", () => {
    assert.deepEqual(checkPullRequestRef(advertisement(), "refs/pull-requests/3/from", head), { ok: true });
    const stale = checkPullRequestRef(advertisement(), "refs/pull-requests/3/from", older);
    assert.equal(stale.ok ? "ok" : stale.reason, "stale");
  });

  it("the wait reads the served bytes, not text decoded from them", async () => {
    const body = advertisement();
    const result = await waitForPullRequestRef({
      cloneUrl: "https://bb.example.com/scm/prj/app.git",
      token: "t0k3n-value",
      git: { kind: "header" },
      ref: "refs/pull-requests/3/from",
      sha: head,
      refresh: async () => {},
      delaysMs: [],
      fetch: async () => new Response(body, { status: 200 }),
    });
    assert.deepEqual(result, { ok: true, attempts: 1 });
  });
});
