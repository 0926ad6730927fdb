// config/rbac grants the operator exactly what it uses. The judge is the API server's audit log, in which
// hack/testenv records every request of the operator's ServiceAccount: one scenario drives each code path that
// talks to the API server (tokens issued and failing, a managed webhook, runs created, failed, pruned, leader
// election, a Repository deleted), then every verb a rule grants must appear there.
import assert from "node:assert/strict";
import { readFile } from "node:fs/promises";
import { join } from "node:path";
import { test } from "node:test";
import { parseAllDocuments } from "yaml";
import { repoRoot } from "../../hack/lib/controlplane.ts";
import { freePort } from "../../hack/lib/net.ts";
import { TektonStandIn } from "../../hack/lib/tekton-standin.ts";
import type { Repository } from "../../src/api/repository.ts";
import type { BitbucketProjectToken } from "../../src/api/token.ts";
import { PipelineRuns } from "../../src/pipelines/tekton.ts";
import { Repositories } from "../../src/repositories/resource.ts";
import { realClock } from "../../src/runtime/clock.ts";
import { defineResource, Events, Secrets } from "../../src/runtime/kube.ts";
import type { Event, Lease } from "../../src/runtime/kube-types.ts";
import { Tokens } from "../../src/tokens/reconciler.ts";
import { createNamespace, useCluster } from "../support/cluster.ts";
import { simulatorClock, startOperator, testKube, useSimulator } from "../support/operator.ts";
import { prRun } from "../support/pipelines-world.ts";
import { waitFor } from "../support/wait.ts";

const operatorUser = "system:serviceaccount:baton-system:baton";
const Leases = defineResource<Lease>({ apiVersion: "coordination.k8s.io/v1", kind: "Lease", plural: "leases" });

interface Rule {
  apiGroups: string[];
  resources: string[];
  verbs: string[];
}

/** "group/resource[/subresource] verb" for every verb the rules in config/rbac grant. */
async function granted(): Promise<Set<string>> {
  const grants = new Set<string>();
  for (const file of ["role.yaml", "leader_election_role.yaml"]) {
    for (const doc of parseAllDocuments(await readFile(join(repoRoot, "config/rbac", file), "utf8"))) {
      for (const rule of (doc.toJS() as { rules: Rule[] }).rules) {
        for (const group of rule.apiGroups)
          for (const resource of rule.resources)
            for (const verb of rule.verbs) grants.add(`${group}/${resource} ${verb}`);
      }
    }
  }
  return grants;
}

interface AuditEvent {
  verb: string;
  user: { username: string };
  objectRef?: { apiGroup?: string; resource?: string; subresource?: string; namespace?: string; name?: string };
  responseStatus?: { code?: number };
}

/** The operator's requests in the audit log that `mine` claims, as "group/resource[/subresource] verb" → codes. */
async function audited(dir: string, mine: (e: AuditEvent) => boolean): Promise<Map<string, number[]>> {
  const used = new Map<string, number[]>();
  const text = await readFile(join(dir, "audit.log"), "utf8");
  for (const line of text.split("\n")) {
    if (!line) continue;
    const event = JSON.parse(line) as AuditEvent;
    if (event.user.username !== operatorUser || !event.objectRef || !mine(event)) continue;
    const { apiGroup = "", resource = "", subresource } = event.objectRef;
    const code = event.responseStatus?.code ?? 0;
    // A server-side apply that creates its object is logged as a patch answered 201, and the API server authorises
    // it as a create as well: without that verb it is refused.
    const verbs = event.verb === "patch" && code === 201 ? ["patch", "create"] : [event.verb];
    for (const verb of verbs) {
      const key = `${apiGroup}/${resource}${subresource ? `/${subresource}` : ""} ${verb}`;
      used.set(key, [...(used.get(key) ?? []), code]);
    }
  }
  return used;
}

