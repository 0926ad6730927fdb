// The GitHub App's own webhook kept in sync through the operator, on the real API server and the GitHub simulator:
// an edit in the App's settings behind Baton's back is repaired within a drift interval (and deliveries reach Baton
// again), fifty Repositories of the App cost one read of its hook config per interval, a Repository with another
// secret is refused rather than written, and a wrong App key is said plainly without any secret in sight.
import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { PipelineRuns } from "../../src/pipelines/tekton.ts";
import { Repositories } from "../../src/repositories/resource.ts";
import { condition, type GitHubAppWorld, githubAppWorld } from "../support/github-world.ts";
import { waitFor } from "../support/wait.ts";

const pipeline = `apiVersion: tekton.dev/v1
kind: PipelineRun
metadata:
  name: build
  annotations:
    pipelinesascode.tekton.dev/on-event: "[push]"
    pipelinesascode.tekton.dev/on-target-branch: "[main]"
spec:
  params:
    - name: revision
      value: "{{ revision }}"
  pipelineSpec:
    params:
      - name: revision
    tasks: []
`;

const webhookSecret = "äpp-hoοk-sécret-🔑";
const otherSecret = "another-sëcret-🗝️";
const driftInterval = 3_000;

describe("the GitHub App's own webhook through the operator", () => {
  let w: GitHubAppWorld;
  const closers: (() => Promise<void> | void)[] = [];
  const scope = { after: (fn: () => Promise<void> | void) => closers.push(fn) };
  const hookReads = (since: number) =>
    w.sim.requests({ since }).filter((r) => r.method === "GET" && r.path.endsWith("/app/hook/config")).length;
  const hookWrites = (since: number) =>
    w.sim.requests({ since }).filter((r) => r.method === "PATCH" && r.path.endsWith("/app/hook/config")).length;
  const synced = (name: string, reason = "AppWebhookSynced") =>
    waitFor(
      async () => {
        const r = await w.kube.get(Repositories, { namespace: w.ns, name });
        return condition(r, "WebhookSynced")?.reason === reason ? r : undefined;
      },
      { message: `${name}'s WebhookSynced to be ${reason}` },
    );

  before(async () => {
    // The App starts with Baton's URL and the right secret, but Baton has no record of having set that secret.
    w = await githubAppWorld(scope, {
      webhookSecret,
      operator: { repositoryDriftInterval: driftInterval },
    });
    await w.secret("hook", { secret: webhookSecret });
    await w.repository(
      "hello",
      { webhook: { managed: true, scope: "repository", secretRef: { name: "hook", key: "secret" } } },
      { ".tekton/build.yaml": pipeline },
    );
  });

  after(async () => {
    for (const close of closers.reverse()) await close();
  });

  test("with no record of the secret, Baton writes the App's hook config once and says it is in sync", async () => {
    const repo = await synced("hello");
    assert.equal(condition(repo, "Ready")?.status, "True");
    assert.match(
      condition(repo, "WebhookSynced")?.message ?? "",
      /delivers to http:\/\/127\.0\.0\.1:\d+\/hooks\/github/,
    );
    assert.ok(repo.status?.webhook?.secretPrint, "the print of the secret Baton wrote is recorded");
    assert.deepEqual(repo.metadata?.finalizers ?? [], [], "deleting the Repository never touches the App's hook");
    const hook = w.sim.appHook(w.app.id);
    assert.deepEqual(hook, { url: w.intakeUrl, contentType: "json", secret: webhookSecret, insecureSsl: "0" });
    const told = await waitFor(async () => (await w.events("hello")).find((e) => e.reason === "AppWebhookRepaired"), {
      message: "an Event about the first write",
    });
    assert.match(told.message, /secret/);
  });

  test("a URL changed in the App's settings stops deliveries; Baton repairs it within a drift interval", async () => {
    const mark = w.sim.markRequests();
    w.sim.editAppHook(w.app.id, { url: "http://127.0.0.1:9/moved", contentType: "form", insecureSsl: "1" });
    const lost = await w.sim.push({ owner: "octo-org", repo: "hello", branch: "main", files: { "a.txt": "a\n" } });
    await w.sim.settled();
    const missed = w.sim.deliveries().find((d) => d.body.includes(lost.sha));
    assert.equal(missed?.url, "http://127.0.0.1:9/moved");
    assert.equal(missed?.status, null, "the moved URL reaches nobody");

    const started = Date.now();
    await waitFor(() => (w.sim.appHook(w.app.id)?.url === w.intakeUrl ? true : undefined), {
      message: "the App's hook URL to be repaired",
      timeout: 4 * driftInterval,
    });
    console.log(`App hook URL repaired ${Date.now() - started} ms after the edit (drift interval ${driftInterval} ms)`);
    assert.equal(w.sim.appHook(w.app.id)?.insecureSsl, "0");
    assert.equal(w.sim.appHook(w.app.id)?.contentType, "json");
    assert.equal(w.sim.appHook(w.app.id)?.secret, webhookSecret);
    assert.equal(hookWrites(mark), 1, "one PATCH repairs every drifted field");
    const told = await waitFor(
      async () => (await w.events("hello")).find((e) => e.reason === "AppWebhookRepaired" && /\burl\b/.test(e.message)),
      { message: "a Normal Event naming url" },
    );
    assert.equal(told.type, "Normal");
    assert.match(told.message, /url, content_type, insecure_ssl/);

    const pushed = await w.sim.push({ owner: "octo-org", repo: "hello", branch: "main", files: { "b.txt": "b\n" } });
    await w.sim.settled();
    await waitFor(
      async () => {
        const { items } = await w.kube.list(PipelineRuns, { namespace: w.ns });
        return items.find((r) => JSON.stringify(r.spec?.params).includes(pushed.sha));
      },
      { message: "a PipelineRun for the push after the repair" },
    );
  });

  test("fifty Repositories of the App: one read of its hook config per drift interval, not fifty", async () => {
    const names = Array.from({ length: 50 }, (_, i) => `svc-${String(i).padStart(2, "0")}-ü`.replace("ü", "u"));
    for (const name of names)
      await w.repository(name, {
        webhook: { managed: true, scope: "repository", secretRef: { name: "hook", key: "secret" } },
      });
    for (const name of names) await synced(name);
    const mark = w.sim.markRequests();
    const started = Date.now();
    await new Promise((resolve) => setTimeout(resolve, 3 * driftInterval));
    const intervals = (Date.now() - started) / driftInterval;
    const reads = hookReads(mark);
    console.log(`GET /app/hook/config: ${reads} in ${intervals.toFixed(1)} drift intervals for 51 Repositories`);
    assert.ok(reads >= 1, "the hook is still checked");
    assert.ok(reads <= Math.ceil(intervals / 0.9) + 1, `at most one read per interval, got ${reads}`);
    assert.equal(hookWrites(mark), 0, "nothing drifted, nothing written");
  });

  test("a Repository with another secret is refused, naming the holder; the config is not rewritten by it", async () => {
    await w.secret("other-hook", { secret: otherSecret });
    const mark = w.sim.markRequests();
    await w.repository("other", {
      webhook: { managed: true, scope: "repository", secretRef: { name: "other-hook", key: "secret" } },
    });
    const refused = await synced("other", "AppWebhookConflict");
    assert.equal(condition(refused, "WebhookSynced")?.status, "False");
    assert.match(condition(refused, "WebhookSynced")?.message ?? "", new RegExp(`Repository ${w.ns}/hello\\b`));
    assert.equal(condition(refused, "Ready")?.status, "False");
    await new Promise((resolve) => setTimeout(resolve, 2 * driftInterval));
    assert.equal(hookWrites(mark), 0);
    assert.equal(w.sim.appHook(w.app.id)?.secret, webhookSecret);
    const warned = (await w.events("other")).find((e) => e.reason === "AppWebhookConflict");
    assert.equal(warned?.type, "Warning");
  });

  test("a wrong App key: WebhookSynced=False saying so, and no secret in Events or status", async () => {
    const second = w.sim.createApp({ name: "Second", owner: "octo-org", webhook: { url: w.intakeUrl, secret: "x" } });
    w.sim.install({ appId: second.id, account: "octo-org" });
    // The first App's key, under the second App's id.
    await w.secret("wrong-key", { "private-key.pem": w.app.privateKey });
    await w.repository("wrong", {
      githubApp: { appId: String(second.id), privateKeyRef: { name: "wrong-key" } },
      webhook: { managed: true, scope: "repository", secretRef: { name: "hook", key: "secret" } },
    });
    const repo = await synced("wrong", "AppKeyRefused");
    const webhook = condition(repo, "WebhookSynced");
    assert.equal(webhook?.status, "False");
    assert.match(webhook?.message ?? "", /GitHub refused the JWT of App \d+ \(401\).*wrong-key/);
    assert.equal(w.sim.appHook(second.id)?.secret, "x", "nothing written with a refused key");
    const everything = JSON.stringify([
      await w.events("wrong"),
      await w.events("other"),
      await w.events("hello"),
      (await w.kube.list(Repositories, { namespace: w.ns })).items.map((r) => r.status),
    ]);
    for (const secret of [webhookSecret, otherSecret, w.app.privateKey.split("\n")[1] ?? "-----"])
      assert.ok(!everything.includes(secret), "no secret or key in Events or status");

    // webhook.managed: false is hands off: what was said of the webhook goes too.
    await w.kube.patch(Repositories, { namespace: w.ns, name: "wrong" }, { spec: { webhook: { managed: false } } });
    await waitFor(
      async () => {
        const r = await w.kube.get(Repositories, { namespace: w.ns, name: "wrong" });
        return r?.status?.observedGeneration === r?.metadata?.generation && !condition(r, "WebhookSynced");
      },
      { message: "no WebhookSynced once the webhook is unmanaged" },
    );
  });

  test("when every Repository reading the claimed Secret is deleted, the one refused takes the hook over", async () => {
    const { items } = await w.kube.list(Repositories, { namespace: w.ns });
    const holders = items.filter((r) => r.spec.webhook?.secretRef?.name === "hook" && r.metadata.name !== "wrong");
    assert.equal(holders.length, 51);
    const mark = w.sim.markRequests();
    for (const r of holders) await w.kube.delete(Repositories, { namespace: w.ns, name: r.metadata.name });
    // The claim passes on: the last deletion wakes the App's other Repositories (or their next drift check finds it).
    const taken = await synced("other");
    assert.equal(condition(taken, "Ready")?.status, "True");
    assert.equal(w.sim.appHook(w.app.id)?.secret, otherSecret);
    assert.equal(w.sim.appHook(w.app.id)?.url, w.intakeUrl, "deleting Repositories did not touch the hook otherwise");
    assert.equal(hookWrites(mark), 1, "one write: the new holder's secret");
  });
});
