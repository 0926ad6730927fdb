import { parseArgs } from "node:util";
import { seedCloudDemo, seedDemo, startCloudSimulator, startSimulator } from "./index.ts";

/**
 * `npm run sim -- [--provider datacenter|cloud] --port N --data DIR`: a seeded Bitbucket simulator for the demo. Secrets are printed once,
 * to the terminal of the person who started it, and never logged.
 */
const { values } = parseArgs({
  options: {
    provider: { type: "string", default: "datacenter" },
    port: { type: "string" },
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
  console.log(`Usage: npm run sim -- [--provider datacenter|cloud] [--port 7990 (cloud: 7991)] [--host 127.0.0.1] [--data DIR] [--base-url URL] [--version 9.4.0]
                      [--admin-password PW] [--no-seed] [--log]`);
  process.exit(0);
}

const provider = values.provider === "dc" ? "datacenter" : values.provider;
if (provider !== "datacenter" && provider !== "cloud") {
  console.error(`--provider ${values.provider}: expected datacenter or cloud`);
  process.exit(2);
}
const port = Number(values.port ?? (provider === "cloud" ? "7991" : "7990"));
if (!Number.isInteger(port) || port < 0 || port > 65535) {
  console.error(`--port ${values.port}: expected a TCP port number`);
  process.exit(2);
}

const fail = (err: unknown): never => {
  console.error(`Cannot start the simulator: ${err instanceof Error ? err.message : String(err)}`);
  process.exit(1);
};
const common = { port, host: values.host, dataDir: values.data, baseUrl: values["base-url"], log: values.log };

async function runCloud(): Promise<{ close(): Promise<void> }> {
  const sim = await startCloudSimulator(common).catch(fail);
  console.log(`Bitbucket Cloud simulator listening on ${sim.url}`);
  console.log(`  data: ${sim.dataDir}   REST: ${sim.apiUrl}   control API: ${sim.url}/_sim/`);
  if (!values["no-seed"]) {
    const seed = await seedCloudDemo(sim, { ownerPassword: values["admin-password"] });
    console.log(`  owner: ${seed.owner.nickname}   password: ${seed.owner.password}`);
    console.log(`  repository: ${seed.workspace}/${seed.repo}   ${seed.cloneUrl}`);
    console.log(`  repository access token (${seed.token.scopes.join(", ")}; shown once): ${seed.token.token}`);
    console.log(`  clone: ${seed.cloneCommand}`);
  }
  return sim;
}

async function runDataCenter(): Promise<{ close(): Promise<void> }> {
  const sim = await startSimulator({ ...common, version: values.version }).catch(fail);
  console.log(`Bitbucket Data Center simulator ${sim.version} listening on ${sim.url}`);
  console.log(`  data: ${sim.dataDir}   control API: ${sim.url}/_sim/`);
  if (!values["no-seed"]) {
    const seed = await seedDemo(sim, { adminPassword: values["admin-password"] });
    console.log(`  admin user: ${seed.admin.name}   password: ${seed.admin.password}`);
    console.log(`  repository: ${seed.project}/${seed.repo}   ${seed.cloneUrl}`);
    console.log(`  project token (REPO_WRITE, shown once): ${seed.token.token}`);
    console.log(`  clone: ${seed.cloneCommand}`);
  }
  return sim;
}

const sim = provider === "cloud" ? await runCloud() : await runDataCenter();
let stopping = false;
const stop = async (): Promise<void> => {
  if (stopping) return;
  stopping = true;
  await sim.close();
  process.exit(0);
};
process.on("SIGINT", () => void stop());
process.on("SIGTERM", () => void stop());
