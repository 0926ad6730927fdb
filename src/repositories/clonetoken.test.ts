import assert from "node:assert/strict";
import { test } from "node:test";
import type { Repository } from "../api/repository.ts";
import type { BitbucketProjectToken } from "../api/token.ts";
import {
  type ClonePermissions,
  type ClonePlan,
  clonePlan,
  cloneTokenConditions,
  isManagedCloneTokenOf,
  managedCloneToken,
  managedCloneTokenName,
} from "./clonetoken.ts";

const repository = (spec: Partial<Repository["spec"]>): Repository =>
  ({
    apiVersion: "baton.dev/v1alpha1",
    kind: "Repository",
    metadata: { name: "api", namespace: "ci", uid: "u-1" },
    spec: { url: "https://bb.example.com/projects/PLAT/repos/api", webhook: {}, pipelines: {}, ...spec },
  }) as Repository;

const token = (managed: boolean, permissions = ["PROJECT_READ", "REPO_ADMIN"]): BitbucketProjectToken =>
  ({
    apiVersion: "baton.dev/v1alpha1",
    kind: "BitbucketProjectToken",
    metadata: { name: "ci", namespace: "ci" },
    spec: {
      server: "https://bb.example.com",
      project: "PLAT",
      permissions,
      lifetime: "720h",
      revocationGracePeriod: "1h",
      secretName: "ci-token",
      deletionPolicy: "Revoke",
      ...(managed ? { adminCredentialsRef: { name: "admin" } } : {}),
    },
  }) as BitbucketProjectToken;

test("clonePlan: the operator's token reaches runs only by opt-in; otherwise a managed or a named token", () => {
  const cases: { name: string; repo: Repository; operator?: BitbucketProjectToken; kind: ClonePlan["kind"] }[] = [
    { name: "plain Secret", repo: repository({ secretRef: { name: "t", key: "token" } }), kind: "required" },
    {
      name: "external token",
      repo: repository({ tokenRef: { name: "ci" } }),
      operator: token(false),
      kind: "required",
    },
    { name: "missing token object", repo: repository({ tokenRef: { name: "ci" } }), kind: "required" },
    { name: "managed token", repo: repository({ tokenRef: { name: "ci" } }), operator: token(true), kind: "managed" },
    {
      name: "opt-in",
      repo: repository({
        secretRef: { name: "t", key: "token" },
        pipelines: { path: ".tekton", cloneWithOperatorToken: true },
      }),
      kind: "operator",
    },
    {
      name: "cloneTokenRef wins over the opt-in and the managed token",
      repo: repository({
        tokenRef: { name: "ci" },
        cloneTokenRef: { kind: "Secret", name: "ro", key: "token" },
        pipelines: { path: ".tekton", cloneWithOperatorToken: true },
      }),
      operator: token(true),
      kind: "reference",
    },
  ];
  for (const c of cases) assert.equal(clonePlan(c.repo, c.operator).kind, c.kind, c.name);
  const required = clonePlan(repository({ secretRef: { name: "t", key: "token" } }), undefined);
  assert.match(required.kind === "required" ? required.message : "", /set spec\.cloneTokenRef/);
});

test("managedCloneToken: REPO_READ on this repository only, owned by the Repository, same admin credentials", () => {
  const child = managedCloneToken(repository({ tokenRef: { name: "ci" } }), token(true), {
    server: "https://bb.example.com",
    project: "plat",
    slug: "api",
  } as never);
  assert.deepEqual(child.spec.permissions, ["REPO_READ"]);
  assert.equal(child.spec.repository, "api");
  assert.equal(child.spec.project, "PLAT");
  assert.deepEqual(child.spec.adminCredentialsRef, { name: "admin" });
  assert.equal(child.spec.deletionPolicy, "Revoke");
  assert.notEqual(child.spec.secretName, "ci-token");
  assert.ok(isManagedCloneTokenOf(child, repository({})));
  assert.ok(!isManagedCloneTokenOf(child, { metadata: { name: "api", uid: "other" } }));
  assert.ok(!isManagedCloneTokenOf(token(true), repository({})));
  const long = managedCloneTokenName("x".repeat(253));
  assert.ok(long.length <= 253 && long.endsWith("-clone"));
});

test("cloneTokenConditions: warns while runs hold more than read access, and says when nobody can tell", () => {
  const known = (permissions: string[]): ClonePermissions => ({ known: true, permissions, source: "s" });
  const cases: {
    name: string;
    plan: ClonePlan;
    resolved: { source: string } | { reason: string; problem: string };
    permissions: ClonePermissions;
    ready: [string, string];
    warning: [string, string];
  }[] = [
    {
      name: "opt-in",
      plan: { kind: "operator" },
      resolved: { source: "Secret t" },
      permissions: known(["REPO_ADMIN"]),
      ready: ["True", "OperatorToken"],
      warning: ["True", "OperatorToken"],
    },
    {
      name: "required",
      plan: { kind: "required", message: "m" },
      resolved: { reason: "CloneTokenRequired", problem: "m" },
      permissions: { known: false, why: "w" },
      ready: ["False", "CloneTokenRequired"],
      warning: ["False", "NoCloneToken"],
    },
    {
      name: "managed, not issued yet",
      plan: { kind: "managed", name: "api-clone", parent: token(true) },
      resolved: { reason: "CloneTokenNotIssued", problem: "p" },
      permissions: known(["REPO_READ"]),
      ready: ["Unknown", "CloneTokenNotIssued"],
      warning: ["False", "ReadOnly"],
    },
    {
      name: "a named token with write access",
      plan: { kind: "reference" },
      resolved: { source: "BitbucketProjectToken w" },
      permissions: known(["REPO_WRITE"]),
      ready: ["True", "Referenced"],
      warning: ["True", "ExcessPermissions"],
    },
    {
      name: "an external token declaring admin",
      plan: { kind: "reference" },
      resolved: { source: "BitbucketProjectToken e" },
      permissions: { known: false, declared: ["REPO_ADMIN"], why: "w" },
      ready: ["True", "Referenced"],
      warning: ["True", "ExcessPermissions"],
    },
    {
      name: "a plain Secret",
      plan: { kind: "reference" },
      resolved: { source: "Secret ro" },
      permissions: { known: false, why: "w" },
      ready: ["True", "Referenced"],
      warning: ["Unknown", "PermissionsUnknown"],
    },
  ];
  for (const c of cases) {
    const [ready, warning] = cloneTokenConditions(c.plan, c.resolved, c.permissions);
    assert.deepEqual([ready.status, ready.reason], c.ready, c.name);
    assert.deepEqual([warning.status, warning.reason], c.warning, c.name);
  }
});
