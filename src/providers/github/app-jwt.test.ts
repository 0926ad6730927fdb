import assert from "node:assert/strict";
import { generateKeyPairSync, verify } from "node:crypto";
import { describe, it } from "node:test";
import { AppJwtSigner, AppKeyError, appJwtClaims, parseAppPrivateKey, signAppJwt } from "./app-jwt.ts";

// GitHub hands out PKCS#1 PEMs ("BEGIN RSA PRIVATE KEY").
const { privateKey, publicKey } = generateKeyPairSync("rsa", {
  modulusLength: 2048,
  privateKeyEncoding: { type: "pkcs1", format: "pem" },
  publicKeyEncoding: { type: "spki", format: "pem" },
});

function decode(jwt: string): { header: unknown; claims: { iat: number; exp: number; iss: string }; valid: boolean } {
  const [h, p, s] = jwt.split(".") as [string, string, string];
  return {
    header: JSON.parse(Buffer.from(h, "base64url").toString()),
    claims: JSON.parse(Buffer.from(p, "base64url").toString()),
    valid: verify("sha256", Buffer.from(`${h}.${p}`), publicKey, Buffer.from(s, "base64url")),
  };
}

describe("App JWT", () => {
  const now = Date.UTC(2030, 0, 1, 12, 0, 0, 500);

  it("claims: iat 60 s back, exp at most 10 minutes after now, iss the app id", () => {
    const claims = appJwtClaims("123456", now);
    assert.equal(claims.iat, Math.floor(now / 1000) - 60);
    assert.ok(claims.exp <= Math.floor(now / 1000) + 600);
    assert.ok(claims.exp > Math.floor(now / 1000) + 300);
    assert.equal(claims.iss, "123456");
  });

  it("is RS256, verifies with the App's public key, and any change breaks it", () => {
    const jwt = signAppJwt("123456", parseAppPrivateKey(privateKey), now);
    const { header, claims, valid } = decode(jwt);
    assert.deepEqual(header, { alg: "RS256", typ: "JWT" });
    assert.equal(valid, true);
    assert.deepEqual(claims, appJwtClaims("123456", now));
    const [h, , s] = jwt.split(".");
    const forged = Buffer.from(JSON.stringify({ ...claims, iss: "999" })).toString("base64url");
    assert.equal(decode(`${h}.${forged}.${s}`).valid, false);
  });

  it("a bad key is a clear error that never quotes the key", () => {
    const broken = `${privateKey.slice(0, 300)}\n-----END RSA PRIVATE KEY-----\n`;
    for (const pem of ["", "not a key", broken, publicKey]) {
      assert.throws(
        () => parseAppPrivateKey(pem),
        (err: unknown) => err instanceof AppKeyError && !err.message.includes("MII") && /PEM|RSA/.test(err.message),
      );
    }
    const ec = generateKeyPairSync("ec", {
      namedCurve: "P-256",
      privateKeyEncoding: { type: "pkcs8", format: "pem" },
      publicKeyEncoding: { type: "spki", format: "pem" },
    });
    assert.throws(() => parseAppPrivateKey(ec.privateKey), /is a ec key; GitHub App keys are RSA/);
    assert.throws(() => signAppJwt("12 34", parseAppPrivateKey(privateKey), now), /App id/);
  });

  it("the signer reuses a JWT until it has less than a minute left", () => {
    let t = now;
    const signer = new AppJwtSigner("1", parseAppPrivateKey(privateKey), () => t);
    const first = signer.jwt();
    t += 7 * 60_000;
    assert.equal(signer.jwt(), first);
    t += 2 * 60_000 + 1000;
    const second = signer.jwt();
    assert.notEqual(second, first);
    assert.ok(decode(second).claims.exp * 1000 - t > 8 * 60_000);
  });
});
