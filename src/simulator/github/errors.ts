/**
 * GitHub answers failures with `{"message", "documentation_url", "status"}` (the status as a string). GhError
 * carries one through the route handlers; the server's error handler writes it.
 */
export const DOCS = "https://docs.github.com/rest";

export class GhError extends Error {
  readonly status: number;
  readonly documentationUrl: string;
  readonly headers: Record<string, string>;
  /** Extra body fields (`errors` of a 422). */
  readonly extra: Record<string, unknown>;

  constructor(
    status: number,
    message: string,
    options: { documentationUrl?: string; headers?: Record<string, string>; extra?: Record<string, unknown> } = {},
  ) {
    super(message);
    this.name = "GhError";
    this.status = status;
    this.documentationUrl = options.documentationUrl ?? DOCS;
    this.headers = options.headers ?? {};
    this.extra = options.extra ?? {};
  }

  toBody(): Record<string, unknown> {
    return {
      message: this.message,
      ...this.extra,
      documentation_url: this.documentationUrl,
      status: String(this.status),
    };
  }
}

export const notFound = (): GhError => new GhError(404, "Not Found");
export const badCredentials = (): GhError => new GhError(401, "Bad credentials");
export const requiresAuthentication = (): GhError => new GhError(401, "Requires authentication");
export const notAccessible = (by: "integration" | "personal access token", accepted: string): GhError =>
  new GhError(403, `Resource not accessible by ${by}`, { headers: { "x-accepted-github-permissions": accepted } });
export const validationFailed = (message: string, field?: string, code = "invalid"): GhError =>
  new GhError(422, message, {
    extra: field ? { errors: [{ resource: "Request", field, code, message }] } : {},
  });
