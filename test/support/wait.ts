// Tests synchronise on observable state, never on sleeps: poll a probe until it yields a value or the deadline passes.
export interface WaitOptions {
  timeout?: number;
  interval?: number;
  /** Says what was awaited, so a timeout explains itself. */
  message: string;
}

/** Resolves with the first truthy value `probe` returns; rejects with the last error or value seen at the deadline. */
export async function waitFor<T>(probe: () => T | Promise<T>, options: WaitOptions): Promise<NonNullable<T>> {
  const deadline = Date.now() + (options.timeout ?? 30_000);
  let last: unknown;
  for (;;) {
    try {
      const value = await probe();
      if (value) return value as NonNullable<T>;
      last = value;
    } catch (error) {
      last = error;
    }
    if (Date.now() > deadline) {
      const detail = last instanceof Error ? last.message : JSON.stringify(last);
      throw new Error(`timed out waiting for ${options.message} (last: ${detail})`);
    }
    await new Promise((r) => setTimeout(r, options.interval ?? 50));
  }
}
