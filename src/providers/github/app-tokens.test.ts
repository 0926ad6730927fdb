import assert from "node:assert/strict";
import { generateKeyPairSync, verify } from "node:crypto";
import { after, before, describe, it } from "node:test";
import { ManualClock } from "../../runtime/clock.ts";
import { type Recorded, type Reply, startServer, type TestServer } from "../http/test-server.ts";
import { AppJwtSigner, parseAppPrivateKey } from "./app-jwt.ts";
import { AppTokenError, AppTokens, broaderThanAsked, gitBasicAuth, localExpiry } from "./app-tokens.ts";
import { GitHubApps } from "./apps.ts";
import { githubTransport } from "./transport.ts";

const keys = generateKeyPairSync("rsa", {
  modulusLength: 2048,
  privateKeyEncoding: { type: "pkcs1", format: "pem" },
  publicKeyEncoding: { type: "spki", format: "pem" },
});
const appId = "4242";
const hour = 3_600_000;

/**
 * GitHub's App endpoints as documented: the App JWT checked with the App's public key (RS256, iss, iat not in the
 * future beyond skew, exp within 10 minutes of iat and not past), installation tokens living one hour on the
 * server's clock, and a repository read that refuses lapsed tokens.
 */
class FakeGitHub {
  readonly tokens = new Map<string, { expiresAt: number; repositories?: string[] }>();
  readonly lifetimesAtUse: number[] = [];
  refusals = 0;
  minted = 0;
  /** Answers a run-token mint with a token broader than asked (a misconfigured or hostile server). */
  grantTooMuch = false;

  readonly clock: ManualClock;

  constructor(clock: ManualClock) {
    this.clock = clock;
  }

  jwtOk(req: Recorded): boolean {
    const auth = String(req.headers.authorization ?? "");
    const [h, p, s] = auth.replace(/^Bearer /, "").split(".");
    if (!h || !p || !s) return false;
    if (!verify("sha256", Buffer.from(`${h}.${p}`), keys.publicKey, Buffer.from(s, "base64url"))) return false;
    const claims = JSON.parse(Buffer.from(p, "base64url").toString()) as { iat: number; exp: number; iss: string };
    const now = Math.floor(this.clock.now() / 1000);
    return claims.iss === appId && claims.iat <= now + 60 && claims.exp > now && claims.exp - claims.iat <= 600;
  }

  handle = (req: Recorded): Reply => {
    const date = new Date(this.clock.now()).toUTCString();
    const reply = (status: number, body: unknown): Reply => ({ status, body, headers: { date } });
    if (req.pathname === "/repos/octo/hello/installation" || req.pathname === "/repos/octo/missing/installation") {
      if (!this.jwtOk(req)) return reply(401, { message: "A JSON web token could not be decoded" });
      if (req.pathname.includes("missing")) return reply(404, { message: "Not Found" });
      return reply(200, { id: 77, account: { login: "octo" }, repository_selection: "all" });
    }
    if (req.pathname === "/app/installations/77/access_tokens" && req.method === "POST") {
      if (!this.jwtOk(req)) return reply(401, { message: "A JSON web token could not be decoded" });
      const body = JSON.parse(req.body || "{}") as { repositories?: string[]; permissions?: Record<string, string> };
      const token = `ghs_${++this.minted}x${"a".repeat(30)}`;
      const expiresAt = this.clock.now() + hour;
      const narrowed = body.repositories !== undefined && !this.grantTooMuch;
      this.tokens.set(token, { expiresAt, ...(narrowed ? { repositories: body.repositories } : {}) });
      const permissions =
        body.permissions && !this.grantTooMuch
          ? { ...body.permissions, metadata: "read" }
          : { contents: "write", metadata: "read", statuses: "write", checks: "write" };
      return reply(201, {
        token,
        expires_at: new Date(expiresAt).toISOString().replace(/\.\d{3}Z$/, "Z"),
        permissions,
        repository_selection: narrowed ? "selected" : "all",
        ...(narrowed
          ? { repositories: body.repositories?.map((name, i) => ({ id: i + 1, name, full_name: `octo/${name}` })) }
          : {}),
      });
    }
    if (req.pathname.startsWith("/repos/octo/") && req.method === "GET") {
      const token = String(req.headers.authorization ?? "").replace(/^Bearer /, "");
      const known = this.tokens.get(token);
      if (known === undefined || known.expiresAt <= this.clock.now()) {
        this.refusals++;
        return reply(401, { message: "Bad credentials" });
      }
      const repo = req.pathname.split("/")[3] as string;
      if (known.repositories && !known.repositories.includes(repo)) return reply(404, { message: "Not Found" });
      this.lifetimesAtUse.push(known.expiresAt - this.clock.now());
      return reply(200, { id: 1, name: repo });
    }
    return reply(404, { message: "Not Found" });
  };
}

