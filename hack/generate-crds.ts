// Writes crds/<plural>.baton.dev.yaml from the zod schemas in src/api (never edit those files by hand).
import { writeFile } from "node:fs/promises";
import { join } from "node:path";
import { renderCrds } from "../src/api/render.ts";
import { repoRoot } from "./lib/controlplane.ts";

for (const [file, yaml] of renderCrds()) {
  await writeFile(join(repoRoot, "crds", file), yaml);
  console.log(`wrote crds/${file}`);
}
