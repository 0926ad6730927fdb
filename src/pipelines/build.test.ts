import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { runKey, runKeyLabel } from "../events/dedupe.ts";
import { commentEvent, pullRequestEvent, pushEvent } from "../events/testdata.ts";
import {
  admit,
  type BuildInput,
  buildPipelineRun,
  labelValue,
  type PipelineRunObject,
  pruneCandidates,
  releasable,
} from "./build.ts";
import { loadPipelineRuns, type PipelineRunDefinition } from "./load.ts";

function definition(yaml: string, apiVersion = "tekton.dev/v1"): PipelineRunDefinition {
  const text = `apiVersion: ${apiVersion}\nkind: PipelineRun\n${yaml}`;
  const result = loadPipelineRuns({ ".tekton/pr.yaml": text }, { namespace: "team-a" });
  assert.deepEqual(result.errors, []);
  return result.pipelineRuns[0] as PipelineRunDefinition;
}

const basic = definition(`metadata:
  name: pr-build
  namespace: team-a
  uid: not-yours
  labels:
    app: shop
    baton.dev/repository: someone-elses
  annotations:
    pipelinesascode.tekton.dev/on-event: "[pull_request]"
    pipelinesascode.tekton.dev/on-target-branch: "[main]"
    pipelinesascode.tekton.dev/max-keep-runs: "3"
spec:
  status: Cancelled
  params:
    - name: revision
      value: "{{ revision }}"
  pipelineRef:
    name: build
  workspaces:
    - name: basic-auth
      secret:
        secretName: "{{ git_auth_secret }}"
`);

const repository = {
  name: "test-app",
  namespace: "team-a",
  spec: { pipelines: { path: ".tekton", serviceAccountName: "pipeline-runner", timeout: "45m" }, params: [] },
};

const digest = "0123456789abcdef0123456789abcdef";

function build(overrides: Partial<BuildInput> = {}): PipelineRunObject {
  const result = buildPipelineRun({
    definition: basic,
    event: pullRequestEvent({ fork: true }),
    repository,
    gitAuthSecret: "baton-git-k3y9q",
    nameDigest: digest,
    ...overrides,
  });
  assert.ok(result.ok, result.ok ? "" : result.error);
  return result.pipelineRun;
}

