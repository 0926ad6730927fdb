// `make demo PROVIDER=bitbucket-cloud`: the demo's story on the Bitbucket Cloud simulator. Cloud has no API to issue
// access tokens, so the story starts from a repository access token someone made by hand, kept in a Secret; Baton
// creates the repository webhook with it, runs the pull request's PipelineRun (resolving the 12-hex hashes Cloud's
// webhooks carry) and posts the build status back. Steps 1 and 3 (Kubernetes, Baton) are hack/demo.ts's.
import { join } from "node:path";
import { stringify } from "yaml";
import type { Repository } from "../../src/api/repository.ts";
import { Repositories } from "../../src/repositories/resource.ts";
import { type KubeClient, Namespaces, Secrets } from "../../src/runtime/kube.ts";
import { seedCloudDemo, startCloudSimulator } from "../../src/simulator/bitbucket-cloud/index.ts";
import { PipelineRuns } from "../../src/status/reporter.ts";
import { kubectlPath } from "./controlplane.ts";
import { bold, cell, dim, say, step, type Until } from "./narration.ts";

export interface DemoStage {
  dir: string;
  namespace: string;
  kube: KubeClient;
  kubeconfig: string;
  cleanups: (() => Promise<void>)[];
  startBaton(allowedServers: string): Promise<{ metricsPort: number }>;
  until: Until;
  show(args: string[]): Promise<string>;
  finish(failures: string[], tryThis: string): Promise<never>;
}

const hasCondition = (r: Repository | undefined, type: string) =>
  r?.status?.conditions?.some((c) => c.type === type && c.status === "True") ?? false;

