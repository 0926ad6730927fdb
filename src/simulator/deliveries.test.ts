import assert from "node:assert/strict";
import { after, test } from "node:test";
import { dataCenterDeliveryStyle } from "./bitbucket-datacenter/delivery-style.ts";
import { Deliveries, signBody, webhookSecret } from "./deliveries.ts";
import { startWebhookReceiver } from "./receiver.ts";

test("signature: sha256= and the lowercase hex HMAC (RFC 4231 test case 2)", () => {
  assert.equal(
    signBody("Jefe", "what do ya want for nothing?"),
    "sha256=5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843",
  );
});

test("an empty or missing secret means unsigned", () => {
  assert.equal(webhookSecret({}), null);
  assert.equal(webhookSecret({ secret: "" }), null);
  assert.equal(webhookSecret({ secret: "s" }), "s");
});

const receiverPromise = startWebhookReceiver();
after(async () => (await receiverPromise).close());

test("one POST per delivery, no retry on failure, dropped ones never sent", async () => {
  const receiver = await receiverPromise;
  const deliveries = new Deliveries({ now: () => 42, timeoutMs: 2_000, style: dataCenterDeliveryStyle(() => "UA") });
  const hook = {
    id: 7,
    url: receiver.url,
    configuration: { secret: "s3" },
    credentials: { username: "u", password: "p" },
    scope: { kind: "repository" as const },
  };
  receiver.respondWith(500);
  const failed = await deliveries.enqueue({ hook }, "pr:opened", '{"a":1}');
  assert.equal(failed.status, 500);
  assert.equal(receiver.received.length, 1, "not retried");
  const sent = receiver.received[0];
  assert.equal(sent?.headers["x-hub-signature"], signBody("s3", '{"a":1}'));
  assert.equal(sent?.headers["content-type"], "application/json; charset=utf-8");
  assert.equal(sent?.headers.authorization, `Basic ${Buffer.from("u:p").toString("base64")}`);
  assert.equal(failed.authorization, true);
  assert.equal("Authorization" in failed.headers, false, "credentials are not kept in the log");

  deliveries.dropNext(1);
  receiver.respondWith(200);
  const dropped = await deliveries.enqueue({ hook }, "pr:merged", "{}");
  assert.equal(dropped.dropped, true);
  await deliveries.enqueue({ hook }, "pr:declined", "{}");
  await deliveries.settled();
  assert.deepEqual(
    receiver.received.map((r) => r.headers["x-event-key"]),
    ["pr:opened", "pr:declined"],
  );
  assert.deepEqual(
    deliveries.records().map((d) => [d.eventKey, d.status, d.dropped]),
    [
      ["pr:opened", 500, false],
      ["pr:merged", null, true],
      ["pr:declined", 200, false],
    ],
  );
});

test("a style with retries: again after each 5xx, headers rebuilt per attempt, a fresh id only when asked", async () => {
  const receiver = await receiverPromise;
  const style = (fresh: boolean) => ({
    headers: ({ requestId, attempt }: { requestId: string; attempt: number }) => ({
      headers: { "X-Request-UUID": requestId, "X-Attempt-Number": String(attempt) },
      signature: null,
    }),
    retries: 2,
    freshRequestIdPerAttempt: fresh,
  });
  const hook = {
    id: 9,
    url: receiver.url,
    configuration: {},
    credentials: null,
    scope: { kind: "workspace" as const },
  };
  for (const fresh of [false, true]) {
    receiver.received.length = 0;
    receiver.respondWith(503);
    const record = await new Deliveries({ now: () => 1, timeoutMs: 2_000, style: style(fresh) }).enqueue(
      { hook },
      "repo:push",
      "{}",
    );
    assert.deepEqual(
      receiver.received.map((r) => r.headers["x-attempt-number"]),
      ["1", "2", "3"],
    );
    const ids = new Set(receiver.received.map((r) => r.headers["x-request-uuid"]));
    assert.equal(ids.size, fresh ? 3 : 1);
    assert.equal(record.requestId, receiver.received[0]?.headers["x-request-uuid"], "the record keeps the first id");
    assert.deepEqual(
      record.attempts.map((a) => [a.status, a.headers["X-Attempt-Number"]]),
      [
        [503, "1"],
        [503, "2"],
        [503, "3"],
      ],
    );
  }
  receiver.respondWith(200);
});
