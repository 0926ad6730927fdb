// The Bitbucket an operator configured by hand works against: the simulator with an admin and PRJ/app, Baton's
// project-admin token in Secret `bb-token` and the admin's credentials in `bb-admin`, and a Repository `app` and a
// BitbucketProjectToken `ci` using them, for the test to create when it wants them.
import type { Repository } from "../../src/api/repository.ts";
import type { BitbucketProjectToken } from "../../src/api/token.ts";
import { type KubeClient, Secrets } from "../../src/runtime/kube.ts";
import type { Simulator } from "../../src/simulator/index.ts";
import { testKube, useSimulator } from "./operator.ts";
import { tokenObject } from "./token-world.ts";

type T = Parameters<typeof useSimulator>[0];

export interface AdminWorld {
  sim: Simulator;
  kube: KubeClient;
  repository: Repository;
  projectToken: BitbucketProjectToken;
}

export async function adminWorld(t: T, ns: string): Promise<AdminWorld> {
  const sim = await useSimulator(t, {});
  sim.createUser({ name: "admin", password: "admin-password", admin: true });
  sim.createProject({ key: "PRJ" });
  await sim.createRepository({ project: "PRJ", slug: "app", files: { "README.md": "# app\n" } });
  const token = sim.createToken({
    scope: { kind: "project", project: "PRJ" },
    name: "baton",
    permissions: ["PROJECT_ADMIN", "REPO_ADMIN"],
  });
  const kube = await testKube();
  const secret = (name: string, data: Record<string, string>) =>
    kube.create(Secrets, { apiVersion: "v1", kind: "Secret", metadata: { name, namespace: ns }, stringData: data });
  await secret("bb-token", { token: token.token });
  await secret("bb-admin", { username: "admin", password: "admin-password" });
  const repository = {
    apiVersion: "baton.dev/v1alpha1",
    kind: "Repository",
    metadata: { name: "app", namespace: ns },
    spec: { url: `${sim.url}/projects/PRJ/repos/app`, secretRef: { name: "bb-token", key: "token" } },
  } as Repository;
  const projectToken = tokenObject({ ns, sim, kube }, "ci", { project: "PRJ" });
  return { sim, kube, repository, projectToken };
}
