// `make demo`: Baton's whole story on an embedded default — a real Kubernetes control plane with Tekton's CRDs, the
// Bitbucket Data Center simulator, and Baton itself (running as its own least-privilege ServiceAccount) — shown
// step by step. Everything is left running for exploration until Ctrl-C. `--ci` runs without pauses, asserts the
// final state and cleans up; `--cleanup` stops a previous demo.
import { execFile } from "node:child_process";
import { createWriteStream } from "node:fs";
import { mkdir, readFile, rm, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { parseArgs } from "node:util";
import { stringify } from "yaml";
import type { Repository } from "../src/api/repository.ts";
import type { BitbucketProjectToken } from "../src/api/token.ts";
import { intakePath } from "../src/events/intake.ts";
import { createOperator } from "../src/operator.ts";
import { managedCloneTokenName } from "../src/repositories/clonetoken.ts";
import { Repositories } from "../src/repositories/resource.ts";
import { configSchema } from "../src/runtime/config.ts";
import { KubeClient, Secrets } from "../src/runtime/kube.ts";
import { createLogger } from "../src/runtime/logger.ts";
import { seedDemo, startSimulator } from "../src/simulator/index.ts";
import { PipelineRuns } from "../src/status/reporter.ts";
import { Tokens } from "../src/tokens/reconciler.ts";
import {
  installCrds,
  kubeConfigFrom,
  kubectlPath,
  operatorKubeconfig,
  repoRoot,
  startControlPlane,
  stopControlPlaneAt,
  stopPid,
} from "./lib/controlplane.ts";
import { runCloudDemo } from "./lib/demo-cloud.ts";
import { bold, cell, dim, say, showing, step, waiting } from "./lib/narration.ts";
import { freePort } from "./lib/net.ts";
import { startTekton } from "./lib/tekton.ts";

const { values: flags } = parseArgs({
  options: {
    ci: { type: "boolean", default: false },
    cleanup: { type: "boolean", default: false },
    provider: { type: "string", default: "bitbucket-datacenter" },
  },
});
const dir = join(repoRoot, ".cache/demo");
const namespace = "ci";

if (!["bitbucket-datacenter", "bitbucket-cloud"].includes(flags.provider)) {
  console.error(`--provider is bitbucket-datacenter (the default) or bitbucket-cloud, not ${flags.provider}`);
  process.exit(2);
}
// A demo left running in another terminal is stopped as Ctrl-C stops it (its own clean-up); a control plane whose
// demo died without one is stopped by its record.
async function stopPrevious(): Promise<boolean> {
  const pid = Number(await readFile(join(dir, "demo.pid"), "utf8").catch(() => ""));
  // A pid recorded by a demo killed outright may belong to another program by now: only a demo is stopped.
  const cmdline = await readFile(`/proc/${pid}/cmdline`, "utf8").catch(() => "");
  const demo = pid !== process.pid && cmdline.includes("hack/demo.ts") && (await stopPid(pid));
  return (await stopControlPlaneAt(join(dir, "cluster"))) || demo;
}
if (flags.cleanup) {
  console.log((await stopPrevious()) ? "demo stopped" : "no demo was running");
  await rm(dir, { recursive: true, force: true });
  process.exit(0);
}

await stopPrevious();
await rm(dir, { recursive: true, force: true });
await mkdir(dir, { recursive: true });
await writeFile(join(dir, "demo.pid"), String(process.pid));
const cleanups: (() => Promise<void>)[] = [];
const cleanUp = async () => {
  for (const fn of cleanups.reverse()) await fn().catch(() => undefined);
  await rm(dir, { recursive: true, force: true });
};

function kubectl(args: string[]): Promise<string> {
  return new Promise((resolveOut, reject) => {
    execFile(kubectlPath, ["--kubeconfig", kubeconfig, ...args], (error, stdout, stderr) =>
      error ? reject(new Error(`kubectl ${args.join(" ")}: ${stderr || error.message}`)) : resolveOut(stdout),
    );
  });
}
/** Step 3 for every provider: Baton in-process, as its least-privilege ServiceAccount, trusting `allowedServers`. */
async function startBaton(allowedServers: string): Promise<{ metricsPort: number }> {
  step(
    "Start Baton",
    "As the ServiceAccount baton, bound to exactly config/rbac: the least privilege a real install gets.",
  );
  const intakePort = await freePort();
  const intakeUrl = `http://127.0.0.1:${intakePort}${intakePath}`;
  const metricsPort = await freePort();
  const operator = createOperator({
    config: configSchema.parse({
      kubeconfig: await operatorKubeconfig(kubeconfig),
      podName: "baton-demo",
      allowedServers,
      podNamespace: "baton-system",
      leaderElection: "false",
      intakePort: String(intakePort),
      intakeUrl,
      metricsPort: String(metricsPort),
      metricsBindAddress: "127.0.0.1",
      logLevel: "info",
    }),
    logger: createLogger({ level: "info", destination: createWriteStream(join(dir, "baton.log")) }),
  });
  await operator.start();
  cleanups.push(() => operator.stop());
  say(
    `webhook intake ${intakeUrl}\nmetrics        http://127.0.0.1:${metricsPort}/metrics\nlogs           ${join(dir, "baton.log")}`,
  );
  return { metricsPort };
}

/** The end for every provider: `--ci` cleans up and fails on any failure; otherwise everything stays up to explore. */
async function finish(failures: string[], tryThis: string): Promise<never> {
  if (flags.ci) {
    await cleanUp();
    if (failures.length) {
      console.error(`\ndemo failed:\n - ${failures.join("\n - ")}`);
      process.exit(1);
    }
    console.log("\ndemo passed");
    process.exit(0);
  }
  console.log(`\n${bold("Everything is still running.")} Try:\n\n${tryThis}`);
  const stop = async () => {
    await cleanUp();
    process.exit(0);
  };
  process.on("SIGINT", stop);
  process.on("SIGTERM", stop);
  return new Promise(() => setInterval(() => undefined, 1 << 30));
}

const until = waiting(join(dir, "baton.log"));
const show = showing(kubectl);

// 1 ─ Kubernetes
step(
  "A real Kubernetes control plane and the real Tekton Pipelines",
  "etcd, kube-apiserver, kube-controller-manager and kube-scheduler 1.36, built from source by hack/testenv; Tekton's controller and admission webhook v1.15.1; one kwok node.",
);
const controlPlane = await startControlPlane({ dir: join(dir, "cluster"), dieWithParent: true });
cleanups.push(() => controlPlane.stop());
const kubeconfig = controlPlane.kubeconfigPath;
await installCrds(kubeconfig);
const tekton = await startTekton(kubeconfig, controlPlane.dir, { dieWithParent: true });
cleanups.push(() => tekton.stop());
say("Pods are simulated: there is no container runtime, kwok plays the kubelet. The Tekton controller is real.");
const kube = new KubeClient(kubeConfigFrom(kubeconfig), { fieldManager: "demo" });
say(`API server at ${controlPlane.server}, with Baton's CRDs and Tekton Pipelines v1.15.1's real CRDs installed.`);

if (flags.provider === "bitbucket-cloud")
  await runCloudDemo({ dir, namespace, kube, kubeconfig, cleanups, startBaton, until, show, finish });

// 2 ─ Bitbucket
step(
  "A Bitbucket Data Center (the simulator)",
  "Project DEMO, repository hello with a .tekton/pull-request.yaml, a developer alice.",
);
const sim = await startSimulator({ dataDir: join(dir, "bitbucket") });
cleanups.push(() => sim.close());
const seed = await seedDemo(sim);
sim.createUser({ name: "alice", password: "alice-password", displayName: "Alice Developer" });
sim.grant({ permission: "REPO_WRITE", user: "alice", project: seed.project, repo: seed.repo });
say(`Bitbucket at ${sim.url}; repository ${sim.url}/projects/${seed.project}/repos/${seed.repo}`);

// 3 ─ Baton
const { metricsPort } = await startBaton(sim.url);

// 4 ─ GitOps objects
step("Commit a BitbucketProjectToken and a Repository", "What a platform team keeps in Git. Baton never writes spec.");
await kube.create(
  { apiVersion: "v1", kind: "Namespace", plural: "namespaces", namespaced: false },
  { apiVersion: "v1", kind: "Namespace", metadata: { name: namespace } },
);
await kube.create(Secrets, {
  apiVersion: "v1",
  kind: "Secret",
  metadata: { name: "bitbucket-project-admin", namespace },
  stringData: { username: seed.admin.name, password: seed.admin.password },
});
const token: BitbucketProjectToken = {
  apiVersion: "baton.dev/v1alpha1",
  kind: "BitbucketProjectToken",
  metadata: { name: "demo-ci", namespace },
  spec: {
    server: sim.url,
    project: seed.project,
    permissions: ["PROJECT_READ", "REPO_ADMIN"],
    lifetime: "720h",
    revocationGracePeriod: "2h",
    adminCredentialsRef: { name: "bitbucket-project-admin" },
    secretName: "demo-ci-token",
    deletionPolicy: "Revoke",
  },
};
const repository = {
  apiVersion: "baton.dev/v1alpha1",
  kind: "Repository",
  metadata: { name: seed.repo, namespace },
  spec: { url: `${sim.url}/projects/${seed.project}/repos/${seed.repo}`, tokenRef: { name: "demo-ci" } },
} as Repository;
say(dim(stringify(token.spec).trimEnd()));
await kube.create(Tokens, token);
await kube.create(Repositories, repository);

// 5 ─ Token
step(
  "Baton issues the project token",
  "Through Bitbucket's access-tokens API with the admin's credentials; stored in a Secret; renewed a third of the lifetime before expiry.",
);
await until("the token to be Ready", async () => {
  const t = await kube.get(Tokens, { namespace, name: "demo-ci" });
  return t?.status?.conditions?.some((c) => c.type === "Ready" && c.status === "True") ? t : undefined;
});
const tokens = await show(["get", "bbtoken", "-n", namespace]);

// 6 ─ Webhook
step(
  "Baton keeps the webhook in sync",
  "Created with a generated signing secret; repaired if someone edits it; deleted with the Repository.",
);
await until("the webhook to be synced", async () => {
  const r = await kube.get(Repositories, { namespace, name: seed.repo });
  return r?.status?.conditions?.some((c) => c.type === "WebhookSynced" && c.status === "True") ? r : undefined;
});
const repos = await show(["get", "bbrepo", "-n", namespace]);
const hook = sim.webhooks({ project: seed.project, repo: seed.repo })[0];
say(`Bitbucket now has webhook #${hook?.id} → ${hook?.url}\n  events: ${hook?.events.join(", ")}`);

// 7 ─ Pull request
step(
  "Alice opens a pull request",
  "Bitbucket delivers pr:opened, signed; Baton verifies it, reads .tekton at the head commit and creates the PipelineRun.",
);
await sim.push({
  project: seed.project,
  repo: seed.repo,
  branch: "feature/greeting",
  files: { "greeting.txt": "hello, Baton\n" },
  message: "Add a greeting",
  as: "alice",
});
const pr = await sim.openPullRequest({
  project: seed.project,
  repo: seed.repo,
  from: { branch: "feature/greeting" },
  title: "Add a greeting",
  as: "alice",
});
say(`pull request #${pr.id} "${pr.title}" from feature/greeting into main`);
const run = await until("the PipelineRun", async () => {
  const list = await kube.list(PipelineRuns, { namespace, labelSelector: `baton.dev/repository=${seed.repo}` });
  return list.items[0];
});
const runName = run.metadata?.name ?? "";
await show(["get", "pipelineruns", "-n", namespace, "-L", "baton.dev/pipeline,baton.dev/pull-request"]);
// Read the way a person would write it: kubernetes-fluent-client's fluent API, on the admin kubeconfig.
process.env.KUBECONFIG = kubeconfig;
const { K8s, kind } = await import("kubernetes-fluent-client");
const gitSecret = await until("the run's git Secret", async () => {
  const list = await K8s(kind.Secret).InNamespace(namespace).Get();
  return list.items.find((s) =>
    s.metadata?.ownerReferences?.some((o) => o.kind === "PipelineRun" && o.name === runName),
  );
});
const gitconfig = Buffer.from(gitSecret.data?.[".gitconfig"] ?? "", "base64").toString();
say(
  `its git credentials: Secret ${gitSecret.metadata?.name} (owned by the run, garbage-collected with it), keys ${Object.keys(gitSecret.data ?? {}).join(", ")}`,
);
say(dim(gitconfig.replace(/Bearer [^\s"]+/, "Bearer ******").trimEnd()));
say("A Bearer header, not Basic credentials: the only way git accepts a project token.");

// 8 ─ Build status
step(
  "The run finishes; Bitbucket shows the result",
  "INPROGRESS when created, SUCCESSFUL when done, under one key per pipeline.",
);
say(dim("(Tekton's real controller runs it: a TaskRun and its Pod on kwok's simulated node, which ends the step.)"));
const status = await until("the SUCCESSFUL build status", () =>
  sim.buildStatuses({ project: seed.project, repo: seed.repo }).find((s) => s.state === "SUCCESSFUL"),
);
const taskRuns = await show(["get", "taskruns,pods", "-n", namespace, "-o", "wide"]);
say(
  `Bitbucket build status on ${status.commit.slice(0, 12)}: ${bold(status.state)} "${status.name}" — ${status.description} (${(status.duration ?? 0) / 1000}s)\n  link: ${status.url}`,
);
const lastRun = await until(
  "the Repository's lastRun",
  async () => {
    const r = await kube.get(Repositories, { namespace, name: seed.repo });
    return r?.status?.lastRun?.status === "Succeeded" ? r : undefined;
  },
  30_000,
);
await show(["get", "bbrepo", "-n", namespace]);

const failures: string[] = [];
if (cell(tokens, "demo-ci", "READY") !== "True" || !/^\d{4}-/.test(cell(tokens, "demo-ci", "EXPIRES") ?? ""))
  failures.push("kubectl get bbtoken does not show demo-ci Ready with its expiry");
if (cell(repos, seed.repo, "READY") !== "True" || cell(repos, seed.repo, "WEBHOOK") !== "True")
  failures.push("kubectl get bbrepo does not show hello Ready with its webhook synced");
// git writes the value quoted: extraHeader = "Authorization: Bearer <token>"
if (!/extraHeader = "?Authorization: Bearer [^\s"]+/i.test(gitconfig))
  failures.push("the run's .gitconfig carries no Bearer header");
if (status.state !== "SUCCESSFUL") failures.push("Bitbucket did not receive SUCCESSFUL");
if (!/taskrun\.tekton\.dev\/\S+\s+True\s+Succeeded/.test(taskRuns) || !/Completed.*kwok-node/.test(taskRuns))
  failures.push("kubectl shows no succeeded TaskRun with its Pod on the kwok node");
if (lastRun.status?.lastRun?.name !== runName) failures.push("the Repository's lastRun does not name the run");
await finish(
  failures,
  `  export KUBECONFIG=${kubeconfig}
  ${kubectlPath} describe bbtoken demo-ci -n ${namespace}      # the token's story, as Events
  ${kubectlPath} get baton,pipelineruns -n ${namespace}
  curl -s http://127.0.0.1:${metricsPort}/metrics | grep ^baton_token
  # clone as the runs do: with the read-only clone token Baton issued for ${seed.repo}, read from its Secret
  git -c http.extraHeader="Authorization: Bearer $(${kubectlPath} get secret ${managedCloneTokenName(seed.repo)}-token -n ${namespace} -o jsonpath='{.data.token}' | base64 -d)" clone ${seed.cloneUrl}

Edit or delete the webhook in Bitbucket (${sim.url}/_sim/webhooks) and watch Baton repair it; delete the Repository
and watch the webhook go. Press Ctrl-C to stop and clean up (or run: npm run demo -- --cleanup).`,
);
