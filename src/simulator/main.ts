import { parseArgs } from "node:util";
import { seedDemo, startSimulator } from "./index.ts";

/**
 * `npm run sim -- --port N --data DIR`: a seeded Bitbucket DC simulator for the demo. Secrets are printed once,
 * to the terminal of the person who started it, and never logged.
 */
const { values } = parseArgs({
  options: {
    port: { type: "string", default: "7990" },
    host: { type: "string", default: "127.0.0.1" },
    data: { type: "string" },
    "base-url": { type: "string" },
    version: { type: "string" },
    "admin-password": { type: "string" },
    "no-seed": { type: "boolean", default: false },
    log: { type: "boolean", default: false },
    help: { type: "boolean", short: "h", default: false },
  },
});

if (values.help) {
  console.log(`Usage: npm run sim -- [--port 7990] [--host 127.0.0.1] [--data DIR] [--base-url URL] [--version 9.4.0]
                      [--admin-password PW] [--no-seed] [--log]`);
  process.exit(0);
}

const port = Number(values.port);
if (!Number.isInteger(port) || port < 0 || port > 65535) {
  console.error(`--port ${values.port}: expected a TCP port number`);
  process.exit(2);
}

const sim = await startSimulator({
  port,
  host: values.host,
  dataDir: values.data,
  baseUrl: values["base-url"],
  version: values.version,
  log: values.log,
}).catch((err: unknown) => {
  console.error(`Cannot start the simulator: ${err instanceof Error ? err.message : String(err)}`);
  process.exit(1);
});

console.log(`Bitbucket Data Center simulator ${sim.version} listening on ${sim.url}`);
console.log(`  data: ${sim.dataDir}   control API: ${sim.url}/_sim/`);
if (!values["no-seed"]) {
  const seed = await seedDemo(sim, { adminPassword: values["admin-password"] });
  console.log(`  admin user: ${seed.admin.name}   password: ${seed.admin.password}`);
  console.log(`  repository: ${seed.project}/${seed.repo}   ${seed.cloneUrl}`);
  console.log(`  project token (REPO_WRITE, shown once): ${seed.token.token}`);
  console.log(`  clone: ${seed.cloneCommand}`);
}

let stopping = false;
const stop = async (): Promise<void> => {
  if (stopping) return;
  stopping = true;
  await sim.close();
  process.exit(0);
};
process.on("SIGINT", () => void stop());
process.on("SIGTERM", () => void stop());
