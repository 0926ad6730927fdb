// The operator is killed in the middle of a storm of pull-request events and a new one takes over. Bitbucket never
// retries a delivery, so everything sent while no operator answered is lost for good; catch-up at start-up (open
// pull requests whose head has neither a run nor a build status) must start what was lost, and the run-key label
// must keep anything from starting twice. What a user sees: every open pull request's head commit has exactly one
// run of each pipeline, and every delivery Bitbucket shows as successful has its runs.
import assert from "node:assert/strict";
import { test } from "node:test";
import { fetch as undiciFetch } from "undici";
import { freePort } from "../../hack/lib/net.ts";
import type { Repository } from "../../src/api/repository.ts";
import { labels } from "../../src/pipelines/build.ts";
import { PipelineRuns } from "../../src/pipelines/tekton.ts";
import { Repositories } from "../../src/repositories/resource.ts";
import { realClock } from "../../src/runtime/clock.ts";
import { Secrets } from "../../src/runtime/kube.ts";
import { createNamespace } from "../support/cluster.ts";
import { simulatorClock, startOperator, testKube, useSimulator } from "../support/operator.ts";
import { allEvents, lintRun, prRun } from "../support/pipelines-world.ts";
import { waitFor } from "../support/wait.ts";

const repositories = ["r0", "r1", "r2", "r3", "r4"];
const pullRequestsPerRepository = 6;
const pipelines = ["build", "lint"];