export async function runCloudDemo(stage: DemoStage): Promise<never> {
  const { namespace, kube, until, show } = stage;

  // 2 ─ Bitbucket Cloud
  step(
    "A Bitbucket Cloud (the simulator)",
    "Workspace demo, project DEMO, repository hello with a .tekton/pull-request.yaml, a developer alice.",
  );
  const sim = await startCloudSimulator({ dataDir: join(stage.dir, "bitbucket-cloud") });
  stage.cleanups.push(() => sim.close());
  const seed = await seedCloudDemo(sim);
  const where = { workspace: seed.workspace, repo: seed.repo };
  sim.createUser({ nickname: "alice", displayName: "Alice Developer" });
  sim.addMember({ workspace: seed.workspace, user: "alice" });
  say(`Bitbucket Cloud at ${sim.url} (REST under /2.0); repository ${sim.url}/${seed.workspace}/${seed.repo}`);

  // 3 ─ Baton
  const { metricsPort } = await stage.startBaton(sim.url);

  // 4 ─ GitOps objects
  step(
    "Store a repository access token and commit a Repository",
    "Cloud has no API that issues access tokens: a repository admin creates one by hand (Repository settings → Access tokens) and a Secret holds it. Baton only reads it: nothing on Cloud can issue or renew it.",
  );
  // Runs get a second, read-only token: every pipeline step can read the one it clones with.
  const clone = sim.createToken({
    kind: "repository",
    ...where,
    name: "demo-read",
    scopes: ["repository"],
    expiresInDays: 90,
  });
  for (const [key, t] of [
    ["token", seed.token],
    ["clone", clone],
  ] as const)
    say(
      `${key}: access token "${t.name}", scopes ${t.scopes.join(", ")}, expires ${t.expiresAt === null ? "never" : new Date(t.expiresAt).toISOString()}`,
    );
  await kube.create(Namespaces, { apiVersion: "v1", kind: "Namespace", metadata: { name: namespace } });
  await kube.create(Secrets, {
    apiVersion: "v1",
    kind: "Secret",
    metadata: { name: "bitbucket-cloud-token", namespace },
    stringData: { token: seed.token.token, clone: clone.token },
  });
  await show(["get", "secret", "bitbucket-cloud-token", "-n", namespace]);
  const repository = {
    apiVersion: "baton.dev/v1alpha1",
    kind: "Repository",
    metadata: { name: seed.repo, namespace },
    spec: {
      url: `${sim.url}/${seed.workspace}/${seed.repo}`,
      provider: "bitbucket-cloud",
      secretRef: { name: "bitbucket-cloud-token", key: "token" },
      cloneTokenRef: { kind: "Secret", name: "bitbucket-cloud-token", key: "clone" },
      pipelines: { path: ".tekton" },
    },
  } as Repository;
  say(dim(stringify(repository.spec).trimEnd()));
  await kube.create(Repositories, repository);

  // 5 ─ Webhook
  step(
    "Baton checks the token and creates the webhook",
    "Through Cloud's 2.0 hooks API, with a generated signing secret (Cloud only ever says secret_set); repaired if edited, deleted with the Repository.",
  );
  await until("the Repository to be Ready with its webhook", async () => {
    const r = await kube.get(Repositories, { namespace, name: seed.repo });
    return hasCondition(r, "Ready") && hasCondition(r, "WebhookSynced") ? r : undefined;
  });
  const repos = await show(["get", "bbrepo", "-n", namespace]);
  const hook = sim.webhooks(where)[0] as
    | { uuid: string; url: string; events: string[]; secret_set: boolean }
    | undefined;
  say(`Bitbucket Cloud now has webhook ${hook?.uuid} → ${hook?.url}\n  events: ${hook?.events.join(", ")}`);
  say(`  secret_set: ${hook?.secret_set}`);

  // 6 ─ Pull request
  step(
    "Alice opens a pull request",
    "Cloud delivers pullrequest:created, signed; its payload names commits by 12-hex abbreviations, which Baton resolves to full hashes before it reads .tekton and creates the PipelineRun.",
  );
  await sim.push({
    ...where,
    branch: "feature/greeting",
    files: { "greeting.txt": "hello, Baton\n" },
    message: "Add a greeting",
    as: "alice",
  });
  const pr = (await sim.openPullRequest({
    ...where,
    title: "Add a greeting",
    sourceBranch: "feature/greeting",
    author: "alice",
  })) as { id: number; title: string; source: { commit: { hash: string } } };
  const head = pr.source.commit.hash;
  say(`pull request #${pr.id} "${pr.title}" from feature/greeting into main; the webhook says ${head.slice(0, 12)}`);
  const run = await until("the PipelineRun", async () => {
    const list = await kube.list(PipelineRuns, { namespace, labelSelector: `baton.dev/repository=${seed.repo}` });
    return list.items[0];
  });
  const runName = run.metadata?.name ?? "";
  const runSha = run.metadata?.labels?.["baton.dev/sha"] ?? "";
  await show(["get", "pipelineruns", "-n", namespace, "-L", "baton.dev/pull-request,baton.dev/sha"]);
  say(`resolved: ${head.slice(0, 12)} → ${runSha}`);
  const gitSecret = await until("the run's git Secret", async () =>
    (await kube.list(Secrets, { namespace })).items.find((s) =>
      s.metadata?.ownerReferences?.some((o) => o.kind === "PipelineRun" && o.name === runName),
    ),
  );
  const file = (key: string) => Buffer.from(gitSecret.data?.[key] ?? "", "base64").toString();
  const credentials = file(".git-credentials");
  say(
    `its git credentials: Secret ${gitSecret.metadata?.name} (owned by the run, garbage-collected with it), keys ${Object.keys(gitSecret.data ?? {}).join(", ")}`,
  );
  say(dim(file(".gitconfig").trimEnd()));
  say(dim(credentials.replace(/(x-token-auth:)[^@\s]+@/, "$1******@").trimEnd()));
  say(
    "Basic credentials with the fixed user x-token-auth (the only way Cloud's git takes an access token), holding the read-only token.",
  );

  // 7 ─ Build status
  step(
    "The run finishes; Bitbucket Cloud shows the result",
    "INPROGRESS when created, SUCCESSFUL when done, under one key per pipeline, on the full commit hash.",
  );
  say(dim("(Tekton's real controller runs it: a TaskRun and its Pod on kwok's simulated node, which ends the step.)"));
  const status = await until("the SUCCESSFUL build status", () =>
    sim.buildStatuses(where).find((s) => s.state === "SUCCESSFUL"),
  );
  const taskRuns = await show(["get", "taskruns,pods", "-n", namespace, "-o", "wide"]);
  say(
    `Bitbucket Cloud build status on ${status.commit}: ${bold(status.state)} "${status.name}" — ${status.description}\n  link: ${status.url}`,
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
  if (cell(repos, seed.repo, "READY") !== "True" || cell(repos, seed.repo, "WEBHOOK") !== "True")
    failures.push("kubectl get bbrepo does not show hello Ready with its webhook synced");
  if (!hook?.url.endsWith("/hooks/bitbucket-cloud") || !hook.secret_set)
    failures.push("Cloud has no signed webhook to Baton's Cloud intake");
  if (!/^[0-9a-f]{40}$/.test(runSha) || !runSha.startsWith(head.slice(0, 12)))
    failures.push("the run's sha is not the pull request's full head hash");
  if (!new RegExp(`^https?://x-token-auth:${encodeURIComponent(clone.token)}@`).test(credentials))
    failures.push("the run's .git-credentials do not carry x-token-auth with the read-only clone token");
  if (status.commit !== runSha) failures.push("Bitbucket Cloud's build status is not on the run's commit");
  if (!/taskrun\.tekton\.dev\/\S+\s+True\s+Succeeded/.test(taskRuns) || !/Completed.*kwok-node/.test(taskRuns))
    failures.push("kubectl shows no succeeded TaskRun with its Pod on the kwok node");
  if (lastRun.status?.lastRun?.name !== runName) failures.push("the Repository's lastRun does not name the run");
  return stage.finish(
    failures,
    `  export KUBECONFIG=${stage.kubeconfig}
  ${kubectlPath} describe bbrepo ${seed.repo} -n ${namespace}      # the Repository's story, as Events
  ${kubectlPath} get baton,pipelineruns -n ${namespace}
  curl -s http://127.0.0.1:${metricsPort}/metrics | grep ^baton_
  git clone ${seed.cloneUrl}      # user x-token-auth, password: key clone of Secret bitbucket-cloud-token

Edit or delete the webhook in Bitbucket Cloud (${sim.url}/_sim/webhooks) and watch Baton
repair it; delete the Repository and watch the webhook go. Press Ctrl-C to stop and clean up (or run:
npm run demo -- --cleanup).`,
  );
}
