import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { after, before, beforeEach, describe, test } from "node:test";
import { inspect } from "node:util";
import { ApplicationPropertiesSchema } from "../bitbucket-datacenter/schemas.ts";
import {
  InvalidCredentialsError,
  NetworkError,
  NotFoundError,
  ProviderError,
  RateLimitedError,
  ResponseTooLargeError,
  SchemaError,
  ServerError,
  TimeoutError,
  UnauthorizedError,
} from "./errors.ts";
import { retryAfterMs } from "./failures.ts";
import { HttpTransport, type RequestSpec, type ResponseEvent, type TransportOptions } from "./http.ts";
import { type Reply, startServer, type TestServer } from "./test-server.ts";

const TOKEN = "BBDC-MjUyOTczNTE1MDY5On2r/secret+token=";
const PASSWORD = "hunter2-admin-password";

// The next reply per request; a test pushes the script it needs.
let script: Reply[] = [];
let server: TestServer;
let sleeps: number[];
let events: ResponseEvent[];

before(async () => {
  server = await startServer(() => script.shift() ?? { status: 200, body: { version: "9.4.0" } });
});
after(() => server.close());
beforeEach(() => {
  script = [];
  server.requests.length = 0;
  sleeps = [];
  events = [];
});

function transport(options: Partial<TransportOptions> = {}): HttpTransport {
  return new HttpTransport({
    baseUrl: server.url,
    auth: { kind: "bearer", token: TOKEN },
    sleep: async (ms) => {
      sleeps.push(ms);
    },
    random: () => 1,
    onResponse: (e) => events.push(e),
    ...options,
  });
}

const GET: RequestSpec = { group: "server", method: "GET", path: "/rest/api/latest/application-properties" };
const POST: RequestSpec = { group: "build-status", method: "POST", path: "/rest/api/latest/x", body: { a: 1 } };

async function rejection(promise: Promise<unknown>): Promise<unknown> {
  try {
    await promise;
  } catch (err) {
    return err;
  }
  return assert.fail("expected the call to fail");
}

function assertNoSecret(err: unknown, ...secrets: string[]): void {
  const forms = [String(err), (err as Error).stack ?? "", JSON.stringify(err), inspect(err, { depth: 10 })];
  for (const secret of secrets) {
    for (const form of forms) assert.ok(!form.includes(secret), `secret leaked into: ${form}`);
  }
}