describe("AppTokens against GitHub's App endpoints", () => {
  let server: TestServer;
  let github: FakeGitHub;
  let clock: ManualClock;

  before(async () => {
    clock = new ManualClock(Date.UTC(2030, 0, 1));
    github = new FakeGitHub(clock);
    server = await startServer(github.handle);
  });
  after(() => server.close());

  function setup(renewBeforeMs?: number) {
    const signer = new AppJwtSigner(appId, parseAppPrivateKey(keys.privateKey), () => clock.now());
    const app = githubTransport({ apiBase: server.url, clock });
    const tokens = new AppTokens({ http: app.http, signer, clock, ...(renewBeforeMs ? { renewBeforeMs } : {}) });
    return { tokens, app };
  }

  it("finds the installation with the App JWT, and says when the App is not installed", async () => {
    const { tokens, app } = setup();
    assert.equal(await tokens.installationId("octo", "hello"), 77);
    assert.equal(await tokens.installationId("Octo", "Hello"), 77, "cached, case-insensitively");
    await assert.rejects(tokens.installationId("octo", "missing"), (err: unknown) => {
      return err instanceof AppTokenError && /not installed on octo\/missing/.test(err.message);
    });
    const sent = server.requests.at(-1);
    assert.equal(sent?.headers.accept, "application/vnd.github+json");
    assert.equal(sent?.headers["x-github-api-version"], "2022-11-28");
    await app.http.close();
  });

  it("renews Baton's own token ahead of expiry: a simulated day of calls, none refused", async () => {
    const { tokens, app } = setup();
    const id = await tokens.installationId("octo", "hello");
    const repo = githubTransport({ apiBase: server.url, clock, auth: () => tokens.credential(id) });
    const refusedBefore = github.refusals;
    const usedBefore = github.lifetimesAtUse.length;
    const mintsBefore = tokens.mints;
    // Every 7 minutes (not a divisor of the hour, so calls fall at every point of a token's life).
    const steps = Math.ceil((24 * 60) / 7);
    for (let step = 0; step < steps; step++) {
      // Concurrent calls share one mint when renewal is due.
      await Promise.all([
        repo.http.send({ group: "repos", method: "GET", path: "/repos/octo/hello" }),
        repo.http.send({ group: "repos", method: "GET", path: "/repos/octo/hello" }),
      ]);
      await clock.advance(7 * 60_000);
    }
    assert.equal(github.refusals - refusedBefore, 0);
    const lifetimes = github.lifetimesAtUse.slice(usedBefore);
    assert.equal(lifetimes.length, 2 * steps);
    assert.ok(Math.min(...lifetimes) > tokens.renewBeforeMs - 1000, "no call with a token about to lapse");
    // Renewed at the first call past 50 minutes of a token's hour: at most one mint per 50 minutes (29 a day),
    // at least one an hour (24).
    const mints = tokens.mints - mintsBefore;
    assert.ok(mints >= 24 && mints <= 29, `${mints} mints in a day`);
    await repo.http.close();
    await app.http.close();
  });

  it("a refused token is forgotten and the next call mints a new one", async () => {
    const { tokens, app } = setup();
    const first = await tokens.credential(77);
    assert.equal((await tokens.credential(77)).kind, "bearer");
    assert.deepEqual(tokens.permissionsOf(77), {
      contents: "write",
      metadata: "read",
      statuses: "write",
      checks: "write",
    });
    tokens.forget(first.kind === "bearer" ? first.token : "");
    const second = await tokens.credential(77);
    assert.notDeepEqual(second, first);
    await app.http.close();
  });

  it("a run's token reads its one repository, nothing else, and is never cached", async () => {
    const { tokens, app } = setup();
    const run = await tokens.runToken(77, "hello");
    assert.deepEqual(run.permissions, { contents: "read", metadata: "read" });
    assert.equal(run.expiresAt, clock.now() + hour);
    const mint = server.requests.at(-1);
    assert.deepEqual(JSON.parse(mint?.body ?? ""), { repositories: ["hello"], permissions: { contents: "read" } });
    const other = await tokens.runToken(77, "hello");
    assert.notEqual(other.token, run.token);

    const read = (repo: string) =>
      githubTransport({ apiBase: server.url, clock, auth: { kind: "bearer", token: run.token } }).http.send({
        group: "repos",
        method: "GET",
        path: `/repos/octo/${repo}`,
      });
    await read("hello");
    await assert.rejects(read("other"), { status: 404 });
    assert.deepEqual(gitBasicAuth(run.token), { username: "x-access-token", password: run.token });
    await app.http.close();
  });

  it("a run token broader than asked is refused and goes nowhere", async () => {
    const { tokens, app } = setup();
    github.grantTooMuch = true;
    try {
      await assert.rejects(tokens.runToken(77, "hello"), (err: unknown) => {
        return (
          err instanceof AppTokenError &&
          /not limited to the repository hello/.test(err.message) &&
          !err.message.includes("ghs_")
        );
      });
    } finally {
      github.grantTooMuch = false;
    }
    await app.http.close();
  });
});

