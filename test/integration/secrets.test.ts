// No secret ever leaves the places it belongs (Kubernetes Secrets, Bitbucket's own token and webhook stores).
// One representative scenario runs everything that handles credentials: a managed token issued with a wrong admin
// password, fixed, then rotated twice; an externally managed token pasted with a trailing newline; a Repository on
// the managed token with a webhook Baton manages (and a secret it generates); a pull request whose pipeline runs
// and whose broken `.tekton` file earns a comment; and a Repository whose URL carries a pasted token by mistake,
// which Baton must refuse rather than quote. Then every operator log line, every Event, the status of every Baton object,
// every PipelineRun Baton made, its metrics and everything it wrote to Bitbucket are searched for every secret.
import assert from "node:assert/strict";
import { test } from "node:test";
import { freePort } from "../../hack/lib/net.ts";
import { TektonStandIn } from "../../hack/lib/tekton-standin.ts";
import type { Repository } from "../../src/api/repository.ts";
import { PipelineRuns } from "../../src/pipelines/tekton.ts";
import { Repositories, webhookSecretName } from "../../src/repositories/resource.ts";
import { realClock } from "../../src/runtime/clock.ts";
import { Events, type KubeObject, Secrets } from "../../src/runtime/kube.ts";
import { issueBackoff } from "../../src/tokens/lifecycle.ts";
import { Tokens } from "../../src/tokens/reconciler.ts";
import { simulatorClock, startOperator } from "../support/operator.ts";
import { prRun } from "../support/pipelines-world.ts";
import { createSignedRun } from "../support/status-world.ts";
import {
  ADMIN_PASSWORD,
  day,
  getToken,
  isReady,
  poke,
  ROOT_PASSWORD,
  secretValue,
  tokenObject,
  tokenWorld,
} from "../support/token-world.ts";
import { waitFor } from "../support/wait.ts";

const ADMIN = ADMIN_PASSWORD;
const WRONG_ADMIN = "Wr0ng-admin-pw-77d1e3";
const ROOT = ROOT_PASSWORD;
const DEV = "dev-password-93bd1c";

