// Baton's entry point (`npm start`): reads the configuration, builds the manager and runs it until SIGTERM.

import { createOperator } from "./operator.ts";
import { ConfigError, loadConfig } from "./runtime/config.ts";
import { installationInstance } from "./runtime/installation.ts";
import { KubeClient, loadKubeConfig } from "./runtime/kube.ts";
import { createLogger } from "./runtime/logger.ts";

function configOrExit() {
  try {
    return loadConfig();
  } catch (err) {
    if (err instanceof ConfigError) {
      process.stderr.write(`baton: ${err.message}\n`);
      process.exit(2);
    }
    throw err;
  }
}

const config = configOrExit();
const logger = createLogger({ level: config.logLevel, base: { pod: config.podName } });

process.on("unhandledRejection", (err) => {
  logger.fatal({ err }, "unhandled promise rejection; exiting");
  process.exit(1);
});

try {
  // The composition root registers the domain controllers; the manager runs them until SIGTERM/SIGINT.
  // Read once at start: what this installation calls its tokens and webhook must not change while it runs.
  const instance =
    config.instance ??
    (await installationInstance(new KubeClient(loadKubeConfig(config.kubeconfig)), config.leaseNamespace));
  logger.info({ instance }, "instance name");
  const operator = createOperator({ config, logger, instance });
  try {
    await operator.manager.run();
  } finally {
    await operator.stop();
  }
} catch (err) {
  // A lost lease lands here too ("leader election lost"): exiting is what keeps this replica from running
  // beside the new leader; Kubernetes restarts it as a standby.
  logger.fatal({ err }, "baton stopped with an error");
  process.exit(1);
}
// A reconcile that ignored its abort would otherwise keep the process (and its writes) alive after shutdown.
process.exit(0);
