// A Repository wired end to end for the intake and pipeline tests: the Bitbucket simulator with a project, a
// repository holding `.tekton/` files, project tokens (one for Baton's REST calls, a narrower one for clones),
// Baton in-process with its intake on a real port, and a simulator webhook signed with the Repository's secret
// pointing at it.
import { execFile } from "node:child_process";
import { randomBytes } from "node:crypto";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { Repository } from "../../src/api/repository.ts";
import type { BitbucketProjectToken } from "../../src/api/token.ts";
import { type PipelineRun, PipelineRuns } from "../../src/pipelines/tekton.ts";
import { Repositories } from "../../src/repositories/resource.ts";
import { realClock } from "../../src/runtime/clock.ts";
import { type KubeClient, Secrets } from "../../src/runtime/kube.ts";
import type { Simulator, SimulatorOptions } from "../../src/simulator/index.ts";
import { signBody } from "../../src/simulator/index.ts";
import { basicAuth } from "../../src/simulator/testing.ts";
import { Tokens } from "../../src/tokens/reconciler.ts";
import { createNamespace } from "./cluster.ts";
import { simulatorClock, startOperator, type TestOperator, testKube, useSimulator } from "./operator.ts";
import { waitFor } from "./wait.ts";

type T = Parameters<typeof createNamespace>[0];

export interface World {
  ns: string;
  sim: Simulator;
  kube: KubeClient;
  op: TestOperator;
  repository: Repository;
  intakeUrl: string;
  webhookSecret: string;
  /** The token Baton's REST calls use and the narrower one handed to runs. */
  operatorToken: string;
  cloneToken: string;
}

export const prRun = `apiVersion: tekton.dev/v1
kind: PipelineRun
metadata:
  name: build
  annotations:
    pipelinesascode.tekton.dev/on-event: "[pull_request]"
    pipelinesascode.tekton.dev/on-target-branch: "[main]"
spec:
  params:
    - name: revision
      value: "{{ revision }}"
    - name: url
      value: "{{ repo_url }}"
    - name: greeting
      value: "{{ greeting }}"
    - name: pr
      value: "{{ pull_request_number }}"
  pipelineSpec:
    params:
      - name: revision
      - name: url
      - name: greeting
      - name: pr
    workspaces:
      - name: basic-auth
    tasks:
      - name: noop
        taskSpec:
          steps:
            - name: echo
              image: alpine
              script: echo "$(params.greeting)"
  workspaces:
    - name: basic-auth
`;

/** A second pipeline, so /retest and /cancel have something to choose between. */
export const lintRun = `apiVersion: tekton.dev/v1
kind: PipelineRun
metadata:
  name: lint
  annotations:
    pipelinesascode.tekton.dev/on-event: "[pull_request]"
    pipelinesascode.tekton.dev/on-target-branch: "[main]"
    pipelinesascode.tekton.dev/max-keep-runs: "5"
spec:
  pipelineSpec:
    tasks:
      - name: noop
        taskSpec:
          steps:
            - name: echo
              image: alpine
              script: echo lint
`;

export interface WorldOptions {
  files?: Record<string, string>;
  spec?: Partial<Repository["spec"]>;
  simulator?: SimulatorOptions;
  /** Events the webhook subscribes to (default: what Baton handles). */
  events?: string[];
  /** Skip the simulator webhook (tests that sign deliveries themselves). */
  noWebhook?: boolean;
  refWaitDelaysMs?: number[];
  /** Operator settings by configuration key (`evaluationTimeout: "5s"`…). */
  operatorConfig?: Record<string, string>;
}

export const allEvents = [
  "repo:refs_changed",
  "pr:opened",
  "pr:from_ref_updated",
  "pr:modified",
  "pr:declined",
  "pr:merged",
  "pr:deleted",
  "pr:comment:added",
];

/** The Bitbucket half of a world, before any operator: PRJ/app, its people, tokens and Secrets, the Repository. */
export type RepositorySide = Omit<World, "op" | "intakeUrl">;

