// 200 Repositories in 4 projects against the simulator's request log: the Bitbucket calls DESIGN §6 allows (one
// repository listing and one webhook listing per project for project scope, ≤ 2.2 calls per repository for
// repository scope), never faster than the configured budget, and a steady state of at most one call per project
// per drift interval. Timings are for bench/repositories.ts; these tests count calls.
import assert from "node:assert/strict";
import { test } from "node:test";
import type { Repository } from "../../src/api/repository.ts";
import { Repositories } from "../../src/repositories/resource.ts";
import { type KubeClient, Secrets } from "../../src/runtime/kube.ts";
import type { RequestLogEntry, Simulator } from "../../src/simulator/index.ts";
import { createNamespace } from "../support/cluster.ts";
import { startOperator, testKube, useSimulator } from "../support/operator.ts";
import { waitFor } from "../support/wait.ts";

type T = Parameters<typeof createNamespace>[0];

const projects = 4;
const perProject = 50;
const total = projects * perProject;
const budget = 50;
/** The groups webhook synchronisation uses; catch-up's (pull-requests, build-status) are counted apart. */
const syncGroups = ["webhooks", "repos", "application-properties"] as const;

interface Scale {
  ns: string;
  sim: Simulator;
  kube: KubeClient;
}

async function scaleWorld(t: T): Promise<Scale> {
  const ns = await createNamespace(t);
  const sim = await useSimulator(t);
  sim.createUser({ name: "admin", password: "admin-password", admin: true });
  const kube = await testKube();
  for (let p = 0; p < projects; p++) {
    const key = `P${p}`;
    sim.createProject({ key });
    await Promise.all(
      Array.from({ length: perProject }, (_, i) => sim.createRepository({ project: key, slug: `r${i}` })),
    );
    const { token } = sim.createToken({
      scope: { kind: "project", project: key },
      name: "baton",
      permissions: ["PROJECT_ADMIN", "REPO_ADMIN"],
    });
    await kube.create(Secrets, {
      apiVersion: "v1",
      kind: "Secret",
      metadata: { name: `token-${key.toLowerCase()}`, namespace: ns },
      stringData: { token },
    });
  }
  return { ns, sim, kube };
}

async function createAll(w: Scale, scope: "repository" | "project"): Promise<void> {
  const objects: Repository[] = [];
  for (let p = 0; p < projects; p++)
    for (let i = 0; i < perProject; i++)
      objects.push({
        apiVersion: "baton.dev/v1alpha1",
        kind: "Repository",
        metadata: { name: `p${p}-r${i}`, namespace: w.ns },
        spec: {
          url: `${w.sim.url}/projects/P${p}/repos/r${i}`,
          secretRef: { name: `token-p${p}`, key: "token" },
          webhook: { managed: true, scope },
        },
      } as Repository);
  for (let i = 0; i < objects.length; i += 25)
    await Promise.all(objects.slice(i, i + 25).map((o) => w.kube.create(Repositories, o)));
}

async function allSynced(w: Scale): Promise<number> {
  const { items } = await w.kube.list(Repositories, { namespace: w.ns });
  return items.filter((r) => r.status?.conditions?.some((c) => c.type === "WebhookSynced" && c.status === "True"))
    .length;
}

function byGroup(entries: RequestLogEntry[]): Record<string, number> {
  const out: Record<string, number> = {};
  for (const e of entries) out[`${e.group} ${e.method}`] = (out[`${e.group} ${e.method}`] ?? 0) + 1;
  return out;
}

/** The budget is a token bucket (burst = one second's worth): in any window of w seconds, at most rate × (w + 1). */
function assertWithinBudget(entries: RequestLogEntry[], rate: number): void {
  const times = entries.map((e) => e.time).sort((a, b) => a - b);
  for (const seconds of [1, 2, 5]) {
    let start = 0;
    let peak = 0;
    for (let end = 0; end < times.length; end++) {
      while ((times[end] ?? 0) - (times[start] ?? 0) >= seconds * 1000) start++;
      peak = Math.max(peak, end - start + 1);
    }
    // Slack: the log stamps arrival, the budget stamps departure, and on a loaded machine an event-loop stall of up
    // to 100 ms between the two bunches requests the budget spaced out (seen once in CI: 153 against 152).
    const slack = Math.ceil(rate / 10) + 2;
    assert.ok(
      peak <= rate * (seconds + 1) + slack,
      `${peak} requests within ${seconds}s, over the budget of ${rate}/s`,
    );
  }
  assert.equal(entries.filter((e) => e.rateLimited).length, 0, "never rate limited");
}

