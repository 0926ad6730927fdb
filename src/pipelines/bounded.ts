// Work whose cost a `.tekton` author or an event's sender controls, run off the event loop with limits on time and
// memory. Parsing hostile YAML, a CEL expression with nested comprehensions or a `{{ body… }}` placeholder can hold a
// thread for seconds or minutes; on the main thread that stops lease renewal, health probes and every tenant's
// intake. Here it runs in one warm worker thread, one task at a time: a task over its time is stopped by terminating
// the worker (synchronous JavaScript cannot be interrupted otherwise), one that needs more heap than allowed dies
// with the worker, and the next task gets a fresh worker. The caller turns a refusal into a problem of the one
// pipeline or folder concerned.
import { isMainThread, parentPort, Worker, workerData } from "node:worker_threads";
import { type BuildInput, buildPipelineRun } from "./build.ts";
import { type LoadOptions, loadPipelineRuns, type PipelineRunDefinition } from "./load.ts";
import { type MatchContext, matchPipelineRuns } from "./match.ts";

export type BoundedTask =
  | { kind: "load"; files: Record<string, string>; options: LoadOptions }
  | { kind: "match"; definitions: PipelineRunDefinition[]; ctx: MatchContext }
  | { kind: "build"; input: BuildInput };

function perform(task: BoundedTask): unknown {
  switch (task.kind) {
    case "load":
      return loadPipelineRuns(task.files, task.options);
    case "match":
      return matchPipelineRuns(task.definitions, task.ctx);
    case "build":
      return buildPipelineRun(task.input);
  }
}

export type BoundedOutcome<T> =
  | { ok: true; value: T }
  /** `timeout`: stopped after its time; `memory`: needed more heap; `failed`: threw, or the worker could not run. */
  | { ok: false; reason: "timeout" | "memory" | "failed"; detail: string };

interface Queued {
  task: BoundedTask;
  timeoutMs: number;
  resolve(outcome: BoundedOutcome<unknown>): void;
}

type Reply = { ready: true } | { id: number; value: unknown } | { id: number; error: string };

/** How long a new worker may take to load its modules (under CPU contention too) before its task fails. */
const startupTimeoutMs = 60_000;

export class BoundedWorker {
  readonly #maxHeapMiB: number;
  readonly #queue: Queued[] = [];
  #worker: Worker | undefined;
  #ready: Promise<boolean> | undefined;
  #busy = false;
  #nextId = 0;

  constructor(maxHeapMiB: number) {
    this.#maxHeapMiB = maxHeapMiB;
  }

  /** Runs `task` in the worker; its `timeoutMs` counts from when the worker starts it, not while it waits. */
  run<T>(task: BoundedTask, timeoutMs: number): Promise<BoundedOutcome<T>> {
    return new Promise((resolve) => {
      this.#queue.push({ task, timeoutMs, resolve: resolve as Queued["resolve"] });
      void this.#pump();
    });
  }

  /** Stops the worker (tests, shutdown); a later task starts a new one. */
  async close(): Promise<void> {
    const worker = this.#worker;
    this.#worker = undefined;
    this.#ready = undefined;
    await worker?.terminate();
  }

  #start(): { worker: Worker; ready: Promise<boolean> } {
    // The worker runs this very module (the .ts source under `npm start` and tests, the emitted .js in the image).
    const worker = new Worker(new URL(import.meta.url), {
      workerData: { batonBounded: true },
      resourceLimits: { maxOldGenerationSizeMb: this.#maxHeapMiB },
    });
    // An idle worker must not keep the process alive; a running task's timer does.
    worker.unref();
    const ready = new Promise<boolean>((resolve) => {
      const timer = setTimeout(() => resolve(false), startupTimeoutMs);
      const done = (ok: boolean) => {
        clearTimeout(timer);
        resolve(ok);
      };
      worker.once("message", (reply: Reply) => done("ready" in reply));
      worker.once("error", () => done(false));
      worker.once("exit", () => done(false));
    });
    worker.once("exit", () => {
      if (this.#worker === worker) {
        this.#worker = undefined;
        this.#ready = undefined;
      }
    });
    this.#worker = worker;
    this.#ready = ready;
    return { worker, ready };
  }

