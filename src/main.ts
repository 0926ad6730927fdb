// Baton's entry point (`npm start`): reads the configuration, builds the manager and runs it until SIGTERM.
import { ConfigError, loadConfig } from "./runtime/config.ts";
import { createLogger } from "./runtime/logger.ts";
import { Manager } from "./runtime/manager.ts";

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
  const manager = new Manager({ config, logger });
  // Domain modules register their controllers and runnables on the manager here (tokens, repositories,
  // pipelines, status, webhook intake), before it starts.
  await manager.run();
} catch (err) {
  logger.fatal({ err }, "baton stopped with an error");
  process.exit(1);
}