describe("buildPipelineRun", () => {
  it("forces the namespace, names the run from its digest, and drops metadata the file may not choose", () => {
    const run = build();
    assert.deepEqual(Object.keys(run.metadata).sort(), ["annotations", "labels", "name", "namespace"]);
    assert.equal(run.metadata.namespace, "team-a");
    assert.equal(run.metadata.name, "pr-build-0123456789");
    assert.equal(run.apiVersion, "tekton.dev/v1");
    assert.equal(run.kind, "PipelineRun");
  });

  it("sets Baton's and PAC's labels (label-safe) and annotations (full values)", () => {
    const event = pullRequestEvent({ fork: true });
    const run = build({ event, runKey: runKey(event, "pr-build") as string });
    assert.deepEqual(run.metadata.labels, {
      app: "shop",
      "app.kubernetes.io/managed-by": "baton",
      "baton.dev/repository": "test-app",
      "baton.dev/sha": "ae17c5f68ea2e503a8ee40931f4a2c90db2ebe8e",
      "baton.dev/event": "pull_request",
      "baton.dev/pull-request": "4",
      "baton.dev/pipeline": "pr-build",
      "baton.dev/run-key": runKeyLabel(runKey(event, "pr-build") as string),
      "pipelinesascode.tekton.dev/managed-by": "baton",
      "pipelinesascode.tekton.dev/repository": "test-app",
      "pipelinesascode.tekton.dev/sha": "ae17c5f68ea2e503a8ee40931f4a2c90db2ebe8e",
      "pipelinesascode.tekton.dev/event-type": "pull_request",
      "pipelinesascode.tekton.dev/pull-request": "4",
      "pipelinesascode.tekton.dev/original-prname": "pr-build",
      "pipelinesascode.tekton.dev/state": "started",
      "pipelinesascode.tekton.dev/url-org": "DSO",
      "pipelinesascode.tekton.dev/url-repository": "test-app",
      "pipelinesascode.tekton.dev/git-provider": "bitbucket-datacenter",
    });
    const a = run.metadata.annotations;
    assert.equal(a["pipelinesascode.tekton.dev/branch"], "main");
    assert.equal(a["pipelinesascode.tekton.dev/source-branch"], "feature/test");
    assert.equal(
      a["pipelinesascode.tekton.dev/source-repo-url"],
      "https://bitbucket.example.com/users/jdoe/repos/test-app-fork",
    );
    assert.equal(a["pipelinesascode.tekton.dev/repo-url"], "https://bitbucket.example.com/projects/DSO/repos/test-app");
    assert.equal(
      a["pipelinesascode.tekton.dev/sha-url"],
      "https://bitbucket.example.com/projects/DSO/repos/test-app/commits/ae17c5f68ea2e503a8ee40931f4a2c90db2ebe8e",
    );
    assert.equal(a["pipelinesascode.tekton.dev/git-auth-secret"], "baton-git-k3y9q");
    assert.equal(a["pipelinesascode.tekton.dev/max-keep-runs"], "3", "the file's own annotations are kept");
  });

  it("sanitises label values from branch names, personal projects and comment event types", () => {
    const longBranch = `feature/${"very-long-name-".repeat(6)}end`;
    const push = pushEvent({ ref: `refs/heads/${longBranch}` });
    const run = build({ event: { ...push, repository: { ...push.repository, project: "~JDOE" } } });
    for (const [key, value] of Object.entries(run.metadata.labels)) {
      assert.ok(value.length <= 63, `${key} is ${value.length} characters`);
      assert.match(value, /^([A-Za-z0-9]([A-Za-z0-9._-]*[A-Za-z0-9])?)?$/, `${key}=${value}`);
    }
    assert.equal(run.metadata.labels["pipelinesascode.tekton.dev/url-org"], "JDOE");
    assert.equal(run.metadata.annotations["pipelinesascode.tekton.dev/branch"], `refs/heads/${longBranch}`);
    const comment = build({ event: commentEvent("/retest pr-build") });
    assert.equal(comment.metadata.labels["pipelinesascode.tekton.dev/event-type"], "retest-comment");
    assert.equal(comment.metadata.labels["baton.dev/event"], "comment");
  });

  it("a push run's sha-title is its commit title; it has no pull-request label", () => {
    const run = build({ event: { ...pushEvent(), commitTitle: "Fix the build" } });
    assert.equal(run.metadata.annotations["pipelinesascode.tekton.dev/sha-title"], "Fix the build");
    assert.equal(run.metadata.labels["baton.dev/pull-request"], undefined);
    assert.equal(run.metadata.labels["baton.dev/event"], "push");
  });

  it("templates the spec, removes the file's status, and sets Pending when the concurrency limit says wait", () => {
    const run = build();
    assert.equal(run.spec.status, undefined);
    assert.deepEqual(run.spec.params, [{ name: "revision", value: "ae17c5f68ea2e503a8ee40931f4a2c90db2ebe8e" }]);
    assert.deepEqual(run.spec.workspaces, [{ name: "basic-auth", secret: { secretName: "baton-git-k3y9q" } }]);
    const pending = build({ pending: true });
    assert.equal(pending.spec.status, "PipelineRunPending");
    assert.equal(pending.metadata.labels["pipelinesascode.tekton.dev/state"], "queued");
  });

  it("service account and timeout from the Repository when the file sets none", () => {
    const run = build();
    assert.deepEqual(run.spec.taskRunTemplate, { serviceAccountName: "pipeline-runner" });
    assert.deepEqual(run.spec.timeouts, { pipeline: "45m" });
  });

  it("the file's own service account and timeouts win", () => {
    const own = definition(`metadata:
  name: own
spec:
  taskRunTemplate:
    serviceAccountName: builder
    podTemplate: {}
  timeouts:
    pipeline: 2h
`);
    const run = build({ definition: own });
    assert.deepEqual(run.spec.taskRunTemplate, { serviceAccountName: "builder", podTemplate: {} });
    assert.deepEqual(run.spec.timeouts, { pipeline: "2h" });
  });

  it("no pipeline timeout shorter than the file's tasks + finally timeouts (Tekton would reject it)", () => {
    const long = definition(`metadata:
  name: long
spec:
  timeouts:
    tasks: 40m
    finally: 10m
`);
    assert.deepEqual(build({ definition: long }).spec.timeouts, { tasks: "40m", finally: "10m" });
  });

  it("v1beta1 runs get spec.serviceAccountName and keep a legacy spec.timeout", () => {
    const beta = definition(
      `metadata:
  name: beta
spec:
  timeout: 1h
`,
      "tekton.dev/v1beta1",
    );
    const run = build({ definition: beta });
    assert.equal(run.apiVersion, "tekton.dev/v1beta1");
    assert.equal(run.spec.serviceAccountName, "pipeline-runner");
    assert.equal(run.spec.taskRunTemplate, undefined);
    assert.equal(run.spec.timeouts, undefined);
  });

  it("a name built from placeholders is templated and made DNS-safe", () => {
    const named = definition(`metadata:
  name: "{{ repo_name }}-PR_{{ pull_request_number }}"
spec: {}
`);
    assert.equal(build({ definition: named }).metadata.name, "test-app-pr-4-0123456789");
  });

  it("a Secret name built from a param that resolves to a forbidden Secret is refused after templating", () => {
    const sneaky = definition(`metadata:
  name: sneaky
spec:
  workspaces:
    - name: x
      secret:
        secretName: "{{ creds }}"
`);
    const result = buildPipelineRun({
      definition: sneaky,
      event: pullRequestEvent(),
      repository: { ...repository, spec: { ...repository.spec, params: [{ name: "creds", value: "baton-token" }] } },
      gitAuthSecret: "baton-git-1",
      nameDigest: digest,
      forbiddenSecrets: ["baton-token"],
    });
    assert.equal(result.ok, false);
    assert.match(
      result.ok ? "" : result.error,
      /^\.tekton\/pr\.yaml \(sneaky\) references Secret baton-token at \$\.spec\.workspaces\[0\]\.secret\.secretName/,
    );
  });
});

