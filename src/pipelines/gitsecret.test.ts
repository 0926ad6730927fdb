import assert from "node:assert/strict";
import { execFileSync, spawnSync } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, describe, it, test } from "node:test";
import {
  buildGitSecret,
  checkPullRequestRef,
  gitAuthSecretName,
  gitConfig,
  gitConfigUrl,
  parseRefAdvertisement,
  pipelineRunOwnerReference,
  tokenIdLabelValue,
} from "./gitsecret.ts";

const token = "BBDC-MzQ1Njc4OTAxMjM0OkZha2VUb2tlbkZvclRlc3Rz+/=";

describe("buildGitSecret", () => {
  it("carries the Bearer header for the server, an empty .git-credentials, labels, and the run as owner", () => {
    const owner = pipelineRunOwnerReference({ apiVersion: "tekton.dev/v1", name: "pr-build-x7k2p", uid: "u-1" });
    const secret = buildGitSecret({
      name: gitAuthSecretName("k3y9q"),
      namespace: "team-a",
      serverUrl: "https://bitbucket.example.com/bitbucket",
      token,
      git: { kind: "header" },
      owner,
      labels: { "baton.dev/repository": "test-app" },
    });
    assert.deepEqual(secret, {
      apiVersion: "v1",
      kind: "Secret",
      type: "Opaque",
      metadata: {
        name: "baton-git-k3y9q",
        namespace: "team-a",
        labels: {
          "baton.dev/repository": "test-app",
          "baton.dev/git-auth": "true",
          "app.kubernetes.io/managed-by": "baton",
        },
        ownerReferences: [
          { apiVersion: "tekton.dev/v1", kind: "PipelineRun", name: "pr-build-x7k2p", uid: "u-1", controller: true },
        ],
      },
      stringData: {
        ".gitconfig": `[http "https://bitbucket.example.com/bitbucket/"]\n\textraHeader = "Authorization: Bearer ${token}"\n`,
        ".git-credentials": "",
      },
    });
  });

  it("has no owner until the caller knows the run's uid", () => {
    const secret = buildGitSecret({
      name: "baton-git-a",
      namespace: "n",
      serverUrl: "https://h",
      token,
      git: { kind: "header" },
    });
    assert.equal(secret.metadata.ownerReferences, undefined);
  });

  it("refuses a token that could break out of the config line, without echoing it", () => {
    for (const bad of ["abc\n[core]\n\tsshCommand = evil", "has space", "tab\there", "naïve"]) {
      assert.throws(
        () => gitConfig("https://h", bad),
        (error: Error) => /cannot carry/.test(error.message) && !error.message.includes(bad),
      );
    }
  });

  it("gitAuthSecretName needs a usable suffix", () => {
    assert.equal(gitAuthSecretName("AbC-12"), "baton-git-abc-12");
    assert.throws(() => gitAuthSecretName("!!"), /non-empty suffix/);
  });
});

describe("gitConfigUrl", () => {
  const cases: [string, string][] = [
    ["https://bitbucket.example.com", "https://bitbucket.example.com/"],
    ["https://bitbucket.example.com/", "https://bitbucket.example.com/"],
    ["https://Bitbucket.Example.com/bitbucket/", "https://bitbucket.example.com/bitbucket/"],
    ["http://localhost:7990/bitbucket", "http://localhost:7990/bitbucket/"],
    ["https://h:443/ctx", "https://h/ctx/"],
  ];
  for (const [input, expected] of cases) it(input, () => assert.equal(gitConfigUrl(input), expected));
  it("rejects what git should not be configured for", () => {
    assert.throws(() => gitConfigUrl("ssh://git@h:7999/"), /must be http or https/);
    assert.throws(() => gitConfigUrl("https://user:pw@h/"), /must not carry credentials/);
    assert.throws(() => gitConfigUrl("not a url"), /is not a valid URL/);
  });
});

