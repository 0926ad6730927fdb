import { HttpTransport, type TransportOptions } from "../http/http.ts";
import { AccessTokensApi } from "./access-tokens.ts";
import { BuildStatusApi } from "./build-status.ts";
import { ContentApi } from "./content.ts";
import { PullRequestsApi } from "./pull-requests.ts";
import { ReposApi } from "./repos.ts";
import { ServerApi } from "./server.ts";
import { UsersApi } from "./users.ts";
import { WebhooksApi } from "./webhooks.ts";

export type BitbucketClientOptions = TransportOptions;

/**
 * Typed client for one Bitbucket Data Center server. Endpoints are grouped as Baton uses them; every method
 * takes optional per-call options (credentials, abort signal, timeout).
 */
export class BitbucketClient {
  /** Origin plus context path, without a trailing slash. */
  readonly baseUrl: string;
  readonly accessTokens: AccessTokensApi;
  readonly webhooks: WebhooksApi;
  readonly buildStatus: BuildStatusApi;
  readonly content: ContentApi;
  readonly pullRequests: PullRequestsApi;
  readonly users: UsersApi;
  readonly repos: ReposApi;
  readonly server: ServerApi;
  readonly #http: HttpTransport;

  constructor(options: BitbucketClientOptions) {
    this.#http = new HttpTransport(options);
    this.baseUrl = this.#http.origin + this.#http.basePath;
    this.accessTokens = new AccessTokensApi(this.#http);
    this.webhooks = new WebhooksApi(this.#http);
    this.buildStatus = new BuildStatusApi(this.#http);
    this.content = new ContentApi(this.#http);
    this.pullRequests = new PullRequestsApi(this.#http);
    this.users = new UsersApi(this.#http);
    this.repos = new ReposApi(this.#http);
    this.server = new ServerApi(this.#http);
  }

  /** Closes the connection pool the client owns (not an injected dispatcher). */
  close(): Promise<void> {
    return this.#http.close();
  }

  [Symbol.asyncDispose](): Promise<void> {
    return this.close();
  }
}
