// Tables for people, JSON and YAML for scripts: every command builds one plain object and hands it here.
import { stringify } from "yaml";
import type { Io, Output } from "./common.ts";

export type Row = readonly (string | number | undefined)[];

/** kubectl's table: upper-case headers, columns padded with three spaces, `<none>` for an empty cell. */
export function table(headers: readonly string[], rows: readonly Row[]): string {
  const cells = [headers.map((h) => h.toUpperCase()), ...rows.map((r) => r.map(cell))];
  const widths = headers.map((_, i) => Math.max(...cells.map((r) => [...(r[i] ?? "")].length)));
  return cells
    .map((r) =>
      r
        .map((c, i) => (i === r.length - 1 ? c : c + " ".repeat((widths[i] ?? 0) - [...c].length)))
        .join("   ")
        .trimEnd(),
    )
    .join("\n");
}

function cell(value: string | number | undefined): string {
  if (value === undefined || value === "") return "<none>";
  return String(value).replace(/\s+/g, " ");
}

/** Writes `data` as JSON or YAML, or calls `human` for the table form. */
export function emit(io: Io, output: Output, data: unknown, human: () => string): void {
  if (output === "json") io.out(`${JSON.stringify(data, null, 2)}\n`);
  else if (output === "yaml") io.out(stringify(data, { lineWidth: 0 }));
  else {
    const text = human();
    if (text !== "") io.out(text.endsWith("\n") ? text : `${text}\n`);
  }
}

/** "3m ago", "in 20d": how far `iso` is from `now`, for table cells. */
export function age(iso: string | undefined, now: number): string | undefined {
  const at = Date.parse(iso ?? "");
  if (!Number.isFinite(at)) return undefined;
  const delta = Math.abs(now - at);
  const text =
    delta < 120_000
      ? `${Math.round(delta / 1000)}s`
      : delta < 7_200_000
        ? `${Math.round(delta / 60_000)}m`
        : delta < 172_800_000
          ? `${Math.round(delta / 3_600_000)}h`
          : `${Math.round(delta / 86_400_000)}d`;
  return at <= now ? `${text} ago` : `in ${text}`;
}
