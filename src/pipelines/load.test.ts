import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { formatLoadErrors, loadPipelineRuns } from "./load.ts";

const ns = "team-a";

function run(name: string, extra = "", annotations = ""): string {
  return `apiVersion: tekton.dev/v1
kind: PipelineRun
metadata:
  name: ${name}
  annotations:
    pipelinesascode.tekton.dev/on-event: "[pull_request]"
    pipelinesascode.tekton.dev/on-target-branch: "[main]"
${annotations}spec:
  pipelineRef:
    name: build
${extra}`;
}

describe("loadPipelineRuns: what is kept and what is ignored", () => {
  it("keeps PipelineRuns from multi-document files, ignores other kinds and non-YAML files with a reason", () => {
    const result = loadPipelineRuns(
      {
        ".tekton/pr.yaml": `${run("pr-build")}---\n${run("pr-lint")}---\napiVersion: tekton.dev/v1\nkind: Pipeline\nmetadata:\n  name: build\nspec: {}\n`,
        ".tekton/push.yml": run("push-build").replace("tekton.dev/v1", "tekton.dev/v1beta1"),
        ".tekton/README.md": "# pipelines",
        ".tekton/empty.yaml": "---\n",
      },
      { namespace: ns },
    );
    assert.deepEqual(result.errors, []);
    assert.deepEqual(
      result.pipelineRuns.map((p) => [p.file, p.document, p.name, p.apiVersion]),
      [
        [".tekton/pr.yaml", 0, "pr-build", "tekton.dev/v1"],
        [".tekton/pr.yaml", 1, "pr-lint", "tekton.dev/v1"],
        [".tekton/push.yml", 0, "push-build", "tekton.dev/v1beta1"],
      ],
    );
    assert.deepEqual(
      result.ignored.map((i) => [i.file, i.message]),
      [
        [".tekton/README.md", "not a .yaml or .yml file"],
        [".tekton/empty.yaml", "empty YAML document"],
        [".tekton/pr.yaml", "Pipeline (tekton.dev/v1) is not a Tekton PipelineRun"],
      ],
    );
    assert.equal(result.pipelineRuns[0]?.annotations["pipelinesascode.tekton.dev/on-event"], "[pull_request]");
  });

  it("generateName gives the name without its dash; unquoted lists and numbers in annotations become strings", () => {
    const text = `apiVersion: tekton.dev/v1
kind: PipelineRun
metadata:
  generateName: nightly-
  annotations:
    pipelinesascode.tekton.dev/on-event: [push, pull_request]
    pipelinesascode.tekton.dev/max-keep-runs: 5
  labels:
    tier: 1
spec: {}
`;
    const [def] = loadPipelineRuns({ ".tekton/n.yaml": text }, { namespace: ns }).pipelineRuns;
    assert.ok(def);
    assert.equal(def.name, "nightly");
    assert.equal(def.annotations["pipelinesascode.tekton.dev/on-event"], "[push, pull_request]");
    assert.equal(def.annotations["pipelinesascode.tekton.dev/max-keep-runs"], "5");
    assert.deepEqual((def.pipelineRun.metadata as { labels: unknown }).labels, { tier: "1" });
  });

  it("YAML anchors and << merge keys work as in PAC (Go's YAML parser)", () => {
    const text = `${run("anchored", "  params:\n    - &rev\n      name: revision\n      value: abc\n    - <<: *rev\n      name: copy\n")}`;
    const result = loadPipelineRuns({ ".tekton/a.yaml": text }, { namespace: ns });
    assert.deepEqual(result.errors, []);
    const [def] = result.pipelineRuns;
    assert.ok(def);
    assert.deepEqual((def.pipelineRun.spec as { params: unknown }).params, [
      { name: "revision", value: "abc" },
      { name: "copy", value: "abc" },
    ]);
  });

  it("reads an unquoted {{ placeholder }} value as the placeholder text, as PAC (which substitutes first) does", () => {
    const text = `${run("pr")}  params:\n    - name: revision\n      value: {{ revision }}\n    - name: list\n      value: [{{ a }}, b]\n`;
    const [def] = loadPipelineRuns({ ".tekton/p.yaml": text }, { namespace: ns }).pipelineRuns;
    assert.ok(def);
    const params = (def.pipelineRun.spec as { params: { value: unknown }[] }).params;
    assert.equal(params[0]?.value, "{{ revision }}");
    assert.deepEqual(params[1]?.value, ["{{ a }}", "b"]);
  });
});

