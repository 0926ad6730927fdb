// Typed client for the Bitbucket Cloud 2.0 endpoints Baton uses, on the shared HTTP transport.
//
//   const cloud = new BitbucketCloudClient({ baseUrl: "https://api.bitbucket.org/2.0", auth: () => token, budget });
//   const entries = await cloud.content.listFolder({ workspace, slug }, ".tekton", sha);
//
// REST authenticates with `Authorization: Bearer <access token>`; git uses Basic `x-token-auth` (git.ts).
import { AccessApi } from "./access.ts";
import { BuildStatusApi } from "./build-status.ts";
import { ContentApi } from "./content.ts";
import { PullRequestsApi } from "./pull-requests.ts";
import { CloudRest, type CloudTransportOptions } from "./rest.ts";
import { WebhooksApi } from "./webhooks.ts";

export const cloudApiBase = "https://api.bitbucket.org/2.0";

export class BitbucketCloudClient {
  readonly baseUrl: string;
  readonly content: ContentApi;
  readonly pullRequests: PullRequestsApi;
  readonly buildStatus: BuildStatusApi;
  readonly webhooks: WebhooksApi;
  readonly access: AccessApi;
  readonly #rest: CloudRest;

  constructor(options: CloudTransportOptions) {
    this.#rest = new CloudRest(options);
    this.baseUrl = this.#rest.baseUrl;
    this.content = new ContentApi(this.#rest);
    this.pullRequests = new PullRequestsApi(this.#rest, this.content);
    this.buildStatus = new BuildStatusApi(this.#rest);
    this.webhooks = new WebhooksApi(this.#rest);
    this.access = new AccessApi(this.#rest);
  }

  close(): Promise<void> {
    return this.#rest.close();
  }
}
