// BitbucketProjectTokens for Bitbucket Cloud, which has no API to create access tokens: admin credentials are
// refused before anything is sent, and a token written to the Secret is validated against its workspace, with its
// expiry read from the Secret's annotation and warned about.
import assert from "node:assert/strict";
import { createServer, type Socket } from "node:net";
import { describe, test } from "node:test";
import type { BitbucketProjectToken } from "../../src/api/token.ts";
import { type Recorded, startServer } from "../../src/providers/http/test-server.ts";
import { Secrets } from "../../src/runtime/kube.ts";
import { Tokens } from "../../src/tokens/reconciler.ts";
import { createNamespace } from "../support/cluster.ts";
import { startOperator, testKube } from "../support/operator.ts";
import { waitFor } from "../support/wait.ts";

const condition = (o: BitbucketProjectToken | undefined, type: string) =>
  o?.status?.conditions?.find((c) => c.type === type);

function cloudToken(ns: string, server: string, extra: Partial<BitbucketProjectToken["spec"]> = {}) {
  return {
    apiVersion: "baton.dev/v1alpha1",
    kind: "BitbucketProjectToken",
    metadata: { name: "ci", namespace: ns },
    spec: {
      server,
      provider: "bitbucket-cloud",
      project: "ws",
      repository: "app",
      permissions: ["REPO_READ"],
      lifetime: "720h",
      revocationGracePeriod: "2h",
      secretName: "ci-token",
      deletionPolicy: "Revoke",
      ...extra,
    },
  } as BitbucketProjectToken;
}

describe("Bitbucket Cloud tokens", () => {
  test("adminCredentialsRef is refused with IssuingUnsupported, and the server is not contacted", async (t) => {
    const ns = await createNamespace(t);
    const sockets: Socket[] = [];
    const listener = createServer((socket) => {
      sockets.push(socket);
      socket.destroy();
    });
    await new Promise<void>((resolve) => listener.listen(0, "127.0.0.1", resolve));
    t.after(() => new Promise<void>((resolve) => listener.close(() => resolve())));
    const server = `http://127.0.0.1:${(listener.address() as { port: number }).port}`;
    const kube = await testKube();
    await kube.create(Secrets, {
      apiVersion: "v1",
      kind: "Secret",
      metadata: { name: "admin", namespace: ns },
      stringData: { username: "admin", password: "pw" },
    });
    await startOperator(t, ns, { config: { allowedServers: server, podNamespace: ns } });
    await kube.create(Tokens, cloudToken(ns, server, { adminCredentialsRef: { name: "admin" } }));
    const refused = await waitFor(
      async () => {
        const token = await kube.get(Tokens, { namespace: ns, name: "ci" });
        return condition(token, "Ready")?.reason === "IssuingUnsupported" ? token : undefined;
      },
      { message: "Ready=False IssuingUnsupported" },
    );
    const ready = condition(refused, "Ready");
    assert.equal(ready?.status, "False");
    assert.match(
      ready?.message ?? "",
      /cannot issue access tokens.*baton\.dev\/expires-at.*remove adminCredentialsRef/,
    );
    assert.equal(sockets.length, 0, "nothing was sent to the server");
    assert.equal(refused.metadata?.finalizers?.length ?? 0, 0, "no finalizer: there is nothing to revoke");
  });

  test("a token you write is validated against its workspace, and its expiry is warned about", async (t) => {
    const ns = await createNamespace(t);
    // Cloud's answer to one page of a workspace's repositories: what the token reaches, with its scopes as headers.
    const api = await startServer((req: Recorded) =>
      req.headers.authorization === "Bearer ATCTT3xFfGN0-good"
        ? {
            body: { values: [{ full_name: "ws/app" }], pagelen: 1 },
            headers: { "x-oauth-scopes": "repository, pullrequest, webhook", "x-credential-type": "repo_access_token" },
          }
        : { status: 401, body: { type: "error", error: { message: "Access token expired" } } },
    );
    t.after(() => api.close());
    const kube = await testKube();
    const expires = new Date(Date.now() + 2 * 86_400_000).toISOString();
    await kube.create(Secrets, {
      apiVersion: "v1",
      kind: "Secret",
      metadata: { name: "ci-token", namespace: ns, annotations: { "baton.dev/expires-at": expires } },
      stringData: { token: "ATCTT3xFfGN0-good" },
    });
    await startOperator(t, ns, { config: { allowedServers: api.url, podNamespace: ns } });
    await kube.create(Tokens, cloudToken(ns, api.url));
    const token = await waitFor(
      async () => {
        const current = await kube.get(Tokens, { namespace: ns, name: "ci" });
        return condition(current, "Ready")?.status === "True" && condition(current, "ExpiringSoon")
          ? current
          : undefined;
      },
      { message: "Ready=True with an ExpiringSoon warning" },
    );
    assert.equal(token.status?.tokenUser, "repo_access_token");
    assert.equal(condition(token, "ExpiringSoon")?.status, "True");
    assert.equal(token.status?.notAfter, expires.replace(/\.\d{3}Z$/, "Z"));
    const asked = api.requests.find((r) => r.pathname === "/2.0/repositories/ws");
    assert.ok(asked, `validated against the workspace: ${api.requests.map((r) => r.url).join(", ")}`);
  });
});