test("operator killed mid-storm: every open pull request head gets exactly one run per pipeline", async (t) => {
  const ns = await createNamespace(t);
  // A delivery to an operator that hangs is given up after 5 s (not the simulator's 10 s, to keep the test short).
  const sim = await useSimulator(t, { deliveryTimeoutMs: 5_000 });
  sim.createUser({ name: "admin", password: "admin-password", admin: true });
  sim.createUser({ name: "dev", password: "dev-password" });
  sim.createProject({ key: "PRJ" });
  const operatorToken = sim.createToken({
    scope: { kind: "project", project: "PRJ" },
    name: "baton",
    permissions: ["REPO_READ"],
  }).token;
  const webhookSecret = "storm-webhook-secret-9f3a";
  const kube = await testKube();
  const secret = (name: string, data: Record<string, string>) =>
    kube.create(Secrets, { apiVersion: "v1", kind: "Secret", metadata: { name, namespace: ns }, stringData: data });
  await Promise.all([secret("bb-token", { token: operatorToken }), secret("hook", { secret: webhookSecret })]);

  // The intake comes back on the same address after the restart, as a Service in front of the pods would.
  const port = await freePort();
  const intakeUrl = `http://127.0.0.1:${port}/hooks/bitbucket`;
  for (const slug of repositories) {
    await sim.createRepository({
      project: "PRJ",
      slug,
      files: { "README.md": `# ${slug}\n`, ".tekton/build.yaml": prRun, ".tekton/lint.yaml": lintRun },
    });
    sim.grant({ permission: "REPO_WRITE", user: "dev", project: "PRJ", repo: slug });
    sim.createWebhook({
      project: "PRJ",
      repo: slug,
      name: "baton",
      url: intakeUrl,
      events: allEvents,
      configuration: { secret: webhookSecret },
    });
    await kube.create(Repositories, {
      apiVersion: "baton.dev/v1alpha1",
      kind: "Repository",
      metadata: { name: slug, namespace: ns },
      spec: {
        url: `${sim.url}/projects/PRJ/repos/${slug}`,
        secretRef: { name: "bb-token", key: "token" },
        webhook: { managed: false, scope: "repository", secretRef: { name: "hook", key: "secret" } },
        // About restarts, not clone tokens: the runs get the operator's token by the explicit opt-in.
        pipelines: { path: ".tekton", cloneWithOperatorToken: true },
        params: [{ name: "greeting", value: "storm" }],
      },
    } as Repository);
  }

  // Catch-up stays on (pipelinesWorld turns it off) and passes often, so it races the intake all along.
  const options = {
    domainClock: simulatorClock(sim, realClock),
    catchUpInterval: 3_000,
    // The default budget of 5 Bitbucket requests/s would make every delivery of the storm wait in its queue.
    config: { intakePort: String(port), podNamespace: ns, shutdownTimeout: "1s", bitbucketRequestsPerSecond: "100" },
  };
  // The first operator dies: from the kill on, none of its requests reaches the API server, as if the process were
  // gone; requests already on the wire complete (they were sent). Its intake stops listening.
  let dead = false;
  const cut: typeof undiciFetch = (input, init) => {
    if (!dead) return undiciFetch(input, init);
    return new Promise((_resolve, reject) => {
      init?.signal?.addEventListener("abort", () => reject(init.signal?.reason), { once: true });
    });
  };
  const first = await startOperator(t, ns, { ...options, kubeClientOptions: { fetch: cut as never } });
  await waitFor(
    async () =>
      (await kube.list(Repositories, { namespace: ns })).items.every((r) =>
        r.status?.conditions?.some((c) => c.type === "Ready" && c.status === "True"),
      ),
    { message: "every Repository Ready", timeout: 30_000 },
  );

  // Per repository: open pull requests one after another, and after each, push a new commit to the previous one.
  const opened = new Map<string, number[]>();
  let steps = 0;
  const totalSteps = repositories.length * (2 * pullRequestsPerRepository - 1);
  const storm = Promise.all(
    repositories.map(async (slug) => {
      const ids: number[] = [];
      opened.set(slug, ids);
      for (let n = 1; n <= pullRequestsPerRepository; n++) {
        const branch = `feature-${n}`;
        await sim.push({
          project: "PRJ",
          repo: slug,
          branch,
          files: { [`${branch}.txt`]: "1\n" },
          startPoint: "main",
          as: "dev",
        });
        const pr = await sim.openPullRequest({
          project: "PRJ",
          repo: slug,
          from: { branch },
          title: branch,
          as: "dev",
        });
        ids.push(pr.id);
        steps++;
        if (n > 1) {
          await sim.push({
            project: "PRJ",
            repo: slug,
            branch: `feature-${n - 1}`,
            files: { "more.txt": "2\n" },
            as: "dev",
          });
          steps++;
        }
      }
    }),
  );

  // The kill lands a third of the way in, with deliveries queued and in flight; the storm goes on while no operator
  // answers, and a new one starts two thirds of the way in.
  await waitFor(() => steps >= totalSteps / 3, { message: "a third of the storm", timeout: 60_000 });
  const answeredBeforeKill = sim.deliveries().filter((d) => d.status === 200).length;
  dead = true;
  await first.stop();
  await waitFor(() => steps >= (2 * totalSteps) / 3, { message: "two thirds of the storm", timeout: 60_000 });
  await startOperator(t, ns, options);
  await storm;
  await sim.settled();

  const lostDeliveries = sim.deliveries().filter((d) => d.status === null || d.status >= 300);
  assert.ok(answeredBeforeKill > 0, "the first operator handled part of the storm");
  assert.ok(lostDeliveries.length > 0, "deliveries were lost while no operator answered");

  const heads = new Map<string, string>();
  for (const [slug, ids] of opened) {
    for (const id of ids)
      heads.set(`${slug}#${id}`, sim.pullRequest({ project: "PRJ", repo: slug, id }).fromRef.latestCommit);
  }
  const runCounts = async () => {
    const { items } = await kube.listAll(PipelineRuns, { namespace: ns });
    const counts = new Map<string, number>();
    for (const run of items) {
      const l = run.metadata?.labels ?? {};
      const key = `${l[labels.repository]}|${l[labels.sha]}|${l[labels.pipeline]}`;
      counts.set(key, (counts.get(key) ?? 0) + 1);
    }
    return counts;
  };
  const missing = (counts: Map<string, number>) =>
    [...heads].flatMap(([pr, sha]) =>
      pipelines
        .filter((p) => !counts.has(`${pr.split("#")[0]}|${sha}|${p}`))
        .map((p) => `${pr}@${sha.slice(0, 8)} ${p}`),
    );
  let stillMissing: string[] = [];
  await waitFor(
    async () => {
      stillMissing = missing(await runCounts());
      return stillMissing.length === 0;
    },
    // Catch-up starts the lost heads one after another; under CI's parallel load that can take a minute or more.
    { message: "a run of each pipeline for every open pull request's head", timeout: 150_000 },
  ).catch((err: Error) => {
    throw new Error(`${err.message}; missing: ${stillMissing.join(", ")}`);
  });
  // One more catch-up pass (a listing per repository) must not start anything again.
  const listings = () => sim.requestCount({ group: "pull-requests", method: "GET" });
  const seen = listings();
  await waitFor(() => listings() >= seen + repositories.length, {
    message: "another catch-up pass",
    timeout: 30_000,
  });

  const counts = await runCounts();
  assert.deepEqual(missing(counts), [], "no open pull request's head is without a run");
  assert.deepEqual(
    [...counts].filter(([, n]) => n > 1),
    [],
    "no pipeline ran twice for the same commit",
  );
  // A delivery Bitbucket shows as successful started its runs (superseded heads included).
  const acknowledged = sim
    .deliveries()
    .filter((d) => d.status === 200 && (d.eventKey === "pr:opened" || d.eventKey === "pr:from_ref_updated"));
  for (const d of acknowledged) {
    const body = JSON.parse(d.body) as {
      pullRequest: { fromRef: { latestCommit: string; repository: { slug: string } } };
    };
    const { latestCommit, repository } = body.pullRequest.fromRef;
    for (const p of pipelines) {
      assert.equal(counts.get(`${repository.slug}|${latestCommit}|${p}`), 1, `${d.eventKey} ${d.requestId} ${p}`);
    }
  }
});
