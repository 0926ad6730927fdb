// A GitHub App world for operator tests: the GitHub simulator (served as an Enterprise Server, `provider: github`),
// an organisation with an App installed on it, the App's key in a Secret, and Baton started against a real API
// server with the simulator's clock as its domain clock (real timers, simulated "now").
import { freePort } from "../../hack/lib/net.ts";
import type { OperatorOptions } from "../../src/operator.ts";
import { Repositories } from "../../src/repositories/resource.ts";
import { realClock } from "../../src/runtime/clock.ts";
import { Events, type KubeClient, Secrets } from "../../src/runtime/kube.ts";
import type { AppView } from "../../src/simulator/github/control.ts";
import {
  type GitHubSimulator,
  type GitHubSimulatorOptions,
  startGitHubSimulator,
} from "../../src/simulator/github/index.ts";
import type { PermissionSet } from "../../src/simulator/github/permissions.ts";
import { createNamespace } from "./cluster.ts";
import { startOperator, type TestOperator, testKube } from "./operator.ts";

interface HasAfter {
  after(fn: () => Promise<void> | void): void;
}

export interface GitHubAppWorld {
  sim: GitHubSimulator;
  kube: KubeClient;
  ns: string;
  op: TestOperator;
  app: AppView;
  /** Where Baton's intake takes GitHub's deliveries. */
  intakeUrl: string;
  /** A Secret in the test's namespace. */
  secret(name: string, data: Record<string, string>): Promise<void>;
  /** A Repository of the App on a new `octo-org/<name>` (created in the simulator first, with `files`). */
  repository(name: string, spec?: Record<string, unknown>, files?: Record<string, string>): Promise<void>;
  /** The Events on a Repository, as `reason: message`. */
  events(name: string): Promise<{ type: string; reason: string; message: string }[]>;
}

export const appPermissions: PermissionSet = {
  contents: "read",
  metadata: "read",
  statuses: "write",
  checks: "write",
  pull_requests: "write",
  issues: "write",
};

export async function githubAppWorld(
  scope: HasAfter,
  options: {
    webhookSecret: string;
    /** The App's webhook URL at the start; default Baton's intake. */
    webhookUrl?: (intakeUrl: string) => string;
    operator?: Partial<Omit<OperatorOptions, "config">> & { config?: Record<string, string> };
    simulator?: GitHubSimulatorOptions;
  },
): Promise<GitHubAppWorld> {
  const ns = await createNamespace(scope);
  const sim = await startGitHubSimulator(options.simulator ?? {});
  scope.after(() => sim.close());
  const kube = await testKube();
  const port = await freePort();
  const intakeUrl = `http://127.0.0.1:${port}/hooks/github`;
  const op = await startOperator(scope, ns, {
    domainClock: { now: () => sim.clock.now(), setTimeout: realClock.setTimeout, sleep: realClock.sleep },
    catchUp: async () => ({ started: false, detail: "off" }),
    ...options.operator,
    config: {
      intakeUrl: `http://127.0.0.1:${port}/hooks/bitbucket`,
      intakePort: String(port),
      podNamespace: ns,
      ...options.operator?.config,
    },
  });
  sim.createAccount({ login: "octo-org", type: "Organization" });
  const app = sim.createApp({
    name: "Baton",
    owner: "octo-org",
    permissions: appPermissions,
    events: ["push", "pull_request", "issue_comment"],
    webhook: { url: options.webhookUrl?.(intakeUrl) ?? intakeUrl, secret: options.webhookSecret },
  });
  sim.install({ appId: app.id, account: "octo-org", permissions: appPermissions });
  const secret = async (name: string, data: Record<string, string>) => {
    await kube.create(Secrets, {
      apiVersion: "v1",
      kind: "Secret",
      metadata: { name, namespace: ns },
      stringData: data,
    });
  };
  await secret("app-key", { "private-key.pem": app.privateKey });
  return {
    sim,
    kube,
    ns,
    op,
    app,
    intakeUrl,
    secret,
    async repository(name, spec = {}, files = { "README.md": `# ${name}\n` }) {
      await sim.createRepository({ owner: "octo-org", name, files });
      await kube.create(Repositories, {
        apiVersion: "baton.dev/v1alpha1",
        kind: "Repository",
        metadata: { name, namespace: ns },
        spec: {
          url: `${sim.url}/octo-org/${name}`,
          provider: "github",
          githubApp: { appId: String(app.id), privateKeyRef: { name: "app-key" } },
          ...spec,
        },
      } as never);
    },
    async events(name) {
      const { items } = await kube.list(Events, { namespace: ns });
      return items
        .map((e) => e as { type?: string; involvedObject?: { name?: string }; reason?: string; message?: string })
        .filter((e) => e.involvedObject?.name === name)
        .map((e) => ({ type: e.type ?? "", reason: e.reason ?? "", message: e.message ?? "" }));
    },
  };
}
