// A Repository whose runs Baton reports on, without the event path: the simulator's PLATFORM/api, a project token
// Secret, a Repository with an unmanaged webhook, and PipelineRuns labelled as Baton's runner labels them.
import { randomBytes } from "node:crypto";
import { TektonStandIn } from "../../hack/lib/tekton-standin.ts";
import type { Repository } from "../../src/api/repository.ts";
import { namedAndSigned } from "../../src/pipelines/provenance.ts";
import { RunSigningKey } from "../../src/pipelines/signing-key.ts";
import { Repositories } from "../../src/repositories/resource.ts";
import { type KubeClient, type KubeObject, Secrets } from "../../src/runtime/kube.ts";
import type { Simulator } from "../../src/simulator/index.ts";
import { PipelineRuns } from "../../src/status/reporter.ts";
import { createNamespace } from "./cluster.ts";
import { testKube, useSimulator } from "./operator.ts";

export interface StatusWorld {
  ns: string;
  sim: Simulator;
  kube: KubeClient;
  sha: string;
  tekton: TektonStandIn;
}

export async function statusWorld(
  t: Parameters<typeof createNamespace>[0],
  simOptions: Parameters<typeof useSimulator>[1] = {},
): Promise<StatusWorld> {
  const ns = await createNamespace(t);
  const sim = await useSimulator(t, simOptions);
  sim.createUser({ name: "root", password: "root-password", admin: true });
  sim.createProject({ key: "PLATFORM" });
  await sim.createRepository({ project: "PLATFORM", slug: "api", files: { "README.md": "api\n" } });
  const sha = (await sim.resolve({ project: "PLATFORM", repo: "api", rev: "main" })) ?? "";
  const token = sim.createToken({
    scope: { kind: "project", project: "PLATFORM" },
    name: "ci",
    permissions: ["REPO_READ"],
  });
  const kube = await testKube();
  await kube.create(Secrets, {
    apiVersion: "v1",
    kind: "Secret",
    metadata: { name: "bb-token", namespace: ns },
    stringData: { token: token.token },
  });
  await kube.create(Repositories, {
    apiVersion: "baton.dev/v1alpha1",
    kind: "Repository",
    metadata: { name: "api", namespace: ns },
    spec: {
      url: `${sim.url}/projects/PLATFORM/repos/api`,
      secretRef: { name: "bb-token", key: "token" },
      webhook: { managed: false, scope: "repository" },
      pipelines: { path: ".tekton" },
    },
  } as Repository);
  return { ns, sim, kube, sha, tekton: new TektonStandIn(kube) };
}

/**
 * Creates `run` as Baton's runner does: under a name it picks, signed with the installation's run-signing key (read,
 * or created first, in the operator's namespace, `default` in tests), so the status reporter speaks for it.
 */
export async function createSignedRun(kube: KubeClient, run: KubeObject, namespace = "default"): Promise<KubeObject> {
  const key = await new RunSigningKey(kube, namespace).get();
  return kube.create(
    PipelineRuns,
    namedAndSigned(run as KubeObject & { metadata: { generateName?: string } }, key.secret, randomBytes),
  );
}

/** A PipelineRun as Baton's runner creates it (labels are what the reporter reads). */
export async function createRun(
  w: StatusWorld,
  pipeline: string,
  options: { pending?: boolean } = {},
): Promise<string> {
  const run = await createSignedRun(w.kube, {
    apiVersion: "tekton.dev/v1",
    kind: "PipelineRun",
    metadata: {
      generateName: `${pipeline}-`,
      namespace: w.ns,
      labels: {
        "app.kubernetes.io/managed-by": "baton",
        "baton.dev/repository": "api",
        "baton.dev/sha": w.sha,
        "baton.dev/pipeline": pipeline,
        "baton.dev/event": "pull_request",
        "baton.dev/pull-request": "7",
      },
      annotations: { "pipelinesascode.tekton.dev/source-branch": "feature/x" },
    },
    spec: {
      ...(options.pending ? { status: "PipelineRunPending" } : {}),
      pipelineSpec: {
        tasks: [{ name: "unit", taskSpec: { steps: [{ name: "run", image: "alpine", script: "true" }] } }],
      },
    },
  } as KubeObject);
  return run.metadata?.name ?? "";
}
