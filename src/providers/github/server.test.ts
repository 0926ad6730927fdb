import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { GitHubServerError, githubServer, parseGitHubRepositoryUrl } from "./server.ts";

describe("githubServer", () => {
  it("github.com needs no mark; its API is api.github.com", () => {
    for (const url of ["https://github.com", "https://github.com/", "https://GitHub.com/octo"]) {
      assert.deepEqual(githubServer(url), {
        kind: "github.com",
        webUrl: "https://github.com",
        apiBase: "https://api.github.com",
      });
    }
  });

  it("an Enterprise Server must be marked, and its API is <server>/api/v3", () => {
    assert.deepEqual(githubServer("https://ghe.example.com/", { enterprise: true }), {
      kind: "enterprise",
      webUrl: "https://ghe.example.com",
      apiBase: "https://ghe.example.com/api/v3",
    });
    assert.throws(() => githubServer("https://ghe.example.com"), /mark it explicitly as GitHub Enterprise Server/);
    assert.throws(() => githubServer("https://github.com", { enterprise: true }), /not a GitHub Enterprise Server/);
  });

  it("refuses what is not an http(s) URL without credentials", () => {
    for (const url of ["ghe.example.com", "ssh://git@ghe.example.com", "https://user:pw@ghe.example.com"]) {
      assert.throws(
        () => githubServer(url, { enterprise: true }),
        (err: unknown) => err instanceof GitHubServerError && !err.message.includes("pw@"),
      );
    }
  });
});

describe("parseGitHubRepositoryUrl", () => {
  it("reads browse and clone URLs of github.com and of an Enterprise Server below a path", () => {
    const cases: [string, ReturnType<typeof parseGitHubRepositoryUrl>][] = [
      ["https://github.com/octo-org/hello", { server: "https://github.com", owner: "octo-org", name: "hello" }],
      ["https://github.com/octo-org/hello.git", { server: "https://github.com", owner: "octo-org", name: "hello" }],
      ["https://github.com/Octo/my.repo_x-1/", { server: "https://github.com", owner: "Octo", name: "my.repo_x-1" }],
      ["https://ghe.example.com/octo/hello", { server: "https://ghe.example.com", owner: "octo", name: "hello" }],
      [
        "https://example.com/github/octo/hello.git",
        { server: "https://example.com/github", owner: "octo", name: "hello" },
      ],
    ];
    for (const [url, expected] of cases) assert.deepEqual(parseGitHubRepositoryUrl(url), expected, url);
  });

  it("refuses what is not one repository, or carries a credential", () => {
    for (const url of [
      "https://github.com/octo-org",
      "https://github.com/octo-org/hello/pull/1",
      "https://x-access-token:ghs_secret@github.com/octo/hello.git",
      "https://github.com/octo/hello?tab=readme",
      "git@github.com:octo/hello.git",
      "https://github.com/-octo/hello",
      "https://github.com/octo/ünï",
      "not a url",
    ]) {
      assert.equal(parseGitHubRepositoryUrl(url), undefined, url);
    }
  });
});
