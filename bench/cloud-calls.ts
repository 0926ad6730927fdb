// Bitbucket Cloud REST calls per event, counted from the Cloud simulator's request log.
//
// The simulator delivers its real webhooks (signed, with Cloud's headers) to a local receiver; each delivery goes
// through the Cloud intake and then the calls the pipeline runner makes for it, cold (no .tekton cache): complete
// the event (12-hex hashes), list `.tekton` at the head, read each file, post one status per pipeline. Closed pull
// requests cancel runs by number and make no call. The runner's cache (listing and files per commit) makes the
// second event of one commit cheaper than counted here. Run: node bench/cloud-calls.ts (writes
// bench/results/cloud-calls.json).

import { writeFile } from "node:fs/promises";
import { createServer, type IncomingMessage } from "node:http";
import type { AddressInfo } from "node:net";
import type { BatonEvent } from "../src/events/model.ts";
import { subscribedEvents } from "../src/providers/bitbucket-cloud/payloads.ts";
import { CloudProvider } from "../src/providers/bitbucket-cloud/provider.ts";

// The Cloud simulator lands on its own branch (src/simulator/bitbucket-cloud/); imported by name so this file
// type-checks without it, and fails with a clear message where it is missing.
interface CloudSim {
  apiUrl: string;
  createUser(input: { nickname: string }): unknown;
  createWorkspace(input: { slug: string; owner?: string; members?: string[] }): unknown;
  createRepository(input: { workspace: string; slug: string; isPrivate?: boolean }): Promise<unknown>;
  push(input: {
    workspace: string;
    repo: string;
    branch: string;
    files: Record<string, string>;
    as?: string;
  }): Promise<unknown>;
  createToken(input: { kind: string; workspace: string; repo?: string; name?: string; scopes: string[] }): {
    token: string;
  };
  createWebhook(input: {
    workspace: string;
    repo?: string;
    url: string;
    events: string[];
    secret: string;
    active: boolean;
  }): unknown;
  openPullRequest(input: Record<string, unknown>): Promise<unknown>;
  comment(input: { workspace: string; repo: string; id: number; text: string; as: string }): Promise<unknown>;
  declinePullRequest(input: { workspace: string; repo: string; id: number; as: string }): Promise<unknown>;
  fork(input: { from: { workspace: string; repo: string }; workspace: string; slug: string }): Promise<unknown>;
  settled(): Promise<unknown>;
  markRequests(): number;
  requests(filter: { since: number }): { method: string; group: string }[];
  close(): Promise<void>;
}
const simulatorModule = "../src/simulator/bitbucket-cloud/index.ts";
const { startCloudSimulator } = (await import(simulatorModule).catch(() => {
  throw new Error("bench/cloud-calls.ts needs the Bitbucket Cloud simulator (src/simulator/bitbucket-cloud/)");
})) as { startCloudSimulator(options: object): Promise<CloudSim> };

const pipeline = (name: string) => `apiVersion: tekton.dev/v1
kind: PipelineRun
metadata:
  name: ${name}
  annotations:
    pipelinesascode.tekton.dev/on-event: "[pull_request, push]"
spec:
  pipelineSpec:
    tasks: []
`;

const sim = await startCloudSimulator({});
const deliveries: { key: string; body: unknown; headers: IncomingMessage["headers"] }[] = [];
const receiver = createServer((req, res) => {
  const chunks: Buffer[] = [];
  req.on("data", (c: Buffer) => chunks.push(c));
  req.on("end", () => {
    deliveries.push({
      key: String(req.headers["x-event-key"]),
      body: JSON.parse(Buffer.concat(chunks).toString("utf8")),
      headers: req.headers,
    });
    res.end("ok");
  });
});
await new Promise<void>((resolve) => receiver.listen(0, "127.0.0.1", resolve));
const hookUrl = `http://127.0.0.1:${(receiver.address() as AddressInfo).port}/hooks/bitbucket-cloud`;

sim.createUser({ nickname: "dev" });
sim.createUser({ nickname: "outsider" });
sim.createWorkspace({ slug: "ws", owner: "dev", members: ["dev"] });
sim.createWorkspace({ slug: "outside", owner: "outsider" });
await sim.createRepository({ workspace: "ws", slug: "app", isPrivate: true });
await sim.push({
  workspace: "ws",
  repo: "app",
  branch: "main",
  files: { "README.md": "# app\n", ".tekton/build.yaml": pipeline("build"), ".tekton/lint.yaml": pipeline("lint") },
  as: "dev",
});
const { token } = sim.createToken({
  kind: "repository",
  workspace: "ws",
  repo: "app",
  name: "baton",
  scopes: ["repository", "pullrequest", "webhook"],
});
sim.createWebhook({
  workspace: "ws",
  repo: "app",
  url: hookUrl,
  events: [...subscribedEvents],
  secret: "s",
  active: true,
});
const provider = new CloudProvider({ baseUrl: sim.apiUrl, auth: { kind: "bearer", token } });
const ref = { owner: "ws", name: "app" };

