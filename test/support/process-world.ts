// PRJ/app served by the operator as a process (src/main.ts, as the image runs it): a developer with write access,
// project tokens for Baton and for clones, an unmanaged webhook signed with the Repository's secret pointing at the
// process's intake. For what only a process shows: signals, exit codes, a kill at the worst moment.
import { randomBytes } from "node:crypto";
import type { Repository } from "../../src/api/repository.ts";
import { Repositories } from "../../src/repositories/resource.ts";
import { type KubeClient, Secrets } from "../../src/runtime/kube.ts";
import type { Simulator } from "../../src/simulator/index.ts";
import { createNamespace } from "./cluster.ts";
import { type OperatorProcess, spawnOperator, testKube, useSimulator } from "./operator.ts";
import { allEvents } from "./pipelines-world.ts";

type T = Parameters<typeof createNamespace>[0];

export interface ProcessWorld {
  ns: string;
  sim: Simulator;
  kube: KubeClient;
  operator: OperatorProcess;
}

export async function processWorld(
  t: T,
  options: {
    /** PRJ/app's files, `.tekton/` included. */
    files: Record<string, string>;
    /** Added to the Repository's `spec.pipelines` (its path is `.tekton`). */
    pipelines?: Omit<NonNullable<Repository["spec"]["pipelines"]>, "path">;
    /** The process's settings (spawnOperator's `env`); it may call the simulator and nothing else. */
    env?: Record<string, string>;
  },
): Promise<ProcessWorld> {
  const ns = await createNamespace(t);
  const sim = await useSimulator(t);
  sim.createUser({ name: "admin", password: "admin-password", admin: true });
  sim.createUser({ name: "dev", password: "dev-password", displayName: "Developer" });
  sim.createProject({ key: "PRJ" });
  await sim.createRepository({ project: "PRJ", slug: "app", files: options.files });
  sim.grant({ permission: "REPO_WRITE", user: "dev", project: "PRJ", repo: "app" });
  const token = (name: string) =>
    sim.createToken({ scope: { kind: "project", project: "PRJ" }, name, permissions: ["REPO_READ"] }).token;
  const webhookSecret = randomBytes(20).toString("hex");
  const kube = await testKube();
  const secret = (name: string, data: Record<string, string>) =>
    kube.create(Secrets, { apiVersion: "v1", kind: "Secret", metadata: { name, namespace: ns }, stringData: data });
  await secret("bb-token", { token: token("baton") });
  await secret("bb-clone", { token: token("clone") });
  await secret("hook", { secret: webhookSecret });
  await kube.create(Repositories, {
    apiVersion: "baton.dev/v1alpha1",
    kind: "Repository",
    metadata: { name: "app", namespace: ns },
    spec: {
      url: `${sim.url}/projects/PRJ/repos/app`,
      secretRef: { name: "bb-token", key: "token" },
      cloneTokenRef: { kind: "Secret", name: "bb-clone", key: "token" },
      webhook: { managed: false, scope: "repository", secretRef: { name: "hook", key: "secret" } },
      pipelines: { path: ".tekton", ...options.pipelines },
    },
  } as Repository);

  const operator = await spawnOperator(t, ns, { BATON_ALLOWED_SERVERS: sim.url, ...options.env });
  sim.createWebhook({
    project: "PRJ",
    repo: "app",
    name: "baton",
    url: `http://127.0.0.1:${operator.intakePort}/hooks/bitbucket`,
    events: allEvents,
    configuration: { secret: webhookSecret },
  });
  return { ns, sim, kube, operator };
}