describe("token facts", () => {
  it("localExpiry counts GitHub's granted lifetime on Baton's clock", () => {
    const local = Date.UTC(2030, 0, 1, 12, 0, 0);
    // GitHub's clock is 5 minutes ahead of ours: the token still has an hour from now, on our clock.
    assert.equal(localExpiry("2030-01-01T13:05:00Z", "Tue, 01 Jan 2030 12:05:00 GMT", local), local + hour);
    assert.equal(localExpiry("2030-01-01T13:00:00Z", undefined, local), Date.parse("2030-01-01T13:00:00Z"));
    assert.equal(localExpiry("2030-01-01T13:00:00Z", "garbage", local), Date.parse("2030-01-01T13:00:00Z"));
    // A `Date` that gives no plausible lifetime (a day, or a negative one) is not trusted.
    assert.equal(
      localExpiry("2030-01-02T12:00:00Z", "Tue, 01 Jan 2030 12:00:00 GMT", local),
      Date.parse("2030-01-02T12:00:00Z"),
    );
    assert.equal(
      localExpiry("2030-01-01T13:00:00Z", "Tue, 01 Jan 2030 16:00:00 GMT", local),
      Date.parse("2030-01-01T13:00:00Z"),
    );
    // Baton's clock behind GitHub's: the lifetime counts from Baton's now, but never past expires_at.
    assert.equal(
      localExpiry("2030-01-01T12:30:00Z", "Tue, 01 Jan 2030 11:30:00 GMT", local),
      Date.parse("2030-01-01T12:30:00Z"),
    );
  });

  it("broaderThanAsked accepts exactly contents:read (+metadata) on the one repository", () => {
    const base = {
      token: "t",
      expires_at: "2030-01-01T13:00:00Z",
      repository_selection: "selected" as const,
      repositories: [{ id: 1, name: "Hello" }],
    };
    assert.equal(
      broaderThanAsked({ ...base, permissions: { contents: "read", metadata: "read" } }, "hello"),
      undefined,
    );
    assert.match(
      broaderThanAsked({ ...base, permissions: { contents: "write", metadata: "read" } }, "hello") ?? "",
      /contents: write/,
    );
    assert.match(
      broaderThanAsked({ ...base, permissions: { contents: "read", issues: "write" } }, "hello") ?? "",
      /issues/,
    );
    assert.match(broaderThanAsked({ ...base, permissions: { metadata: "read" } }, "hello") ?? "", /cannot read/);
    assert.match(
      broaderThanAsked({ ...base, repository_selection: "all", permissions: { contents: "read" } }, "hello") ?? "",
      /not limited/,
    );
    assert.match(
      broaderThanAsked(
        { ...base, repositories: [...base.repositories, { id: 2, name: "x" }], permissions: { contents: "read" } },
        "hello",
      ) ?? "",
      /not limited/,
    );
  });
});

describe("GitHubApps", () => {
  it("shares one AppTokens per App and server, and replaces it when the key changes", async () => {
    const clock = new ManualClock();
    const transport = githubTransport({ apiBase: "http://127.0.0.1:9", clock }).http;
    const apps = new GitHubApps({ clock, transportFor: () => transport });
    const ref = { apiBase: "https://api.github.com", appId: appId, privateKey: keys.privateKey };
    const first = apps.tokensFor(ref);
    assert.equal(apps.tokensFor({ ...ref }), first);
    assert.notEqual(apps.tokensFor({ ...ref, apiBase: "https://ghe.example.com/api/v3" }), first);
    const rotated = generateKeyPairSync("rsa", {
      modulusLength: 2048,
      privateKeyEncoding: { type: "pkcs1", format: "pem" },
      publicKeyEncoding: { type: "spki", format: "pem" },
    });
    assert.notEqual(apps.tokensFor({ ...ref, privateKey: rotated.privateKey }), first);
    assert.throws(() => apps.tokensFor({ ...ref, appId: "7", privateKey: "garbage" }), /not a PEM private key/);
    await transport.close();
  });
});
