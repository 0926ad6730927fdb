import assert from "node:assert/strict";
import { readFile } from "node:fs/promises";
import { join } from "node:path";
import { test } from "node:test";
import { customResourceDefinition, resources } from "./crd.ts";
import { renderCrds } from "./render.ts";

const crdDir = join(import.meta.dirname, "../../crds");

test("committed CRDs match the zod schemas (run `npm run generate` after changing src/api)", async () => {
  for (const [file, generated] of renderCrds()) {
    const committed = await readFile(join(crdDir, file), "utf8").catch(() => "");
    assert.equal(committed, generated, `crds/${file} is stale: run npm run generate`);
  }
});

test("generated schemas are structural: no zod artefacts the API server would reject", () => {
  for (const [file, yaml] of renderCrds()) {
    for (const forbidden of [
      "$schema",
      "additionalProperties: false",
      "9007199254740991",
      "anyOf",
      "oneOf",
      "const:",
    ]) {
      assert.ok(!yaml.includes(forbidden), `${file} contains ${forbidden}`);
    }
  }
});

/** Paths of the properties under `schema` (through array items and maps) that carry no description. */
function undescribed(schema: Record<string, unknown>, path: string): string[] {
  const missing: string[] = [];
  const properties = (schema.properties ?? {}) as Record<string, Record<string, unknown>>;
  for (const [name, child] of Object.entries(properties)) {
    // The API server describes metadata itself (ObjectMeta) and refuses a description in a CRD.
    if (path.indexOf(".") < 0 && name === "metadata") continue;
    if (typeof child.description !== "string" || child.description.trim() === "") missing.push(`${path}.${name}`);
    missing.push(...undescribed(child, `${path}.${name}`));
  }
  for (const key of ["items", "additionalProperties"]) {
    const nested = schema[key];
    if (typeof nested === "object" && nested !== null) missing.push(...undescribed(nested as never, `${path}[]`));
  }
  return missing;
}

test("every field of both kinds has a description, so `kubectl explain` never prints <empty>", () => {
  for (const def of resources) {
    const crd = customResourceDefinition(def) as { spec: { versions: { schema: { openAPIV3Schema: never } }[] } };
    const schema = crd.spec.versions[0]?.schema.openAPIV3Schema;
    assert.ok(schema);
    assert.deepEqual(undescribed(schema, def.kind), [], `${def.kind}: fields without a description`);
  }
});
