import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { after, before, beforeEach, describe, test } from "node:test";
import { type Reply, startServer, type TestServer } from "../http/test-server.ts";
import { classifyDelivery, type DraftEvent } from "./classify.ts";
import { BitbucketCloudClient } from "./client.ts";
import { CommitCache, resolveDraft } from "./resolve.ts";

const read = (name: string) =>
  JSON.parse(readFileSync(new URL(`../../../test/fixtures/bitbucket-cloud/${name}`, import.meta.url), "utf8"));

function draft(key: string, file: string): DraftEvent {
  const result = classifyDelivery(key, read(file), {}, { receivedAt: new Date() });
  assert.ok(result.ok && result.events[0]);
  return result.events[0];
}

let script: Reply[] = [];
let server: TestServer;
let client: BitbucketCloudClient;

before(async () => {
  server = await startServer(() => script.shift() ?? { status: 500 });
  client = new BitbucketCloudClient({
    baseUrl: `${server.url}/2.0`,
    auth: { kind: "bearer", token: "t" },
    sleep: async () => {},
  });
});
after(async () => {
  await client.close();
  await server.close();
});
beforeEach(() => {
  script = [];
  server.requests.length = 0;
});

describe("resolving a draft's abbreviated hashes", () => {
  test("a same-repository pull request costs one lookup, and a second event of that head none", async () => {
    const d = draft("pullrequest:updated", "webhook-pullrequest-updated-after-source-push.arol.json");
    const short = d.needs.commits[0]?.abbreviated ?? "";
    const full = short.padEnd(40, "a");
    script = [{ body: { hash: full } }];
    const cache = new CommitCache();
    const first = await resolveDraft(d, client, cache);
    assert.ok(first.ok);
    assert.equal(first.event.type === "pull_request" && first.event.sha, full);
    assert.equal(server.requests.length, 1);
    assert.match(server.requests[0]?.pathname ?? "", new RegExp(`/commit/${short}$`));
    const again = await resolveDraft(d, client, cache);
    assert.ok(again.ok);
    assert.equal(server.requests.length, 1);
  });

  test("a fork the token cannot read: head read through the pull request's commits, and said so", async () => {
    const d = draft("pullrequest:created", "webhook-pullrequest-created-fork-2017.bbs-plugin.json");
    const head = d.needs.commits.find((c) => c.field === "head")?.abbreviated ?? "";
    const target = d.needs.commits.find((c) => c.field === "target")?.abbreviated ?? "";
    script = [
      { status: 403, body: { type: "error", error: { message: "Access denied" } } },
      { body: { values: [{ hash: head.padEnd(40, "b") }], next: `${server.url}/2.0/x?page=2` } },
      { body: { hash: target.padEnd(40, "c") } },
    ];
    const result = await resolveDraft(d, client, new CommitCache());
    assert.ok(result.ok, result.ok ? "" : result.error);
    assert.equal(result.forkReadable, false);
    assert.equal(result.event.type === "pull_request" && result.event.sha, head.padEnd(40, "b"));
    const paths = server.requests.map((r) => r.pathname);
    assert.match(paths[0] ?? "", /\/repositories\/stephenc\/temp-fork\/commit\//);
    assert.match(paths[1] ?? "", /\/repositories\/cloudbeers\/temp\/pullrequests\/\d+\/commits$/);
    assert.match(paths[2] ?? "", /\/repositories\/cloudbeers\/temp\/commit\//);
  });

  test("a head that cannot be found anywhere is an error, never a short hash passed on", async () => {
    const d = draft("pullrequest:created", "webhook-pullrequest-created-fork-2017.bbs-plugin.json");
    script = [{ status: 404, body: {} }, { body: { values: [{ hash: "f".repeat(40) }] } }];
    const result = await resolveDraft(d, client, new CommitCache());
    assert.equal(result.ok, false);
    assert.match(result.ok ? "" : result.error, /cannot read/);
  });
});