async function settle(): Promise<void> {
  await sim.settled();
  await new Promise((r) => setTimeout(r, 50));
}

/** What the runner asks Cloud for one delivered event, cold. */
async function handle(event: BatonEvent): Promise<string> {
  if (event.type === "ping" || event.type === "pull_request_closed") return "cancel by number";
  const completed = await provider.completeEvent(event);
  if (!completed.ok) return completed.error;
  const sha = completed.event.type === "ping" ? "" : completed.event.sha;
  if (
    "pullRequest" in completed.event &&
    completed.event.pullRequest.fromRepository.fork &&
    completed.forkReadable === false
  )
    return "fork unreadable: FAILED status";
  const entries = (await provider.listFolder(ref, ".tekton", sha)) ?? [];
  for (const e of entries) await provider.readFile(ref, `.tekton/${e.path}`, sha);
  for (const e of entries)
    await provider.setBuildStatus(ref, sha, {
      key: `baton-${e.path}`.slice(0, 40),
      state: "INPROGRESS",
      url: "https://x",
    });
  return `${entries.length} pipelines`;
}

const rows: { step: string; event: string; calls: number; by: Record<string, number>; outcome: string }[] = [];
async function step(name: string, action: () => Promise<unknown>): Promise<void> {
  const before = deliveries.length;
  await action();
  await settle();
  for (const d of deliveries.slice(before)) {
    const result = provider.intake.classify(d.key, d.body, d.headers, { receivedAt: new Date() });
    if (!result.ok) throw new Error(result.error);
    const events = result.events;
    if (events.length === 0) {
      rows.push({ step: name, event: d.key, calls: 0, by: {}, outcome: result.ignored.map((i) => i.reason).join(",") });
      continue;
    }
    for (const event of events) {
      const mark = sim.markRequests();
      const outcome = await handle(event);
      const calls = sim.requests({ since: mark }).filter((r) => r.group !== "git");
      const by: Record<string, number> = {};
      for (const c of calls) by[`${c.method} ${c.group}`] = (by[`${c.method} ${c.group}`] ?? 0) + 1;
      rows.push({ step: name, event: `${d.key} → ${event.type}`, calls: calls.length, by, outcome });
    }
  }
}

await step("push a new branch", () =>
  sim.push({ workspace: "ws", repo: "app", branch: "feature", files: { "src.txt": "1\n" }, as: "dev" }),
);
let prId = 0;
await step("open a pull request", async () => {
  const pr = (await sim.openPullRequest({
    workspace: "ws",
    repo: "app",
    title: "Feature 🚀",
    sourceBranch: "feature",
    author: "dev",
  })) as { id: number };
  prId = pr.id;
});
await step("push to its branch", () =>
  sim.push({ workspace: "ws", repo: "app", branch: "feature", files: { "src.txt": "2\n" }, as: "dev" }),
);
await step("comment /retest", () =>
  sim.comment({ workspace: "ws", repo: "app", id: prId, text: "/retest", as: "dev" }),
);
await step("decline", () => sim.declinePullRequest({ workspace: "ws", repo: "app", id: prId, as: "dev" }));
await sim.fork({ from: { workspace: "ws", repo: "app" }, workspace: "outside", slug: "app-fork" });
await step("fork pull request (fork in another workspace)", async () => {
  await sim.push({
    workspace: "outside",
    repo: "app-fork",
    branch: "fix",
    files: { "fix.txt": "1\n" },
    as: "outsider",
  });
  await sim.openPullRequest({
    workspace: "ws",
    repo: "app",
    title: "Fix from a fork",
    sourceBranch: "fix",
    sourceRepo: { workspace: "outside", repo: "app-fork" },
    author: "outsider",
  });
});

console.table(
  rows.map((r) => ({ step: r.step, event: r.event, calls: r.calls, outcome: r.outcome, by: JSON.stringify(r.by) })),
);
await writeFile(new URL("results/cloud-calls.json", import.meta.url), `${JSON.stringify(rows, null, 2)}\n`);
await provider.close();
receiver.close();
await sim.close();
