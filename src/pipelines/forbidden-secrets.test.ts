import assert from "node:assert/strict";
import { test } from "node:test";
import { Repository } from "../api/repository.ts";
import { forbiddenSecretNames } from "./resolve.ts";

test("a GitHub App's private key Secret is one no PipelineRun may name", () => {
  const repository = Repository.parse({
    apiVersion: "baton.dev/v1alpha1",
    kind: "Repository",
    metadata: { name: "hello", namespace: "ci" },
    spec: {
      url: "https://github.com/octo-org/hello",
      githubApp: { appId: "123456", privateKeyRef: { name: "baton-app-key" } },
      webhook: { secretRef: { name: "hook" } },
    },
  });
  const forbidden = forbiddenSecretNames(repository, undefined);
  assert.ok(forbidden.includes("baton-app-key"), forbidden.join(", "));
  assert.ok(forbidden.includes("hook"));
});
