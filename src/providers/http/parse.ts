import type { z } from "zod";
import { hostName, type RequestContext, SchemaError } from "./errors.ts";
import { describe } from "./failures.ts";

function fieldPath(path: readonly PropertyKey[]): string {
  return path
    .map((key, i) => (typeof key === "number" ? `[${key}]` : i === 0 ? String(key) : `.${String(key)}`))
    .join("");
}

function valueAt(value: unknown, path: readonly PropertyKey[]): unknown {
  let current = value;
  for (const key of path) {
    if (current === null || typeof current !== "object") return undefined;
    current = (current as Record<PropertyKey, unknown>)[key];
  }
  return current;
}

/** Parses a JSON body; the error names the first offending field and the endpoint, never a value. */
export function parseBody<S extends z.ZodType>(schema: S, body: Buffer, ctx: RequestContext): z.output<S> {
  let json: unknown;
  try {
    json = JSON.parse(body.toString("utf8"));
  } catch {
    throw new SchemaError(
      `${describe(ctx)} returned a body that is not JSON. A proxy or login page may be answering instead of ` +
        `${hostName(ctx)}; check the server URL.`,
      ctx,
      { fieldPath: "" },
    );
  }
  const result = schema.safeParse(json);
  if (result.success) return result.data;
  const issue = result.error.issues[0];
  const path = issue ? fieldPath(issue.path) : "";
  const problem = !issue
    ? "is invalid"
    : valueAt(json, issue.path) === undefined
      ? "is missing"
      : `is invalid (${issue.message})`;
  throw new SchemaError(
    `${describe(ctx)} returned a body Baton cannot use: field ${path || "(root)"} ${problem}. ` +
      `This ${hostName(ctx)} version may be unsupported; report it with the ${hostName(ctx)} version.`,
    ctx,
    { fieldPath: path },
  );
}