test("project scope: 200 Repositories in 4 projects cost a few calls per project; steady state one per project per interval", async (t) => {
  const w = await scaleWorld(t);
  const drift = 10_000;
  await startOperator(t, w.ns, {
    repositoryDriftInterval: drift,
    catchUpInterval: 3_600_000,
    config: {
      intakeUrl: "https://baton.example.com/hooks/bitbucket",
      podNamespace: w.ns,
      bitbucketRequestsPerSecond: String(budget),
    },
  });
  const mark = w.sim.markRequests();
  const coldStarted = Date.now();
  await createAll(w, "project");
  await waitFor(async () => (await allSynced(w)) === total, { message: "all WebhookSynced", timeout: 60_000 });
  const coldElapsed = Date.now() - coldStarted;

  const cold = w.sim.requests({ since: mark, group: [...syncGroups] });
  const { "webhooks GET": listings = 0, "repos GET": repoListings = 0, ...counts } = byGroup(cold);
  // Per project: one repository listing, one webhook listing, one create; one version check for the server.
  assert.deepEqual(counts, { "application-properties GET": 1, "webhooks POST": projects });
  // A slow machine can stretch this phase past a drift interval; a project's drift check is then due already, and
  // past two intervals a project's listing is old enough to be asked again (the listing cache's maxAge).
  const driftChecks = projects * Math.floor(coldElapsed / (0.9 * drift));
  const relistings = projects * Math.floor(coldElapsed / (2 * drift));
  assert.ok(
    repoListings >= projects && repoListings <= projects + relistings,
    `${repoListings} repository listings for ${projects} projects in ${coldElapsed} ms`,
  );
  assert.ok(
    listings >= projects && listings <= projects + driftChecks,
    `${listings} webhook listings for ${projects} projects in ${coldElapsed} ms`,
  );
  assertWithinBudget(w.sim.requests({ since: mark }), budget);
  for (let p = 0; p < projects; p++) {
    const hooks = w.sim.webhooks({ project: `P${p}` });
    assert.equal(hooks.length, 1, `one hook for P${p}`);
    assert.equal(hooks[0]?.scope, "project");
  }

  // Steady state: two and a half drift intervals of nothing changing.
  const steadyMark = w.sim.markRequests();
  const started = Date.now();
  await new Promise((r) => setTimeout(r, 2.5 * drift));
  const elapsed = Date.now() - started;
  const steady = w.sim.requests({ since: steadyMark, group: [...syncGroups] });
  assert.deepEqual(Object.keys(byGroup(steady)), ["webhooks GET"], "only webhook listings, no writes, no re-listing");
  for (let p = 0; p < projects; p++) {
    const checks = steady.filter((e) => e.path.includes(`/projects/P${p}/`)).map((e) => e.time);
    // At most one call per project per interval (jitter shortens an interval to 0.9 of it at worst).
    assert.ok(checks.length >= 1, `P${p} was checked`);
    assert.ok(
      checks.length <= Math.floor(elapsed / (0.9 * drift)) + 1,
      `P${p}: ${checks.length} checks in ${elapsed} ms`,
    );
    for (let i = 1; i < checks.length; i++)
      assert.ok((checks[i] ?? 0) - (checks[i - 1] ?? 0) >= 0.9 * drift - 250, `P${p} checked twice within an interval`);
  }
});

test("repository scope: 200 Repositories cost at most 2.2 calls each from cold, within the budget", async (t) => {
  const w = await scaleWorld(t);
  await startOperator(t, w.ns, {
    repositoryDriftInterval: 600_000,
    catchUpInterval: 3_600_000,
    config: {
      intakeUrl: "https://baton.example.com/hooks/bitbucket",
      podNamespace: w.ns,
      bitbucketRequestsPerSecond: String(budget),
    },
  });
  const mark = w.sim.markRequests();
  await createAll(w, "repository");
  await waitFor(async () => (await allSynced(w)) === total, { message: "all WebhookSynced", timeout: 60_000 });

  const cold = w.sim.requests({ since: mark, group: [...syncGroups] });
  assert.deepEqual(byGroup(cold), { "repos GET": projects, "webhooks GET": total, "webhooks POST": total });
  assert.ok(cold.length / total <= 2.2, `${cold.length / total} calls per repository`);
  assertWithinBudget(w.sim.requests({ since: mark }), budget);
  assert.equal(w.sim.webhooks().length, total, "one hook per repository");
});
