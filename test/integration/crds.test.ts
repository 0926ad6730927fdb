// Baton's CRDs (generated from src/api) and Tekton's real CRDs on the real kube-apiserver: what a user applying
// objects with kubectl sees.
import assert from "node:assert/strict";
import { readFile } from "node:fs/promises";
import { join } from "node:path";
import { describe, test } from "node:test";
import { ApiException, CustomObjectsApi } from "@kubernetes/client-node";
import { parse, stringify } from "yaml";
import { messages, Permission, permissionProblems } from "../../src/api/permissions.ts";
import { createNamespace, kubectl, useCluster } from "../support/cluster.ts";

const root = join(import.meta.dirname, "../..");

async function sample(file: string, namespace: string): Promise<Record<string, unknown>> {
  const obj = parse(await readFile(join(root, "config/samples", file), "utf8")) as Record<string, unknown>;
  (obj.metadata as Record<string, unknown>).namespace = namespace;
  return obj;
}

function token(namespace: string, spec: Record<string, unknown>, name = "t"): Record<string, unknown> {
  return {
    apiVersion: "baton.dev/v1alpha1",
    kind: "BitbucketProjectToken",
    metadata: { name, namespace },
    spec: {
      server: "https://bitbucket.example.com",
      project: "PLATFORM",
      permissions: ["REPO_READ"],
      secretName: "ci-token",
      ...spec,
    },
  };
}

const apply = (obj: unknown) => kubectl(["apply", "-f", "-"], stringify(obj));

