// A Bitbucket Cloud Repository wired end to end: the Cloud simulator with workspace `ws` and repository `app`
// holding `.tekton/` files, a repository access token written to a plain Secret (Cloud has no API to issue tokens,
// so a user does), runs cloning with that operator token, Baton in-process with its Cloud intake on a real port, and
// a repository webhook signed with the Repository's secret pointing at it.
import { TektonStandIn } from "../../hack/lib/tekton-standin.ts";
import type { Repository } from "../../src/api/repository.ts";
import { PipelineRuns } from "../../src/pipelines/tekton.ts";
import { subscribedEvents } from "../../src/providers/bitbucket-cloud/payloads.ts";
import { Repositories } from "../../src/repositories/resource.ts";
import { realClock } from "../../src/runtime/clock.ts";
import { type KubeClient, type KubeObject, Secrets } from "../../src/runtime/kube.ts";
import type { CloudAccountView } from "../../src/simulator/bitbucket-cloud/control.ts";
import type { CreatedCloudToken } from "../../src/simulator/bitbucket-cloud/core.ts";
import { type CloudSimulator, startCloudSimulator } from "../../src/simulator/bitbucket-cloud/index.ts";
import { cloneRun } from "./clone-run.ts";
import { createNamespace } from "./cluster.ts";
import { startOperator, type TestOperator, testKube } from "./operator.ts";
import { waitFor } from "./wait.ts";

/** A pull request and push run that clones with `basic-auth`, as the catalog git-clone task does. */
export const cloudRun = cloneRun(["main", "feature"]);

export interface CloudWorld {
  ns: string;
  sim: CloudSimulator;
  kube: KubeClient;
  op: TestOperator;
  /** The repository access token in Secret `bb-token` (key `token`): Baton's REST calls and the runs' clones. */
  token: CreatedCloudToken;
  /** Finishes runs as Tekton would (no Tekton controller here). */
  tekton: TektonStandIn;
}

/** The world's PipelineRuns. */
export async function cloudRuns(w: Pick<CloudWorld, "kube" | "ns">): Promise<KubeObject[]> {
  return (await w.kube.list(PipelineRuns, { namespace: w.ns })).items;
}

export async function cloudWorld(
  t: Parameters<typeof createNamespace>[0],
  options: {
    files?: Record<string, string>;
    /** The token's kind: a workspace token also reads the workspace's other repositories (forks included). */
    tokenKind?: "repository" | "workspace";
    /** More users, made before the Repository so `spec` can name them by account_id. */
    users?: string[];
    spec?: Partial<Repository["spec"]> | ((accounts: Record<string, CloudAccountView>) => Partial<Repository["spec"]>);
  } = {},
): Promise<CloudWorld> {
  const ns = await createNamespace(t);
  const sim = await startCloudSimulator({});
  t.after(() => sim.close());
  sim.createUser({ nickname: "dev" });
  const accounts = Object.fromEntries(
    (options.users ?? []).map((nickname) => [nickname, sim.createUser({ nickname })]),
  );
  const spec = typeof options.spec === "function" ? options.spec(accounts) : options.spec;
  sim.createWorkspace({ slug: "ws", owner: "dev", members: ["dev"] });
  await sim.createRepository({ workspace: "ws", slug: "app", isPrivate: true });
  await sim.push({
    workspace: "ws",
    repo: "app",
    branch: "main",
    files: { "README.md": "#\n", ...(options.files ?? { ".tekton/build.yaml": cloudRun }) },
    as: "dev",
  });
  const kind = options.tokenKind ?? "repository";
  const token = sim.createToken({
    kind,
    workspace: "ws",
    ...(kind === "repository" ? { repo: "app" } : {}),
    name: "baton",
    scopes: ["repository", "pullrequest", "webhook"],
  });
  const kube = await testKube();
  for (const [name, data] of [
    ["bb-token", { token: token.token }],
    ["hook", { secret: "hook-secret" }],
  ] as const)
    await kube.create(Secrets, {
      apiVersion: "v1",
      kind: "Secret",
      metadata: { name, namespace: ns },
      stringData: data,
    });
  await kube.create(Repositories, {
    apiVersion: "baton.dev/v1alpha1",
    kind: "Repository",
    metadata: { name: "app", namespace: ns },
    spec: {
      url: `${sim.url}/ws/app`,
      provider: "bitbucket-cloud",
      secretRef: { name: "bb-token", key: "token" },
      pipelines: { path: ".tekton", cloneWithOperatorToken: true },
      webhook: { managed: false, scope: "repository", secretRef: { name: "hook", key: "secret" } },
      ...spec,
    },
  } as never);
  // Deliveries are followed through the intake; the Repository controller's catch-up would race them.
  const op = await startOperator(t, ns, {
    domainClock: realClock,
    catchUp: async () => ({ started: false, detail: "off" }),
  });
  const port = await waitFor(() => op.intake.port, { message: "intake" });
  sim.createWebhook({
    workspace: "ws",
    repo: "app",
    url: `http://127.0.0.1:${port}/hooks/bitbucket-cloud`,
    events: [...subscribedEvents],
    secret: "hook-secret",
    active: true,
  });
  return { ns, sim, kube, op, token, tekton: new TektonStandIn(kube) };
}
