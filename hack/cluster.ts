// `make cluster-up`: a control plane with Baton's and Tekton's CRDs that outlives this command, for exploring with
// the real kubectl. `make cluster-down` stops it.
import { rm } from "node:fs/promises";
import { join } from "node:path";
import { installCrds, kubectlPath, repoRoot, startControlPlane, stopControlPlaneAt } from "./lib/controlplane.ts";

const dir = join(repoRoot, ".cache/cluster");
const command = process.argv[2];

if (command === "up") {
  if (await stopControlPlaneAt(dir)) console.log("stopped the previous control plane");
  await rm(dir, { recursive: true, force: true });
  const controlPlane = await startControlPlane({ dir });
  await installCrds(controlPlane.kubeconfigPath);
  console.log(`control plane running (pid ${controlPlane.pid}) at ${controlPlane.server}
with Baton's and Tekton's CRDs installed. Use it with:

  export KUBECONFIG=${controlPlane.kubeconfigPath}
  ${kubectlPath} get crds

Logs are in ${dir}. Stop it with: make cluster-down`);
} else if (command === "down") {
  console.log((await stopControlPlaneAt(dir)) ? "control plane stopped" : "no control plane was running");
} else {
  console.error("usage: node hack/cluster.ts up|down");
  process.exit(2);
}
