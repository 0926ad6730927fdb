import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { ManualClock } from "../../runtime/clock.ts";
import { type Reply, startServer, type TestServer } from "../http/test-server.ts";
import { parseTokenExpiration, personalTokenProblem, validatePersonalToken } from "./pat.ts";
import { githubTransport } from "./transport.ts";

describe("github-authentication-token-expiration", () => {
  it("reads GitHub's format, and an offset", () => {
    const h = (value?: string) => (value === undefined ? {} : { "github-authentication-token-expiration": value });
    assert.equal(parseTokenExpiration(h("2030-01-31 12:00:00 UTC")), Date.UTC(2030, 0, 31, 12));
    assert.equal(parseTokenExpiration(h("2030-01-31 05:00:00 -0700")), Date.UTC(2030, 0, 31, 12));
    assert.equal(parseTokenExpiration(h()), undefined);
    assert.ok(Number.isNaN(parseTokenExpiration(h("next tuesday"))));
  });
});

describe("personal token kinds", () => {
  it("accepts fine-grained tokens only", () => {
    assert.equal(personalTokenProblem(`github_pat_11ABC_${"x".repeat(70)}\n`), undefined);
    assert.match(personalTokenProblem(`ghp_${"x".repeat(36)}`) ?? "", /classic personal token/);
    assert.match(personalTokenProblem(`ghs_${"x".repeat(36)}`) ?? "", /not a personal token/);
    assert.match(personalTokenProblem("hunter2") ?? "", /fine-grained/);
  });
});

describe("validatePersonalToken", () => {
  const good = `github_pat_11AAAAAAA_${"g".repeat(60)}`;
  const revoked = `github_pat_11AAAAAAA_${"r".repeat(60)}`;
  const noExpiry = `github_pat_11AAAAAAA_${"n".repeat(60)}`;
  let server: TestServer;
  before(async () => {
    server = await startServer((req): Reply => {
      const token = String(req.headers.authorization).replace("Bearer ", "");
      if (token === revoked) return { status: 401, body: { message: "Bad credentials" } };
      const expiry: Record<string, string> =
        token === good ? { "github-authentication-token-expiration": "2030-03-01 00:00:00 UTC" } : {};
      if (req.pathname === "/repos/octo/hello") return { headers: expiry, body: { full_name: "octo/hello" } };
      return { status: 404, body: { message: "Not Found" } };
    });
  });
  after(() => server.close());

  it("a working token: GitHub's stated expiry; none when it never expires", async () => {
    const { http } = githubTransport({ apiBase: server.url, clock: new ManualClock() });
    assert.deepEqual(await validatePersonalToken(http, good, { owner: "octo", name: "hello" }), {
      valid: true,
      expiresAt: Date.UTC(2030, 2, 1),
    });
    assert.deepEqual(await validatePersonalToken(http, noExpiry, { owner: "octo", name: "hello" }), {
      valid: true,
      neverExpires: true,
    });
    assert.equal(server.requests.length, 2, "one call per validation");
    assert.deepEqual(
      server.requests.map((r) => r.pathname),
      ["/repos/octo/hello", "/repos/octo/hello"],
    );
    await http.close();
  });

  it("refused, blind or classic tokens are invalid with a reason that never quotes them", async () => {
    const { http } = githubTransport({ apiBase: server.url, clock: new ManualClock() });
    const cases = [
      [revoked, { owner: "octo", name: "hello" }, /expired, revoked or mistyped/],
      [good, { owner: "octo", name: "secret-repo" }, /cannot see octo\/secret-repo/],
      [`ghp_${"c".repeat(36)}`, { owner: "octo", name: "hello" }, /classic/],
    ] as const;
    for (const [token, repo, reason] of cases) {
      const result = await validatePersonalToken(http, token, repo);
      assert.equal(result.valid, false);
      assert.match(result.valid ? "" : result.reason, reason);
      assert.ok(!JSON.stringify(result).includes(token));
    }
    await http.close();
  });
});
