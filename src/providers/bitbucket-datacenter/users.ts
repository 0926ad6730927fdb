import { BadRequestError, TooManyResultsError } from "../http/errors.ts";
import type { CallOptions, RequestSpec } from "../http/http.ts";
import type { TokenPermission } from "./access-tokens.ts";
import { API, Endpoints, type ListOptions } from "./endpoints.ts";
import { type User, UserSchema } from "./schemas.ts";

export interface PermissionFilter {
  permission: TokenPermission;
  project: string;
  /** Required for REPO_* permissions. */
  repository?: string;
}

export interface UserSearchOptions extends ListOptions {
  /** Substring of username, display name or e-mail address. */
  filter: string;
  permission?: PermissionFilter;
}

export interface HasPermissionRequest extends PermissionFilter {
  /** The user's slug or username, as webhook payloads give it. */
  user: string;
}

/**
 * Bitbucket's answer to "does this user hold this permission?". `refused` carries Bitbucket's message when it
 * would not run the search at all (400, e.g. a filter naming a project or repository it does not have): no
 * one can be shown to hold the permission there, so that is a "no" too, but one the caller should report.
 */
export interface PermissionAnswer {
  granted: boolean;
  refused?: string;
}

function searchSpec(options: UserSearchOptions): RequestSpec {
  const { permission } = options;
  // Bitbucket answers 400 otherwise; failing here names the caller's mistake instead.
  if (permission?.permission.startsWith("REPO_") && !permission.repository) {
    throw new TypeError(`a ${permission.permission} filter needs a repository as well as a project`);
  }
  const query = {
    filter: options.filter,
    permission: permission?.permission,
    "permission.projectKey": permission?.project,
    "permission.repositorySlug": permission?.repository,
  };
  return { group: "users", method: "GET", path: `${API}/users`, query };
}

// A filter matching many users is paged through up to this many before giving up.
const MAX_CANDIDATES = 1000;

/**
 * The user search any authenticated caller may use, even a project token without admin rights; Baton's way to
 * ask "may this pull-request author run CI?" without the admin-only permission endpoints.
 */
export class UsersApi extends Endpoints {
  async *iterateSearch(options: UserSearchOptions): AsyncGenerator<User, void, undefined> {
    yield* this.paged(searchSpec(options), UserSchema, options);
  }

  async search(options: UserSearchOptions): Promise<User[]> {
    return this.listAll(searchSpec(options), UserSchema, options);
  }

  /**
   * Granted when `user` holds `permission` on the project or repository. The filter is a substring match, so only
   * an exact slug or username in the results counts (case-insensitive, as Bitbucket usernames are). A 400 is an
   * answer, not a failure: the 9.2 spec gives it for a filter naming a project or repository that does not
   * exist, and asking again cannot change it.
   */
  async hasPermission(request: HasPermissionRequest, call?: CallOptions): Promise<PermissionAnswer> {
    try {
      return { granted: await this.#findExact(request, call) };
    } catch (err) {
      if (!(err instanceof BadRequestError)) throw err;
      return { granted: false, refused: err.messages.join("; ") || err.message };
    }
  }

  async #findExact(request: HasPermissionRequest, call?: CallOptions): Promise<boolean> {
    const wanted = request.user.toLowerCase();
    let seen = 0;
    for await (const user of this.iterateSearch({
      ...call,
      filter: request.user,
      permission: request,
      pageSize: 100,
    })) {
      if (user.slug.toLowerCase() === wanted || user.name.toLowerCase() === wanted) return true;
      if (++seen >= MAX_CANDIDATES) {
        throw new TooManyResultsError(
          `GET ${this.http.basePath}${API}/users (users) matched more than ${MAX_CANDIDATES} users for ` +
            `"${request.user}" without an exact match; cannot decide the permission.`,
          { group: "users", method: "GET", path: `${this.http.basePath}${API}/users` },
          { limit: MAX_CANDIDATES },
        );
      }
    }
    return false;
  }
}
