// One control plane per `npm test` run, shared by every test file (each test works in its own namespace).
// Test files run in child processes that inherit this process's environment, which is how they find it.
import { type ControlPlane, installCrds, operatorKubeconfig, startControlPlane } from "../../hack/lib/controlplane.ts";

let controlPlane: ControlPlane | undefined;

export async function globalSetup(): Promise<void> {
  controlPlane = await startControlPlane({ dieWithParent: true });
  await installCrds(controlPlane.kubeconfigPath);
  process.env.BATON_TEST_KUBECONFIG = controlPlane.kubeconfigPath;
  process.env.BATON_TEST_ETCD = controlPlane.etcdUrl;
  process.env.BATON_TEST_DIR = controlPlane.dir;
  process.env.BATON_TEST_OPERATOR_KUBECONFIG = await operatorKubeconfig(controlPlane.kubeconfigPath);
}

export async function globalTeardown(): Promise<void> {
  await controlPlane?.stop();
}
