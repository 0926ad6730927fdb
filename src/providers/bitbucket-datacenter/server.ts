import { ProviderError, SchemaError } from "../http/errors.ts";
import type { CallOptions } from "../http/http.ts";
import { API, Endpoints } from "./endpoints.ts";
import { type ApplicationProperties, ApplicationPropertiesSchema } from "./schemas.ts";
import { parseVersion, type Version } from "./version.ts";

const SPEC = { group: "server", method: "GET", path: `${API}/application-properties` } as const;

/** Server-wide facts; `application-properties` answers even without credentials. */
export class ServerApi extends Endpoints {
  async applicationProperties(call?: CallOptions): Promise<ApplicationProperties> {
    return (await this.http.json(SPEC, ApplicationPropertiesSchema, call)).data;
  }

  async version(call?: CallOptions): Promise<Version> {
    const { version } = await this.applicationProperties(call);
    const parsed = parseVersion(version);
    if (!parsed) {
      throw new SchemaError(
        `GET ${this.http.basePath}${SPEC.path} (server) reported version "${version}", which is not a version ` +
          "number; check that the server URL points at Bitbucket Data Center.",
        { ...SPEC, path: this.http.basePath + SPEC.path },
        { fieldPath: "version" },
      );
    }
    return parsed;
  }

  /**
   * The username the credentials authenticate as, from Bitbucket's `X-AUSERNAME` response header (for
   * project and repository tokens, the generated user Bitbucket assigns). Undefined when anonymous. A 401
   * means the credentials are invalid, expired or revoked.
   */
  async whoAmI(call?: CallOptions): Promise<string | undefined> {
    const { headers } = await this.http.json(SPEC, ApplicationPropertiesSchema, call);
    const value = headers["x-ausername"];
    const name = Array.isArray(value) ? value[0] : value;
    return name ? decodeHeader(name) : undefined;
  }
}

// Non-ASCII usernames cannot travel raw in a header; treat the value as URL-encoded when it decodes cleanly.
function decodeHeader(value: string): string {
  try {
    return decodeURIComponent(value);
  } catch {
    return value;
  }
}

/**
 * Why an answer to `application-properties` shows the server is not Bitbucket, or undefined when it shows nothing
 * either way. Every Bitbucket Data Center serves that endpoint to anyone with a JSON body naming its version, so a
 * 404, another 4xx, or a body without a version (an HTML page, `{}`) means something else is answering. A 401, a
 * 429, a 5xx or no answer at all could come from a Bitbucket having a bad moment, and prove nothing.
 */
export function notBitbucket(error: unknown): string | undefined {
  if (error instanceof SchemaError)
    return error.fieldPath
      ? `GET ${error.path} answered without a Bitbucket version in ${error.fieldPath}`
      : `GET ${error.path} answered with something other than JSON`;
  if (!(error instanceof ProviderError) || error.status === undefined) return undefined;
  const status = error.status;
  if (status < 400 || status >= 500 || status === 401 || status === 429) return undefined;
  return `GET ${error.path} answered ${status}, which Bitbucket never does for it`;
}