describe("retries", () => {
  test("a GET is retried on 5xx with exponential, fully jittered back-off", async () => {
    script = [{ status: 503 }, { status: 502 }, { status: 200, body: { version: "9.4.0" } }];
    const http = transport({ random: () => 0.5, retry: { maxAttempts: 3, baseDelayMs: 100, maxDelayMs: 1000 } });
    const { data } = await http.json(GET, ApplicationPropertiesSchema);
    assert.equal(data.version, "9.4.0");
    assert.equal(server.requests.length, 3);
    assert.deepEqual(sleeps, [50, 100]);
    assert.deepEqual(
      events.map((e) => [e.status, e.attempt, e.rateLimited]),
      [
        [503, 1, false],
        [502, 2, false],
        [200, 3, false],
      ],
    );
  });

  test("back-off is capped at maxDelayMs", async () => {
    script = [{ status: 500 }, { status: 500 }, { status: 500 }, { status: 500 }];
    const http = transport({ retry: { maxAttempts: 4, baseDelayMs: 400, maxDelayMs: 1000 } });
    await rejection(http.send(GET));
    assert.deepEqual(sleeps, [400, 800, 1000]);
  });

  test("5xx on every attempt ends in a ServerError carrying Bitbucket's message", async () => {
    const body = { errors: [{ message: "database unavailable", exceptionName: "x.DbException" }] };
    script = [
      { status: 500, body },
      { status: 500, body },
      { status: 500, body },
    ];
    const err = await rejection(transport().send(GET));
    assert.ok(err instanceof ServerError);
    assert.equal(err.status, 500);
    assert.equal(err.attempts, 3);
    assert.deepEqual(err.messages, ["database unavailable"]);
    assert.equal(err.exceptionName, "x.DbException");
    assert.match(err.message, /GET \/rest\/api\/latest\/application-properties \(server\) failed with 500/);
    assert.match(err.message, /retry later/);
  });

  test("a POST is never retried on 5xx", async () => {
    script = [{ status: 503 }, { status: 200 }];
    const err = await rejection(transport().send(POST));
    assert.ok(err instanceof ServerError);
    assert.equal(server.requests.length, 1);
    assert.deepEqual(sleeps, []);
  });

  test("a POST is never retried after a network error, and says it may have been applied", async () => {
    script = [{ destroy: true }, { status: 204 }];
    const err = await rejection(transport().send(POST));
    assert.ok(err instanceof NetworkError);
    assert.equal(server.requests.length, 1);
    assert.match(err.message, /may or may not have been applied/);
  });

  test("a PUT marked non-idempotent (access-token create) is not retried", async () => {
    script = [{ status: 503 }, { status: 200 }];
    await rejection(transport().send({ ...GET, method: "PUT", idempotent: false }));
    assert.equal(server.requests.length, 1);
  });

  test("a GET is retried after a network error", async () => {
    script = [{ destroy: true }, { status: 200, body: { version: "8.9.0" } }];
    const { data } = await transport().json(GET, ApplicationPropertiesSchema);
    assert.equal(data.version, "8.9.0");
    assert.equal(events[0]?.status, 0);
    assert.equal(sleeps.length, 1);
  });

  test("an unreachable server gives a NetworkError naming the origin", async () => {
    const http = new HttpTransport({ baseUrl: "http://127.0.0.1:1", sleep: async () => {}, retry: { maxAttempts: 2 } });
    const err = await rejection(http.send(GET));
    assert.ok(err instanceof NetworkError);
    assert.equal(err.code, "ECONNREFUSED");
    assert.equal(err.attempts, 2);
    assert.match(err.message, /could not reach Bitbucket at http:\/\/127\.0\.0\.1:1 after 2 attempts/);
    await http.close();
  });

  test("messages name the host the transport talks to: a GitHub outage never says Bitbucket", async () => {
    const http = new HttpTransport({ baseUrl: "http://127.0.0.1:1", hostName: "GitHub", sleep: async () => {} });
    const err = (await rejection(http.send(GET))) as Error;
    assert.match(err.message, /could not reach GitHub at http:\/\/127\.0\.0\.1:1/);
    assert.doesNotMatch(err.message, /Bitbucket/);
    await http.close();
    script = [{ status: 401 }, { status: 200, body: "<html>login</html>" }];
    const github = transport({ hostName: "GitHub" });
    const refused = (await rejection(github.send(GET))) as Error;
    assert.match(refused.message, /permissions in GitHub\.$/);
    const notJson = (await rejection(github.json(GET, ApplicationPropertiesSchema))) as Error;
    assert.match(notJson.message, /instead of GitHub; check the server URL/);
  });

  test("4xx is not retried", async () => {
    script = [{ status: 404 }];
    const err = await rejection(transport().send(GET));
    assert.ok(err instanceof NotFoundError);
    assert.equal(server.requests.length, 1);
  });
});