export async function repositorySide(
  t: T,
  options: Pick<WorldOptions, "files" | "spec" | "simulator"> = {},
): Promise<RepositorySide> {
  const ns = await createNamespace(t);
  const sim = await useSimulator(t, options.simulator ?? {});
  sim.createUser({ name: "admin", password: "admin-password", admin: true });
  sim.createUser({ name: "dev", password: "dev-password", displayName: "Developer" });
  sim.createUser({ name: "outsider", password: "outsider-password", displayName: "Outsider" });
  sim.createUser({ name: "contrib", password: "contrib-password", displayName: "Contributor" });
  sim.createProject({ key: "PRJ" });
  await sim.createRepository({
    project: "PRJ",
    slug: "app",
    files: { "README.md": "# app\n", ...(options.files ?? { ".tekton/build.yaml": prRun }) },
  });
  sim.grant({ permission: "REPO_WRITE", user: "dev", project: "PRJ", repo: "app" });
  sim.grant({ permission: "REPO_WRITE", user: "contrib", project: "PRJ", repo: "app" });
  sim.grant({ permission: "REPO_READ", user: "outsider", project: "PRJ", repo: "app" });
  const operatorToken = sim.createToken({
    scope: { kind: "project", project: "PRJ" },
    name: "baton",
    permissions: ["REPO_READ"],
  }).token;
  const cloneToken = sim.createToken({
    scope: { kind: "project", project: "PRJ" },
    name: "clone",
    permissions: ["REPO_READ"],
  }).token;
  const webhookSecret = randomBytes(20).toString("hex");
  const kube = await testKube();
  const secret = (name: string, data: Record<string, string>) =>
    kube.create(Secrets, { apiVersion: "v1", kind: "Secret", metadata: { name, namespace: ns }, stringData: data });
  await Promise.all([
    secret("bb-token", { token: operatorToken }),
    secret("bb-clone", { token: cloneToken }),
    secret("hook", { secret: webhookSecret }),
  ]);
  const repository = (await kube.create(Repositories, {
    apiVersion: "baton.dev/v1alpha1",
    kind: "Repository",
    metadata: { name: "app", namespace: ns },
    spec: {
      url: `${sim.url}/projects/PRJ/repos/app`,
      secretRef: { name: "bb-token", key: "token" },
      cloneTokenRef: { kind: "Secret", name: "bb-clone", key: "token" },
      webhook: { managed: false, scope: "repository", secretRef: { name: "hook", key: "secret" } },
      pipelines: { path: ".tekton" },
      params: [{ name: "greeting", value: "hello from the Repository" }],
      ...options.spec,
    },
  } as Repository)) as Repository;
  return { ns, sim, kube, repository, webhookSecret, operatorToken, cloneToken };
}

/** The simulator's webhook of PRJ/app to `url`, signed with the Repository's webhook secret. */
export function hookTo(side: Pick<RepositorySide, "sim" | "webhookSecret">, url: string, events = allEvents): void {
  side.sim.createWebhook({
    project: "PRJ",
    repo: "app",
    name: "baton",
    url,
    events,
    configuration: { secret: side.webhookSecret },
  });
}

export async function pipelinesWorld(t: T, options: WorldOptions = {}): Promise<World> {
  const side = await repositorySide(t, options);
  const { ns, sim } = side;
  // These tests follow deliveries through the intake; the Repository controller's catch-up (tested on its own)
  // would race them for the same pull requests and make which path created a run a matter of timing.
  const op = await startOperator(t, ns, {
    domainClock: simulatorClock(sim, realClock),
    catchUp: async () => ({ started: false, detail: "catch-up is off in these tests" }),
    ...(options.operatorConfig ? { config: options.operatorConfig } : {}),
  });
  const port = await waitFor(() => op.intake.port, { message: "the intake to listen" });
  const intakeUrl = `http://127.0.0.1:${port}/hooks/bitbucket`;
  if (!options.noWebhook) hookTo(side, intakeUrl, options.events);
  return { ...side, op, intakeUrl };
}