describe("real git reads the generated .gitconfig", () => {
  const dir = mkdtempSync(join(tmpdir(), "baton-gitconfig-"));
  after(() => rmSync(dir, { recursive: true, force: true }));
  const configFile = join(dir, ".gitconfig");
  writeFileSync(configFile, gitConfig("https://bitbucket.example.com/bitbucket", `${token}"\\x`));
  const env = {
    PATH: process.env.PATH ?? "/usr/bin:/bin",
    HOME: dir,
    GIT_CONFIG_GLOBAL: configFile,
    GIT_CONFIG_NOSYSTEM: "1",
  };
  const headerFor = (url: string): string | undefined => {
    const r = spawnSync("git", ["config", "--get-urlmatch", "http.extraheader", url], { env, encoding: "utf8" });
    if (r.status === 1) return undefined; // git's "no such key for this URL"
    assert.equal(r.status, 0, r.stderr);
    return r.stdout.trimEnd();
  };
  const header = `Authorization: Bearer ${token}"\\x`;

  const cases: [string, string | undefined][] = [
    ["https://bitbucket.example.com/bitbucket/scm/prj/my-repo.git", header],
    ["https://bitbucket.example.com/bitbucket/scm/~jdoe/fork.git", header],
    // Bitbucket's own http clone links may carry the user name.
    ["https://admin@bitbucket.example.com/bitbucket/scm/prj/my-repo.git", header],
    ["https://BITBUCKET.example.com:443/bitbucket/scm/prj/my-repo.git", header],
    ["https://bitbucket.example.com/bitbucket-other/scm/prj/my-repo.git", undefined],
    ["https://bitbucket.example.com/scm/prj/my-repo.git", undefined],
    ["https://evil.example.com/bitbucket/scm/prj/my-repo.git", undefined],
    ["http://bitbucket.example.com/bitbucket/scm/prj/my-repo.git", undefined],
    ["https://bitbucket.example.com:8443/bitbucket/scm/prj/my-repo.git", undefined],
  ];
  for (const [url, expected] of cases) {
    it(`${expected ? "sends" : "does not send"} the header to ${url}`, () => assert.equal(headerFor(url), expected));
  }

  it("git sees exactly one header and no other configuration", () => {
    const all = execFileSync("git", ["config", "--global", "--list"], { env, encoding: "utf8" });
    assert.equal(all, `http.https://bitbucket.example.com/bitbucket/.extraheader=${header}\n`);
  });
});

