// GitHub App worlds for operator tests: the GitHub simulator (served as an Enterprise Server, `provider: github`),
// an organisation with an App installed on it, the App's key in a Secret, and Baton started against a real API
// server with the simulator's clock as its domain clock (real timers, simulated "now"). `githubWorld` adds the
// end-to-end tests' cast: a Repository `hello` naming the App, its collaborator, another repository, a frozen clock.
import assert from "node:assert/strict";
import { freePort } from "../../hack/lib/net.ts";
import type { OperatorOptions } from "../../src/operator.ts";
import { type PipelineRun, PipelineRuns } from "../../src/pipelines/tekton.ts";
import { appPermissionsUsed } from "../../src/providers/github/app-tokens.ts";
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
import { tempDir } from "../../src/simulator/testing.ts";
import { cloneRun } from "./clone-run.ts";
import { createNamespace } from "./cluster.ts";
import { startOperator, type TestOperator, testKube } from "./operator.ts";
import { waitFor } from "./wait.ts";

interface HasAfter {
  after(fn: () => Promise<void> | void): void;
}

type Conditioned = { status?: { conditions?: { type: string; status: string; reason?: string; message?: string }[] } };

export const condition = (r: Conditioned | undefined, type: string) =>
  r?.status?.conditions?.find((c) => c.type === type);

/** The simulator's `Date` header is the machine's time, so a frozen clock starts there (see simulator.test.ts). */
export function frozenClock(): GitHubSimulatorOptions {
  return { clock: { start: Math.floor(Date.now() / 1000) * 1000, frozen: true } };
}

/** The GitHub simulator and Baton against the test's namespace; accounts, Apps and tokens are each test's own. */
export interface GitHubOperatorWorld {
  sim: GitHubSimulator;
  kube: KubeClient;
  ns: string;
  op: TestOperator;
  /** Where Baton's intake takes GitHub's deliveries (BATON_INTAKE_URL's origin with `/hooks/github`). */
  intakeUrl: string;
  /** A Secret in the test's namespace. */
  secret(name: string, data: Record<string, string>, annotations?: Record<string, string>): Promise<void>;
  /** The Events on an object, as `reason: message`. */
  events(name: string): Promise<{ type: string; reason: string; message: string }[]>;
  /** The PipelineRuns whose `revision` param is `sha` (waits for at least one). */
  runsAt(sha: string): Promise<PipelineRun[]>;
  /** The token in a run's git Secret (Basic `x-access-token`, as GitHub's git takes it). */
  runToken(run: { metadata?: { annotations?: Record<string, string> } }): Promise<string>;
}

export type OperatorWorldOptions = {
  operator?: Partial<Omit<OperatorOptions, "config">> & { config?: Record<string, string> };
  simulator?: GitHubSimulatorOptions;
};

export async function githubOperatorWorld(
  scope: HasAfter,
  options: OperatorWorldOptions = {},
): Promise<GitHubOperatorWorld> {
  const ns = await createNamespace(scope);
  const sim = await startGitHubSimulator(options.simulator ?? {});
  scope.after(() => sim.close());
  const kube = await testKube();
  const port = await freePort();
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
  return {
    sim,
    kube,
    ns,
    op,
    intakeUrl: `http://127.0.0.1:${port}/hooks/github`,
    async secret(name, data, annotations) {
      await kube.create(Secrets, {
        apiVersion: "v1",
        kind: "Secret",
        metadata: { name, namespace: ns, ...(annotations ? { annotations } : {}) },
        stringData: data,
      });
    },
    async events(name) {
      const { items } = await kube.list(Events, { namespace: ns });
      return items
        .filter((e) => e.involvedObject?.name === name)
        .map((e) => ({ type: e.type ?? "", reason: e.reason ?? "", message: e.message ?? "" }));
    },
    runsAt: (sha) =>
      waitFor(
        async () => {
          const { items } = await kube.list(PipelineRuns, { namespace: ns });
          const at = items.filter((r) =>
            ((r.spec?.params ?? []) as { name: string; value: string }[]).some(
              (p) => p.name === "revision" && p.value === sha,
            ),
          );
          return at.length > 0 ? at : undefined;
        },
        { message: `a PipelineRun at ${sha.slice(0, 8)}` },
      ),
    async runToken(run) {
      const name = run.metadata?.annotations?.["pipelinesascode.tekton.dev/git-auth-secret"] ?? "";
      const secret = await kube.get(Secrets, { namespace: ns, name });
      const line = Buffer.from(secret?.data?.[".git-credentials"] ?? "", "base64").toString();
      const match = /^https?:\/\/x-access-token:([^@]+)@/.exec(line);
      assert.ok(match?.[1], "the git Secret holds Basic x-access-token credentials");
      return decodeURIComponent(match[1]);
    },
  };
}

