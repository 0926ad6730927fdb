// Commit build statuses (reference §5): one key per pipeline, states INPROGRESS, SUCCESSFUL, FAILED, STOPPED.
// Writing needs only the `repository` scope, but since 2021 only the status's creator (or an admin) may overwrite
// it, so a status written by one token cannot be updated by a different token.

import { NotFoundError } from "../http/errors.ts";
import type { CallOptions } from "../http/http.ts";
import { segment } from "../http/url.ts";
import { type CloudRepository, repositoryPath } from "./paths.ts";
import type { CloudRest } from "./rest.ts";
import { type BuildState, CommitStatus } from "./schemas.ts";

export interface CommitStatusInput {
  key: string;
  state: BuildState;
  url: string;
  name?: string;
  description?: string;
  /** Shows the status on pull requests from this branch (`refname`), rather than on every ref of the commit. */
  refname?: string;
}

/** Cloud rejects over-long attributes without documenting the limits (reference §5); these are what it took. */
const limits = { key: 40, name: 255, description: 255 } as const;

export function statusBody(input: CommitStatusInput): Record<string, string> {
  if (input.key.length > limits.key) {
    throw new RangeError(`build status key ${input.key} is longer than ${limits.key} characters`);
  }
  return {
    key: input.key,
    state: input.state,
    url: input.url,
    ...(input.name === undefined ? {} : { name: clip(input.name, limits.name) }),
    ...(input.description === undefined ? {} : { description: clip(input.description, limits.description) }),
    ...(input.refname === undefined ? {} : { refname: input.refname }),
  };
}

function clip(text: string, max: number): string {
  const chars = [...text];
  return chars.length <= max ? text : `${chars.slice(0, max - 1).join("")}…`;
}

export class BuildStatusApi {
  readonly #rest: CloudRest;

  constructor(rest: CloudRest) {
    this.#rest = rest;
  }

  /** Creates the status, or overwrites the one with the same key (201). `commit` must be the full hash. */
  async set(
    repo: CloudRepository,
    commit: string,
    input: CommitStatusInput,
    call?: CallOptions,
  ): Promise<CommitStatus> {
    const spec = {
      ...this.#spec(repo, commit, ""),
      method: "POST",
      body: statusBody(input),
      idempotent: true,
    } as const;
    return (await this.#rest.json(spec, CommitStatus, call)).data;
  }

  /** undefined when the commit has no status with this key. */
  async get(repo: CloudRepository, commit: string, key: string, call?: CallOptions): Promise<CommitStatus | undefined> {
    try {
      return (await this.#rest.json(this.#spec(repo, commit, `/${segment(key)}`), CommitStatus, call)).data;
    } catch (err) {
      if (err instanceof NotFoundError) return undefined;
      throw err;
    }
  }

  #spec(repo: CloudRepository, commit: string, suffix: string) {
    if (!/^[0-9a-f]{40}$/.test(commit)) throw new RangeError(`build statuses need a full commit hash, got ${commit}`);
    return {
      group: "build-status",
      method: "GET",
      path: `${repositoryPath(repo)}/commit/${commit}/statuses/build${suffix}`,
      needs: "the repository scope",
    } as const;
  }
}
