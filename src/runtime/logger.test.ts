import assert from "node:assert/strict";
import { Writable } from "node:stream";
import { describe, it } from "node:test";
import { controllerLogger, createLogger, objectLogger } from "./logger.ts";
import { maskSecret, REDACTED, scrub, scrubValue } from "./redact.ts";

// Shaped like the Bitbucket examples in docs/reference: base64 of "<id>:" + 20 random bytes, optionally "BBDC-".
const bitbucketToken = Buffer.concat([Buffer.from("252973515069:"), Buffer.from("a7Fq0/+Z19kLmW3xYt6P", "latin1")])
  .toString("base64")
  .replace(/.$/, "/");
const prefixedToken = `BBDC-${bitbucketToken}`;
const jwt = "eyJhbGciOiJSUzI1NiIsImtpZCI6IjEyMyJ9.eyJzdWIiOiJzeXN0ZW06c2VydmljZWFjY291bnQifQ.c2lnbmF0dXJlLXBhcnQ";
const opaque = "Zm9vYmFyQmF6UXV4MTIzNDU2Nzg5MGFiY2RlZkdISUo";

function capture() {
  const lines: string[] = [];
  const destination = new Writable({
    write(chunk, _enc, cb) {
      lines.push(...String(chunk).split("\n").filter(Boolean));
      cb();
    },
  });
  const logger = createLogger({ level: "debug", destination });
  return { logger, lines, text: () => lines.join("\n") };
}

describe("logger redaction", () => {
  const cases: Array<{ name: string; secret: string; log: (l: ReturnType<typeof createLogger>) => void }> = [
    { name: "token field", secret: "hunter2-short", log: (l) => l.info({ token: "hunter2-short" }, "issued") },
    {
      name: "nested password",
      secret: "p@ssw0rd!",
      log: (l) => l.info({ admin: { credentials: { password: "p@ssw0rd!" } } }, "x"),
    },
    {
      name: "authorization header",
      secret: "sesame-open",
      log: (l) => l.info({ req: { headers: { authorization: "sesame-open" } } }, "request"),
    },
    {
      name: "Bearer value inside a message",
      secret: bitbucketToken,
      log: (l) => l.warn(`request failed with header Authorization: Bearer ${bitbucketToken}`),
    },
    {
      name: "interpolated message argument",
      secret: prefixedToken,
      log: (l) => l.info("calling with %s", prefixedToken),
    },
    { name: "bare Bitbucket token in text", secret: bitbucketToken, log: (l) => l.info(`got ${bitbucketToken}`) },
    {
      name: "error message quoting a token",
      secret: prefixedToken,
      log: (l) => l.error({ err: new Error(`401 for token ${prefixedToken}`) }, "failed"),
    },
    {
      name: "error as first argument",
      secret: prefixedToken,
      log: (l) => l.error(new Error(`bad ${prefixedToken}`)),
    },
    {
      name: "URL with userinfo",
      secret: "s3cr3tpw",
      log: (l) => l.info({ url: "https://admin:s3cr3tpw@bitbucket.example/rest" }, "x"),
    },
    {
      name: "x-token-auth URL",
      secret: bitbucketToken,
      log: (l) => l.info(`cloning http://x-token-auth:${encodeURIComponent(bitbucketToken)}@host/scm/p/r.git`),
    },
    {
      name: "Secret object dumped whole",
      secret: Buffer.from("the-token-value").toString("base64"),
      log: (l) =>
        l.info({
          obj: {
            apiVersion: "v1",
            kind: "Secret",
            metadata: { name: "s" },
            data: { token: Buffer.from("the-token-value").toString("base64"), other: "b3RoZXItdmFsdWU=" },
          },
        }),
    },
    { name: "service account JWT", secret: jwt, log: (l) => l.debug(`kube said ${jwt}`) },
    { name: "opaque random string", secret: opaque, log: (l) => l.info({ detail: `value=${opaque}` }) },
    {
      name: "child logger bindings",
      secret: prefixedToken,
      log: (l) => l.child({ context: `t=${prefixedToken}` }).info("hello"),
    },
  ];

  for (const c of cases) {
    it(`never prints the secret: ${c.name}`, () => {
      const { logger, text } = capture();
      c.log(logger);
      const out = text();
      assert.ok(out.length > 0, "something was logged");
      assert.ok(!out.includes(c.secret), `secret leaked: ${out}`);
      assert.ok(out.includes(REDACTED), `expected a redaction marker: ${out}`);
      for (const line of out.split("\n")) JSON.parse(line);
    });
  }

  it("redacts a registered secret of any shape", () => {
    const { logger, text } = capture();
    maskSecret("plainwords");
    logger.info("the webhook secret is plainwords, do not tell");
    assert.ok(!text().includes("plainwords"));
  });

  it("keeps what operators need to read", () => {
    const { logger, lines } = capture();
    const log = objectLogger(controllerLogger(logger, "tokens"), { namespace: "team-a", name: "ci" });
    log.info(
      {
        tokenId: "252973515069",
        secretName: "ci-token",
        commit: "0123456789abcdef0123456789abcdef01234567",
        uid: "6f1b1c2e-3d4a-4b5c-8d9e-0f1a2b3c4d5e",
        path: "/rest/api/latest/projects/PROJ1/repos/my-repo2/commits/0123456789abcdef0123456789abcdef01234567",
      },
      "token renewed",
    );
    const line = JSON.parse(lines[0] ?? "{}");
    assert.equal(line.level, "info");
    assert.equal(line.msg, "token renewed");
    assert.equal(line.controller, "tokens");
    assert.equal(line.key, "team-a/ci");
    assert.equal(line.tokenId, "252973515069");
    assert.equal(line.secretName, "ci-token");
    assert.equal(line.commit, "0123456789abcdef0123456789abcdef01234567");
    assert.equal(line.uid, "6f1b1c2e-3d4a-4b5c-8d9e-0f1a2b3c4d5e");
    assert.match(line.path, /^\/rest\/api\/latest\/projects\/PROJ1\/repos\/my-repo2\/commits\/0123/);
  });
});

describe("scrub", () => {
  const table: Array<[string, string, string]> = [
    ["plain words stay", "Basic authentication failed", "Basic authentication failed"],
    ["bearer header", "Authorization: Bearer abcDEF123456", `Authorization: Bearer ${REDACTED}`],
    ["basic header", "Authorization: Basic dXNlcjpwYXNz", `Authorization: Basic ${REDACTED}`],
    ["userinfo", "https://u:pw123456@h/x", `https://u:${REDACTED}@h/x`],
    ["kubernetes name", "baton-controller-7f9c8d6b5-x2x4q", "baton-controller-7f9c8d6b5-x2x4q"],
    ["token id", "revoked token 252973515069", "revoked token 252973515069"],
    ["private key", "-----BEGIN RSA PRIVATE KEY-----\nMIIE\n-----END RSA PRIVATE KEY-----", REDACTED],
  ];
  for (const [name, input, expected] of table) {
    it(name, () => assert.equal(scrub(input), expected));
  }

  it("walks objects without touching references", () => {
    const out = scrubValue({ spec: { tokenRef: { name: "t" }, adminCredentialsRef: { name: "a" } }, password: "x" });
    assert.deepEqual(out, {
      spec: { tokenRef: { name: "t" }, adminCredentialsRef: { name: "a" } },
      password: REDACTED,
    });
  });

  it("survives cycles", () => {
    const a: Record<string, unknown> = { name: "a" };
    a.self = a;
    assert.deepEqual(scrubValue(a), { name: "a", self: "[Circular]" });
  });
});
