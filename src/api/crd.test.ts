import assert from "node:assert/strict";
import { readFile } from "node:fs/promises";
import { join } from "node:path";
import { test } from "node:test";
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
