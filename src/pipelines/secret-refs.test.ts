import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { findSecretReferences, type SecretPolicy, secretProblems } from "./secret-refs.ts";

const policy: SecretPolicy = {
  gitAuthSecret: "baton-git-k3y9q",
  allowed: ["registry-creds"],
  forbidden: ["bb-token", "admin-credentials"],
  repository: "app",
};

/** A PipelineRun spec with `secret` placed where `at` puts it. */
const locations: [string, (name: string) => unknown, string][] = [
  [
    "a workspace binding",
    (name) => ({ workspaces: [{ name: "w", secret: { secretName: name } }] }),
    "$.spec.workspaces[0].secret.secretName",
  ],
  [
    "a projected workspace source",
    (name) => ({ workspaces: [{ name: "w", projected: { sources: [{ secret: { name } }] } }] }),
    "$.spec.workspaces[0].projected.sources[0].secret.name",
  ],
  [
    "a CSI workspace's nodePublishSecretRef",
    (name) => ({ workspaces: [{ name: "w", csi: { driver: "d", nodePublishSecretRef: { name } } }] }),
    "$.spec.workspaces[0].csi.nodePublishSecretRef.name",
  ],
  [
    "taskRunTemplate.podTemplate volumes",
    (name) => ({ taskRunTemplate: { podTemplate: { volumes: [{ name: "v", secret: { secretName: name } }] } } }),
    "$.spec.taskRunTemplate.podTemplate.volumes[0].secret.secretName",
  ],
  [
    "taskRunTemplate.podTemplate imagePullSecrets",
    (name) => ({ taskRunTemplate: { podTemplate: { imagePullSecrets: [{ name }] } } }),
    "$.spec.taskRunTemplate.podTemplate.imagePullSecrets[0].name",
  ],
  [
    "taskRunTemplate.podTemplate env",
    (name) => ({
      taskRunTemplate: { podTemplate: { env: [{ name: "E", valueFrom: { secretKeyRef: { name, key: "k" } } }] } },
    }),
    "$.spec.taskRunTemplate.podTemplate.env[0].valueFrom.secretKeyRef.name",
  ],
  [
    "taskRunSpecs podTemplate",
    (name) => ({ taskRunSpecs: [{ pipelineTaskName: "t", podTemplate: { imagePullSecrets: [{ name }] } }] }),
    "$.spec.taskRunSpecs[0].podTemplate.imagePullSecrets[0].name",
  ],
  [
    "a v1beta1 podTemplate azureFile volume",
    (name) => ({ podTemplate: { volumes: [{ name: "v", azureFile: { secretName: name, shareName: "s" } }] } }),
    "$.spec.podTemplate.volumes[0].azureFile.secretName",
  ],
  ...(
    [
      [
        "step env secretKeyRef",
        (name) => ({ steps: [{ env: [{ valueFrom: { secretKeyRef: { name, key: "k" } } }] }] }),
      ],
      ["step envFrom secretRef", (name) => ({ steps: [{ envFrom: [{ secretRef: { name } }] }] })],
      ["stepTemplate envFrom", (name) => ({ stepTemplate: { envFrom: [{ prefix: "P", secretRef: { name } }] } })],
      ["sidecar env", (name) => ({ sidecars: [{ env: [{ valueFrom: { secretKeyRef: { name, key: "k" } } }] }] })],
      ["volumes", (name) => ({ volumes: [{ name: "v", secret: { secretName: name } }] })],
      ["projected volume", (name) => ({ volumes: [{ name: "v", projected: { sources: [{ secret: { name } }] } }] })],
    ] as [string, (name: string) => unknown][]
  ).map(([what, taskSpec]): [string, (name: string) => unknown, string] => [
    `an embedded taskSpec's ${what}`,
    (name) => ({ pipelineSpec: { tasks: [{ name: "t", taskSpec: taskSpec(name) }] } }),
    "$.spec.pipelineSpec.tasks[0].taskSpec.",
  ]),
  [
    "a finally task's step",
    (name) => ({
      pipelineSpec: {
        finally: [{ name: "f", taskSpec: { steps: [{ name: "s", envFrom: [{ secretRef: { name } }] }] } }],
      },
    }),
    "$.spec.pipelineSpec.finally[0].taskSpec.steps[0].envFrom[0].secretRef.name",
  ],
  [
    "the git resolver's token param",
    (name) => ({
      pipelineRef: {
        resolver: "git",
        params: [
          { name: "serverURL", value: "https://evil.example" },
          { name: "token", value: name },
          { name: "tokenKey", value: "password" },
        ],
      },
    }),
    "$.spec.pipelineRef.params[1].value",
  ],
  [
    "the http resolver's password Secret, on a task's taskRef",
    (name) => ({
      pipelineSpec: {
        tasks: [
          {
            name: "t",
            taskRef: {
              resolver: "http",
              params: [
                { name: "url", value: "https://evil.example/task.yaml" },
                { name: "http-password-secret", value: name },
                { name: "http-password-secret-key", value: "password" },
              ],
            },
          },
        ],
      },
    }),
    "$.spec.pipelineSpec.tasks[0].taskRef.params[1].value",
  ],
  [
    "the bundles resolver's secret param",
    (name) => ({ pipelineRef: { resolver: "bundles", params: [{ name: "secret", value: name }] } }),
    "$.spec.pipelineRef.params[0].value",
  ],
];

