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

/** `kubectl get` output as rows keyed by column header, cut at the columns' start, so an empty cell reads "". */
function table(stdout: string): Record<string, string>[] {
  const [header = "", ...rows] = stdout.trimEnd().split("\n");
  const columns: { name: string; start: number }[] = [];
  for (const match of header.matchAll(/\S+(?: \S+)*/g)) columns.push({ name: match[0], start: match.index });
  return rows.map((row) =>
    Object.fromEntries(columns.map((c, i) => [c.name, row.slice(c.start, columns[i + 1]?.start ?? row.length).trim()])),
  );
}

/**
 * Every field path of a kind, as `kubectl explain --recursive` lists them (metadata's fields are Kubernetes' own),
 * with whether the field has fields of its own.
 */
function fieldTree(recursive: string): { path: string; hasFields: boolean }[] {
  const lines = recursive.slice(recursive.indexOf("FIELDS:") + "FIELDS:".length).split("\n");
  const fields: { path: string; depth: number }[] = [];
  const stack: string[] = [];
  for (const line of lines) {
    const match = /^( +)(\S+)\s+</.exec(line);
    if (!match) continue;
    const depth = ((match[1] ?? "").length - 2) / 2;
    stack.length = depth;
    stack.push(match[2] ?? "");
    fields.push({ path: stack.join("."), depth });
  }
  return fields
    .filter((f) => f.path !== "metadata" && !f.path.startsWith("metadata."))
    .map((f, i, all) => ({ path: f.path, hasFields: (all[i + 1]?.depth ?? 0) > f.depth }));
}

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
    const [token] = table(tokens.stdout);
    assert.deepEqual(Object.keys(token ?? {}), [
      "NAME",
      "PROJECT",
      "REPOSITORY",
      "READY",
      "REASON",
      "SECRET",
      "EXPIRES",
      "RENEWS",
      "AGE",
    ]);
    assert.deepEqual(
      { ...token, AGE: undefined },
      {
        NAME: "platform-ci",
        PROJECT: "PLATFORM",
        REPOSITORY: "",
        READY: "True",
        REASON: "Issued",
        SECRET: "platform-ci-token",
        EXPIRES: "2099-03-01T00:00:00Z",
        RENEWS: "2099-01-30T00:00:00Z",
        AGE: undefined,
      },
    );
    const wideTokens = await kubectl(["get", "bbtoken", "-n", ns, "-o", "wide"]);
    assert.equal(table(wideTokens.stdout)[0]?.MESSAGE, "token 1 is valid");

    const repoStatus = await kubectl([
      "patch",
      "bbrepo",
      "payments-api",
      "-n",
      ns,
      "--subresource=status",
      "--type=merge",
      "-p",
      JSON.stringify({
        status: {
          conditions: [
            {
              type: "Ready",
              status: "False",
              reason: "TokenNotReady",
              message: "BitbucketProjectToken platform-ci is not Ready",
              lastTransitionTime: "2026-01-01T00:00:00Z",
            },
            {
              type: "WebhookSynced",
              status: "True",
              reason: "Synced",
              message: "webhook 7 is as declared",
              lastTransitionTime: "2026-01-01T00:00:00Z",
            },
          ],
          lastRun: { name: "build-x7k2p", status: "Succeeded" },
        },
      }),
    ]);
    assert.equal(repoStatus.code, 0, repoStatus.stderr);
    const repos = await kubectl(["get", "bbrepo", "-n", ns]);
    assert.equal(repos.code, 0, repos.stderr);
    const [repo] = table(repos.stdout);
    assert.deepEqual(
      { ...repo, AGE: undefined },
      {
        NAME: "payments-api",
        URL: "https://bitbucket.example.com/projects/PLATFORM/repos/payments-api",
        READY: "False",
        REASON: "TokenNotReady",
        WEBHOOK: "True",
        "LAST RUN": "Succeeded",
        AGE: undefined,
      },
    );
    const wideRepos = await kubectl(["get", "bbrepo", "-n", ns, "-o", "wide"]);
    assert.equal(table(wideRepos.stdout)[0]?.MESSAGE, "BitbucketProjectToken platform-ci is not Ready");

    // Both kinds answer to their category, the way `kubectl get baton` lists everything Baton owns.
    const all = await kubectl(["get", "baton", "-n", ns, "-o", "name"]);
    assert.equal(all.code, 0, all.stderr);
    assert.match(all.stdout, /bitbucketprojecttoken\.baton\.dev\/platform-ci/);
    assert.match(all.stdout, /repository\.baton\.dev\/payments-api/);
  });

  for (const resource of ["bitbucketprojecttokens.baton.dev", "repositories.baton.dev"]) {
    test(`kubectl explain describes every field of ${resource}: none reads <empty>`, async () => {
      const recursive = await kubectl(["explain", resource, "--recursive"]);
      assert.equal(recursive.code, 0, recursive.stderr);
      const fields = fieldTree(recursive.stdout);
      assert.ok(fields.some((f) => f.path === "spec") && fields.some((f) => f.path === "status.conditions.reason"));
      // `kubectl explain X.path` prints the field's description and each of its fields' descriptions, so the kind
      // itself and every field that has fields cover every field once.
      const described = ["", ...fields.filter((f) => f.hasFields).map((f) => `.${f.path}`)];
      const empty: string[] = [];
      for (const path of described) {
        const explained = await kubectl(["explain", `${resource}${path}`]);
        assert.equal(explained.code, 0, explained.stderr);
        if (explained.stdout.includes("<empty>")) empty.push(`${resource}${path}:\n${explained.stdout}`);
      }
      assert.deepEqual(empty, []);
    });
  }

  test("a Bitbucket Cloud token names its workspace by slug: lower case, digits, - and _", async (t) => {
    const ns = await createNamespace(t);
    // Workspace slugs as Cloud's webhook payloads carry them (full_name of the captured fixtures).
    const fixtures = join(root, "test/fixtures/bitbucket-cloud");
    const body = await readFile(join(fixtures, "webhook-pullrequest-comment_created.drone-go-scm.json"), "utf8");
    const captured = (JSON.parse(body) as { repository: { full_name: string } }).repository.full_name.split("/")[0];
    const cases = [
      { server: "https://bitbucket.org", project: captured },
      { server: "https://bitbucket.org", project: "team_2-ci" },
      { server: "https://BitBucket.org/", project: "0xdeadbeef" },
      { server: "http://127.0.0.1:8443", provider: "bitbucket-cloud", project: "acme-ci" },
    ];
    for (const [i, spec] of cases.entries()) {
      const result = await apply(token(ns, spec, `cloud-${i}`));
      assert.equal(result.code, 0, `${JSON.stringify(spec)}: ${result.stderr}`);
    }
    // A Data Center server still takes only project keys, and says so.
    const dc = await apply(token(ns, { project: "acme-ci" }, "dc"));
    assert.notEqual(dc.code, 0);
    assert.match(dc.stderr, /spec\.project: Invalid value: .*project must be a Bitbucket Data Center project key/);
    const upper = await apply(token(ns, { server: "https://bitbucket.org", project: "Acme-CI" }, "upper"));
    assert.notEqual(upper.code, 0, "a Cloud slug is lower case");
    assert.match(upper.stderr, /project must be a Bitbucket Cloud workspace slug/);
  });

  test("a GitHub token names its owner by login, whose case and hyphens Data Center keys would refuse", async (t) => {
    const ns = await createNamespace(t);
    const cases = [
      { server: "https://github.com", project: "Octo-Org", repository: "hello.js" },
      { server: "https://ghe.example.com", provider: "github", project: "0ctocat" },
    ];
    for (const [i, spec] of cases.entries()) {
      const result = await apply(token(ns, spec, `github-${i}`));
      assert.equal(result.code, 0, `${JSON.stringify(spec)}: ${result.stderr}`);
    }
    const underscore = await apply(token(ns, { server: "https://github.com", project: "octo_org" }, "underscore"));
    assert.notEqual(underscore.code, 0, "GitHub logins have no _");
    assert.match(underscore.stderr, /project must be a GitHub owner/);
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
    {
      name: "a Repository naming both a GitHub App and a personal token Secret",
      object: (ns) => githubRepository(ns, { secretRef: { name: "pat" } }),
      error:
        /set exactly one of tokenRef \(a BitbucketProjectToken\), secretRef \(a Secret holding a token\) or githubApp/,
    },
    {
      name: "a GitHub App on a Bitbucket repository",
      object: (ns) => githubRepository(ns, { url: "https://bitbucket.example.com/projects/P/repos/x" }),
      error: /githubApp is for GitHub repositories/,
    },
    {
      name: "a GitHub App with a clone token as well",
      object: (ns) => githubRepository(ns, { cloneTokenRef: { kind: "Secret", name: "clone" } }),
      error: /with githubApp each PipelineRun gets its own token minted by the App/,
    },
    {
      name: "a GitHub App whose id is neither a number nor a client id",
      object: (ns) => githubRepository(ns, { githubApp: { appId: "my-app", privateKeyRef: { name: "key" } } }),
      error: /must be the App's numeric id or its client id/,
    },
  ];

  test("a GitHub App Repository is accepted: on github.com, or elsewhere with provider github", async (t) => {
    const ns = await createNamespace(t);
    const onDotCom = await apply(githubRepository(ns, {}));
    assert.equal(onDotCom.code, 0, onDotCom.stderr);
    const got = await kubectl(["get", "bbrepo", "r", "-n", ns, "-o", "jsonpath={.spec.githubApp}"]);
    assert.deepEqual(JSON.parse(got.stdout), {
      appId: "123456",
      installationId: 42,
      privateKeyRef: { name: "key", key: "private-key.pem" },
    });
    const enterprise = await apply({
      ...githubRepository(ns, { url: "https://ghe.example.com/octo-org/hello", provider: "github" }),
      metadata: { name: "ghe", namespace: ns },
    });
    assert.equal(enterprise.code, 0, enterprise.stderr);
  });

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

function githubRepository(ns: string, spec: Record<string, unknown>) {
  return {
    apiVersion: "baton.dev/v1alpha1",
    kind: "Repository",
    metadata: { name: "r", namespace: ns },
    spec: {
      url: "https://github.com/octo-org/hello",
      githubApp: { appId: "123456", installationId: 42, privateKeyRef: { name: "key" } },
      ...spec,
    },
  };
}