describe("rate limiting (429)", () => {
  test("waits Retry-After seconds, then succeeds", async () => {
    script = [
      { status: 429, headers: { "retry-after": "7" } },
      { status: 200, body: { version: "9.0.0" } },
    ];
    await transport().send(GET);
    assert.deepEqual(sleeps, [7000]);
    assert.deepEqual(
      events.map((e) => [e.status, e.rateLimited, e.attempt]),
      [
        [429, true, 1],
        [200, false, 2],
      ],
    );
  });

  test("waits 5 s when Retry-After is absent", async () => {
    script = [{ status: 429 }, { status: 200 }];
    await transport().send(GET);
    assert.deepEqual(sleeps, [5000]);
  });

  test("a POST is retried after 429, since the limiter rejects before processing", async () => {
    script = [{ status: 429, headers: { "retry-after": "1" } }, { status: 204 }];
    await transport().send(POST);
    assert.equal(server.requests.length, 2);
  });

  test("bounded attempts end in a RateLimitedError carrying retryAfterMs", async () => {
    script = Array.from({ length: 5 }, () => ({ status: 429, headers: { "retry-after": "2" } }));
    const err = await rejection(transport({ rateLimit: { maxAttempts: 3 } }).send(GET));
    assert.ok(err instanceof RateLimitedError);
    assert.equal(err.retryAfterMs, 2000);
    assert.equal(err.status, 429);
    assert.equal(server.requests.length, 3);
    assert.deepEqual(sleeps, [2000, 2000]);
    assert.match(err.message, /still rate limited .* after 3 attempts/);
  });

  test("a Retry-After beyond the total wait budget fails at once", async () => {
    script = [{ status: 429, headers: { "retry-after": "120" } }];
    const err = await rejection(transport({ rateLimit: { maxTotalWaitMs: 60_000 } }).send(GET));
    assert.ok(err instanceof RateLimitedError);
    assert.equal(err.retryAfterMs, 120_000);
    assert.deepEqual(sleeps, []);
  });

  test("total waiting is bounded across attempts", async () => {
    script = Array.from({ length: 5 }, () => ({ status: 429, headers: { "retry-after": "10" } }));
    await rejection(transport({ rateLimit: { maxAttempts: 10, maxTotalWaitMs: 25_000 } }).send(GET));
    assert.deepEqual(sleeps, [10_000, 10_000]);
  });

  test("Retry-After as seconds, fractions, HTTP date, or garbage", () => {
    assert.equal(retryAfterMs("3", 5000), 3000);
    assert.equal(retryAfterMs("0.5", 5000), 500);
    assert.equal(retryAfterMs(undefined, 5000), 5000);
    assert.equal(retryAfterMs("soon", 5000), 5000);
    const inTenSeconds = new Date(Date.now() + 10_000).toUTCString();
    const ms = retryAfterMs(inTenSeconds, 5000);
    assert.ok(ms > 8000 && ms <= 10_000, String(ms));
    assert.equal(retryAfterMs(new Date(0).toUTCString(), 5000), 0);
  });
});

describe("timeouts and cancellation", () => {
  test("a call that gets no answer times out with a TimeoutError", async () => {
    script = [{ hang: true }];
    const err = await rejection(transport({ timeoutMs: 50, retry: { maxAttempts: 1 } }).send(GET));
    assert.ok(err instanceof TimeoutError);
    assert.equal(err.timeoutMs, 50);
    assert.match(err.message, /timed out after 50 ms/);
    assert.equal(events[0]?.status, 0);
  });

  test("a timed-out GET is retried like a network error", async () => {
    script = [{ hang: true }, { status: 200, body: { version: "9.1.0" } }];
    const { data } = await transport({ timeoutMs: 1_000 }).json(GET, ApplicationPropertiesSchema);
    assert.equal(data.version, "9.1.0");
  });

  test("the per-call timeout overrides the client's", async () => {
    script = [{ hang: true }];
    const err = await rejection(
      transport({ timeoutMs: 60_000, retry: { maxAttempts: 1 } }).send(GET, { timeoutMs: 30 }),
    );
    assert.ok(err instanceof TimeoutError);
  });

  test("the caller's abort rejects with its reason, not a Bitbucket error", async () => {
    script = [{ hang: true }];
    const controller = new AbortController();
    const reason = new Error("shutting down");
    const call = transport().send(GET, { signal: controller.signal });
    setTimeout(() => controller.abort(reason), 20);
    assert.equal(await rejection(call), reason);
  });

  test("an abort during a back-off sleep stops the retries", async () => {
    script = [{ status: 503 }, { status: 200 }];
    const controller = new AbortController();
    const http = transport({
      sleep: async () => {
        controller.abort(new Error("stop"));
        controller.signal.throwIfAborted();
      },
    });
    const err = await rejection(http.send(GET, { signal: controller.signal }));
    assert.equal((err as Error).message, "stop");
    assert.equal(server.requests.length, 1);
  });
});

