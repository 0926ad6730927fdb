// GitHub's published webhook examples (@octokit/webhooks-examples): one list per API version (github.com and each
// GitHub Enterprise Server release the package carries). Test-only: the package is a devDependency.
import { readdirSync, readFileSync } from "node:fs";
import { createRequire } from "node:module";
import { dirname, join } from "node:path";
import type { WebhookDefinition } from "@octokit/webhooks-examples";
import type { WebhookEventName } from "@octokit/webhooks-types";

const root = dirname(createRequire(import.meta.url).resolve("@octokit/webhooks-examples/package.json"));

/** `api.github.com`, `ghes-35`, …: the folders the package ships. */
export function exampleVersions(): string[] {
  return readdirSync(root, { withFileTypes: true })
    .filter((entry) => entry.isDirectory())
    .map((entry) => entry.name)
    .sort();
}

const cache = new Map<string, WebhookDefinition[]>();

/** Every example of `event` published for `version`, as GitHub's types describe them. */
export function examplesOf<E extends WebhookEventName>(version: string, event: E): WebhookDefinition<E>["examples"] {
  let definitions = cache.get(version);
  if (definitions === undefined) {
    definitions = JSON.parse(readFileSync(join(root, version, "index.json"), "utf8")) as WebhookDefinition[];
    cache.set(version, definitions);
  }
  const definition = definitions.find((d) => d.name === event) as WebhookDefinition<E> | undefined;
  return definition?.examples ?? [];
}