describe("loadPipelineRuns: errors name the file and the problem", () => {
  const bomb = [
    "a: &a [x, x, x, x, x, x, x, x, x]",
    "b: &b [*a, *a, *a, *a, *a, *a, *a, *a, *a]",
    "c: &c [*b, *b, *b, *b, *b, *b, *b, *b, *b]",
    "d: &d [*c, *c, *c, *c, *c, *c, *c, *c, *c]",
    "e: &e [*d, *d, *d, *d, *d, *d, *d, *d, *d]",
    "f: &f [*e, *e, *e, *e, *e, *e, *e, *e, *e]",
    "g: &g [*f, *f, *f, *f, *f, *f, *f, *f, *f]",
  ].join("\n");

  const cases: { name: string; files: Record<string, string>; options?: object; error: RegExp; kept?: string[] }[] = [
    {
      name: "YAML alias bomb (billion laughs)",
      files: {
        ".tekton/bomb.yaml": `${run("bomb", `  params:\n    - name: x\n      value: y\n`)}\n---\n${bomb}\n`,
        ".tekton/ok.yaml": run("ok"),
      },
      error: /^\.tekton\/bomb\.yaml #1: uses YAML aliases too heavily/,
      kept: ["bomb", "ok"],
    },
    {
      name: "a huge file",
      files: { ".tekton/huge.yaml": `${run("huge")}# ${"x".repeat(300 * 1024)}\n`, ".tekton/ok.yaml": run("ok") },
      error: /^\.tekton\/huge\.yaml: is 30\d{4} bytes, more than the 262144-byte limit for a \.tekton file$/,
      kept: ["ok"],
    },
    {
      name: "too many documents in one file",
      files: { ".tekton/many.yaml": Array.from({ length: 40 }, (_, i) => run(`r${i}`)).join("---\n") },
      error: /^\.tekton\/many\.yaml: holds 40 YAML documents, more than the limit of 32$/,
      kept: [],
    },
    {
      name: "too many bytes across files",
      files: Object.fromEntries(
        Array.from({ length: 3 }, (_, i) => [`.tekton/f${i}.yaml`, `${run(`f${i}`)}# ${"x".repeat(200 * 1024)}\n`]),
      ),
      options: { limits: { maxTotalBytes: 500 * 1024 } },
      error: /^\.tekton\/f2\.yaml: the \.tekton files exceed 512000 bytes together/,
      kept: ["f0", "f1"],
    },
    {
      name: "metadata.namespace naming another namespace",
      files: {
        ".tekton/ns.yaml": run("escape").replace("  name: escape\n", "  name: escape\n  namespace: kube-system\n"),
      },
      error:
        /^\.tekton\/ns\.yaml — escape: sets metadata\.namespace to kube-system; runs are created in the Repository's namespace team-a, remove the field$/,
      kept: [],
    },
    {
      name: "PAC's target-namespace naming another namespace",
      files: { ".tekton/t.yaml": run("t", "", "    pipelinesascode.tekton.dev/target-namespace: prod\n") },
      error: /asks for target-namespace prod; runs are created in the Repository's namespace team-a/,
      kept: [],
    },
    {
      name: "a workspace mounting the operator's token Secret",
      files: {
        ".tekton/steal.yaml": run(
          "steal",
          "  workspaces:\n    - name: creds\n      secret:\n        secretName: baton-token\n",
        ),
      },
      options: { forbiddenSecrets: ["baton-token", "webhook-secret"] },
      error:
        /steal: references Secret baton-token at \$\.spec\.workspaces\[0\]\.secret\.secretName; that Secret holds Baton's own credentials/,
      kept: [],
    },
    {
      name: "an env secretKeyRef deep inside an embedded taskSpec",
      files: {
        ".tekton/env.yaml": `apiVersion: tekton.dev/v1
kind: PipelineRun
metadata:
  name: env
spec:
  pipelineSpec:
    tasks:
      - name: t
        taskSpec:
          steps:
            - name: s
              image: alpine
              env:
                - name: TOKEN
                  valueFrom:
                    secretKeyRef:
                      name: webhook-secret
                      key: token
`,
      },
      options: { forbiddenSecrets: ["baton-token", "webhook-secret"] },
      error:
        /references Secret webhook-secret at \$\.spec\.pipelineSpec\.tasks\[0\]\.taskSpec\.steps\[0\]\.env\[0\]\.valueFrom\.secretKeyRef\.name/,
      kept: [],
    },
    {
      name: "invalid YAML, with a hint about an unquoted placeholder",
      files: { ".tekton/bad.yaml": `${run("bad")}  params:\n    - name: image\n      value: {{ repo_name }}-latest\n` },
      error: /^\.tekton\/bad\.yaml #0: is not valid YAML: .*must be quoted: "\{\{ name \}\}-suffix"/,
      kept: [],
    },
    {
      name: "two PipelineRuns with one name",
      files: { ".tekton/a.yaml": run("build"), ".tekton/b.yaml": run("build") },
      error:
        /^\.tekton\/b\.yaml — build: another PipelineRun named build is already defined in \.tekton\/a\.yaml; names must be unique$/,
      kept: ["build"],
    },
    {
      name: "an unsupported apiVersion",
      files: { ".tekton/old.yaml": run("old").replace("tekton.dev/v1", "tekton.dev/v1alpha1") },
      error: /PipelineRun apiVersion tekton\.dev\/v1alpha1 is not supported; use tekton\.dev\/v1/,
      kept: [],
    },
    {
      name: "a PipelineRun without a name",
      files: { ".tekton/anon.yaml": run("x").replace("  name: x\n", "") },
      error: /has neither metadata\.name nor metadata\.generateName/,
      kept: [],
    },
  ];
  for (const c of cases) {
    it(c.name, () => {
      const result = loadPipelineRuns(c.files, { namespace: ns, ...c.options });
      const messages = result.errors.map((e) => {
        const where = e.name ? `${e.file} — ${e.name}` : e.document !== undefined ? `${e.file} #${e.document}` : e.file;
        return `${where}: ${e.message}`;
      });
      assert.equal(messages.length, 1, messages.join("\n"));
      assert.match(messages[0] as string, c.error);
      if (c.kept) assert.deepEqual(result.pipelineRuns.map((p) => p.name).sort(), c.kept.sort());
    });
  }

  it("the Repository's own namespace, or {{ target_namespace }}, is fine", () => {
    const same = run("a").replace("  name: a\n", `  name: a\n  namespace: ${ns}\n`);
    const templated = run("b").replace("  name: b\n", "  name: b\n  namespace: '{{ target_namespace }}'\n");
    const result = loadPipelineRuns({ ".tekton/a.yaml": same, ".tekton/b.yaml": templated }, { namespace: ns });
    assert.deepEqual(result.errors, []);
    assert.equal(result.pipelineRuns.length, 2);
  });

  it("Secrets not on the forbidden list are allowed (registry credentials, the run's git secret)", () => {
    const text = run(
      "ok",
      "  workspaces:\n    - name: basic-auth\n      secret:\n        secretName: '{{ git_auth_secret }}'\n    - name: docker\n      secret:\n        secretName: registry-creds\n",
    );
    const result = loadPipelineRuns({ ".tekton/ok.yaml": text }, { namespace: ns, forbiddenSecrets: ["baton-token"] });
    assert.deepEqual(result.errors, []);
  });

  it("formats errors as a Markdown table for a pull-request comment", () => {
    const table = formatLoadErrors([{ file: ".tekton/a.yaml", document: 1, name: "x", message: "bad | worse" }]);
    assert.equal(table, "| .tekton file | Problem |\n|---|---|\n| .tekton/a.yaml (document 2) — x | bad \\| worse |");
  });
});

