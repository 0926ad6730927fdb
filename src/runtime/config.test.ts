import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { ConfigError, loadConfig } from "./config.ts";

const noFile = "/nonexistent/namespace";

function load(argv: string[] = [], env: Record<string, string> = {}) {
  return loadConfig({ argv, env: { POD_NAME: "baton-0", ...env }, serviceAccountNamespaceFile: noFile });
}

function errorsOf(fn: () => unknown): string[] {
  try {
    fn();
  } catch (err) {
    assert.ok(err instanceof ConfigError, `expected ConfigError, got ${err}`);
    return err.issues;
  }
  assert.fail("expected a ConfigError");
}

describe("loadConfig", () => {
  it("has defaults that run an operator out of the box", () => {
    const c = load();
    assert.equal(c.kubeconfig, undefined);
    assert.equal(c.watchNamespace, "");
    assert.equal(c.metricsPort, 8080);
    assert.equal(c.intakePort, 8090);
    assert.equal(c.bitbucketRequestsPerSecond, 5);
    assert.equal(c.driftInterval, 600_000);
    assert.equal(c.leaderElection, true);
    assert.equal(c.leaseName, "baton-leader");
    assert.equal(c.leaseNamespace, "default");
    assert.equal(c.leaseDuration, 15_000);
    assert.equal(c.renewDeadline, 10_000);
    assert.equal(c.retryPeriod, 2_000);
    assert.equal(c.logLevel, "info");
    assert.equal(c.podName, "baton-0");
    assert.equal(c.shutdownTimeout, 30_000);
  });

  it("reads the environment, and flags win over it", () => {
    const c = load(["--metrics-port=9000", "--leader-elect", "false", "--drift-interval=2m"], {
      BATON_METRICS_PORT: "7000",
      BATON_WATCH_NAMESPACE: "team-a",
      BATON_BITBUCKET_RPS: "2.5",
      BATON_INTAKE_URL: "https://baton.example.com/hooks",
      KUBECONFIG: "/tmp/kubeconfig",
      POD_NAMESPACE: "baton-system",
    });
    assert.equal(c.metricsPort, 9000);
    assert.equal(c.watchNamespace, "team-a");
    assert.equal(c.bitbucketRequestsPerSecond, 2.5);
    assert.equal(c.intakeUrl, "https://baton.example.com/hooks");
    assert.equal(c.kubeconfig, "/tmp/kubeconfig");
    assert.equal(c.leaderElection, false);
    assert.equal(c.driftInterval, 120_000);
    assert.equal(c.leaseNamespace, "baton-system", "the lease lives beside the pod by default");
  });

  it("takes the instance name from BATON_INSTANCE, and leaves it unset for the installation to derive", () => {
    assert.equal(load([], { BATON_INSTANCE: "east" }).instance, "east");
    assert.equal(load().instance, undefined);
  });

  const invalid: Array<{ name: string; argv?: string[]; env?: Record<string, string>; expect: RegExp }> = [
    {
      name: "port out of range",
      env: { BATON_METRICS_PORT: "70000" },
      expect: /--metrics-port \(BATON_METRICS_PORT\)/,
    },
    { name: "port not a number", argv: ["--intake-port=http"], expect: /--intake-port/ },
    { name: "instance with a slash", env: { BATON_INSTANCE: "east/1" }, expect: /--instance \(BATON_INSTANCE\)/ },
    { name: "duration without unit", env: { BATON_DRIFT_INTERVAL: "600" }, expect: /not a duration; write it like/ },
    {
      name: "drift interval too short",
      argv: ["--drift-interval=1s"],
      expect: /out of range; use between 30s and 24h/,
    },
    { name: "zero request budget", env: { BATON_BITBUCKET_RPS: "0" }, expect: /--bitbucket-rps/ },
    { name: "bad log level", env: { BATON_LOG_LEVEL: "verbose" }, expect: /--log-level/ },
    { name: "bad boolean", env: { BATON_LEADER_ELECT: "maybe" }, expect: /--leader-elect/ },
    { name: "bad namespace", argv: ["--watch-namespace=Team_A"], expect: /lowercase DNS name/ },
    { name: "intake URL not http", env: { BATON_INTAKE_URL: "ftp://x" }, expect: /--intake-url.*http\(s\) URL/ },
    { name: "unknown flag", argv: ["--metrics-prot=1"], expect: /metrics-prot/ },
    {
      name: "lease timings in the wrong order",
      argv: ["--lease-duration=5s", "--renew-deadline=10s"],
      expect: /leaseDuration > renewDeadline > retryPeriod/,
    },
    {
      name: "console template that is no URL",
      env: { BATON_CONSOLE_URL_TEMPLATE: "console for {{name}}" },
      expect: /--console-url-template/,
    },
  ];
  for (const c of invalid) {
    it(`rejects ${c.name}, naming the flag and variable`, () => {
      const issues = errorsOf(() => load(c.argv, c.env));
      assert.ok(
        issues.some((i) => c.expect.test(i)),
        `no issue matched ${c.expect}: ${issues.join(" | ")}`,
      );
    });
  }

  it("reports every problem at once", () => {
    const issues = errorsOf(() => load([], { BATON_METRICS_PORT: "-1", BATON_LOG_LEVEL: "loud" }));
    assert.equal(issues.length, 2);
  });

  it("accepts a console URL template with placeholders", () => {
    const c = load([], {
      BATON_CONSOLE_URL_TEMPLATE: "https://console.example/k8s/ns/{{namespace}}/tekton.dev~v1~PipelineRun/{{ name }}",
    });
    assert.match(c.consoleUrlTemplate ?? "", /\{\{namespace\}\}/);
  });
});
