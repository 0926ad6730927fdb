// `kubectl baton` as users run it: the real kubectl with the plugin on PATH, against the real API server, the
// Bitbucket simulator and Baton itself. What the CLI predicts (resolve, lint) is compared with what the operator
// does with the same files and event; what it reports (status, doctor, renew) with what the cluster and the
// simulator hold.
import assert from "node:assert/strict";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, test } from "node:test";
import { TektonStandIn } from "../../hack/lib/tekton-standin.ts";
import type { BitbucketProjectToken } from "../../src/api/token.ts";
import { definitionsComment, problemDescription } from "../../src/pipelines/notices.ts";
import { Repositories } from "../../src/repositories/resource.ts";
import { realClock } from "../../src/runtime/clock.ts";
import { Secrets } from "../../src/runtime/kube.ts";
import { Tokens } from "../../src/tokens/reconciler.ts";
import { kubectlWithPlugin, pluginDir } from "../support/cli.ts";
import { createNamespace, useCluster } from "../support/cluster.ts";
import { simulatorClock, startOperator } from "../support/operator.ts";
import {
  gitWith,
  lintRun,
  listRuns,
  openFeaturePullRequest,
  pipelinesWorld,
  prRun,
} from "../support/pipelines-world.ts";
import { bitbucketAnswers, secretValue, tokenObject, tokenWorld } from "../support/token-world.ts";
import { waitFor } from "../support/wait.ts";

const json = (text: string) => JSON.parse(text) as Record<string, unknown> & Record<string, never>;

