import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { HealthServer } from "./health.ts";
import { Metrics } from "./metrics.ts";

describe("HealthServer", () => {
  it("answers liveness, readiness and metrics", async (t) => {
    const metrics = new Metrics();
    metrics.counter({ name: "baton_test_total", help: "a test series" }).inc();
    const server = new HealthServer({ metrics, host: "127.0.0.1", port: 0 });
    let synced = false;
    server.addHealthCheck("informers", () => ({ ok: true }));
    server.addReadyCheck("caches", () => ({ ok: synced, reason: "waiting for configmaps" }));
    const port = await server.start();
    t.after(() => server.stop());
    const get = async (path: string) => {
      const res = await fetch(`http://127.0.0.1:${port}${path}`);
      return { status: res.status, body: await res.text() };
    };

    assert.equal((await get("/healthz")).status, 200);
    const notReady = await get("/readyz");
    assert.equal(notReady.status, 503);
    assert.match(notReady.body, /waiting for configmaps/);
    synced = true;
    assert.equal((await get("/readyz")).status, 200);

    const scraped = await get("/metrics");
    assert.equal(scraped.status, 200);
    assert.match(scraped.body, /^baton_test_total 1$/m);
    assert.match(scraped.body, /process_cpu_user_seconds_total/, "Node's default metrics are included");

    server.markShuttingDown();
    assert.equal((await get("/readyz")).status, 503, "not ready once shutdown begins");
  });

  it("reports a failing health check by name", async (t) => {
    const server = new HealthServer({ metrics: new Metrics({ defaultMetrics: false }), host: "127.0.0.1", port: 0 });
    server.addHealthCheck("informers", () => ({ ok: false, reason: "informer configmaps made no progress for 400s" }));
    const port = await server.start();
    t.after(() => server.stop());
    const res = await fetch(`http://127.0.0.1:${port}/healthz`);
    assert.equal(res.status, 503);
    assert.deepEqual(await res.json(), {
      status: "failed",
      checks: { informers: "informer configmaps made no progress for 400s" },
    });
  });
});
