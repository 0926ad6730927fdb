import type { CallOptions } from "../http/http.ts";
import { segment } from "../http/url.ts";
import { API, Endpoints } from "./endpoints.ts";
import {
  type BuildCapabilities,
  BuildCapabilitiesSchema,
  type BuildState,
  type BuildStatus,
  BuildStatusSchema,
} from "./schemas.ts";
import { type RepositoryRef, repositoryPath } from "./url.ts";

/** Limits from the 9.2 spec: key, name, buildNumber ≤ 255; url ≤ 450; parent, ref ≤ 1024; ref starts `refs/`. */
export interface BuildStatusInput {
  /** Stable per pipeline, so a re-run replaces the earlier status instead of adding one. */
  key: string;
  state: BuildState;
  url: string;
  name?: string;
  description?: string;
  buildNumber?: string;
  parent?: string;
  ref?: string;
  /** Milliseconds. */
  duration?: number;
  /** Epoch milliseconds. */
  lastUpdated?: number;
  testResults?: { successful: number; failed: number; skipped: number };
}

/** Repository-scoped build status (`…/commits/{sha}/builds`), which needs only REPO_READ. */
export class BuildStatusApi extends Endpoints {
  /**
   * Posts a status (204). Not retried on 5xx or network errors, like every POST; the caller's requeue repeats
   * it, which is harmless since the same key replaces the status.
   */
  async set(repo: RepositoryRef, commit: string, status: BuildStatusInput, call?: CallOptions): Promise<void> {
    await this.http.send({ ...this.#spec(repo, commit), method: "POST", body: status }, call);
  }

  /** The status with this key on this commit (DC 7.14+); NotFoundError when there is none. */
  async get(repo: RepositoryRef, commit: string, key: string, call?: CallOptions): Promise<BuildStatus> {
    return (await this.http.json({ ...this.#spec(repo, commit), query: { key } }, BuildStatusSchema, call)).data;
  }

  /** Which optional states and fields this server supports, e.g. `cancelledStatus`, `richBuildStatus`. */
  async capabilities(call?: CallOptions): Promise<BuildCapabilities> {
    const spec = { group: "build-status", method: "GET", path: `${API}/build/capabilities` } as const;
    return (await this.http.json(spec, BuildCapabilitiesSchema, call)).data;
  }

  #spec(repo: RepositoryRef, commit: string) {
    return {
      group: "build-status",
      method: "GET",
      path: `${API}${repositoryPath(repo)}/commits/${segment(commit)}/builds`,
      needs: "REPO_READ",
    } as const;
  }
}
