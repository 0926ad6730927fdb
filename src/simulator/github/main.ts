import { writeFile } from "node:fs/promises";
import { join } from "node:path";
import { parseArgs } from "node:util";
import { startGitHubSimulator } from "./index.ts";

/**
 * `npm run sim:github -- --port N --data DIR`: a seeded GitHub simulator for the demo. The App's private key is
 * written to a file (mode 0600) in the data directory, never printed or logged; installation tokens are minted by
 * the client with a JWT, as against GitHub.
 */
export async function main(args: string[]): Promise<void> {
  const { values } = parseArgs({
    args,
    options: {
      port: { type: "string", default: "7992" },
      host: { type: "string", default: "127.0.0.1" },
      data: { type: "string" },
      "base-url": { type: "string" },
      "webhook-url": { type: "string" },
      "webhook-secret": { type: "string" },
      "no-seed": { type: "boolean", default: false },
      log: { type: "boolean", default: false },
      help: { type: "boolean", short: "h", default: false },
    },
  });

  if (values.help) {
    console.log(`Usage: npm run sim:github -- [--port 7992] [--host 127.0.0.1] [--data DIR] [--base-url URL]
                             [--webhook-url URL] [--webhook-secret S] [--no-seed] [--log]`);
    process.exit(0);
  }

  const port = Number(values.port);
  if (!Number.isInteger(port) || port < 0 || port > 65535) {
    console.error(`--port ${values.port}: expected a TCP port number`);
    process.exit(2);
  }

  const sim = await startGitHubSimulator({
    port,
    host: values.host,
    dataDir: values.data,
    baseUrl: values["base-url"],
    log: values.log,
  }).catch((err: unknown) => {
    console.error(`Cannot start the simulator: ${err instanceof Error ? err.message : String(err)}`);
    process.exit(1);
  });

  console.log(`GitHub simulator listening on ${sim.url} (REST at / and /api/v3)`);
  console.log(`  data: ${sim.dataDir}   control API: ${sim.url}/_sim/`);
  if (!values["no-seed"]) {
    sim.createAccount({ login: "octo-org", type: "Organization" });
    sim.createAccount({ login: "octocat" });
    const repo = await sim.createRepository({
      owner: "octo-org",
      name: "hello-world",
      files: { "README.md": "# hello-world\n" },
    });
    sim.setCollaborator({ owner: "octo-org", repo: "hello-world", login: "octocat", role: "write" });
    const webhookUrl = values["webhook-url"];
    const app = sim.createApp({
      name: "Baton",
      owner: "octo-org",
      permissions: {
        contents: "write",
        pull_requests: "write",
        issues: "write",
        statuses: "write",
        checks: "write",
        repository_hooks: "write",
      },
      events: ["push", "pull_request", "issue_comment"],
      webhook: webhookUrl ? { url: webhookUrl, secret: values["webhook-secret"] ?? null } : null,
    });
    const installation = sim.install({ appId: app.id, account: "octo-org" });
    const keyFile = join(sim.dataDir, "baton-app.pem");
    await writeFile(keyFile, app.privateKey, { mode: 0o600 });
    console.log(
      `  App: ${app.slug} id ${app.id} (client id ${app.clientId}), installation ${installation.id} on octo-org`,
    );
    console.log(`  App private key: ${keyFile}`);
    console.log(`  repository: ${repo.fullName}   ${repo.cloneUrl}`);
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
}

// Run directly (`npm run sim:github`); a dispatching CLI (`sim -- --provider github`) calls main() itself.
if (import.meta.main) await main(process.argv.slice(2));
