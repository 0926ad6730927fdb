// Runs Baton in-process against the shared control plane, scoped to one test's namespace, with the Bitbucket
// simulator as its Bitbucket. Every log line is captured so tests can check what users would read (and that no
// token ever appears in it).
import { Writable } from "node:stream";
import { createOperator, type Operator, type OperatorOptions } from "../../src/operator.ts";
import type { Clock } from "../../src/runtime/clock.ts";
import { configSchema } from "../../src/runtime/config.ts";
import { KubeClient } from "../../src/runtime/kube.ts";
import { createLogger } from "../../src/runtime/logger.ts";
import { type Simulator, type SimulatorOptions, startSimulator } from "../../src/simulator/index.ts";
import { useCluster } from "./cluster.ts";

export interface TestOperator extends Operator {
  /** Every log line the operator wrote, as parsed JSON. */
  logs: Record<string, unknown>[];
}

interface HasAfter {
  after(fn: () => Promise<void> | void): void;
}

export async function startOperator(
  t: HasAfter,
  namespace: string,
  overrides: Partial<Omit<OperatorOptions, "config">> & { config?: Record<string, string> } = {},
): Promise<TestOperator> {
  // As the ServiceAccount of a real installation, bound to exactly config/rbac: a missing verb fails the test.
  const { operatorKubeconfigPath } = await useCluster();
  const logs: Record<string, unknown>[] = [];
  const destination = new Writable({
    write(chunk, _encoding, done) {
      for (const line of String(chunk).split("\n")) if (line) logs.push(JSON.parse(line) as Record<string, unknown>);
      // BATON_TEST_LOGS=1 shows the operator's log while debugging a test.
      if (process.env.BATON_TEST_LOGS) process.stderr.write(chunk);
      done();
    },
  });
  const config = configSchema.parse({
    kubeconfig: operatorKubeconfigPath,
    watchNamespace: namespace,
    podName: `baton-test-${namespace}`,
    leaderElection: "false",
    metricsPort: "0",
    intakePort: "0",
    logLevel: "debug",
    // Tests talk to simulators on ports chosen at random; the allow-list's own tests narrow it.
    allowedServers: "*",
    ...overrides.config,
  });
  const { config: _ignored, ...rest } = overrides;
  const operator = createOperator({
    healthServer: false,
    logger: createLogger({ level: "debug", destination }),
    ...rest,
    config,
  });
  await operator.start();
  t.after(() => operator.stop());
  return Object.assign(operator, { logs });
}

/** A simulator for one test, closed after it. Its clock is the one tests advance to age tokens. */
export async function useSimulator(t: HasAfter, options: SimulatorOptions = {}): Promise<Simulator> {
  const sim = await startSimulator(options);
  t.after(() => sim.close());
  return sim;
}

/** The simulator's clock as the operator's domain clock: real timers, simulated "now". */
export function simulatorClock(sim: Simulator, base: Clock): Clock {
  return { now: () => sim.clock.now(), setTimeout: base.setTimeout.bind(base), sleep: base.sleep.bind(base) };
}

/** A Kubernetes client for the test itself, as the admin user (field manager "test", not "baton"). */
export async function testKube(): Promise<KubeClient> {
  const { kubeConfig } = await useCluster();
  return new KubeClient(kubeConfig, { fieldManager: "test" });
}
