// Writes config/monitoring/baton-dashboard.json from hack/lib/dashboard.ts.
import { writeFile } from "node:fs/promises";
import { join } from "node:path";
import { repoRoot } from "./lib/controlplane.ts";
import { dashboard } from "./lib/dashboard.ts";

await writeFile(join(repoRoot, "config/monitoring/baton-dashboard.json"), `${JSON.stringify(dashboard(), null, 2)}\n`);
console.log("wrote config/monitoring/baton-dashboard.json");