export async function listRuns(w: World, labelSelector?: string): Promise<PipelineRun[]> {
  const { items } = await w.kube.list(PipelineRuns, { namespace: w.ns, ...(labelSelector ? { labelSelector } : {}) });
  return items.sort((a, b) => (a.metadata?.creationTimestamp ?? "").localeCompare(b.metadata?.creationTimestamp ?? ""));
}

export function param(run: PipelineRun, name: string): unknown {
  const params = (run.spec?.params ?? []) as { name: string; value: unknown }[];
  return params.find((p) => p.name === name)?.value;
}

/** POSTs a body to the intake as Bitbucket would, signed with `secret` unless told otherwise. */
export async function deliver(
  w: Pick<World, "intakeUrl" | "webhookSecret">,
  eventKey: string,
  body: string,
  options: { secret?: string | null; requestId?: string; signature?: string } = {},
): Promise<{ status: number; json: Record<string, unknown> }> {
  const headers: Record<string, string> = {
    "content-type": "application/json; charset=utf-8",
    "x-event-key": eventKey,
    "x-request-id": options.requestId ?? randomBytes(16).toString("hex"),
  };
  const secret = options.secret === undefined ? w.webhookSecret : options.secret;
  if (options.signature !== undefined) headers["x-hub-signature"] = options.signature;
  else if (secret !== null) headers["x-hub-signature"] = signBody(secret, body);
  const res = await fetch(w.intakeUrl, { method: "POST", headers, body });
  const text = await res.text();
  let json: Record<string, unknown> = {};
  try {
    json = JSON.parse(text) as Record<string, unknown>;
  } catch {
    json = { text };
  }
  return { status: res.status, json };
}

/** The answers the intake gave the simulator's deliveries of `eventKey`, parsed. */
export function answers(w: World, eventKey: string): { status: number | null; body: Record<string, unknown> }[] {
  return w.sim.deliveries({ eventKey }).map((d) => ({
    status: d.status,
    body: d.responseBody ? (JSON.parse(d.responseBody) as Record<string, unknown>) : {},
  }));
}

