import { randomBytes } from "node:crypto";
import { DEMO_PIPELINE_RUN } from "../bitbucket-datacenter/seed.ts";
import type { CloudSimulatorControl } from "./control.ts";
import type { CreatedCloudToken } from "./core.ts";

export interface CloudDemoSeed {
  owner: { nickname: string; password: string };
  workspace: string;
  project: string;
  repo: string;
  cloneUrl: string;
  /** Repository access token (repository:write, pullrequest, webhook); its secret is shown only here. */
  token: CreatedCloudToken;
  cloneCommand: string;
}

/**
 * Seeds the Cloud demo world: owner `admin` of workspace `demo`, project DEMO, repository `hello` (.tekton + README)
 * and a repository access token expiring in 90 days (the shortest policy an admin can choose, §1.3).
 */
export async function seedCloudDemo(
  sim: CloudSimulatorControl & { url: string },
  options: { ownerPassword?: string; workspace?: string; repo?: string } = {},
): Promise<CloudDemoSeed> {
  const password = options.ownerPassword ?? randomBytes(12).toString("base64url");
  const workspace = options.workspace ?? "demo";
  const slug = options.repo ?? "hello";
  sim.createUser({ nickname: "admin", displayName: "Administrator", email: "admin@example.com", password });
  sim.createWorkspace({ slug: workspace, name: "Demo", owner: "admin" });
  sim.createProject({ workspace, key: "DEMO", name: "Demo" });
  await sim.createRepository({ workspace, slug, project: "DEMO" });
  await sim.push({
    workspace,
    repo: slug,
    branch: "main",
    as: "admin",
    message: "Add README and pipeline",
    files: {
      "README.md": `# ${slug}\n\nA demo repository served by Baton's Bitbucket Cloud simulator.\n`,
      ".tekton/pull-request.yaml": DEMO_PIPELINE_RUN,
    },
  });
  const token = sim.createToken({
    kind: "repository",
    workspace,
    repo: slug,
    name: "demo-clone",
    scopes: ["repository:write", "pullrequest", "webhook"],
    expiresInDays: 90,
  });
  const cloneUrl = `${sim.url}/${workspace}/${slug}.git`;
  const authed = cloneUrl.replace("://", `://x-token-auth:${encodeURIComponent(token.token)}@`);
  return {
    owner: { nickname: "admin", password },
    workspace,
    project: "DEMO",
    repo: slug,
    cloneUrl,
    token,
    cloneCommand: `git clone ${authed}`,
  };
}