describe("duplicate keys", () => {
  const load = (text: string) => loadPipelineRuns({ ".tekton/d.yaml": text }, { namespace: ns });

  it("are refused with where the first repeat is, in nested and flow maps alike", () => {
    assert.deepEqual(load(run("d", "  params: []\n  params: []\n")).errors, [
      {
        file: ".tekton/d.yaml",
        document: 0,
        message: "is not valid YAML: Map keys must be unique at line 12, column 3",
      },
    ]);
    assert.match(
      load(run("d", "  podTemplate: {nodeSelector: {a: x, b: y, a: z}}\n")).errors[0]?.message ?? "",
      /^is not valid YAML: Map keys must be unique at line 11, column 44$/,
    );
    // The first in the text, though the outer map's repeat is found first.
    assert.match(
      load(`${run("d", "  workspaces: {x: 1, x: 2}\n")}metadata: {}\n`).errors[0]?.message ?? "",
      /at line 11, column 22$/,
    );
  });

  it("are the library's: equal scalar values repeat, a number and a quoted string do not; merge keys are keys", () => {
    assert.deepEqual(load(run("d", '  params: [{1: a, "1": b}]\n')).errors, []);
    assert.deepEqual(load(run("d", '  params: [{"a": a, a: b}]\n')).errors.length, 1);
    assert.deepEqual(load(run("d", "  x: &x {a: 1}\n  params: [{<<: *x, b: 2}]\n")).errors, []);
  });

  it("a map of 10,000 keys is read (the check is linear; the library's own was quadratic)", () => {
    const keys = Array.from({ length: 10_000 }, (_, i) => `    k${i.toString(36)}: 1`).join("\n");
    const result = load(run("wide", `  podTemplate:\n    nodeSelector:\n${keys}\n`).replace("  pipelineRef:", "  x:"));
    assert.deepEqual(result.errors, []);
    assert.equal(result.pipelineRuns.length, 1);
  });
});
