// PRJ/app (pipelines-world.ts's Bitbucket half) served by the operator as a process (src/main.ts, as the image runs
// it), the simulator's webhook pointing at the process's intake. For what only a process shows: signals, exit
// codes, a kill at the worst moment.
import type { Repository } from "../../src/api/repository.ts";
import { type OperatorProcess, spawnOperator } from "./operator.ts";
import { hookTo, type RepositorySide, repositorySide } from "./pipelines-world.ts";

type T = Parameters<typeof repositorySide>[0];

export interface ProcessWorld extends RepositorySide {
  operator: OperatorProcess;
}

export async function processWorld(
  t: T,
  options: {
    /** PRJ/app's files besides its README, `.tekton/` included. */
    files: Record<string, string>;
    /** Added to the Repository's `spec.pipelines` (its path is `.tekton`). */
    pipelines?: Omit<NonNullable<Repository["spec"]["pipelines"]>, "path">;
    /** The process's settings (spawnOperator's `env`); it may call the simulator and nothing else. */
    env?: Record<string, string>;
  },
): Promise<ProcessWorld> {
  const side = await repositorySide(t, {
    files: options.files,
    spec: { pipelines: { path: ".tekton", ...options.pipelines } },
  });
  const operator = await spawnOperator(t, side.ns, { BATON_ALLOWED_SERVERS: side.sim.url, ...options.env });
  hookTo(side, `http://127.0.0.1:${operator.intakePort}/hooks/bitbucket`);
  return { ...side, operator };
}
