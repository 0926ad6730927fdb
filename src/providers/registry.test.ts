import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { ProviderRegistry, providerKindOf, UnsupportedProviderError } from "./registry.ts";

describe("providerKindOf", () => {
  it("reads the kind from the URL's host, Data Center for any self-hosted server", () => {
    assert.equal(providerKindOf({ url: "https://bitbucket.org/acme/widget" }), "bitbucket-cloud");
    assert.equal(providerKindOf({ url: "https://BitBucket.org/acme/widget" }), "bitbucket-cloud");
    assert.equal(providerKindOf({ url: "https://github.com/acme/widget" }), "github");
    assert.equal(providerKindOf({ url: "https://git.example.com/projects/PRJ/repos/app" }), "bitbucket-datacenter");
    // A look-alike host is someone's own server, not the SaaS one.
    assert.equal(providerKindOf({ url: "https://bitbucket.org.example.com/scm/p/r.git" }), "bitbucket-datacenter");
  });

  it("lets spec.provider override the host (a GitHub Enterprise Server)", () => {
    assert.equal(providerKindOf({ url: "https://ghe.example.com/acme/widget", provider: "github" }), "github");
    assert.equal(
      providerKindOf({ url: "https://bitbucket.org/acme/widget", provider: "bitbucket-datacenter" }),
      "bitbucket-datacenter",
    );
  });
});

describe("ProviderRegistry", () => {
  it("names the kind it has no implementation for", () => {
    const registry = new ProviderRegistry();
    assert.throws(
      () => registry.for("https://bitbucket.org", "bitbucket-cloud"),
      (error: unknown) =>
        error instanceof UnsupportedProviderError && /unsupported provider bitbucket-cloud/.test(error.message),
    );
  });
});