describe("authentication", () => {
  test("bearer and basic headers", async () => {
    await transport().send(GET);
    await transport({ auth: { kind: "basic", username: "admin", password: PASSWORD } }).send(GET);
    await transport({ auth: undefined }).send(GET);
    assert.equal(server.requests[0]?.headers.authorization, `Bearer ${TOKEN}`);
    assert.equal(
      server.requests[1]?.headers.authorization,
      `Basic ${Buffer.from(`admin:${PASSWORD}`).toString("base64")}`,
    );
    assert.equal(server.requests[2]?.headers.authorization, undefined);
  });

  test("a token read with a trailing newline is trimmed", async () => {
    await transport({ auth: { kind: "bearer", token: `${TOKEN}\n` } }).send(GET);
    assert.equal(server.requests[0]?.headers.authorization, `Bearer ${TOKEN}`);
  });

  test("the provider is asked before every attempt, so a rotated token is used on the retry", async () => {
    script = [{ status: 503 }, { status: 200 }];
    const tokens = ["old-token", "new-token"];
    await transport({ auth: () => ({ kind: "bearer", token: tokens.shift() ?? "none" }) }).send(GET);
    assert.deepEqual(
      server.requests.map((r) => r.headers.authorization),
      ["Bearer old-token", "Bearer new-token"],
    );
  });

  test("per-call auth overrides the client's", async () => {
    await transport().send(GET, { auth: async () => ({ kind: "bearer", token: "per-call" }) });
    assert.equal(server.requests[0]?.headers.authorization, "Bearer per-call");
  });

  test("credentials that cannot be sent fail before any request, without quoting them", async () => {
    const bad = "BBDC-abc\r\nX-Injected: 1";
    const err = await rejection(transport({ auth: { kind: "bearer", token: bad } }).send(GET));
    assert.ok(err instanceof InvalidCredentialsError);
    assert.equal(server.requests.length, 0);
    assertNoSecret(err, "BBDC-abc", "X-Injected");
  });

  test("non-GET requests carry the XSRF opt-out, JSON bodies a content type", async () => {
    await transport().send(POST);
    await transport().send(GET);
    assert.equal(server.requests[0]?.headers["x-atlassian-token"], "no-check");
    assert.equal(server.requests[0]?.headers["content-type"], "application/json");
    assert.equal(server.requests[0]?.body, '{"a":1}');
    assert.equal(server.requests[1]?.headers["x-atlassian-token"], undefined);
  });
});

describe("errors never contain credentials or secrets", () => {
  test("401 whose message echoes the token", async () => {
    script = [{ status: 401, body: { errors: [{ message: `Token ${TOKEN} is expired`, exceptionName: "Auth" }] } }];
    const err = await rejection(transport().send(GET));
    assert.ok(err instanceof UnauthorizedError);
    assert.match(err.message, /Token \[REDACTED\] is expired/);
    assertNoSecret(err, TOKEN, encodeURIComponent(TOKEN));
  });

  test("basic credentials on 401, 5xx, network errors and timeouts", async () => {
    const auth = { kind: "basic", username: "admin", password: PASSWORD } as const;
    const basic = Buffer.from(`admin:${PASSWORD}`).toString("base64");
    script = [
      { status: 401, body: { errors: [{ message: `bad password ${PASSWORD}` }] } },
      { status: 500, body: { errors: [{ message: `header was Basic ${basic}` }] } },
      { destroy: true },
      { hang: true },
    ];
    // Only the hanging answer is meant to time out: the others get time enough on a loaded machine.
    const http = transport({ auth, retry: { maxAttempts: 1 }, timeoutMs: 10_000 });
    const errors = [
      await rejection(http.send(GET)),
      await rejection(http.send(GET)),
      await rejection(http.send(GET)),
      await rejection(http.send(GET, { timeoutMs: 50 })),
    ];
    assert.deepEqual(
      errors.map((e) => (e as Error).name),
      ["UnauthorizedError", "ServerError", "NetworkError", "TimeoutError"],
    );
    for (const err of errors) assertNoSecret(err, PASSWORD, basic);
  });

  test("a secret sent in the body and echoed in a 400 is redacted", async () => {
    const secret = "webhook-signing-secret";
    script = [{ status: 400, body: { errors: [{ message: `secret ${secret} too short`, context: "secret" }] } }];
    const err = await rejection(transport().send({ ...POST, secrets: [secret] }));
    assert.ok(err instanceof ProviderError);
    assert.equal(err.name, "BadRequestError");
    assertNoSecret(err, secret, TOKEN);
  });

  test("a schema error does not quote the body", async () => {
    script = [{ status: 200, body: { version: 7, token: TOKEN } }];
    const err = await rejection(transport().json(GET, ApplicationPropertiesSchema));
    assert.ok(err instanceof SchemaError);
    assertNoSecret(err, TOKEN);
  });

  test("the transport itself does not expose the credentials", () => {
    const http = transport();
    assert.ok(!inspect(http, { depth: 10, showHidden: true }).includes(TOKEN));
    assert.ok(!JSON.stringify(http).includes(TOKEN));
  });
});

