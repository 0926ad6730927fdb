import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { GitHubServerError, githubServer } from "./server.ts";

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