describe("kubectl baton", () => {
  test("is a kubectl plugin: help, exit codes, kubeconfig and context as kubectl picks them", async (t) => {
    const plugins = await pluginDir(t);
    const ns = await createNamespace(t);
    const list = await kubectlWithPlugin(plugins, ["plugin", "list"]);
    assert.match(list.stdout, /kubectl-baton/, list.stderr);

    const help = await kubectlWithPlugin(plugins, ["baton", "--help"]);
    assert.equal(help.code, 0, help.stderr);
    for (const command of ["resolve", "lint", "renew", "revoke-previous", "status", "doctor"]) {
      assert.match(help.stdout, new RegExp(`\\n  ${command} `), `${command} listed`);
      const own = await kubectlWithPlugin(plugins, ["baton", command, "--help"]);
      assert.equal(own.code, 0, own.stderr);
      assert.match(own.stdout, /Examples:\n {2}kubectl baton /, `${command} --help has examples`);
    }

    const unknown = await kubectlWithPlugin(plugins, ["baton", "frobnicate"]);
    assert.equal(unknown.code, 2);
    assert.match(unknown.stderr, /unknown command "frobnicate"/);
    const badFlag = await kubectlWithPlugin(plugins, ["baton", "status", "--colour"]);
    assert.equal(badFlag.code, 2);
    assert.match(badFlag.stderr, /--colour/);
    const badOutput = await kubectlWithPlugin(plugins, ["baton", "status", "-o", "xml"]);
    assert.equal(badOutput.code, 2);

    // The kubeconfig's context is used unless --context names another; a context it lacks is a usage error.
    const empty = await kubectlWithPlugin(plugins, ["baton", "status", "-n", ns]);
    assert.equal(empty.code, 0, empty.stderr);
    assert.match(empty.stdout, new RegExp(`No Repositories in ${ns}`));
    const missingContext = await kubectlWithPlugin(plugins, ["baton", "status", "--context", "nowhere", "-n", ns]);
    assert.equal(missingContext.code, 2);
    assert.match(missingContext.stderr, /context nowhere is not in the kubeconfig/);
    const { kubeConfig } = await useCluster();
    const named = await kubectlWithPlugin(plugins, [
      "baton",
      "status",
      "--context",
      kubeConfig.getCurrentContext(),
      "-n",
      ns,
      "-o",
      "json",
    ]);
    assert.equal(named.code, 0, named.stderr);
    assert.deepEqual(json(named.stdout), { namespace: ns, repositories: [] });
    // The namespace comes from the context when -n is absent, as kubectl does.
    const dir = await mkdtemp(join(tmpdir(), "kubeconfig-"));
    t.after(() => rm(dir, { recursive: true, force: true }));
    const config = JSON.parse(kubeConfig.exportConfig()) as { contexts: { context: Record<string, string> }[] };
    for (const c of config.contexts) c.context.namespace = ns;
    await writeFile(join(dir, "config"), JSON.stringify(config));
    const fromContext = await kubectlWithPlugin(plugins, ["baton", "status", "-o", "json"], {
      env: { KUBECONFIG: join(dir, "config") },
    });
    assert.equal(fromContext.code, 0, fromContext.stderr);
    assert.equal(json(fromContext.stdout).namespace, ns);

    const notFound = await kubectlWithPlugin(plugins, ["baton", "doctor", "nope", "-n", ns]);
    assert.equal(notFound.code, 4);
    assert.match(notFound.stderr, new RegExp(`Repository ${ns}/nope not found`));
  });

  test("renew waits and prints the Renewed Event; revoke-previous revokes the old token at once", async (t) => {
    const plugins = await pluginDir(t);
    const w = await tokenWorld(t);
    const { ns, sim, kube } = w;
    await startOperator(t, ns, { domainClock: simulatorClock(sim, realClock), tokenValidationInterval: 0 });
    await kube.create(Tokens, tokenObject(w, "ci"));
    const first = await waitFor(
      async () => {
        const token = await kube.get(Tokens, { namespace: ns, name: "ci" });
        return token?.status?.revision === 1 ? token : undefined;
      },
      { message: "the first token", timeout: 30_000 },
    );
    const secretToken = async () => (await secretValue(w, "ci-token")) ?? "";
    const answers = (token: string) => bitbucketAnswers(w, token);
    const oldToken = await secretToken();

    const renewed = await kubectlWithPlugin(plugins, ["baton", "renew", "ci", "-n", ns, "--timeout", "60s"]);
    assert.equal(renewed.code, 0, renewed.stderr + renewed.stdout);
    assert.match(renewed.stdout, /^Normal +Renewed +issued .* reason: /m, renewed.stdout);
    assert.match(renewed.stdout, /^Normal +RenewRequested +issued token /m);
    const token = await kube.get(Tokens, { namespace: ns, name: "ci" });
    assert.equal(token?.status?.revision, 2);
    assert.equal(token?.status?.previousToken?.id, first.status?.tokenId);
    assert.ok(
      renewed.stdout.includes(`baton.dev/renew-requested-at=${token?.status?.requests?.renew}`),
      "the value it set is the one the operator recorded as handled",
    );
    assert.match(renewed.stdout, new RegExp(`ci +2 +${token?.status?.tokenId}`));
    assert.equal(await answers(oldToken), 200, "the previous token is in its grace period");
    assert.ok(!renewed.stdout.includes(oldToken) && !renewed.stdout.includes(await secretToken()), "no token printed");

    const revoked = await kubectlWithPlugin(plugins, ["baton", "revoke-previous", "ci", "-n", ns, "-o", "json"]);
    assert.equal(revoked.code, 0, revoked.stderr);
    const report = json(revoked.stdout) as unknown as {
      outcome: string;
      events: { reason: string; message: string }[];
      status: BitbucketProjectToken["status"];
    };
    assert.equal(report.outcome, "handled");
    assert.ok(
      report.events.some((e) => e.reason === "PreviousRevoked" && e.message.includes(String(first.status?.tokenId))),
    );
    assert.equal(report.status?.previousToken, undefined);
    assert.equal(await answers(oldToken), 401, "the previous token is refused at once");
    assert.equal(await answers(await secretToken()), 200, "the current one still works");

    // Nobody acts on a token in a namespace no operator watches: --wait gives up with exit 3.
    const other = await createNamespace(t);
    await kube.create(Tokens, { ...tokenObject(w, "orphan"), metadata: { name: "orphan", namespace: other } });
    const timedOut = await kubectlWithPlugin(plugins, ["baton", "renew", "orphan", "-n", other, "--timeout", "2s"]);
    assert.equal(timedOut.code, 3, timedOut.stderr + timedOut.stdout);
    assert.match(timedOut.stdout, /not handled within 2s/);
  });

  test("status shows a failed run with the build status key Bitbucket got, and exits 1", async (t) => {
    const plugins = await pluginDir(t);
    const w = await pipelinesWorld(t);
    const pr = await openFeaturePullRequest(w, { files: { "src.txt": "v1\n" }, title: "x" });
    const [run] = await listRuns(w);
    assert.ok(run?.metadata?.name);
    const healthy = await kubectlWithPlugin(plugins, ["baton", "status", "app", "-n", w.ns, "-o", "json"]);
    assert.equal(healthy.code, 0, healthy.stdout);

    await new TektonStandIn(w.kube).finish(w.ns, run.metadata.name, "Failed", { failedTask: "noop" });
    const head = pr.fromRef.latestCommit;
    const posted = await waitFor(() => w.sim.buildStatuses({ commit: head }).find((s) => s.state === "FAILED"), {
      message: "the FAILED build status",
    });

    const result = await kubectlWithPlugin(plugins, ["baton", "status", "app", "-n", w.ns, "-o", "json"]);
    assert.equal(result.code, 1, result.stderr);
    const report = json(result.stdout) as unknown as {
      heads: { head: string; runs: { pipeline: string; state: string; key: string; run: string; sha: string }[] }[];
      problems: string[];
    };
    const line = report.heads.find((h) => h.head === `#${pr.id}`)?.runs.find((r) => r.pipeline === "build");
    assert.equal(line?.state, "failed");
    assert.equal(line?.run, run.metadata.name);
    assert.equal(line?.sha, head);
    assert.equal(line?.key, posted.key, "the key shown is the one the operator reported under");
    assert.ok(
      report.problems.some((p) => p.startsWith(`build failed for #${pr.id}`)),
      report.problems.join("\n"),
    );

    const table = await kubectlWithPlugin(plugins, ["baton", "status", "-n", w.ns]);
    assert.equal(table.code, 1);
    assert.match(table.stdout, /^NAME +READY +WEBHOOK +TOKEN/m);
    assert.match(table.stdout, new RegExp(`#${pr.id} +build +failed +${posted.key}`));
    assert.match(table.stdout, /app: what is wrong\n {2}- build failed/);
  });

  test("doctor walks the links, finds a deleted webhook, then a revoked token before it, and says what to do", async (t) => {
    const plugins = await pluginDir(t);
    const w = await pipelinesWorld(t);
    // Listing webhooks needs REPO_ADMIN; the world's token has REPO_READ.
    const admin = w.sim.createToken({
      scope: { kind: "project", project: "PRJ" },
      name: "baton-admin",
      permissions: ["REPO_ADMIN"],
    });
    await w.kube.patch(Secrets, { namespace: w.ns, name: "bb-token" }, { stringData: { token: admin.token } });
    const doctor = (...extra: string[]) =>
      kubectlWithPlugin(plugins, ["baton", "doctor", "app", "-n", w.ns, "--intake-url", w.intakeUrl, ...extra]);
    await waitFor(async () => (await w.kube.get(Repositories, { namespace: w.ns, name: "app" }))?.status?.conditions, {
      message: "the Repository's status",
    });

    const healthy = await doctor();
    assert.equal(healthy.code, 0, healthy.stdout + healthy.stderr);
    for (const check of ["repository", "token", "read access", "webhook access", "webhook", "intake", "definitions"]) {
      assert.match(healthy.stdout, new RegExp(`^ok +${check} `, "m"), `${check} ok`);
    }
    assert.match(healthy.stdout, /every link holds/);

    const [hook] = w.sim.webhooks({ project: "PRJ", repo: "app" });
    assert.ok(hook);
    const res = await fetch(`${w.sim.url}/rest/api/latest/projects/PRJ/repos/app/webhooks/${hook.id}`, {
      method: "DELETE",
      headers: { authorization: `Basic ${Buffer.from("admin:admin-password").toString("base64")}` },
    });
    assert.equal(res.status, 204);
    const noHook = await doctor("-o", "json");
    assert.equal(noHook.code, 1, noHook.stderr);
    const report = json(noHook.stdout) as unknown as { links: { check: string; ok: boolean; fix?: string }[] };
    const broken = report.links.at(-1);
    assert.equal(broken?.check, "webhook");
    assert.equal(broken?.ok, false);
    assert.match(broken?.fix ?? "", /create it by hand/);
    assert.deepEqual(
      report.links.map((l) => l.check),
      ["repository", "token", "read access", "webhook access", "webhook"],
      "it stops at the broken link",
    );

    const id = w.sim.tokens().find((tk) => tk.name === "baton-admin")?.id;
    assert.ok(id !== undefined && w.sim.revokeToken(id));
    const revoked = await doctor();
    assert.equal(revoked.code, 1);
    assert.match(revoked.stdout, /^BROKEN +token +the server refuses the token: .*401/m);
    assert.doesNotMatch(revoked.stdout, /webhook/, "nothing after the first broken link");
    assert.match(revoked.stdout, /What to do: put a valid HTTP access token in Secret bb-token/);
    assert.ok(!revoked.stdout.includes(admin.token), "no token printed");
  });

  test("resolve and lint predict what the operator does with the same .tekton files and pull request", async (t) => {
    const plugins = await pluginDir(t);
    const files = {
      ".tekton/build.yaml": prRun,
      ".tekton/lint.yaml": lintRun,
      ".tekton/push.yaml": pipeline("release", { "on-event": "[push]", "on-target-branch": "[main]" }),
      ".tekton/docs.yaml": pipeline("docs", {
        "on-event": "[pull_request]",
        "on-target-branch": "[main]",
        "on-path-change": "[docs/**]",
      }),
      ".tekton/src.yaml": pipeline("src", {
        "on-cel-expression": 'event == "pull_request" && "src.txt".pathChanged()',
      }),
      ".tekton/elsewhere.yaml": `apiVersion: tekton.dev/v1
kind: PipelineRun
metadata:
  name: elsewhere
  namespace: kube-system
spec:
  pipelineSpec:
    tasks: []
`,
      ".tekton/broken-cel.yaml": pipeline("broken-cel", { "on-cel-expression": 'event == "pull_request" &&' }),
      ".tekton/steal.yaml": `apiVersion: tekton.dev/v1
kind: PipelineRun
metadata:
  name: steal
  annotations:
    pipelinesascode.tekton.dev/on-event: "[pull_request]"
    pipelinesascode.tekton.dev/on-target-branch: "[main]"
spec:
  pipelineSpec:
    tasks: []
  workspaces:
    - name: creds
      secret:
        secretName: bb-token
`,
      ".tekton/README.md": "not a pipeline\n",
    };
    const w = await pipelinesWorld(t, { files, events: ["pr:opened", "pr:comment:added"] });
    const pr = await openFeaturePullRequest(w, { files: { "src.txt": "v1\n" }, title: "Add src" });
    const head = pr.fromRef.latestCommit;

    // What the operator did.
    const runs = await listRuns(w);
    const started = runs.map((r) => r.metadata?.labels?.["baton.dev/pipeline"]).sort();
    const failed = w.sim
      .buildStatuses({ commit: head })
      .filter((s) => s.state === "FAILED")
      .map((s) => `${s.name}: ${s.description}`)
      .sort();
    const comment = await waitFor(
      () => w.sim.comments({ project: "PRJ", repo: "app", id: pr.id }).find((c) => c.text.includes("Baton could not")),
      { message: "Baton's comment listing the problems" },
    );

    // What the CLI predicts, from a clone at the pull request's head.
    const dir = await mkdtemp(join(tmpdir(), "baton-cli-"));
    t.after(() => rm(dir, { recursive: true, force: true }));
    const gitconfig = `[http]\n\textraHeader = Authorization: Bearer ${w.operatorToken}\n`;
    const clone = await gitWith(gitconfig, ["clone", "--quiet", `${w.sim.url}/scm/prj/app.git`, dir]);
    assert.equal(clone.code, 0, clone.stderr);
    assert.equal((await gitWith("", ["checkout", "--quiet", "feature"], dir)).code, 0);

    const resolved = await kubectlWithPlugin(
      plugins,
      ["baton", "resolve", "-r", "app", "-n", w.ns, "--target", "main", "--pull-request", String(pr.id), "-o", "json"],
      { cwd: dir },
    );
    assert.equal(resolved.code, 1, `problems make it exit 1: ${resolved.stderr}`);
    const report = json(resolved.stdout) as unknown as {
      event: { sha: string; source: string };
      pipelines: { name: string; result: string; reason: string }[];
      problems: { file: string; name?: string; document?: number; message: string }[];
      pipelineRuns: { metadata: { name: string }; spec: { params?: unknown } }[];
    };
    assert.equal(report.event.sha, head);
    assert.deepEqual(
      report.pipelines
        .filter((p) => p.result === "runs")
        .map((p) => p.name)
        .sort(),
      started,
      "the pipelines it says run are the ones the operator started",
    );
    assert.deepEqual(started, ["build", "lint", "src"]);
    // The operator posts one FAILED status per pipeline, for its first problem.
    const firstPerPipeline = new Map<string, (typeof report.problems)[number]>();
    for (const p of report.problems) if (!firstPerPipeline.has(p.name ?? "")) firstPerPipeline.set(p.name ?? "", p);
    assert.deepEqual(
      [...firstPerPipeline.values()].map((p) => `${p.name ?? "baton-definitions"}: ${problemDescription(p)}`).sort(),
      failed,
      "its problems are the FAILED build statuses the operator posted",
    );
    assert.equal(definitionsComment(head, report.problems), comment.text, "and exactly the operator's comment");
    assert.match(
      report.pipelines.find((p) => p.name === "docs")?.reason ?? "",
      /no changed file matches on-path-change \[docs\/\*\*\]/,
    );
    // The rendered run is the operator's: same name, same substituted params.
    const rendered = report.pipelineRuns.find((r) => r.metadata.name.startsWith("build-"));
    const created = runs.find((r) => r.metadata?.labels?.["baton.dev/pipeline"] === "build");
    assert.equal(rendered?.metadata.name, created?.metadata?.name);
    assert.deepEqual(rendered?.spec.params, created?.spec?.params);

    // The table form says the same, one line per pipeline, and file:line for each problem.
    const human = await kubectlWithPlugin(plugins, ["baton", "resolve", "-r", "app", "-n", w.ns], { cwd: dir });
    assert.equal(human.code, 1);
    assert.match(
      human.stdout,
      /^release +\.tekton\/push\.yaml +not run +on-event \[push\] does not include pull_request$/m,
    );
    assert.match(
      human.stdout,
      /^ {2}\.tekton\/elsewhere\.yaml:5: \(elsewhere\) sets metadata\.namespace to kube-system/m,
    );

    // A comment command: `/test lint` starts lint alone, on the operator as in the prediction.
    w.sim.comment({ project: "PRJ", repo: "app", id: pr.id, text: "/test lint", as: "dev" });
    await w.sim.settled();
    const before = new Set(runs.map((r) => r.metadata?.name));
    const byComment = (await listRuns(w))
      .filter((r) => !before.has(r.metadata?.name))
      .map((r) => r.metadata?.labels?.["baton.dev/pipeline"]);
    const commented = await kubectlWithPlugin(
      plugins,
      ["baton", "resolve", "-r", "app", "-n", w.ns, "--comment", "/test lint", "-o", "json"],
      { cwd: dir },
    );
    const predicted = (json(commented.stdout) as unknown as typeof report).pipelines
      .filter((p) => p.result === "runs")
      .map((p) => p.name);
    assert.deepEqual(predicted, byComment);
    assert.deepEqual(byComment, ["lint"]);

    // lint: every problem the operator reported, as file:line, exit 1; a fixed folder lints clean.
    const lint = await kubectlWithPlugin(plugins, ["baton", "lint", "-r", "app", "-n", w.ns], { cwd: dir });
    assert.equal(lint.code, 1, lint.stderr);
    for (const p of report.problems) assert.ok(lint.stdout.includes(p.message), `lint reports: ${p.message}`);
    assert.match(lint.stdout, /^\.tekton\/broken-cel\.yaml:6: invalid on-cel-expression/m);
    assert.match(lint.stdout, /^\.tekton\/steal\.yaml:\d+: \(steal\) .*bb-token/m);
    for (const bad of ["elsewhere", "broken-cel", "steal"]) await rm(join(dir, `.tekton/${bad}.yaml`));
    const clean = await kubectlWithPlugin(plugins, ["baton", "lint", "-r", "app", "-n", w.ns], { cwd: dir });
    assert.equal(clean.code, 0, clean.stdout);
    assert.match(clean.stdout, /5 PipelineRun\(s\), no problems/);
  });
});

function pipeline(name: string, annotations: Record<string, string>): string {
  const lines = Object.entries(annotations)
    .map(([k, v]) => `    pipelinesascode.tekton.dev/${k}: ${JSON.stringify(v)}`)
    .join("\n");
  return `apiVersion: tekton.dev/v1
kind: PipelineRun
metadata:
  name: ${name}
  annotations:
${lines}
spec:
  pipelineSpec:
    tasks: []
`;
}
