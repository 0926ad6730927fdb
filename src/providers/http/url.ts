// URL pieces every host's REST paths are built from: encoded segments and file paths, query strings.
export type QueryValue = string | number | boolean | undefined | readonly (string | number)[];
export type Query = Record<string, QueryValue>;

/** Encodes one path segment. `.`/`..` are refused because a URL parser would resolve them away. */
export function segment(value: string): string {
  if (value === "" || value === "." || value === "..") {
    throw new TypeError(`invalid path segment ${JSON.stringify(value)}`);
  }
  return encodeURIComponent(value);
}

/** Encodes a file path inside a repository segment by segment, so `/` stays a separator. */
export function filePath(path: string): string {
  return path
    .split("/")
    .filter((part) => part !== "")
    .map(segment)
    .join("/");
}

/** Joins a base path and a possibly empty sub-path (`files` with no path lists the repository root). */
export function withSubPath(base: string, path: string | undefined): string {
  const encoded = path ? filePath(path) : "";
  return encoded ? `${base}/${encoded}` : base;
}

export function queryString(query: Query | undefined): string {
  if (!query) return "";
  const params = new URLSearchParams();
  for (const [key, value] of Object.entries(query)) {
    if (value === undefined) continue;
    if (Array.isArray(value)) for (const v of value) params.append(key, String(v));
    else params.append(key, String(value));
  }
  const text = params.toString();
  return text ? `?${text}` : "";
}
