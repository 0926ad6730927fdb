// Parsing hostile YAML can hold the event loop for seconds (120 KiB of nested brackets takes more than one), and
// every delivery of every Repository waits behind it. Small folders, nearly all of them, are parsed in place; a large
// one is parsed in a worker thread with limits on time and memory, and a folder over either is refused as a whole.
import { isMainThread, parentPort, Worker, workerData } from "node:worker_threads";
import { type LoadOptions, type LoadResult, loadPipelineRuns, type TektonFiles } from "./load.ts";

export interface LoadBounds {
  /** Folders up to this many bytes in total are parsed on the calling thread (a worker costs tens of ms). */
  inlineBytes: number;
  /** A worker still parsing after this long is stopped. */
  timeoutMs: number;
  /** …and one that needs a larger heap than this. */
  maxHeapMiB: number;
}

export const defaultLoadBounds: LoadBounds = { inlineBytes: 64 * 1024, timeoutMs: 5_000, maxHeapMiB: 64 };

function asRecord(files: TektonFiles): Record<string, string> {
  if (Array.isArray(files)) {
    return Object.fromEntries((files as { path: string; content: string }[]).map((f) => [f.path, f.content]));
  }
  if (files instanceof Map) return Object.fromEntries(files);
  return { ...(files as Record<string, string>) };
}

/** loadPipelineRuns, off the event loop and time-limited when the folder is large. */
export async function loadPipelineRunsBounded(
  files: TektonFiles,
  options: LoadOptions,
  bounds: LoadBounds = defaultLoadBounds,
): Promise<LoadResult> {
  const record = asRecord(files);
  const bytes = Object.values(record).reduce((sum, text) => sum + text.length, 0);
  if (bytes <= bounds.inlineBytes) return loadPipelineRuns(record, options);

  // The worker runs this very module (the .ts source under `npm start` and tests, the emitted .js in the image).
  const worker = new Worker(new URL(import.meta.url), {
    workerData: { files: record, options },
    // The same bound for memory: a parse that needs more is refused like a slow one.
    resourceLimits: { maxOldGenerationSizeMb: bounds.maxHeapMiB },
  });
  const refused = (why: string): LoadResult => ({
    pipelineRuns: [],
    ignored: [],
    errors: [{ file: Object.keys(record)[0]?.split("/")[0] ?? ".tekton", message: `${why}; none of it was used` }],
  });
  try {
    return await new Promise<LoadResult>((resolve) => {
      const timer = setTimeout(
        () => resolve(refused(`took longer than ${bounds.timeoutMs / 1000} s to parse (${bytes} bytes of YAML)`)),
        bounds.timeoutMs,
      );
      worker.once("message", (result: LoadResult) => {
        clearTimeout(timer);
        resolve(result);
      });
      worker.once("error", (err: Error & { code?: string }) => {
        clearTimeout(timer);
        resolve(
          refused(
            err.code === "ERR_WORKER_OUT_OF_MEMORY"
              ? `needed more than ${bounds.maxHeapMiB} MiB to parse (${bytes} bytes of YAML)`
              : `could not be parsed: ${err.message}`,
          ),
        );
      });
    });
  } finally {
    await worker.terminate();
  }
}

if (!isMainThread && parentPort && (workerData as { files?: unknown } | undefined)?.files) {
  const { files, options } = workerData as { files: Record<string, string>; options: LoadOptions };
  parentPort.postMessage(loadPipelineRuns(files, options));
}