describe("findSecretReferences and secretProblems, per place a Secret can be named", () => {
  for (const [where, spec, path] of locations) {
    it(where, () => {
      const refs = findSecretReferences({ spec: spec("admin-credentials") });
      assert.equal(refs.length, 1, JSON.stringify(refs));
      assert.equal(refs[0]?.name, "admin-credentials");
      assert.ok(refs[0]?.path.startsWith(path), `${refs[0]?.path} at ${path}`);
      // Baton's own: refused before and after templating.
      assert.match(secretProblems({ spec: spec("admin-credentials") }, policy).join(), /Baton's own credentials/);
      assert.match(
        secretProblems({ spec: spec("admin-credentials") }, { forbidden: policy.forbidden }).join(),
        /Baton's own credentials/,
      );
      // Any other Secret of the namespace: refused unless the Repository allows it.
      assert.match(
        secretProblems({ spec: spec("other-team-token") }, policy).join(),
        /references Secret other-team-token at .*which the Repository does not allow; list it in spec\.pipelines\.allowedSecrets of Repository app/,
      );
      assert.deepEqual(secretProblems({ spec: spec("registry-creds") }, policy), []);
      assert.deepEqual(secretProblems({ spec: spec("baton-git-k3y9q") }, policy), []);
      assert.match(secretProblems({ spec: spec("baton-git-other") }, policy).join(), /another run's git credentials/);
      // A name Tekton fills in at run time: refused, whatever it would become.
      assert.match(
        secretProblems({ spec: spec("$(params.s)") }, policy).join(),
        /names a Secret with Tekton's substitution \(\$\(params\.s\)\)/,
      );
    });
  }

  it("field names are matched without regard to case", () => {
    const refs = findSecretReferences({
      spec: { workspaces: [{ Secret: { SecretName: "a" } }], podTemplate: { ImagePullSecrets: [{ name: "b" }] } },
    });
    assert.deepEqual(refs.map((r) => r.name).sort(), ["a", "b"]);
  });

  it("a name that is not a string is refused, not skipped", () => {
    assert.match(
      secretProblems({ spec: { workspaces: [{ secret: { secretName: ["admin-credentials"] } }] } }, policy).join(),
      /references Secret \["admin-credentials"\]/,
    );
  });

  it("resolver params that name a key inside a Secret, or no Secret, are not references", () => {
    const refs = findSecretReferences({
      pipelineRef: {
        resolver: "git",
        params: [
          { name: "url", value: "https://x" },
          { name: "tokenKey", value: "password" },
          { name: "gitTokenKey", value: "password" },
          { name: "revision", value: "main" },
        ],
      },
    });
    assert.deepEqual(refs, []);
  });
});

describe("Tekton's substitution forms in a Secret name are all refused", () => {
  const forms = [
    "$(params.s)",
    '$(params["s"])',
    "$(params['s'])",
    "$(params.obj.key)",
    "$(params.list[0])",
    "$(context.pipelineRun.name)",
    "$(context.pipelineRun.namespace)",
    "$(context.taskRun.name)",
    "$(tasks.fetch.results.secret)",
    "$(workspaces.w.volume)",
    "admin-$(params.suffix)",
    "$(params.a)$(params.b)",
  ];
  for (const name of forms) {
    it(name, () => {
      const spec = {
        pipelineSpec: { params: [{ name: "s", default: "registry-creds" }] },
        params: [{ name: "s", value: "registry-creds" }],
        workspaces: [{ name: "w", secret: { secretName: name } }],
      };
      // Even when every param involved names an allowed Secret: Baton does not predict Tekton's result.
      const problems = secretProblems({ spec }, policy);
      assert.equal(problems.length, 1);
      assert.match(problems[0] as string, /Tekton fills that in when the run starts/);
    });
  }

  it("a Baton placeholder left unfilled is refused", () => {
    assert.match(
      secretProblems({ spec: { workspaces: [{ secret: { secretName: "{{ nope }}" } }] } }, policy).join(),
      /a placeholder Baton could not fill in/,
    );
  });

  it("before templating (no git Secret known yet) only Baton's own Secrets are refused", () => {
    const spec = { workspaces: [{ secret: { secretName: "{{ git_auth_secret }}" } }, { secret: { secretName: "x" } }] };
    assert.deepEqual(secretProblems({ spec }, { forbidden: policy.forbidden }), []);
  });
});