/** Runs real git with only the given global config file (the run's `.gitconfig`), no credential helper, no prompt. */
export async function gitWith(
  gitconfig: string,
  args: string[],
  cwd?: string,
): Promise<{ code: number; stdout: string; stderr: string }> {
  const dir = await mkdtemp(join(tmpdir(), "baton-gitconfig-"));
  const file = join(dir, "gitconfig");
  await writeFile(file, gitconfig);
  try {
    return await new Promise((resolve) => {
      execFile(
        "git",
        args,
        {
          cwd,
          env: {
            PATH: process.env.PATH ?? "/usr/bin:/bin",
            HOME: dir,
            GIT_CONFIG_GLOBAL: file,
            GIT_CONFIG_NOSYSTEM: "1",
            GIT_TERMINAL_PROMPT: "0",
            GIT_ASKPASS: "",
            LANG: "C",
          },
        },
        (err, stdout, stderr) =>
          resolve({ code: err ? Number((err as { code?: number }).code ?? 1) : 0, stdout, stderr }),
      );
    });
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

/** A build status of PRJ/app read back through Bitbucket's REST API, as a user (or a merge check) sees it. */
export async function restStatus(
  w: Pick<World, "sim">,
  sha: string,
  key: string,
): Promise<{ state: string; description?: string }> {
  const res = await fetch(
    `${w.sim.url}/rest/api/latest/projects/PRJ/repos/app/commits/${sha}/builds?key=${encodeURIComponent(key)}`,
    { headers: { authorization: basicAuth("dev", "dev-password") } },
  );
  if (res.status !== 200) throw new Error(`GET the build status ${key} of ${sha} answered ${res.status}`);
  return (await res.json()) as { state: string; description?: string };
}

/**
 * `dev`'s pull request from a `feature` branch of PRJ/app (created with `files`), returned once the simulator's
 * deliveries of the push and the pull request are answered.
 */
export async function openFeaturePullRequest(
  w: Pick<World, "sim">,
  { files = { "a.txt": "a\n" }, title = "A" }: { files?: Record<string, string>; title?: string } = {},
): ReturnType<Simulator["openPullRequest"]> {
  await w.sim.push({ project: "PRJ", repo: "app", branch: "feature", files, as: "dev" });
  const pr = await w.sim.openPullRequest({
    project: "PRJ",
    repo: "app",
    from: { branch: "feature" },
    title,
    as: "dev",
  });
  await w.sim.settled();
  return pr;
}

/**
 * `user`'s personal fork of PRJ/app with `files` committed on `branch`, and the pull request from it into PRJ/app,
 * returned once the simulator's deliveries of it are answered.
 */
export async function openForkPullRequest(
  w: Pick<World, "sim">,
  fork: { user: string; branch: string; files: Record<string, string>; title: string },
): ReturnType<Simulator["openPullRequest"]> {
  const project = `~${fork.user.toUpperCase()}`;
  await w.sim.fork({ project: "PRJ", repo: "app", user: fork.user });
  await w.sim.push({ project, repo: "app", branch: fork.branch, files: fork.files, as: fork.user });
  const pr = await w.sim.openPullRequest({
    project: "PRJ",
    repo: "app",
    from: { project, repo: "app", branch: fork.branch },
    title: fork.title,
    as: fork.user,
  });
  await w.sim.settled();
  return pr;
}

/** The `.gitconfig` of a run's git Secret, as a pod mounting it would see it. */
export async function runGitconfig(w: World, run: PipelineRun): Promise<string> {
  const name = run.metadata?.annotations?.["pipelinesascode.tekton.dev/git-auth-secret"] ?? "";
  const secret = await waitFor(() => w.kube.get(Secrets, { namespace: w.ns, name }), {
    message: `git Secret ${name}`,
  });
  return Buffer.from(secret.data?.[".gitconfig"] ?? "", "base64").toString("utf8");
}

/**
 * A Repository whose token is a managed BitbucketProjectToken `ci` (Baton holds a project admin's credentials), so
 * its runs clone with the read-only token Baton issues for it (`app-clone`). `tokenSpec` adds to ci's spec, which
 * the clone token copies its lifetime, grace and hold limit from.
 */
export async function managedWorld(
  t: T,
  options: WorldOptions & { tokenSpec?: Partial<BitbucketProjectToken["spec"]> } = {},
): Promise<World> {
  const { tokenSpec, ...worldOptions } = options;
  const w = await pipelinesWorld(t, {
    ...worldOptions,
    // JSON drops the undefined keys: no secretRef, no cloneTokenRef, nothing about clone tokens at all.
    spec: {
      secretRef: undefined,
      cloneTokenRef: undefined,
      tokenRef: { name: "ci" },
      ...worldOptions.spec,
    } as Partial<Repository["spec"]>,
  });
  await w.kube.create(Secrets, {
    apiVersion: "v1",
    kind: "Secret",
    metadata: { name: "bb-admin", namespace: w.ns },
    stringData: { username: "admin", password: "admin-password" },
  });
  await w.kube.create(Tokens, {
    apiVersion: "baton.dev/v1alpha1",
    kind: "BitbucketProjectToken",
    metadata: { name: "ci", namespace: w.ns },
    spec: {
      server: w.sim.url,
      project: "PRJ",
      permissions: ["PROJECT_READ", "REPO_ADMIN"],
      lifetime: "720h",
      revocationGracePeriod: "2h",
      adminCredentialsRef: { name: "bb-admin" },
      secretName: "ci-token",
      deletionPolicy: "Revoke",
      ...tokenSpec,
    },
  } as BitbucketProjectToken);
  await waitFor(
    async () =>
      (await w.kube.get(Tokens, { namespace: w.ns, name: "ci" }))?.status?.conditions?.some(
        (c) => c.type === "Ready" && c.status === "True",
      ),
    { message: "the operator's managed token is Ready", timeout: 30_000 },
  );
  return w;
}
