import { randomBytes } from "node:crypto";
import type { SimulatorControl } from "./control.ts";
import type { CreatedToken } from "./core.ts";

/** A Pipelines-as-Code style PipelineRun, matched on pull requests into main. */
export const DEMO_PIPELINE_RUN = `apiVersion: tekton.dev/v1
kind: PipelineRun
metadata:
  name: hello-pull-request
  annotations:
    pipelinesascode.tekton.dev/on-event: "[pull_request]"
    pipelinesascode.tekton.dev/on-target-branch: "[main]"
    pipelinesascode.tekton.dev/max-keep-runs: "5"
spec:
  params:
    - name: repo_url
      value: "{{ repo_url }}"
    - name: revision
      value: "{{ revision }}"
  pipelineSpec:
    params:
      - name: repo_url
        type: string
      - name: revision
        type: string
    tasks:
      - name: hello
        taskSpec:
          steps:
            - name: hello
              image: registry.access.redhat.com/ubi9/ubi-minimal
              script: |
                echo "Hello from {{ repo_owner }}/{{ repo_name }} at {{ revision }}"
`;

export const DEMO_README = `# hello

A demo repository served by Baton's Bitbucket Data Center simulator.
Open a pull request into \`main\` and \`.tekton/pull-request.yaml\` runs.
`;

export interface DemoSeed {
  admin: { name: string; password: string };
  project: string;
  repo: string;
  cloneUrl: string;
  /** Project token (REPO_WRITE) for cloning and pushing; its secret is shown only here. */
  token: CreatedToken;
  cloneCommand: string;
}

export interface DemoSeedOptions {
  adminPassword?: string;
  project?: string;
  repo?: string;
}

/** Seeds the demo world: admin user, project DEMO, repository hello (.tekton + README), a REPO_WRITE project token. */
export async function seedDemo(
  sim: SimulatorControl & { url: string },
  options: DemoSeedOptions = {},
): Promise<DemoSeed> {
  const password = options.adminPassword ?? randomBytes(12).toString("base64url");
  const projectKey = options.project ?? "DEMO";
  const slug = options.repo ?? "hello";
  sim.createUser({ name: "admin", password, displayName: "Administrator", email: "admin@example.com", admin: true });
  sim.createProject({ key: projectKey, name: "Demo" });
  const repo = await sim.createRepository({
    project: projectKey,
    slug,
    name: slug,
    as: "admin",
    message: "Add README and pipeline",
    files: { "README.md": DEMO_README, ".tekton/pull-request.yaml": DEMO_PIPELINE_RUN },
  });
  const token = sim.createToken({
    scope: { kind: "project", project: projectKey },
    name: "demo-clone",
    permissions: ["REPO_WRITE"],
  });
  return {
    admin: { name: "admin", password },
    project: projectKey,
    repo: slug,
    cloneUrl: repo.cloneUrl,
    token,
    cloneCommand: `git -c http.extraHeader="Authorization: Bearer ${token.token}" clone ${repo.cloneUrl}`,
  };
}
