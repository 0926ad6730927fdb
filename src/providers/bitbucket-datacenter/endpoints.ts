import type { z } from "zod";
import { NotFoundError, type RequestContext } from "../http/errors.ts";
import type { CallOptions, HttpTransport, RequestSpec } from "../http/http.ts";
import { collect, DEFAULT_MAX_ITEMS, DEFAULT_PAGE_SIZE, type PageOptions, paginate } from "./paging.ts";
import { pageOf } from "./schemas.ts";

export type ListOptions = CallOptions & PageOptions;

export const API = "/rest/api/latest";

/** Shared plumbing of the endpoint groups: paged GETs and 404-tolerant deletes. */
export class Endpoints {
  protected readonly http: HttpTransport;

  constructor(http: HttpTransport) {
    this.http = http;
  }

  protected paged<T extends z.ZodType>(
    spec: RequestSpec,
    item: T,
    options: ListOptions = {},
  ): AsyncGenerator<z.output<T>, void, undefined> {
    const schema = pageOf(item);
    const limit = options.pageSize ?? DEFAULT_PAGE_SIZE;
    return paginate(this.context(spec), async (start) => {
      const query = { ...spec.query, start, limit };
      return (await this.http.json({ ...spec, query }, schema, options)).data;
    });
  }

  protected listAll<T extends z.ZodType>(
    spec: RequestSpec,
    item: T,
    options: ListOptions = {},
  ): Promise<z.output<T>[]> {
    return collect(this.context(spec), this.paged(spec, item, options), options.maxItems ?? DEFAULT_MAX_ITEMS);
  }

  /** True when deleted, false when it was already absent (404), which also covers a retried delete. */
  protected async remove(spec: RequestSpec, call?: CallOptions): Promise<boolean> {
    try {
      await this.http.send(spec, call);
      return true;
    } catch (err) {
      if (err instanceof NotFoundError) return false;
      throw err;
    }
  }

  protected context(spec: RequestSpec): RequestContext {
    return { group: spec.group, method: spec.method, path: this.http.basePath + spec.path };
  }
}
