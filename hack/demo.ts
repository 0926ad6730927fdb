// `make demo`: Baton's story end to end on an embedded default — a local control plane with Tekton's real CRDs,
// the Bitbucket simulator, and Baton — shown step by step. It leaves everything running for exploration until
// Ctrl-C. `--ci` runs without pauses, asserts the final state and cleans up; `--cleanup` stops a previous demo.
import { execFile } from "node:child_process";
import { readFile, rm } from "node:fs/promises";
import { join } from "node:path";
import { parseArgs } from "node:util";
import { parse, stringify } from "yaml";
import { installCrds, kubectlPath, repoRoot, startControlPlane, stopControlPlaneAt } from "./lib/controlplane.ts";

const { values: flags } = parseArgs({
  options: { ci: { type: "boolean", default: false }, cleanup: { type: "boolean", default: false } },
});
const dir = join(repoRoot, ".cache/demo");
const namespace = "ci";

const bold = (s: string) => (process.stdout.isTTY ? `\x1b[1m${s}\x1b[0m` : s);
let stepNumber = 0;
function step(title: string, why: string): void {
  stepNumber++;
  console.log(`\n${bold(`${stepNumber}. ${title}`)}\n   ${why}`);
}

function kubectl(kubeconfig: string, args: string[], input?: string): Promise<string> {
  return new Promise((resolvePromise, reject) => {
    const child = execFile(kubectlPath, ["--kubeconfig", kubeconfig, ...args], (error, stdout, stderr) =>
      error ? reject(new Error(`kubectl ${args.join(" ")}: ${stderr || error.message}`)) : resolvePromise(stdout),
    );
    if (input !== undefined) child.stdin?.end(input);
  });
}

async function show(kubeconfig: string, args: string[]): Promise<string> {
  console.log(`   $ kubectl ${args.join(" ")}`);
  const out = await kubectl(kubeconfig, args);
  console.log(out.replace(/^/gm, "     ").trimEnd());
  return out;
}

if (flags.cleanup) {
  console.log((await stopControlPlaneAt(dir)) ? "demo stopped" : "no demo was running");
  await rm(dir, { recursive: true, force: true });
  process.exit(0);
}

await stopControlPlaneAt(dir);
await rm(dir, { recursive: true, force: true });

step(
  "Start a real Kubernetes control plane",
  "etcd, kube-apiserver and kube-controller-manager 1.36, built from source by hack/testenv.",
);
const controlPlane = await startControlPlane({ dir, dieWithParent: flags.ci });
const kubeconfig = controlPlane.kubeconfigPath;
console.log(`   API server at ${controlPlane.server}`);

step(
  "Install Baton's and Tekton's CRDs",
  "Baton's are generated from its zod schemas; Tekton's come from tektoncd/pipeline v1.15.1.",
);
await installCrds(kubeconfig);
await show(kubeconfig, ["get", "crds", "-o", "custom-columns=NAME:.metadata.name"]);

step(
  "Apply a BitbucketProjectToken and a Repository",
  "What a platform team commits to Git; the CRD validates them on apply.",
);
await kubectl(kubeconfig, ["create", "namespace", namespace]);
for (const file of ["bitbucketprojecttoken.yaml", "repository.yaml"]) {
  const obj = parse(await readFile(join(repoRoot, "config/samples", file), "utf8"));
  await kubectl(kubeconfig, ["apply", "-f", "-"], stringify(obj));
}
const tokens = await show(kubeconfig, ["get", "bbtoken,bbrepo", "-n", namespace]);

step(
  "An invalid object is refused with a reason",
  "Bitbucket's permission table is enforced by the API server itself.",
);
const invalid = {
  apiVersion: "baton.dev/v1alpha1",
  kind: "BitbucketProjectToken",
  metadata: { name: "too-much", namespace },
  spec: {
    server: "https://bitbucket.example.com",
    project: "PLATFORM",
    permissions: ["PROJECT_ADMIN", "REPO_READ"],
    secretName: "x",
  },
};
const refused = await kubectl(kubeconfig, ["apply", "-f", "-"], stringify(invalid)).then(
  () => "",
  (error: Error) => error.message,
);
console.log(`   ${refused.trim().split("\n").at(-1)}`);

if (flags.ci) {
  const failures: string[] = [];
  if (!/platform-ci\s+PLATFORM/.test(tokens)) failures.push("the BitbucketProjectToken is not listed");
  if (!/payments-api\s+https:\/\/bitbucket\.example\.com/.test(tokens)) failures.push("the Repository is not listed");
  if (!/repository permission must be at least the project permission/.test(refused))
    failures.push("the invalid token was not refused with the permission message");
  await controlPlane.stop();
  await rm(dir, { recursive: true, force: true });
  if (failures.length) {
    console.error(`\ndemo failed:\n - ${failures.join("\n - ")}`);
    process.exit(1);
  }
  console.log("\ndemo passed");
  process.exit(0);
}

console.log(`
${bold("Everything is still running.")} Explore with:

  export KUBECONFIG=${kubeconfig}
  ${kubectlPath} get baton -A
  ${kubectlPath} describe bbtoken platform-ci -n ${namespace}

Press Ctrl-C to stop and clean up (or run: npm run demo -- --cleanup).`);
const stop = async () => {
  await controlPlane.stop();
  await rm(dir, { recursive: true, force: true });
  process.exit(0);
};
process.on("SIGINT", stop);
process.on("SIGTERM", stop);
setInterval(() => undefined, 1 << 30);
