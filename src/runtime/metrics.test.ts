import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { Metrics } from "./metrics.ts";

describe("Metrics", () => {
  it("returns the same series when a domain declares it twice", () => {
    const m = new Metrics({ defaultMetrics: false });
    const a = m.counter({ name: "baton_token_renewals_total", help: "renewals", labelNames: ["result"] });
    const b = m.counter({ name: "baton_token_renewals_total", help: "renewals", labelNames: ["result"] });
    assert.equal(a, b);
  });

  it("refuses one name for two kinds of series", () => {
    const m = new Metrics({ defaultMetrics: false });
    m.gauge({ name: "baton_x", help: "x" });
    assert.throws(() => m.counter({ name: "baton_x", help: "x" }), /already registered as another type/);
  });

  it("keeps registries of two managers apart", async () => {
    const one = new Metrics({ defaultMetrics: false });
    const two = new Metrics({ defaultMetrics: false });
    one.counter({ name: "baton_y_total", help: "y" }).inc(2);
    two.counter({ name: "baton_y_total", help: "y" }).inc(5);
    assert.match(await one.text(), /^baton_y_total 2$/m);
    assert.match(await two.text(), /^baton_y_total 5$/m);
  });
});