describe("responses", () => {
  test("an error body's messages and exceptionName are kept", async () => {
    const body = JSON.parse(
      readFileSync(
        new URL("../../../test/fixtures/bitbucket-dc/rest-error-no-such-project.go-scm.json", import.meta.url),
        "utf8",
      ),
    );
    script = [{ status: 404, body }];
    const err = await rejection(transport().send(GET));
    assert.ok(err instanceof NotFoundError);
    assert.deepEqual(err.messages, ["Project dev does not exist."]);
    assert.equal(err.exceptionName, "com.atlassian.bitbucket.project.NoSuchProjectException");
    assert.match(err.message, /"Project dev does not exist\."/);
  });

  test("a body over the limit fails with ResponseTooLargeError", async () => {
    script = [{ status: 200, body: "x".repeat(2048) }];
    const err = await rejection(transport().send({ ...GET, maxBytes: 1024 }));
    assert.ok(err instanceof ResponseTooLargeError);
    assert.equal(err.limitBytes, 1024);
  });

  test("a redirect says to fix the server URL", async () => {
    script = [{ status: 302, headers: { location: "https://bitbucket.example.com/login?next=x" } }];
    const err = await rejection(transport().send(GET));
    assert.ok(err instanceof ProviderError);
    assert.match(err.message, /redirected to https:\/\/bitbucket\.example\.com\/login;/);
  });

  test("a context path in the base URL prefixes every request", async () => {
    await transport({ baseUrl: `${server.url}/bitbucket/` }).send({ ...GET, query: { a: "x y", b: ["1", "2"] } });
    assert.equal(server.requests[0]?.url, "/bitbucket/rest/api/latest/application-properties?a=x+y&b=1&b=2");
  });

  test("the budget is awaited before every attempt", async () => {
    script = [{ status: 503 }, { status: 429 }, { status: 200 }];
    let acquired = 0;
    await transport({ budget: { acquire: async () => void acquired++ } }).send(GET);
    assert.equal(acquired, 3);
  });

  test("a throwing onResponse hook does not fail the call", async () => {
    await transport({
      onResponse: () => {
        throw new Error("metrics broke");
      },
    }).send(GET);
  });

  test("a 401 hands the credentials it was refused to onUnauthorized, and only a 401 does", async () => {
    const refused: unknown[] = [];
    const t = transport({ onUnauthorized: (auth) => refused.push(auth) });
    script = [{ status: 401 }];
    await rejection(t.send(GET));
    script = [{ status: 404 }, { status: 200 }];
    await rejection(t.send(GET));
    await t.send(GET, { auth: { kind: "basic", username: "admin", password: PASSWORD } });
    assert.deepEqual(refused, [{ kind: "bearer", token: TOKEN }]);
    script = [{ status: 401 }];
    const broken = transport({
      onUnauthorized: () => {
        throw new Error("hook broke");
      },
    });
    assert.ok((await rejection(broken.send(GET))) instanceof UnauthorizedError, "the hook's error is not the call's");
  });

  test("events carry group, method and a duration", async () => {
    let clock = 0;
    await transport({ now: () => (clock += 5) }).send(GET);
    assert.deepEqual(events, [
      { group: "server", method: "GET", status: 200, durationMs: 5, attempt: 1, rateLimited: false },
    ]);
  });

  test("base URLs with credentials or another scheme are refused", () => {
    assert.throws(() => new HttpTransport({ baseUrl: "http://u:p@host" }), /must not carry credentials/);
    assert.throws(() => new HttpTransport({ baseUrl: "ftp://host" }), /must be http/);
  });
});
