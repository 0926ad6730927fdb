/** Bitbucket's page envelope (reference §7.3). `nextPageStart` exists only when `isLastPage` is false. */
export interface Page<T> {
  size: number;
  limit: number;
  isLastPage: boolean;
  start: number;
  nextPageStart?: number;
  values: T[];
}

export interface PagingSettings {
  /** Applied when the request has no `limit` (Bitbucket: 25). */
  defaultLimit: number;
  /** Requests above it are cut to it, and the response echoes the cut value (Bitbucket: 1000, admin-configurable). */
  maxLimit: number;
}

export interface PageRequest {
  start: number;
  limit: number;
}

function intParam(raw: unknown): number | undefined {
  if (typeof raw !== "string" || raw.trim() === "") return undefined;
  const n = Number(raw);
  return Number.isInteger(n) ? n : undefined;
}

/** Reads `start`/`limit` from a query. Nonsense values fall back to defaults, as Bitbucket does. */
export function pageRequest(query: Record<string, unknown>, settings: PagingSettings): PageRequest {
  const start = Math.max(0, intParam(query.start) ?? 0);
  const requested = intParam(query.limit);
  const limit =
    requested === undefined || requested <= 0 ? settings.defaultLimit : Math.min(requested, settings.maxLimit);
  return { start, limit };
}

export function paginate<T>(all: readonly T[], request: PageRequest): Page<T> {
  const values = all.slice(request.start, request.start + request.limit);
  const isLastPage = request.start + values.length >= all.length;
  const page: Page<T> = { size: values.length, limit: request.limit, isLastPage, start: request.start, values };
  if (!isLastPage) page.nextPageStart = request.start + values.length;
  return page;
}