test("no token, password or webhook secret in logs, Events, statuses, conditions or what Baton writes to Bitbucket", async (t) => {
  const w = await tokenWorld(t);
  const { sim, kube, ns } = w;
  const tekton = new TektonStandIn(kube);
  /** Every secret of the scenario, with what it is (for the failure message). */
  const secrets = new Map<string, string>([
    [ADMIN, "the admin password"],
    [WRONG_ADMIN, "the wrong admin password"],
    [ROOT, "the root password"],
    [DEV, "dev's password"],
  ]);
  const basic = (user: string, password: string) => Buffer.from(`${user}:${password}`).toString("base64");
  secrets.set(basic("admin", ADMIN), "the admin's Basic credentials");
  secrets.set(basic("admin", WRONG_ADMIN), "the wrong Basic credentials");
  const addToken = (value: string, what: string) => {
    secrets.set(value, what);
    // The random part alone would be as bad as the whole token.
    secrets.set(value.replace(/^BBDC-/, ""), `${what} (without its prefix)`);
  };
  /** Token ids whose secrets are known: the test's own and those Baton issued (read from the Secrets). */
  const known = new Set<string>();

  sim.createUser({ name: "dev", password: DEV });
  sim.grant({ permission: "REPO_WRITE", user: "dev", project: "PLATFORM", repo: "api" });
  await sim.push({
    project: "PLATFORM",
    repo: "api",
    branch: "main",
    files: { ".tekton/build.yaml": prRun, ".tekton/broken.yaml": "spec: [unclosed\n" },
  });
  await kube.patch(Secrets, { namespace: ns, name: "bb-admin" }, { stringData: { password: WRONG_ADMIN } });

  // An externally managed token, pasted with a trailing newline as `kubectl create secret --from-file` does.
  const external = sim.createToken({
    scope: { kind: "project", project: "PLATFORM" },
    name: "external",
    permissions: ["REPO_READ"],
    expiryDays: 30,
  });
  addToken(external.token, "the external token");
  known.add(external.id);
  await kube.create(Secrets, {
    apiVersion: "v1",
    kind: "Secret",
    metadata: {
      name: "external-token",
      namespace: ns,
      annotations: { "baton.dev/expires-at": new Date(sim.clock.now() + 30 * day).toISOString() },
    },
    stringData: { token: `${external.token}\n` },
  });
  // A token someone pasted into a Repository URL by mistake: every error about that Repository quotes its URL.
  const pasted = sim.createToken({
    scope: { kind: "project", project: "PLATFORM" },
    name: "pasted",
    permissions: ["REPO_READ"],
  });
  addToken(pasted.token, "the token pasted into a URL");
  known.add(pasted.id);
  await kube.create(Secrets, {
    apiVersion: "v1",
    kind: "Secret",
    metadata: { name: "pasted-token", namespace: ns },
    stringData: { token: pasted.token },
  });

  const port = await freePort();
  const op = await startOperator(t, ns, {
    domainClock: simulatorClock(sim, realClock),
    // statusGrace: the leaky run below is not created by Baton's runner, so the reporter posts for it at once.
    config: {
      intakeUrl: `http://127.0.0.1:${port}/hooks/bitbucket`,
      intakePort: String(port),
      podNamespace: ns,
      statusGrace: "0s",
    },
  });

  // Baton's own tokens are captured from their Secret whenever it changes.
  const captureIssued = async () => {
    const secret = await kube.get(Secrets, { namespace: ns, name: "ci-token" });
    const id = secret?.metadata?.annotations?.["baton.dev/token-id"];
    const value = await secretValue(w, "ci-token");
    if (id && value && !known.has(id)) {
      known.add(id);
      addToken(value, `Baton's token ${id}`);
    }
  };
  let capturing = true;
  t.after(() => {
    capturing = false;
  });
  const capturer = (async () => {
    while (capturing) {
      await captureIssued().catch(() => undefined);
      await new Promise((r) => setTimeout(r, 20));
    }
  })();

  await kube.create(Tokens, tokenObject(w, "ci", { permissions: ["REPO_ADMIN"] }));
  const { adminCredentialsRef: _managed, ...externalSpec } = tokenObject(w, "external").spec;
  await kube.create(Tokens, { ...tokenObject(w, "external"), spec: externalSpec });
  await kube.create(Repositories, {
    apiVersion: "baton.dev/v1alpha1",
    kind: "Repository",
    metadata: { name: "api", namespace: ns },
    spec: {
      url: `${sim.url}/projects/PLATFORM/repos/api`,
      tokenRef: { name: "ci" },
      cloneTokenRef: { kind: "BitbucketProjectToken", name: "external" },
      webhook: { managed: true, scope: "repository" },
      pipelines: { path: ".tekton" },
    },
  } as Repository);
  await kube.create(Repositories, {
    apiVersion: "baton.dev/v1alpha1",
    kind: "Repository",
    metadata: { name: "leaky", namespace: ns },
    spec: {
      url: `${sim.url}/${pasted.token}/projects/PLATFORM/repos/api`,
      secretRef: { name: "pasted-token", key: "token" },
      webhook: { managed: false, scope: "repository" },
      pipelines: { path: ".tekton" },
    },
  } as Repository);

  // The wrong admin password: the issue fails and says so, without the password.
  await waitFor(async () => ((await getToken(w, "ci"))?.status?.failedIssueAttempts ?? 0) > 0, {
    message: "the issue with the wrong admin password failed",
  });
  await waitFor(async () => isReady(await getToken(w, "external")), { message: "the external token validated" });
  await kube.patch(Secrets, { namespace: ns, name: "bb-admin" }, { stringData: { password: ADMIN } });
  sim.clock.advance(issueBackoff(1) + 1_000);
  await poke(w, "ci");
  await waitFor(async () => (await getToken(w, "ci"))?.status?.revision === 1, {
    message: "ci issued",
    timeout: 20_000,
  });

  // The managed webhook, with the secret Baton generated.
  const hook = await waitFor(() => sim.webhooks({ project: "PLATFORM", repo: "api" })[0], {
    message: "Baton's webhook in Bitbucket",
    timeout: 30_000,
  });
  assert.ok(hook.secret, "the webhook is signed");
  secrets.set(hook.secret, "the webhook secret");
  const generated = await secretValue(w, webhookSecretName({ metadata: { name: "api", namespace: ns } }), "secret");
  if (generated) secrets.set(generated, "the generated webhook secret");

  // A pull request: a PipelineRun (with the external token as its git credential), a comment about the broken
  // file, build statuses from queued to SUCCESSFUL.
  await sim.push({
    project: "PLATFORM",
    repo: "api",
    branch: "feature",
    files: { "f.txt": "f\n" },
    startPoint: "main",
    as: "dev",
  });
  const pr = await sim.openPullRequest({
    project: "PLATFORM",
    repo: "api",
    from: { branch: "feature" },
    title: "Feature",
    as: "dev",
  });
  await sim.settled();
  const [run] = await waitFor(
    async () => {
      const { items } = await kube.list(PipelineRuns, {
        namespace: ns,
        labelSelector: `baton.dev/pull-request=${pr.id},baton.dev/repository=api`,
      });
      return items.length > 0 ? items : undefined;
    },
    { message: "the pull request's PipelineRun", timeout: 30_000 },
  );
  const runName = run?.metadata?.name ?? "";
  await waitFor(() => sim.comments({ project: "PLATFORM", repo: "api", id: pr.id }).length > 0, {
    message: "Baton's comment about the broken .tekton file",
  });
  await tekton.start(ns, runName);
  await tekton.finish(ns, runName, "Succeeded");
  await waitFor(() => sim.buildStatuses({ commit: pr.fromRef.latestCommit }).some((s) => s.state === "SUCCESSFUL"), {
    message: "SUCCESSFUL reported",
  });

  // A run of the Repository whose URL holds the pasted token: that URL is refused, so reporting its status fails
  // with an error that is logged. Signed with the key in the operator's namespace (podNamespace ns here).
  await createSignedRun(
    kube,
    {
      apiVersion: "tekton.dev/v1",
      kind: "PipelineRun",
      metadata: {
        generateName: "leaky-",
        namespace: ns,
        labels: {
          "app.kubernetes.io/managed-by": "baton",
          "baton.dev/repository": "leaky",
          "baton.dev/sha": pr.fromRef.latestCommit,
          "baton.dev/pipeline": "build",
        },
      },
      spec: { pipelineSpec: { tasks: [{ name: "t", taskSpec: { steps: [{ name: "s", image: "alpine" }] } }] } },
    } as KubeObject,
    ns,
  );
  await waitFor(() => op.logs.some((l) => l.name?.toString().startsWith("leaky-") && l.level === "error"), {
    message: "the failed status report of the leaky Repository's run logged",
  });

  // Two rotations of the managed token, on the simulator's clock.
  for (const revision of [2, 3]) {
    const before = await getToken(w, "ci");
    sim.clock.set(Date.parse(before?.status?.renewalTime ?? "") + 1_000);
    await poke(w, "ci");
    await waitFor(async () => (await getToken(w, "ci"))?.status?.revision === revision, {
      message: `ci revision ${revision}`,
      timeout: 20_000,
    });
  }
  await captureIssued();
  capturing = false;
  await capturer;

  // Every token the simulator ever issued is one whose secret the test knows.
  const issuedIds = new Set([...known, ...sim.tokens().map((tk) => tk.id)]);
  assert.deepEqual([...issuedIds].sort(), [...known].sort(), "the secrets of every issued token were captured");
  assert.ok(known.size >= 5, `two tokens of the test's own and three of Baton's (${known.size})`);

  // Gather everything a user, an auditor or a log pipeline would see.
  const seen: { where: string; text: string }[] = [];
  op.logs.forEach((line, i) => void seen.push({ where: `log line ${i} (${line.msg})`, text: JSON.stringify(line) }));
  for (const event of (await kube.list(Events, { namespace: ns })).items) {
    seen.push({ where: `Event ${event.metadata?.name}`, text: JSON.stringify(event) });
  }
  for (const [kind, list] of [
    ["BitbucketProjectToken", await kube.list(Tokens, { namespace: ns })],
    ["Repository", await kube.list(Repositories, { namespace: ns })],
  ] as const) {
    for (const item of list.items) {
      seen.push({ where: `${kind} ${item.metadata?.name} status`, text: JSON.stringify(item.status ?? {}) });
    }
  }
  for (const item of (await kube.list(PipelineRuns, { namespace: ns })).items) {
    seen.push({ where: `PipelineRun ${item.metadata?.name}`, text: JSON.stringify(item) });
  }
  for (const status of sim.buildStatuses())
    seen.push({ where: `build status ${status.key}`, text: JSON.stringify(status) });
  for (const comment of sim.comments()) seen.push({ where: `comment ${comment.id}`, text: JSON.stringify(comment) });
  for (const token of sim.tokens()) seen.push({ where: `Bitbucket token ${token.id}`, text: JSON.stringify(token) });
  for (const webhook of sim.webhooks()) {
    // Bitbucket keeps the webhook's own secret, as it must; everything else about the webhook is Baton's writing.
    seen.push({ where: `webhook ${webhook.id}`, text: JSON.stringify({ ...webhook, secret: null }) });
  }
  seen.push({ where: "metrics", text: await op.manager.metrics.text() });

  // The scenario did what it says: there is something to search.
  const ci = await getToken(w, "ci");
  assert.equal(ci?.status?.revision, 3);
  assert.ok(sim.comments().length > 0, "a comment was written");
  assert.ok(sim.buildStatuses().length > 0, "build statuses were written");
  assert.ok(op.logs.length > 30, `${op.logs.length} log lines`);
  assert.ok(seen.filter((s) => s.where.startsWith("Event")).length > 5, "Events were recorded");
  assert.ok(
    (await kube.list(Events, { namespace: ns })).items.some((e) =>
      /401/.test((e as { message?: string }).message ?? ""),
    ),
    "the wrong password's failure was told",
  );

  // The pasted token made the URL invalid rather than spreading into status, logs and calls.
  const leaky = (await kube.list(Repositories, { namespace: ns })).items.find((r) => r.metadata?.name === "leaky");
  const ready = leaky?.status?.conditions?.find((c) => c.type === "Ready");
  assert.equal(ready?.reason, "InvalidURL");
  assert.match(ready?.message ?? "", /carries a credential/);

  const leaks: string[] = [];
  for (const { where, text } of seen) {
    for (const [value, what] of secrets) if (text.includes(value)) leaks.push(`${what} in ${where}`);
  }
  assert.deepEqual(leaks, [], "no secret anywhere");
});
