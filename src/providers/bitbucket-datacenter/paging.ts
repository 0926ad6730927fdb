import { type RequestContext, SchemaError, TooManyResultsError } from "../http/errors.ts";

export interface Page<T> {
  values: T[];
  isLastPage: boolean;
  nextPageStart?: number | null | undefined;
}

export interface PageOptions {
  /** `limit` sent to Bitbucket; the server may apply a smaller one. Default 100. */
  pageSize?: number;
  /** Hard cap for the collect-all variants; going past it throws TooManyResultsError. Default 10,000. */
  maxItems?: number;
}

export const DEFAULT_PAGE_SIZE = 100;
export const DEFAULT_MAX_ITEMS = 10_000;

/**
 * Yields every item, page by page. The next request starts at the server's `nextPageStart`, never at a
 * computed offset: Bitbucket may skip or filter entries, so `start + size` can be wrong.
 */
export async function* paginate<T>(
  ctx: RequestContext,
  fetchPage: (start: number | undefined) => Promise<Page<T>>,
): AsyncGenerator<T, void, undefined> {
  let start: number | undefined;
  const seen = new Set<number>();
  for (;;) {
    const page = await fetchPage(start);
    yield* page.values;
    if (page.isLastPage) return;
    const next = page.nextPageStart;
    if (next === undefined || next === null) {
      throw new SchemaError(
        `${ctx.method} ${ctx.path} (${ctx.group}) returned a page with isLastPage false and no nextPageStart, so ` +
          "the listing cannot continue. This Bitbucket version may be unsupported; report it with the version.",
        ctx,
        { fieldPath: "nextPageStart" },
      );
    }
    // A server that hands back a start it already served would loop forever.
    if (seen.has(next)) {
      throw new SchemaError(
        `${ctx.method} ${ctx.path} (${ctx.group}) returned nextPageStart ${next} twice, so paging would never end. ` +
          "Report it with the Bitbucket version.",
        ctx,
        { fieldPath: "nextPageStart" },
      );
    }
    seen.add(next);
    start = next;
  }
}

/** Collects at most `maxItems`; one more item is an error, never a silently truncated list. */
export async function collect<T>(ctx: RequestContext, items: AsyncIterable<T>, maxItems: number): Promise<T[]> {
  const out: T[] = [];
  for await (const item of items) {
    if (out.length >= maxItems) {
      throw new TooManyResultsError(
        `${ctx.method} ${ctx.path} (${ctx.group}) lists more than ${maxItems} items, the cap for this call. ` +
          "Narrow the query or raise maxItems.",
        ctx,
        { limit: maxItems },
      );
    }
    out.push(item);
  }
  return out;
}
