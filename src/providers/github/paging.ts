// GitHub's REST paging: `per_page` (at most 100) and `page`, with a `Link` header whose `rel="next"` says more
// pages follow. A listing stops with TooManyResultsError past `maxItems`, so a runaway listing cannot exhaust
// memory or act on a silently truncated list.
import type { IncomingHttpHeaders } from "node:http";
import { z } from "zod";
import { type EndpointGroup, TooManyResultsError } from "../http/errors.ts";
import type { CallOptions, HttpTransport } from "../http/http.ts";
import type { Query } from "../http/url.ts";

/** Whether a `Link` header announces a next page. */
export function hasNextPage(headers: IncomingHttpHeaders): boolean {
  const link = headers.link;
  const text = Array.isArray(link) ? link.join(", ") : (link ?? "");
  return text.split(",").some((part) => /;\s*rel="?next"?/.test(part));
}

export interface ListSpec {
  group: EndpointGroup;
  path: string;
  query?: Query;
  /** Default 1,000. */
  maxItems?: number;
  /** Default 100 (GitHub's maximum). */
  pageSize?: number;
}

/**
 * Every item of a paged listing: an array, or (with `field`) an object holding the array under that name, as
 * check runs (`check_runs`) and combined statuses (`statuses`) come.
 */
export async function listAll<S extends z.ZodType>(
  http: HttpTransport,
  spec: ListSpec,
  item: S,
  call: CallOptions = {},
  field?: string,
): Promise<z.output<S>[]> {
  const maxItems = spec.maxItems ?? 1000;
  const perPage = Math.min(100, spec.pageSize ?? 100);
  const out: z.output<S>[] = [];
  const pageSchema =
    field === undefined
      ? z.array(item)
      : z.object({ [field]: z.array(item) }).transform((body) => body[field] as z.output<S>[]);
  for (let page = 1; ; page++) {
    const { data, headers } = await http.json(
      { group: spec.group, method: "GET", path: spec.path, query: { ...spec.query, per_page: perPage, page } },
      pageSchema,
      call,
    );
    const items = data as z.output<S>[];
    out.push(...items);
    if (out.length > maxItems) {
      throw new TooManyResultsError(
        `GET ${spec.path} (${spec.group}) lists more than ${maxItems} items; Baton does not act on part of a list.`,
        { group: spec.group, method: "GET", path: spec.path },
        { limit: maxItems },
      );
    }
    if (!hasNextPage(headers) || items.length === 0) return out;
  }
}