describe("another run's git Secret", () => {
  it("is refused; the run's own is fine", () => {
    const other = definition(`metadata:
  name: other
spec:
  workspaces:
    - name: a
      secret:
        secretName: "{{ git_auth_secret }}"
    - name: b
      secret:
        secretName: baton-git-zz999
`);
    const result = buildPipelineRun({
      definition: other,
      event: pullRequestEvent(),
      repository,
      gitAuthSecret: "baton-git-k3y9q",
      nameDigest: digest,
    });
    assert.equal(result.ok, false);
    assert.match(
      result.ok ? "" : result.error,
      /references Secret baton-git-zz999 at \$\.spec\.workspaces\[1\]\.secret\.secretName, another run's git credentials/,
    );
    const own = buildPipelineRun({
      definition: other,
      event: pullRequestEvent(),
      repository,
      gitAuthSecret: "baton-git-zz999",
      nameDigest: digest,
    });
    assert.equal(own.ok, true);
  });
});

describe("Secrets a run may name", () => {
  const withSecret = (secretName: string) =>
    definition(`metadata:
  name: creds
spec:
  pipelineSpec:
    params:
      - name: s
        default: admin-credentials
    workspaces:
      - name: loot
    tasks: []
  workspaces:
    - name: loot
      secret:
        secretName: "${secretName}"
`);
  const allowing = (allowedSecrets: string[], params: { name: string; value: string }[] = []) => ({
    ...repository,
    spec: { ...repository.spec, pipelines: { ...repository.spec.pipelines, allowedSecrets }, params },
  });
  const attempt = (secretName: string, repo = allowing(["registry-creds"]), event = pullRequestEvent()) =>
    buildPipelineRun({
      definition: withSecret(secretName),
      event,
      repository: repo,
      gitAuthSecret: "baton-git-k3y9q",
      nameDigest: digest,
      forbiddenSecrets: ["bb-token"],
    });

  it("a param whose default names the admin credentials, substituted by Tekton, is refused", () => {
    const result = attempt("$(params.s)");
    assert.equal(result.ok, false);
    assert.match(
      result.ok ? "" : result.error,
      /^\.tekton\/pr\.yaml \(creds\) names a Secret with Tekton's substitution \(\$\(params\.s\)\) at \$\.spec\.workspaces\[0\]\.secret\.secretName; .*list it in spec\.pipelines\.allowedSecrets of Repository test-app$/,
    );
  });

  it("a Secret of the namespace the Repository does not list is refused; a listed one is fine", () => {
    const refused = attempt("admin-credentials");
    assert.match(refused.ok ? "" : refused.error, /references Secret admin-credentials .*does not allow/);
    assert.equal(attempt("registry-creds").ok, true);
  });

  it("Baton's own Secrets are refused even when the Repository lists them", () => {
    const result = attempt("bb-token", allowing(["bb-token"]));
    assert.match(result.ok ? "" : result.error, /references Secret bb-token .*Baton's own credentials/);
  });

  it("names built from {{ }} placeholders are judged by their value", () => {
    const viaParam = attempt(
      "{{ registry }}",
      allowing(["registry-creds"], [{ name: "registry", value: "registry-creds" }]),
    );
    assert.equal(viaParam.ok, true);
    // A branch name is chosen by whoever pushes it.
    const event = pullRequestEvent();
    const fromBranch = attempt("{{ source_branch }}", allowing(["registry-creds"]), {
      ...event,
      pullRequest: { ...event.pullRequest, sourceBranch: "refs/heads/admin-credentials" },
    });
    assert.match(fromBranch.ok ? "" : fromBranch.error, /references Secret admin-credentials .*does not allow/);
    // … also when the value it fills in is itself one of Tekton's variables.
    const smuggled = attempt("{{ source_branch }}", allowing(["registry-creds"]), {
      ...event,
      pullRequest: { ...event.pullRequest, sourceBranch: "refs/heads/$(params.s)" },
    });
    assert.match(smuggled.ok ? "" : smuggled.error, /Tekton's substitution \(\$\(params\.s\)\)/);
  });
});

describe("labelValue", () => {
  const labels: [string, string][] = [
    ["main", "main"],
    ["feature/login", "feature-login"],
    ["~JDOE", "JDOE"],
    ["-x-", "x"],
    ["", ""],
    ["ae17c5f68ea2e503a8ee40931f4a2c90db2ebe8e", "ae17c5f68ea2e503a8ee40931f4a2c90db2ebe8e"],
  ];
  for (const [input, expected] of labels)
    it(`label ${JSON.stringify(input)}`, () => assert.equal(labelValue(input), expected));

  it("long values are cut to 63 with a hash, keeping distinct values distinct", () => {
    const a = labelValue(`${"x".repeat(70)}a`);
    const b = labelValue(`${"x".repeat(70)}b`);
    assert.equal(a.length, 63);
    assert.notEqual(a, b);
  });
});

describe("admit and releasable (concurrency limit)", () => {
  const cases: [number, number | undefined, string][] = [
    [0, undefined, "run"],
    [100, undefined, "run"],
    [0, 1, "run"],
    [1, 1, "pending"],
    [2, 3, "run"],
    [3, 3, "pending"],
    [5, 3, "pending"],
  ];
  for (const [running, limit, expected] of cases) {
    it(`${running} running, limit ${limit} → ${expected}`, () => assert.equal(admit(running, limit), expected));
  }

  it("releases the oldest pending runs up to the free slots", () => {
    const pending = [
      { name: "c", createdAt: "2024-01-01T00:00:03Z" },
      { name: "a", createdAt: "2024-01-01T00:00:01Z" },
      { name: "b", createdAt: "2024-01-01T00:00:02Z" },
    ];
    assert.deepEqual(
      releasable(pending, 1, 3).map((p) => p.name),
      ["a", "b"],
    );
    assert.deepEqual(releasable(pending, 3, 3), []);
    assert.deepEqual(releasable(pending, 5, 3), []);
    assert.deepEqual(
      releasable(pending, 0, undefined).map((p) => p.name),
      ["a", "b", "c"],
    );
  });
});

describe("pruneCandidates (max-keep-runs)", () => {
  const at = (minute: number) => `2024-01-01T00:${String(minute).padStart(2, "0")}:00Z`;
  const runs = [
    { name: "build-1", pipeline: "build", completionTime: at(1) },
    { name: "build-2", pipeline: "build", completionTime: at(2) },
    { name: "build-3", pipeline: "build", completionTime: at(3), maxKeepRuns: "2" },
    { name: "lint-1", pipeline: "lint", completionTime: at(1) },
    { name: "lint-2", pipeline: "lint", completionTime: at(2) },
    { name: "lint-3", pipeline: "lint", completionTime: at(3) },
  ];
  it("the newest run's annotation wins over the Repository's maxKeepRuns; others use the default", () => {
    assert.deepEqual(pruneCandidates(runs, 1).sort(), ["build-1", "lint-1", "lint-2"]);
  });
  it("without a default, only pipelines with the annotation are pruned", () => {
    assert.deepEqual(pruneCandidates(runs), ["build-1"]);
  });
  it("an invalid annotation falls back to the default", () => {
    const bad = runs.map((r) => (r.name === "build-3" ? { ...r, maxKeepRuns: "lots" } : r));
    assert.deepEqual(pruneCandidates(bad, 2).sort(), ["build-1", "lint-1"]);
  });
});