describe("CRDs on the real API server", () => {
  test("Baton's and Tekton's CRDs are Established", async () => {
    const result = await kubectl([
      "get",
      "crd",
      "-o",
      'jsonpath={range .items[*]}{.metadata.name}={.status.conditions[?(@.type=="Established")].status}{"\\n"}{end}',
    ]);
    assert.equal(result.code, 0, result.stderr);
    for (const name of [
      "bitbucketprojecttokens.baton.dev",
      "repositories.baton.dev",
      "pipelineruns.tekton.dev",
      "taskruns.tekton.dev",
      "tasks.tekton.dev",
      "pipelines.tekton.dev",
    ]) {
      assert.match(result.stdout, new RegExp(`^${name.replaceAll(".", "\\.")}=True$`, "m"));
    }
  });

  test("the samples are accepted and `kubectl get bbtoken,bbrepo` shows the printer columns", async (t) => {
    const ns = await createNamespace(t);
    for (const file of ["bitbucketprojecttoken.yaml", "repository.yaml"]) {
      const result = await apply(await sample(file, ns));
      assert.equal(result.code, 0, result.stderr);
    }
    // Status is Baton's to write; set what the token controller would so the columns have values.
    const status = await kubectl([
      "patch",
      "bbtoken",
      "platform-ci",
      "-n",
      ns,
      "--subresource=status",
      "--type=merge",
      "-p",
      JSON.stringify({
        status: {
          notAfter: "2099-03-01T00:00:00Z",
          renewalTime: "2099-01-30T00:00:00Z",
          conditions: [
            {
              type: "Ready",
              status: "True",
              reason: "Issued",
              message: "token 1 is valid",
              lastTransitionTime: "2026-01-01T00:00:00Z",
            },
          ],
        },
      }),
    ]);
    assert.equal(status.code, 0, status.stderr);

    const tokens = await kubectl(["get", "bbtoken", "-n", ns]);
    assert.equal(tokens.code, 0, tokens.stderr);
    const [header, row] = tokens.stdout.trim().split("\n");
    assert.deepEqual(header?.split(/\s{2,}/), ["NAME", "PROJECT", "REPOSITORY", "READY", "EXPIRES", "RENEWS", "AGE"]);
    assert.match(row ?? "", /^platform-ci\s+PLATFORM\s+True\s+2099-03-01T00:00:00Z\s+2099-01-30T00:00:00Z\s+\d+s$/);

    const repos = await kubectl(["get", "bbrepo", "-n", ns]);
    assert.equal(repos.code, 0, repos.stderr);
    assert.deepEqual(
      repos.stdout
        .split("\n")[0]
        ?.trim()
        .split(/\s{2,}/),
      ["NAME", "URL", "READY", "WEBHOOK", "LAST RUN", "AGE"],
    );
    assert.match(
      repos.stdout,
      /payments-api\s+https:\/\/bitbucket\.example\.com\/projects\/PLATFORM\/repos\/payments-api/,
    );

    // Both kinds answer to their category, the way `kubectl get baton` lists everything Baton owns.
    const all = await kubectl(["get", "baton", "-n", ns, "-o", "name"]);
    assert.equal(all.code, 0, all.stderr);
    assert.match(all.stdout, /bitbucketprojecttoken\.baton\.dev\/platform-ci/);
    assert.match(all.stdout, /repository\.baton\.dev\/payments-api/);
  });

  test("defaults come from the schema, so GitOps tools see no drift from Baton", async (t) => {
    const ns = await createNamespace(t);
    const result = await apply(token(ns, {}));
    assert.equal(result.code, 0, result.stderr);
    const got = await kubectl(["get", "bbtoken", "t", "-n", ns, "-o", "jsonpath={.spec}"]);
    const spec = JSON.parse(got.stdout) as Record<string, unknown>;
    assert.equal(spec.lifetime, "2160h");
    assert.equal(spec.revocationGracePeriod, "2h");
    assert.equal(spec.deletionPolicy, "Revoke");
  });

  const invalid: { name: string; object: (ns: string) => unknown; error: RegExp }[] = [
    {
      name: "a project permission above the repository permission",
      object: (ns) => token(ns, { permissions: ["PROJECT_WRITE", "REPO_READ"] }),
      error: /the repository permission must be at least the project permission/,
    },
    {
      name: "a repository token with a PROJECT_* permission",
      object: (ns) => token(ns, { repository: "payments-api", permissions: ["PROJECT_READ", "REPO_READ"] }),
      error: /a repository token \(spec\.repository set\) cannot hold PROJECT_\* permissions/,
    },
    {
      name: "an unknown permission",
      object: (ns) => token(ns, { permissions: ["REPO_OWNER"] }),
      error: /Unsupported value: "REPO_OWNER"/,
    },
    {
      name: "a server that is not a URL",
      object: (ns) => token(ns, { server: "bitbucket.example.com" }),
      error: /spec\.server: Invalid value: "bitbucket\.example\.com": must be the Bitbucket base URL/,
    },
    {
      name: "renewBefore not shorter than lifetime",
      object: (ns) => token(ns, { lifetime: "720h", renewBefore: "720h" }),
      error: /renewBefore must be shorter than lifetime/,
    },
    {
      name: "a lifetime that is not whole days",
      object: (ns) => token(ns, { lifetime: "36h" }),
      error: /lifetime must be a whole number of days/,
    },
    {
      name: "a lifetime over a year",
      object: (ns) => token(ns, { lifetime: "9000h" }),
      error: /lifetime must be between 24h \(1 day\) and 8760h \(365 days\)/,
    },
    {
      name: "a lifetime in days (not a Go duration)",
      object: (ns) => token(ns, { lifetime: "90d" }),
      // Only the format error: the rules comparing durations stand aside for a malformed value.
      error:
        /^The BitbucketProjectToken "t" is invalid: spec\.lifetime: Invalid value: "90d": must be a duration such as 2160h, 90m or 1h30m\n$/,
    },
    {
      name: "an unknown field",
      object: (ns) => token(ns, { expiryDays: 30 }),
      error: /unknown field "spec\.expiryDays"/,
    },
    {
      name: "a Repository with a malformed URL",
      object: (ns) => ({
        apiVersion: "baton.dev/v1alpha1",
        kind: "Repository",
        metadata: { name: "r", namespace: ns },
        spec: { url: "https://bitbucket.example.com/users/alice/repos/x", tokenRef: { name: "t" } },
      }),
      error: /must be the repository's browse URL/,
    },
    {
      name: "a Repository with both tokenRef and secretRef",
      object: (ns) => ({
        apiVersion: "baton.dev/v1alpha1",
        kind: "Repository",
        metadata: { name: "r", namespace: ns },
        spec: {
          url: "https://bitbucket.example.com/projects/P/repos/x",
          tokenRef: { name: "t" },
          secretRef: { name: "s" },
        },
      }),
      error: /set exactly one of tokenRef/,
    },
  ];

  for (const c of invalid) {
    test(`rejects ${c.name}, saying why`, async (t) => {
      const ns = await createNamespace(t);
      const result = await apply(c.object(ns));
      assert.notEqual(result.code, 0, "kubectl apply should fail");
      assert.match(result.stderr, c.error);
    });
  }

  test("the CEL permission rules agree with Bitbucket's table on every combination", async (t) => {
    const ns = await createNamespace(t);
    const { kubeConfig } = await useCluster();
    const api = kubeConfig.makeApiClient(CustomObjectsApi);
    const all = Permission.options;
    const checks: Promise<void>[] = [];
    for (let mask = 1; mask < 1 << all.length; mask++) {
      const permissions = all.filter((_, i) => mask & (1 << i));
      for (const repositoryScoped of [false, true]) {
        const body = token(ns, repositoryScoped ? { permissions, repository: "r" } : { permissions }, `t${mask}`);
        checks.push(
          api
            .createNamespacedCustomObject({
              group: "baton.dev",
              version: "v1alpha1",
              plural: "bitbucketprojecttokens",
              namespace: ns,
              body,
              dryRun: "All",
            })
            .then(
              () => [] as string[],
              (error: unknown) => {
                if (!(error instanceof ApiException)) throw error;
                return Object.values(messages).filter((m) => String(error.body).includes(m));
              },
            )
            .then((serverProblems) => {
              const expected = permissionProblems(permissions, repositoryScoped).sort();
              assert.deepEqual(
                serverProblems.sort(),
                expected,
                `[${permissions}] repositoryScoped=${repositoryScoped}`,
              );
            }),
        );
      }
    }
    await Promise.all(checks);
  });
});

describe("Tekton's real PipelineRun CRD", () => {
  const pipelineRun = (ns: string, spec: Record<string, unknown>) => ({
    apiVersion: "tekton.dev/v1",
    kind: "PipelineRun",
    metadata: { name: "build", namespace: ns },
    spec,
  });

  test("accepts a valid PipelineRun", async (t) => {
    const ns = await createNamespace(t);
    const result = await apply(
      pipelineRun(ns, {
        pipelineSpec: {
          tasks: [{ name: "test", taskSpec: { steps: [{ name: "run", image: "alpine", script: "true" }] } }],
        },
        params: [{ name: "revision", value: "abc" }],
        timeouts: { pipeline: "1h" },
      }),
    );
    assert.equal(result.code, 0, result.stderr);
  });

  test("rejects a mistyped field under strict field validation", async (t) => {
    const ns = await createNamespace(t);
    const result = await apply(pipelineRun(ns, { pipelineReff: { name: "build" } }));
    assert.notEqual(result.code, 0);
    assert.match(result.stderr, /unknown field "spec\.pipelineReff"/);
  });
});
