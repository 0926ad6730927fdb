// The install manifests as an operator user applies them: `kubectl apply -k config/default`.
import assert from "node:assert/strict";
import { test } from "node:test";
import { kubectl } from "../support/cluster.ts";

test("kubectl apply -k config/default passes server-side dry run within the restricted Pod Security level", async () => {
  // Namespaced objects need their namespace to exist for a server-side dry run; create it for real first.
  const ns = await kubectl(["create", "namespace", "baton-system"]);
  assert.ok(ns.code === 0 || /AlreadyExists/.test(ns.stderr), ns.stderr);
  const result = await kubectl(["apply", "-k", "config/default", "--dry-run=server"]);
  assert.equal(result.code, 0, result.stderr);
  for (const kind of [
    "customresourcedefinition.apiextensions.k8s.io/bitbucketprojecttokens.baton.dev",
    "customresourcedefinition.apiextensions.k8s.io/repositories.baton.dev",
    "clusterrole.rbac.authorization.k8s.io/baton",
    "role.rbac.authorization.k8s.io/baton-leader-election",
    "deployment.apps/baton",
    "service/baton",
  ]) {
    assert.match(
      result.stdout,
      new RegExp(
        `${kind.replaceAll(".", "\\.")} (created|configured|unchanged|serverside-applied) \\(server dry run\\)`,
      ),
    );
  }
  // The namespace enforces the restricted Pod Security level; a Deployment breaking it draws this warning.
  assert.doesNotMatch(result.stderr, /would violate PodSecurity/);
});
