// The demo's voice: numbered steps, indented narration, kubectl shown as typed, and patient waits whose failure
// points at Baton's log. Shared by every provider's story in hack/demo.ts.
export const bold = (s: string) => (process.stdout.isTTY ? `\x1b[1m${s}\x1b[0m` : s);
export const dim = (s: string) => (process.stdout.isTTY ? `\x1b[2m${s}\x1b[0m` : s);
let stepNumber = 0;
export function step(title: string, why: string): void {
  stepNumber++;
  console.log(`\n${bold(`${stepNumber}. ${title}`)}\n   ${dim(why)}`);
}
export const say = (text: string) => console.log(`   ${text.replace(/\n/g, "\n   ")}`);

export type Until = <T>(
  what: string,
  probe: () => Promise<T | undefined> | T | undefined,
  timeout?: number,
) => Promise<T>;

/** Waits that name `logFile` when they give up. */
export function waiting(logFile: string): Until {
  return async (what, probe, timeout = 60_000) => {
    const deadline = Date.now() + timeout;
    for (;;) {
      const value = await probe();
      if (value !== undefined) return value;
      if (Date.now() > deadline) throw new Error(`the demo waited ${timeout / 1000}s for ${what}; see ${logFile}`);
      await new Promise((r) => setTimeout(r, 200));
    }
  };
}

/** Runs kubectl the way the reader would type it, and shows both. */
export function showing(kubectl: (args: string[]) => Promise<string>): (args: string[]) => Promise<string> {
  return async (args) => {
    console.log(`   $ kubectl ${args.join(" ")}`);
    const out = await kubectl(args);
    say(dim(out.trimEnd()));
    return out;
  };
}

/**
 * One cell of kubectl's table, found by its header: columns start where their headers do (a header may hold one
 * space, "LAST RUN"; kubectl pads columns with at least three), and an empty cell reads as "".
 */
export function cell(table: string, row: string, column: string): string | undefined {
  const [header = "", ...lines] = table.trimEnd().split("\n");
  const starts = [...header.matchAll(/\S+(?: \S+)*/g)].map((m) => ({ name: m[0], at: m.index }));
  const i = starts.findIndex((s) => s.name === column);
  const line = lines.find((l) => l.split(/\s+/)[0] === row);
  if (i < 0 || line === undefined) return undefined;
  return line.slice(starts[i]?.at, starts[i + 1]?.at).trim();
}
