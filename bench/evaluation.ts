// What the evaluation budget costs an event on the normal path: matching and templating one ordinary pull-request
// event, before (everything on the event loop: matchPipelineRuns, buildPipelineRun) and now (matchPipelineRunsBounded,
// buildPipelineRunBounded: CEL in the warm worker, annotations and plain placeholders in place). No cluster: this is
// the part of event → PipelineRun that changed, to be read against that figure's floor (bench/results/events.json).
//
//   node bench/evaluation.ts [--events 300]
//
// Results go to bench/results/evaluation.json; a markdown table is printed.
import { parseArgs } from "node:util";
import { pullRequestEvent } from "../src/events/testdata.ts";
import { boundedWorker } from "../src/pipelines/bounded.ts";
import { type BuildInput, buildPipelineRun } from "../src/pipelines/build.ts";
import {
  buildPipelineRunBounded,
  defaultEvaluationBudget,
  matchPipelineRunsBounded,
} from "../src/pipelines/evaluate-bounded.ts";
import { loadPipelineRuns, type PipelineRunDefinition } from "../src/pipelines/load.ts";
import { matchPipelineRuns } from "../src/pipelines/match.ts";
import { printTable, pullRequestPipeline, stopwatch, summarise, writeResults } from "./lib.ts";

const { values } = parseArgs({ options: { events: { type: "string", default: "300" } } });
const events = Number(values.events);

const celPipeline = pullRequestPipeline
  .replace(/ {4}pipelinesascode\.tekton\.dev\/on-event:.*\n/, "")
  .replace(
    / {4}pipelinesascode\.tekton\.dev\/on-target-branch:.*\n/,
    `    pipelinesascode.tekton.dev/on-cel-expression: 'event == "pull_request" && target_branch == "main" && !source_branch.matches("^wip/")'\n`,
  )
  .replace('value: "{{ revision }}"', 'value: "{{ revision }} by {{ body.actor.name }}"');

function definition(text: string): PipelineRunDefinition {
  const loaded = loadPipelineRuns({ ".tekton/build.yaml": text }, { namespace: "bench" });
  const [d] = loaded.pipelineRuns;
  if (d === undefined) throw new Error(`not a PipelineRun: ${JSON.stringify(loaded.errors)}`);
  return d;
}

const cases = [
  { name: "annotations, plain {{ }}", definition: definition(pullRequestPipeline) },
  { name: "on-cel-expression, {{ body.* }}", definition: definition(celPipeline) },
];

async function perEvent(
  d: PipelineRunDefinition,
  bounded: boolean,
): Promise<{ ms: number; matched: boolean; built: boolean }> {
  const event = pullRequestEvent();
  const input: BuildInput = {
    definition: d,
    event,
    repository: { name: "app", namespace: "bench", spec: { pipelines: { path: ".tekton" } } },
    gitAuthSecret: "baton-git-bench",
    nameDigest: "0123456789abcdef",
  };
  const elapsed = stopwatch();
  const match = bounded ? await matchPipelineRunsBounded([d], { event }) : matchPipelineRuns([d], { event });
  const built = bounded ? await buildPipelineRunBounded(input) : buildPipelineRun(input);
  return { ms: elapsed(), matched: match.matched.length === 1, built: built.ok };
}

async function main(): Promise<void> {
  const worker = boundedWorker(defaultEvaluationBudget.maxHeapMiB);
  // The first CEL event of a process also starts the worker.
  const rssBefore = process.memoryUsage().rss;
  const cold = stopwatch();
  await perEvent(cases[1]?.definition as PipelineRunDefinition, true);
  const startMs = cold();
  const workerRssMiB = (process.memoryUsage().rss - rssBefore) / (1024 * 1024);

  const results = [];
  for (const c of cases) {
    for (const bounded of [false, true]) {
      const samples: number[] = [];
      for (let i = 0; i < events; i++) {
        const { ms, matched, built } = await perEvent(c.definition, bounded);
        if (!matched || !built) throw new Error(`${c.name}: did not match or build`);
        if (i >= 20) samples.push(ms); // the first ones warm the JIT up
      }
      results.push({
        definition: c.name,
        path: bounded ? "now (bounded)" : "before (event loop)",
        ms: summarise(samples, 3),
      });
    }
  }
  await worker.close();

  const rows = results.map((r) => [r.definition, r.path, r.ms.p50, r.ms.p99]);
  printTable(["definition", "path", "p50 ms", "p99 ms"], rows);
  console.log(
    `\nfirst CEL event of a process (starts the worker): ${startMs.toFixed(0)} ms, RSS +${workerRssMiB.toFixed(0)} MiB`,
  );
  const file = await writeResults("evaluation", {
    setup:
      "one pull-request event, one PipelineRun definition, matching + templating only (no I/O); before = on the event " +
      "loop, now = CEL in the warm bounded worker (postMessage round trips), annotations and plain placeholders in place",
    eventsPerCase: events,
    workerStartMs: Math.round(startMs),
    workerRssMiB: Math.round(workerRssMiB),
    results,
  });
  console.log(`\nwrote ${file}`);
}

await main();
