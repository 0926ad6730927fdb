/** Cloud's JSON error (reference §6.4): `{"type": "error", "error": {"message", "detail"?, "data"?}}`. */
export class CloudError extends Error {
  readonly status: number;
  readonly detail: string | null;
  readonly data: Record<string, unknown> | null;
  readonly headers: Record<string, string>;
  /** Answered as text/plain instead of JSON (the 429). */
  readonly plain: boolean;

  constructor(
    status: number,
    message: string,
    options: {
      detail?: string;
      data?: Record<string, unknown>;
      headers?: Record<string, string>;
      plain?: boolean;
    } = {},
  ) {
    super(message);
    this.status = status;
    this.detail = options.detail ?? null;
    this.data = options.data ?? null;
    this.headers = options.headers ?? {};
    this.plain = options.plain ?? false;
  }

  toBody(): Record<string, unknown> {
    const error: Record<string, unknown> = { message: this.message };
    if (this.detail !== null) error.detail = this.detail;
    if (this.data !== null) error.data = this.data;
    return { type: "error", error };
  }
}

export const notFound = (message: string): CloudError => new CloudError(404, message);
export const badRequest = (message: string, fields?: Record<string, string[]>): CloudError =>
  new CloudError(400, message, fields ? { data: { fields } } : {});

/** §6.4: "429 is not JSON". No Retry-After (§6.6). */
export function rateLimited(headers: Record<string, string>): CloudError {
  return new CloudError(429, "Rate limit for this resource has been exceeded", { plain: true, headers });
}

export function missingScopes(required: readonly string[], granted: readonly string[]): CloudError {
  return new CloudError(403, "Your credentials lack one or more required privilege scopes.", {
    detail: `required: ${required.join(", ")}; granted: ${granted.join(", ") || "none"}`,
    data: { required: [...required], granted: [...granted] },
  });
}
