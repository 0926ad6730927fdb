// A `.tekton` file can name a Secret that Tekton, not Baton, fills in when the run starts. Baton must refuse it
// before the API server ever holds such a run, and say why on the pull request; Secrets the Repository allows still
// reach the run.
import assert from "node:assert/strict";
import { test } from "node:test";
import type { Repository } from "../../src/api/repository.ts";
import { Repositories } from "../../src/repositories/resource.ts";
import { Secrets } from "../../src/runtime/kube.ts";
import { createNamespace } from "../support/cluster.ts";
import { testKube } from "../support/operator.ts";
import { listRuns, openFeaturePullRequest, pipelinesWorld, prRun } from "../support/pipelines-world.ts";
import { waitFor } from "../support/wait.ts";

const onPullRequest = `  annotations:
    pipelinesascode.tekton.dev/on-event: "[pull_request]"
    pipelinesascode.tekton.dev/on-target-branch: "[main]"
`;

/** A PipelineRun whose `loot` workspace is the Secret `secretName`, with param `s` defaulting to `admin-credentials`. */
const mounting = (name: string, secretName: string) => `apiVersion: tekton.dev/v1
kind: PipelineRun
metadata:
  name: ${name}
${onPullRequest}spec:
  pipelineSpec:
    params:
      - name: s
        default: admin-credentials
    workspaces:
      - name: loot
    tasks:
      - name: show
        workspaces:
          - name: loot
        taskSpec:
          workspaces:
            - name: loot
          steps:
            - name: cat
              image: alpine
              script: cat $(workspaces.loot.path)/password
  workspaces:
    - name: loot
      secret:
        secretName: "${secretName}"
`;

test("a Secret named through Tekton's $(params…) is refused before any run exists; allowed Secrets still mount", async (t) => {
  const w = await pipelinesWorld(t, {
    files: {
      ".tekton/build.yaml": prRun,
      ".tekton/substituted.yaml": mounting("substituted", "$(params.s)"),
      ".tekton/registry.yaml": mounting("registry", "registry-creds"),
    },
    spec: { pipelines: { path: ".tekton", allowedSecrets: ["registry-creds"] } },
  });
  const secret = (name: string, data: Record<string, string>) =>
    w.kube.create(Secrets, { apiVersion: "v1", kind: "Secret", metadata: { name, namespace: w.ns }, stringData: data });
  await secret("admin-credentials", { username: "admin", password: "admin-password" });
  await secret("registry-creds", { ".dockerconfigjson": "{}" });

  const pr = await openFeaturePullRequest(w, { title: "x" });
  const commit = pr.fromRef.latestCommit;
  const failed = await waitFor(
    () => w.sim.buildStatuses({ commit }).find((s) => s.name === "substituted" && s.state === "FAILED"),
    { message: "a FAILED status for the pipeline naming a Secret through $(params.s)" },
  );
  assert.match(
    failed.description ?? "",
    /^\.tekton\/substituted\.yaml \(substituted\) names a Secret with Tekton's substitution \(\$\(params\.s\)\) at \$\.spec\.workspaces\[0\]\.secret\.secretName; Tekton fills that in when the run starts/,
  );
  const comment = await waitFor(() => w.sim.comments({ project: "PRJ", repo: "app", id: pr.id })[0], {
    message: "the pull-request comment listing the .tekton problem",
  });
  assert.match(
    comment.text,
    /\| \.tekton\/substituted\.yaml — substituted \| .*names a Secret with Tekton's substitution/,
  );

  // The other pipelines of the commit run; the API server holds no run that could mount the admin's password.
  const runs = await waitFor(
    async () => {
      const all = (await listRuns(w)).filter((r) => r.metadata?.labels?.["baton.dev/sha"] === commit);
      return all.length === 2 ? all : undefined;
    },
    { message: "the runs of build and registry" },
  );
  assert.deepEqual(runs.map((r) => r.metadata?.labels?.["baton.dev/pipeline"]).sort(), ["build", "registry"]);
  const registry = runs.find((r) => r.metadata?.labels?.["baton.dev/pipeline"] === "registry");
  assert.deepEqual(registry?.spec?.workspaces, [{ name: "loot", secret: { secretName: "registry-creds" } }]);
  for (const run of await listRuns(w)) {
    const text = JSON.stringify(run.spec);
    assert.ok(!text.includes("$(params.s)"), `${run.metadata?.name} names a Secret through $(params.s)`);
    assert.ok(!text.includes('"secretName":"admin-credentials"'), `${run.metadata?.name} mounts admin-credentials`);
  }
});

test("the API server refuses an allowed Secret name Tekton or Baton could rewrite", async (t) => {
  const ns = await createNamespace(t);
  const kube = await testKube();
  const repository = (allowedSecrets: string[]) =>
    kube.create(Repositories, {
      apiVersion: "baton.dev/v1alpha1",
      kind: "Repository",
      metadata: { generateName: "app-", namespace: ns },
      spec: {
        url: "https://bitbucket.example.com/projects/PRJ/repos/app",
        secretRef: { name: "bb-token", key: "token" },
        pipelines: { path: ".tekton", allowedSecrets },
      },
    } as unknown as Repository);
  for (const name of ["$(params.s)", "{{ git_auth_secret }}", "Admin-Credentials"]) {
    await assert.rejects(repository([name]), /allowedSecrets\[0\].*must be a valid Kubernetes object name/, name);
  }
  await repository(["registry-creds", "docker.config"]);
});