describe("fork pull requests: refs/pull-requests/<id>/from", () => {
  const head = "3980c2be32a7e23c795741d5dc1a2eecb9b85d6d";
  const old = "508d1b67f1f8f3a25f543a030a7a178894aa9907";

  const lsRemote = `${old}\tHEAD\n${old}\trefs/heads/master\n${head}\trefs/pull-requests/1/from\n${"a".repeat(40)}\trefs/pull-requests/1/merge\n${"b".repeat(40)}\trefs/tags/v1\n${"c".repeat(40)}\trefs/tags/v1^{}\n`;
  const pkt = (s: string) => (s.length + 4).toString(16).padStart(4, "0") + s;
  const smartHttp =
    pkt("# service=git-upload-pack\n") +
    "0000" +
    pkt(`${old} HEAD\0multi_ack thin-pack side-band symref=HEAD:refs/heads/master agent=git/2.39\n`) +
    pkt(`${old} refs/heads/master\n`) +
    pkt(`${head} refs/pull-requests/1/from\n`) +
    "0000";

  it("parses git ls-remote output", () => {
    const refs = parseRefAdvertisement(lsRemote);
    assert.equal(refs.get("refs/pull-requests/1/from"), head);
    assert.equal(refs.get("refs/tags/v1^{}"), "c".repeat(40));
    assert.equal(refs.get("HEAD"), old);
  });

  it("parses a smart-HTTP info/refs advertisement", () => {
    const refs = parseRefAdvertisement(smartHttp);
    assert.deepEqual(
      [...refs.entries()],
      [
        ["HEAD", old],
        ["refs/heads/master", old],
        ["refs/pull-requests/1/from", head],
      ],
    );
  });

  const checks: [string, string, string, string][] = [
    ["up to date (ls-remote)", lsRemote, head, "ok"],
    ["up to date (smart HTTP)", smartHttp, head, "ok"],
    ["stale: Bitbucket has not moved the ref yet", lsRemote, "1".repeat(40), "stale"],
    ["missing: no such pull request ref", `${old}\trefs/heads/master\n`, head, "missing"],
  ];
  for (const [name, adv, sha, expected] of checks) {
    it(name, () => {
      const result = checkPullRequestRef(adv, "refs/pull-requests/1/from", sha);
      assert.equal(result.ok ? "ok" : result.reason, expected);
      if (!result.ok && result.reason === "stale") {
        assert.equal(result.actual, head);
        assert.match(result.message, /points at 3980c2be32a, not the pull request's head 11111111111; .*retry shortly/);
      }
    });
  }

  it("real git ls-remote output is understood (a repository with a pull-request ref)", () => {
    const dir = mkdtempSync(join(tmpdir(), "baton-lsremote-"));
    try {
      const git = (...args: string[]) =>
        execFileSync("git", args, {
          cwd: dir,
          encoding: "utf8",
          env: {
            PATH: process.env.PATH ?? "/usr/bin:/bin",
            HOME: dir,
            GIT_CONFIG_NOSYSTEM: "1",
            GIT_CONFIG_GLOBAL: "/dev/null",
          },
        });
      git("init", "-q", "-b", "main");
      git("-c", "user.name=t", "-c", "user.email=t@e", "commit", "-q", "--allow-empty", "-m", "one");
      const sha = git("rev-parse", "HEAD").trim();
      git("update-ref", "refs/pull-requests/3/from", sha);
      const output = git("ls-remote", dir);
      assert.deepEqual(checkPullRequestRef(output, "refs/pull-requests/3/from", sha), { ok: true });
      assert.equal(checkPullRequestRef(output, "refs/pull-requests/4/from", sha).ok, false);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

test("tokenIdLabelValue: Bitbucket's numeric ids as they are, anything else hashed into a valid label value", () => {
  assert.equal(tokenIdLabelValue("252973515069"), "252973515069");
  for (const id of ["", "a b", "ä", "x".repeat(64), "-leading", "🚀"]) {
    const value = tokenIdLabelValue(id);
    assert.match(value, /^[A-Za-z0-9]([A-Za-z0-9._-]{0,61}[A-Za-z0-9])?$/, id);
  }
  assert.notEqual(tokenIdLabelValue("a b"), tokenIdLabelValue("a  b"));
  const secret = buildGitSecret({
    name: "baton-git-x",
    namespace: "ns",
    serverUrl: "https://bb.example.com",
    token: "t0k",
    tokenId: "41",
    git: { kind: "header" },
  });
  assert.equal(secret.metadata.labels["baton.dev/clone-token-id"], "41");
  assert.equal(
    buildGitSecret({
      name: "baton-git-x",
      namespace: "ns",
      serverUrl: "https://bb.example.com",
      token: "t0k",
      git: { kind: "header" },
    }).metadata.labels["baton.dev/clone-token-id"],
    undefined,
  );
});

describe("a Basic-auth host (Bitbucket Cloud)", () => {
  it("real git reads x-token-auth and the token for the server only", () => {
    const token = "ATCTT3xFfGN0a-b_c=DEADBEEF";
    const secret = buildGitSecret({
      name: "baton-git-abc",
      namespace: "ci",
      serverUrl: "http://127.0.0.1:8443",
      token,
      git: { kind: "basic", username: "x-token-auth" },
    });
    const home = mkdtempSync(join(tmpdir(), "baton-cred-"));
    after(() => rmSync(home, { recursive: true, force: true }));
    for (const [name, text] of Object.entries(secret.stringData)) writeFileSync(join(home, name), text);
    const fill = (url: string) =>
      spawnSync("git", ["credential", "fill"], {
        input: `url=${url}\n\n`,
        encoding: "utf8",
        env: { HOME: home, PATH: process.env.PATH ?? "", GIT_TERMINAL_PROMPT: "0", GIT_ASKPASS: "/bin/false" },
      }).stdout;
    const answer = fill("http://127.0.0.1:8443/ws/app.git");
    assert.match(answer, /^username=x-token-auth$/m);
    assert.ok(answer.includes(`password=${token}\n`), "the token, decoded as written");
    assert.doesNotMatch(fill("http://127.0.0.1:9999/ws/app.git"), /password=ATCTT3/, "not for another server");
  });
});
