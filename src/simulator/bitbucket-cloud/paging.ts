/**
 * Cloud's page envelope (reference §6.4): `{size, page, pagelen, next?, previous?, values}`. The last page has no
 * `next`; clients must follow `next` as an opaque URL.
 */
export interface CloudPage<T> {
  size: number;
  page: number;
  pagelen: number;
  next?: string;
  previous?: string;
  values: T[];
}

export interface PageLimits {
  defaultPagelen: number;
  maxPagelen: number;
}

function positiveInt(raw: unknown): number | undefined {
  if (typeof raw !== "string" || !/^\d+$/.test(raw)) return undefined;
  const n = Number(raw);
  return n > 0 ? n : undefined;
}

/** `url` is the request's absolute URL: `next`/`previous` keep every other parameter. */
export function cloudPage<T>(all: readonly T[], url: URL, limits: PageLimits): CloudPage<T> {
  const pagelen = Math.min(positiveInt(url.searchParams.get("pagelen")) ?? limits.defaultPagelen, limits.maxPagelen);
  const page = positiveInt(url.searchParams.get("page")) ?? 1;
  const start = (page - 1) * pagelen;
  const values = all.slice(start, start + pagelen);
  const link = (n: number): string => {
    const next = new URL(url);
    next.searchParams.set("page", String(n));
    return next.toString();
  };
  const out: CloudPage<T> = { size: all.length, page, pagelen, values };
  if (start + values.length < all.length) out.next = link(page + 1);
  if (page > 1) out.previous = link(page - 1);
  return out;
}
