// `make cluster-up`: a control plane with Baton's and Tekton's CRDs that outlives this command, for exploring with
// the real kubectl; with `TEKTON=real` (`--tekton real`) it also runs Tekton's own controller and admission webhook,
// a scheduler and kwok's simulated Node (hack/lib/tekton.ts), so PipelineRuns really run (their Pods are
// simulated: no container runtime). `make cluster-down` stops all of it.
import { rm } from "node:fs/promises";
import { join } from "node:path";
import { parseArgs } from "node:util";
import { installCrds, kubectlPath, repoRoot, startControlPlane, stopControlPlaneAt } from "./lib/controlplane.ts";
import { startTekton, stopTektonAt } from "./lib/tekton.ts";

const dir = join(repoRoot, ".cache/cluster");
const { values, positionals } = parseArgs({
  allowPositionals: true,
  options: { tekton: { type: "string", default: "crds" } },
});
const command = positionals[0];
const tekton = values.tekton ?? "crds";

if (command === "up" && tekton !== "crds" && tekton !== "real") {
  console.error(`--tekton (TEKTON=) is "crds" (the default: CRDs only) or "real", not ${JSON.stringify(tekton)}`);
  process.exit(2);
} else if (command === "up") {
  if (await stopTektonAt(dir)) console.log("stopped the previous Tekton");
  if (await stopControlPlaneAt(dir)) console.log("stopped the previous control plane");
  await rm(dir, { recursive: true, force: true });
  const controlPlane = await startControlPlane({ dir });
  await installCrds(controlPlane.kubeconfigPath);
  if (tekton === "real") await startTekton(controlPlane.kubeconfigPath, dir);
  const what =
    tekton === "real"
      ? `with Baton's and Tekton's CRDs installed and the real Tekton Pipelines controller and admission webhook
running; Pods are simulated by kwok on Node kwok-node (no container runtime: every step exits 0 unless its Pod
carries the annotation kwok.baton.dev/exit-code, see hack/kwok/stages.yaml)`
      : "with Baton's and Tekton's CRDs installed (no Tekton controller: nothing runs PipelineRuns)";
  console.log(`control plane running (pid ${controlPlane.pid}) at ${controlPlane.server}
${what}. Use it with:

  export KUBECONFIG=${controlPlane.kubeconfigPath}
  ${kubectlPath} get crds

Logs are in ${dir}. Stop it with: make cluster-down`);
} else if (command === "down") {
  if (await stopTektonAt(dir)) console.log("Tekton stopped");
  console.log((await stopControlPlaneAt(dir)) ? "control plane stopped" : "no control plane was running");
} else {
  console.error("usage: node hack/cluster.ts up [--tekton crds|real] | down");
  process.exit(2);
}
