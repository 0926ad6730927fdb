import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { allowedServersSchema, noServers, serverRefusal } from "./allowed-servers.ts";

describe("allowed servers", () => {
  const list = allowedServersSchema.parse("https://Bitbucket.example.com, https://git.example.org:8443/bitbucket/");
  const cases: [string, boolean][] = [
    ["https://bitbucket.example.com", true],
    ["https://bitbucket.example.com/", true],
    ["https://BITBUCKET.example.com:443", true],
    ["http://bitbucket.example.com", false],
    ["https://bitbucket.example.com.evil.test", false],
    ["https://git.example.org:8443/bitbucket", true],
    ["https://git.example.org:8443/bitbucket/sub", true],
    ["https://git.example.org:8443/bitbucket-other", false],
    ["https://git.example.org:8443", false],
    ["https://git.example.org/bitbucket", false],
    ["http://169.254.169.254", false],
    ["not a url", false],
  ];
  for (const [server, allowed] of cases)
    test(`${server}: ${allowed ? "allowed" : "refused"}`, () => {
      assert.equal(serverRefusal(list, server) === undefined, allowed);
    });

  test("* allows any server; unset allows none and says what to set", () => {
    assert.equal(serverRefusal(allowedServersSchema.parse("*"), "http://10.0.0.1:9000"), undefined);
    assert.match(
      String(serverRefusal(noServers, "https://bitbucket.example.com")),
      /allows none until BATON_ALLOWED_SERVERS/,
    );
    assert.deepEqual(allowedServersSchema.parse(""), noServers);
  });

  test("entries that are not plain base URLs are configuration errors", () => {
    for (const text of [
      "bitbucket.example.com",
      "ftp://x.example",
      "https://user:pw@x.example",
      "https://x.example/?a=1",
    ])
      assert.equal(allowedServersSchema.safeParse(text).success, false, text);
  });
});
