// Runs Baton in-process against the shared control plane, scoped to one test's namespace, with the Bitbucket
// simulator as its Bitbucket. Every log line is captured so tests can check what users would read (and that no
// token ever appears in it).
import { type ChildProcess, spawn } from "node:child_process";
import { Writable } from "node:stream";
import { freePort } from "../../hack/lib/net.ts";
import { createOperator, type Operator, type OperatorOptions } from "../../src/operator.ts";
import type { Clock } from "../../src/runtime/clock.ts";
import { configSchema } from "../../src/runtime/config.ts";
import { KubeClient } from "../../src/runtime/kube.ts";
import { createLogger } from "../../src/runtime/logger.ts";
import { type Simulator, type SimulatorOptions, startSimulator } from "../../src/simulator/index.ts";
import { useCluster } from "./cluster.ts";
import { waitFor } from "./wait.ts";

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

export interface OperatorProcess {
  child: ChildProcess;
  /** Every line it wrote to stdout and stderr. */
  logs: string[];
  /** Its exit code (null when a signal ended it). */
  exited: Promise<number | null>;
  intakePort: number;
  /** /readyz's status code. */
  readyz(): Promise<number>;
}

/**
 * The operator as a process (src/main.ts, as the image runs it), for what only a process shows: signals, exit codes,
 * a kill at the worst moment. Scoped to `namespace`, without leader election, as the ServiceAccount bound to
 * config/rbac; `env` adds or overrides settings. Resolves once /readyz answers 200; killed after the test.
 */
export async function spawnOperator(
  t: HasAfter,
  namespace: string,
  env: Record<string, string> = {},
): Promise<OperatorProcess> {
  const { operatorKubeconfigPath } = await useCluster();
  const [healthPort, intakePort] = [await freePort(), await freePort()];
  const logs: string[] = [];
  const child = spawn(process.execPath, ["src/main.ts"], {
    env: {
      ...process.env,
      BATON_KUBECONFIG: operatorKubeconfigPath,
      BATON_WATCH_NAMESPACE: namespace,
      POD_NAME: `baton-${namespace}`,
      BATON_LEADER_ELECT: "false",
      BATON_METRICS_BIND_ADDRESS: "127.0.0.1",
      BATON_METRICS_PORT: String(healthPort),
      BATON_INTAKE_PORT: String(intakePort),
      BATON_LOG_LEVEL: "info",
      ...env,
    },
    stdio: ["ignore", "pipe", "pipe"],
  });
  const exited = new Promise<number | null>((resolve) => child.once("exit", (code) => resolve(code)));
  t.after(() => {
    if (child.exitCode === null && child.signalCode === null) child.kill("SIGKILL");
  });
  for (const stream of [child.stdout, child.stderr]) {
    stream?.setEncoding("utf8");
    stream?.on("data", (chunk: string) => {
      logs.push(...chunk.split("\n").filter(Boolean));
      if (process.env.BATON_TEST_LOGS) process.stderr.write(chunk);
    });
  }
  const readyz = async () => (await fetch(`http://127.0.0.1:${healthPort}/readyz`)).status;
  await waitFor(async () => (await readyz().catch(() => 0)) === 200, {
    message: "the operator process to be ready",
    timeout: 60_000,
  });
  return { child, logs, exited, intakePort, readyz };
}
