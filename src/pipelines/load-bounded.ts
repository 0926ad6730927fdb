// Parsing hostile YAML can hold the event loop for seconds (120 KiB of nested brackets takes more than one), and
// every delivery of every Repository waits behind it. Small folders, nearly all of them, are parsed in place; a large
// one is parsed in the bounded worker (bounded.ts) with limits on time and memory, and a folder over either is refused
// as a whole.
import { boundedWorker } from "./bounded.ts";
import { type LoadOptions, type LoadResult, loadPipelineRuns, type TektonFiles } from "./load.ts";

export interface LoadBounds {
  /** Folders up to this many bytes in total are parsed on the calling thread (a worker costs tens of ms). */
  inlineBytes: number;
  /** A parse still running after this long is stopped. */
  timeoutMs: number;
  /** …and one that needs a larger heap than this (the worker's heap limit). */
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

  const outcome = await boundedWorker(bounds.maxHeapMiB).run<LoadResult>(
    { kind: "load", files: record, options },
    bounds.timeoutMs,
  );
  if (outcome.ok) return outcome.value;
  const why =
    outcome.reason === "timeout"
      ? `took longer than ${bounds.timeoutMs / 1000} s to parse (${bytes} bytes of YAML)`
      : outcome.reason === "memory"
        ? `needed more than ${bounds.maxHeapMiB} MiB to parse (${bytes} bytes of YAML)`
        : `could not be parsed: ${outcome.detail}`;
  return {
    pipelineRuns: [],
    ignored: [],
    errors: [{ file: Object.keys(record)[0]?.split("/")[0] ?? ".tekton", message: `${why}; none of it was used` }],
  };
}