test("every verb config/rbac grants is one the operator uses, as the API server's audit log records", async (t) => {
  const { dir } = await useCluster();
  const ns = await createNamespace(t);
  const kube = await testKube();
  const sim = await useSimulator(t);
  sim.createUser({ name: "admin", password: "admin-password", admin: true });
  sim.createUser({ name: "dev", password: "dev-password" });
  sim.createProject({ key: "PRJ" });
  await sim.createRepository({
    project: "PRJ",
    slug: "app",
    files: { "README.md": "# app\n", ".tekton/build.yaml": prRun },
  });
  sim.grant({ permission: "REPO_WRITE", user: "dev", project: "PRJ", repo: "app" });
  await kube.create(Secrets, {
    apiVersion: "v1",
    kind: "Secret",
    metadata: { name: "bb-admin", namespace: ns },
    stringData: { username: "admin", password: "admin-password" },
  });
  const token = (name: string, admin: string): BitbucketProjectToken => ({
    apiVersion: "baton.dev/v1alpha1",
    kind: "BitbucketProjectToken",
    metadata: { name, namespace: ns },
    spec: {
      server: sim.url,
      project: "PRJ",
      permissions: ["PROJECT_ADMIN", "REPO_ADMIN"],
      lifetime: "720h",
      revocationGracePeriod: "2h",
      adminCredentialsRef: { name: admin },
      secretName: `${name}-token`,
      deletionPolicy: "Revoke",
    },
  });
  await kube.create(Tokens, token("ci", "bb-admin"));
  // Its admin credentials are missing: the same IssueFailed Event repeats, counted up with a patch.
  await kube.create(Tokens, token("broken", "no-such-secret"));
  // A managed project webhook with a generated shared secret (deleted with the project's last Repository), a
  // BitbucketProjectToken for REST calls, one kept run.
  await kube.create(Repositories, {
    apiVersion: "baton.dev/v1alpha1",
    kind: "Repository",
    metadata: { name: "app", namespace: ns },
    spec: {
      url: `${sim.url}/projects/PRJ/repos/app`,
      tokenRef: { name: "ci" },
      webhook: { scope: "project" },
      pipelines: { maxKeepRuns: 1 },
    },
  } as Repository);
  const port = await freePort();
  const op = await startOperator(t, ns, {
    domainClock: simulatorClock(sim, realClock),
    config: { intakeUrl: `http://127.0.0.1:${port}/hooks/bitbucket`, intakePort: String(port), podNamespace: ns },
  });

  const isTrue = (obj: { status?: { conditions?: { type: string; status: string }[] } } | undefined, type: string) =>
    obj?.status?.conditions?.some((c) => c.type === type && c.status === "True") ?? false;
  await waitFor(async () => isTrue(await kube.get(Tokens, { namespace: ns, name: "ci" }), "Ready"), {
    message: "token ci Ready",
    timeout: 60_000,
  });
  await waitFor(async () => isTrue(await kube.get(Repositories, { namespace: ns, name: "app" }), "WebhookSynced"), {
    message: "the Repository's webhook synced",
    timeout: 60_000,
  });

  // A pull request: its run fails (the reporter reads the TaskRuns), a push starts another that succeeds, and the
  // first is pruned.
  const tekton = new TektonStandIn(kube);
  const runsOf = async (sha: string) =>
    (await kube.list(PipelineRuns, { namespace: ns, labelSelector: `baton.dev/sha=${sha}` })).items;
  await sim.push({ project: "PRJ", repo: "app", branch: "feature", files: { "a.txt": "1\n" }, as: "dev" });
  const pr = await sim.openPullRequest({
    project: "PRJ",
    repo: "app",
    from: { branch: "feature" },
    title: "A",
    as: "dev",
  });
  const first = pr.fromRef.latestCommit;
  const [run1] = await waitFor(async () => ((await runsOf(first)).length > 0 ? runsOf(first) : undefined), {
    message: "the pull request's run",
    timeout: 60_000,
  });
  const name1 = run1?.metadata?.name ?? "";
  await tekton.start(ns, name1);
  await tekton.finish(ns, name1, "Failed", { failedTask: "unit" });
  await waitFor(() => sim.buildStatuses({ commit: first }).some((s) => s.state === "FAILED"), {
    message: "the failure reported to Bitbucket",
    timeout: 60_000,
  });
  await sim.push({ project: "PRJ", repo: "app", branch: "feature", files: { "a.txt": "2\n" }, as: "dev" });
  const second = (await sim.resolve({ project: "PRJ", repo: "app", rev: "feature" })) ?? "";
  const [run2] = await waitFor(async () => ((await runsOf(second)).length > 0 ? runsOf(second) : undefined), {
    message: "the run of the pushed commit",
    timeout: 60_000,
  });
  const name2 = run2?.metadata?.name ?? "";
  await tekton.start(ns, name2);
  await tekton.finish(ns, name2, "Succeeded");
  await waitFor(async () => (await kube.get(PipelineRuns, { namespace: ns, name: name1 })) === undefined, {
    message: `the older run ${name1} pruned (maxKeepRuns 1)`,
    timeout: 60_000,
  });

  await waitFor(
    async () => {
      const { items } = await kube.list(Events, { namespace: ns });
      return (items as Event[]).some((e) => e.reason === "IssueFailed" && (e.count ?? 0) >= 2);
    },
    { message: "a repeated IssueFailed Event (its back-off is 10 s)", timeout: 60_000 },
  );

  // Leader election as a real installation runs it: the Lease in baton-system, taken and released.
  const standbyNs = await createNamespace(t);
  const leaseName = `rbac-${ns}`.slice(0, 63);
  const leader = await startOperator(t, standbyNs, {
    config: { leaderElection: "true", leaseNamespace: "baton-system", leaseName },
  });
  await waitFor(
    async () => (await kube.get(Leases, { namespace: "baton-system", name: leaseName }))?.spec?.holderIdentity,
    { message: "the Lease taken" },
  );
  await leader.stop();

  // Deleting the project's last Repository removes the shared webhook, its generated Secret and the finalizer.
  await kube.delete(Repositories, { namespace: ns, name: "app" });
  await waitFor(async () => (await kube.get(Repositories, { namespace: ns, name: "app" })) === undefined, {
    message: "the Repository deleted",
    timeout: 60_000,
  });
  await op.stop();

  // Not a request, so not in the log: update on */finalizers is what lets the Secrets Baton owns block their owner's
  // deletion under OwnerReferencesPermissionEnforcement, which the test control plane runs. Baton does set it.
  const tokenSecret = await kube.get(Secrets, { namespace: ns, name: "ci-token" });
  assert.ok(
    tokenSecret?.metadata?.ownerReferences?.some((r) => r.kind === "BitbucketProjectToken" && r.blockOwnerDeletion),
    "the token Secret blocks its BitbucketProjectToken's deletion",
  );
  const admissionOnly = new Set([
    "baton.dev/bitbucketprojecttokens/finalizers update",
    "baton.dev/repositories/finalizers update",
  ]);

  const grants = await granted();
  const mine = (e: AuditEvent) =>
    e.objectRef?.namespace === ns ||
    e.objectRef?.namespace === standbyNs ||
    (e.objectRef?.namespace === "baton-system" && e.objectRef.resource === "leases" && e.objectRef.name === leaseName);
  // The audit backend writes as requests complete; wait for the last ones rather than race them.
  const used = await waitFor(
    async () => {
      const log = await audited(dir, mine);
      return [...grants].every((g) => admissionOnly.has(g) || log.has(g)) ? log : undefined;
    },
    { message: "every granted verb in the audit log", timeout: 10_000 },
  ).catch(() => audited(dir, mine));
  const unused = [...grants].filter((g) => !admissionOnly.has(g) && !used.has(g)).sort();
  assert.deepEqual(unused, [], "config/rbac grants verbs the operator never used");
  const forbidden = [...used].filter(([, codes]) => codes.includes(403)).map(([key]) => key);
  assert.deepEqual(forbidden, [], "the operator was refused requests");
  const ungranted = [...used.keys()].filter((key) => !grants.has(key)).sort();
  assert.deepEqual(ungranted, [], "the operator made requests no rule grants");
});
