import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { parse } from "yaml";
import { commentEvent, pullRequestEvent, pushEvent } from "../events/testdata.ts";
import { loadPipelineRuns } from "./load.ts";
import { substitute, type TemplateContext, templateObject, templateVariables } from "./template.ts";

const prCtx: TemplateContext = {
  event: pullRequestEvent({ fork: true }),
  gitAuthSecret: "baton-git-abc12",
  targetNamespace: "team-a",
  params: [{ name: "registry", value: "quay.io/team-a" }],
  changedFiles: { all: ["a.go", "b.md"], added: ["a.go"], deleted: [], modified: ["b.md"], renamed: [] },
};

describe("templateVariables (PAC's names and values)", () => {
  it("for a fork pull request", () => {
    assert.deepEqual(templateVariables(prCtx), {
      registry: "quay.io/team-a",
      revision: "ae17c5f68ea2e503a8ee40931f4a2c90db2ebe8e",
      repo_url: "https://bitbucket.example.com/scm/dso/test-app.git",
      repo_owner: "dso",
      repo_name: "test-app",
      target_branch: "main",
      source_branch: "feature/test",
      source_url: "https://bitbucket.example.com/users/jdoe/repos/test-app-fork",
      sender: "example",
      target_namespace: "team-a",
      event: "pull_request",
      event_type: "pull_request",
      pull_request_number: "4",
      git_auth_secret: "baton-git-abc12",
    });
  });

  it("for a push: branches without refs/heads/, no pull_request_number or git_tag (left unsubstituted)", () => {
    const vars = templateVariables({ ...prCtx, event: pushEvent({ ref: "refs/heads/main" }) });
    assert.equal(vars.target_branch, "main");
    assert.equal(vars.source_branch, "main");
    assert.equal(vars.event, "push");
    assert.equal(vars.pull_request_number, undefined);
    assert.equal(vars.git_tag, undefined);
    assert.equal(
      substitute("pr={{ pull_request_number }}", { ...prCtx, event: pushEvent() }),
      "pr={{ pull_request_number }}",
    );
  });

  it("for a tag push: git_tag, and the branches keep refs/tags/", () => {
    const vars = templateVariables({ ...prCtx, event: pushEvent({ ref: "refs/tags/v1.2.0" }) });
    assert.equal(vars.git_tag, "v1.2.0");
    assert.equal(vars.target_branch, "refs/tags/v1.2.0");
  });

  it("for a comment: the comment on one line, and PAC's comment event_type", () => {
    const vars = templateVariables({ ...prCtx, event: commentEvent("please\r\n/retest unit\nthanks") });
    assert.equal(vars.trigger_comment, "please\\n/retest unit\\nthanks");
    assert.equal(vars.event_type, "retest-comment");
    assert.equal(vars.event, "pull_request");
  });

  it("the Repository's params win over a standard variable of the same name (as in PAC)", () => {
    assert.equal(templateVariables({ ...prCtx, params: [{ name: "revision", value: "pinned" }] }).revision, "pinned");
  });
});

describe("substitute", () => {
  const cases: [string, string][] = [
    ["{{revision}}", "ae17c5f68ea2e503a8ee40931f4a2c90db2ebe8e"],
    ["{{ revision }}", "ae17c5f68ea2e503a8ee40931f4a2c90db2ebe8e"],
    ["{{\trepo_name  }}:{{ pull_request_number }}", "test-app:4"],
    ["{{ registry }}/app:{{ revision }}", "quay.io/team-a/app:ae17c5f68ea2e503a8ee40931f4a2c90db2ebe8e"],
    ["{{ unknown_thing }} stays", "{{ unknown_thing }} stays"],
    ["$(params.revision) is Tekton's, not ours", "$(params.revision) is Tekton's, not ours"],
    ["{{ body.pullRequest.id }}", "4"],
    ["{{ body.pullRequest.fromRef.displayId }}", "feature/test"],
    ["{{ body.pullRequest.locked }}", "false"],
    [
      "{{ body.pullRequest.toRef.repository.project }}",
      '{"key":"DSO","id":5283,"name":"DevSecOps","public":false,"type":"NORMAL","links":{"self":[{"href":"https://bitbucket.example.com/projects/DSO"}]}}',
    ],
    ["{{ body.nope.nothing }}", "{{ body.nope.nothing }}"],
    ["{{ headers['X-Event-Key'] }} / {{ headers['x-request-id'] }}", "pr:from_ref_updated / pr-1"],
    ["{{ files.all }}", '["a.go","b.md"]'],
    ["no placeholders", "no placeholders"],
  ];
  for (const [text, expected] of cases) {
    it(JSON.stringify(text), () => assert.equal(substitute(text, prCtx), expected));
  }
});

describe("templating cannot inject structure", () => {
  // A fork author controls the PR's source branch name and title, a commenter the comment: all reach templates.
  const hostile = 'x"\n  serviceAccountName: cluster-admin\n  podTemplate: {hostNetwork: true}\n#';
  // A comment needs a command line to be an event at all; the hostile part comes first.
  const hostileComment = `${hostile}\n/test`;
  const event = commentEvent(hostileComment);
  const yamlText = `apiVersion: tekton.dev/v1
kind: PipelineRun
metadata:
  name: build
spec:
  params:
    - name: comment
      value: "{{ trigger_comment }}"
    - name: title
      value: "{{ body.pullRequest.title }}"
  pipelineRef:
    name: build
`;

  it("PAC-style text substitution before parsing would let the value add fields (why Baton does not do it)", () => {
    // Substitute a PR title in the text, as PAC does, before parsing.
    const text = `spec:\n  params:\n    - name: title\n      value: "{{ body.pullRequest.title }}"\n  pipelineRef:\n    name: build\n`;
    const injected = parse(text.replace("{{ body.pullRequest.title }}", hostile)) as { spec: Record<string, unknown> };
    assert.equal(injected.spec.serviceAccountName, "cluster-admin");
  });

  it("substitution in the parsed object keeps the value inside its string", () => {
    const [definition] = loadPipelineRuns({ ".tekton/build.yaml": yamlText }, { namespace: "team-a" }).pipelineRuns;
    assert.ok(definition);
    const hostileTitle = pullRequestEvent();
    (hostileTitle.body as { pullRequest: { title: string } }).pullRequest.title = hostile;
    const out = templateObject(definition.pipelineRun, { ...prCtx, event: { ...event, body: hostileTitle.body } }) as {
      spec: { params: { name: string; value: string }[] } & Record<string, unknown>;
    };
    assert.deepEqual(Object.keys(out.spec).sort(), ["params", "pipelineRef"]);
    assert.equal(out.spec.serviceAccountName, undefined);
    assert.equal(out.spec.params[0]?.value, hostileComment.replaceAll("\n", "\\n"));
    assert.equal(out.spec.params[1]?.value, hostile);
  });

  it("templateObject keeps numbers, booleans and keys as they are, and copies rather than mutates", () => {
    const input = { a: 1, b: true, "{{ revision }}": "{{ revision }}", list: ["{{ repo_name }}", null] };
    const out = templateObject(input, prCtx);
    assert.deepEqual(out, {
      a: 1,
      b: true,
      "{{ revision }}": "ae17c5f68ea2e503a8ee40931f4a2c90db2ebe8e",
      list: ["test-app", null],
    });
    assert.equal(input.list[0], "{{ repo_name }}");
  });
});