/** The operator world with the organisation `octo-org`, an App installed on it, and the App's key in a Secret. */
export interface GitHubAppWorld extends GitHubOperatorWorld {
  app: AppView;
  /** A Repository of the App on a new `octo-org/<name>` (created in the simulator first, with `files`). */
  repository(name: string, spec?: Record<string, unknown>, files?: Record<string, string>): Promise<void>;
}

export const appPermissions: PermissionSet = { ...appPermissionsUsed };

export async function githubAppWorld(
  scope: HasAfter,
  options: OperatorWorldOptions & {
    webhookSecret: string;
    /** The App's webhook URL at the start; default Baton's intake. */
    webhookUrl?: (intakeUrl: string) => string;
  },
): Promise<GitHubAppWorld> {
  const world = await githubOperatorWorld(scope, options);
  const { sim, kube, ns, intakeUrl } = world;
  sim.createAccount({ login: "octo-org", type: "Organization" });
  const app = sim.createApp({
    name: "Baton",
    owner: "octo-org",
    permissions: appPermissions,
    events: ["push", "pull_request", "issue_comment"],
    webhook: { url: options.webhookUrl?.(intakeUrl) ?? intakeUrl, secret: options.webhookSecret },
  });
  sim.install({ appId: app.id, account: "octo-org", permissions: appPermissions });
  await world.secret("app-key", { "private-key.pem": app.privateKey });
  return {
    ...world,
    app,
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
  };
}

/** One pipeline for pull requests and pushes to main, with the run's git Secret bound as `basic-auth`. */
export const githubPipeline = cloneRun(["main"]);

export const webhookSecret = "hoọk-sécret-🔑";

export interface GitHubWorld extends GitHubAppWorld {
  /** A scratch directory (git's HOME and clones). */
  home: string;
}

/**
 * The App world with its clock frozen (the test advances it), `mona` a writer on `octo-org/hello`, `forker`, and
 * `octo-org/secret-sauce` that no run may read. `spec` is merged into the `hello` Repository's spec (e.g.
 * `pipelines.concurrencyLimit`).
 */
export async function githubWorld(t: HasAfter, options: { spec?: Record<string, unknown> } = {}): Promise<GitHubWorld> {
  const home = await tempDir("baton-github-op-");
  t.after(() => home.remove());
  const world = await githubAppWorld(t, {
    webhookSecret,
    simulator: frozenClock(),
  });
  const { sim } = world;
  sim.createAccount({ login: "mona" });
  sim.createAccount({ login: "forker" });
  await sim.createRepository({ owner: "octo-org", name: "secret-sauce", files: { "recipe.txt": "salt\n" } });
  await world.secret("hook", { secret: webhookSecret });
  await world.repository(
    "hello",
    { webhook: { managed: false, scope: "repository", secretRef: { name: "hook", key: "secret" } }, ...options.spec },
    { ".tekton/build.yaml": githubPipeline, "README.md": "# hello\n" },
  );
  sim.setCollaborator({ owner: "octo-org", repo: "hello", login: "mona", role: "write" });
  await sim.settled();
  return { ...world, home: home.path };
}