  async #pump(): Promise<void> {
    if (this.#busy) return;
    const next = this.#queue.shift();
    if (next === undefined) return;
    this.#busy = true;
    try {
      next.resolve(await this.#perform(next));
    } finally {
      this.#busy = false;
      void this.#pump();
    }
  }

  async #perform({ task, timeoutMs }: Queued): Promise<BoundedOutcome<unknown>> {
    const { worker, ready } =
      this.#worker && this.#ready ? { worker: this.#worker, ready: this.#ready } : this.#start();
    if (!(await ready)) {
      await this.#discard(worker);
      return { ok: false, reason: "failed", detail: "the evaluation worker did not start" };
    }
    const id = ++this.#nextId;
    // `keep`: whether the worker can take the next task (only a task that threw leaves it intact).
    const { outcome, keep } = await new Promise<{ outcome: BoundedOutcome<unknown>; keep: boolean }>((resolve) => {
      const finish = (result: BoundedOutcome<unknown>, keep = false) => {
        clearTimeout(timer);
        worker.off("message", onMessage);
        worker.off("error", onError);
        worker.off("exit", onExit);
        resolve({ outcome: result, keep });
      };
      const timer = setTimeout(
        () => finish({ ok: false, reason: "timeout", detail: `took longer than ${seconds(timeoutMs)}` }),
        timeoutMs,
      );
      const onMessage = (reply: Reply) => {
        if (!("id" in reply) || reply.id !== id) return;
        finish(
          "error" in reply ? { ok: false, reason: "failed", detail: reply.error } : { ok: true, value: reply.value },
          true,
        );
      };
      const onError = (err: Error & { code?: string }) =>
        finish(
          err.code === "ERR_WORKER_OUT_OF_MEMORY"
            ? { ok: false, reason: "memory", detail: `needed more than ${this.#maxHeapMiB} MiB` }
            : { ok: false, reason: "failed", detail: err.message },
        );
      const onExit = () => finish({ ok: false, reason: "failed", detail: "the evaluation worker stopped" });
      worker.on("message", onMessage);
      worker.on("error", onError);
      worker.on("exit", onExit);
      try {
        worker.postMessage({ id, task });
      } catch (error) {
        finish({ ok: false, reason: "failed", detail: error instanceof Error ? error.message : String(error) }, true);
      }
    });
    if (!keep) {
      await this.#discard(worker);
      // Start the replacement now, so the next event does not wait for its modules to load.
      if (this.#worker === undefined) this.#start();
    }
    return outcome;
  }

  async #discard(worker: Worker): Promise<void> {
    if (this.#worker === worker) {
      this.#worker = undefined;
      this.#ready = undefined;
    }
    await worker.terminate();
  }
}

function seconds(ms: number): string {
  return `${Number((ms / 1000).toFixed(3))} s`;
}

const shared = new Map<number, BoundedWorker>();

/** The process's worker for a heap limit (one per limit in use; in practice one). */
export function boundedWorker(maxHeapMiB: number): BoundedWorker {
  let worker = shared.get(maxHeapMiB);
  if (worker === undefined) {
    worker = new BoundedWorker(maxHeapMiB);
    shared.set(maxHeapMiB, worker);
  }
  return worker;
}

if (!isMainThread && parentPort && (workerData as { batonBounded?: boolean } | undefined)?.batonBounded) {
  const port = parentPort;
  port.on("message", ({ id, task }: { id: number; task: BoundedTask }) => {
    let reply: Reply;
    try {
      reply = { id, value: perform(task) };
    } catch (error) {
      reply = { id, error: error instanceof Error ? error.message : String(error) };
    }
    port.postMessage(reply);
  });
  port.postMessage({ ready: true } satisfies Reply);
}
