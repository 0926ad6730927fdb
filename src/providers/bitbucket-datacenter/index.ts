// Typed client for the Bitbucket Data Center REST endpoints Baton uses.
//
//   const budget = new RequestBudget({ ratePerSecond: 5 });          // one per Bitbucket, shared by reconcilers
//   const bitbucket = new BitbucketClient({ baseUrl, auth: () => readTokenSecret(), budget, onResponse });
//   for await (const hook of bitbucket.webhooks.iterate({ project: "PRJ" })) …
//   await bitbucket.accessTokens.create({ project: "PRJ" }, request, { auth: { kind: "basic", username, password } });
//
// Every failure is a ProviderError subclass whose message, JSON form and stack never contain a credential.

export type { AuthProvider, AuthSource, Credential } from "../http/auth.ts";
export { type BudgetClock, RequestBudget, type RequestBudgetOptions } from "../http/budget.ts";
export {
  BadRequestError,
  ConflictError,
  type EndpointGroup,
  endpointGroups,
  ForbiddenError,
  type HttpMethod,
  InvalidCredentialsError,
  isNotFound,
  NetworkError,
  NotFoundError,
  ProviderError,
  RateLimitedError,
  type RequestContext,
  ResponseTooLargeError,
  SchemaError,
  ServerError,
  TimeoutError,
  TooManyResultsError,
  UnauthorizedError,
} from "../http/errors.ts";
export type {
  CallOptions,
  RateLimitOptions,
  RequestBudgetLike,
  ResponseEvent,
  RetryOptions,
  TransportOptions,
} from "../http/http.ts";
export type { AccessTokensApi, CreateAccessTokenRequest, TokenPermission } from "./access-tokens.ts";
export type { BuildStatusApi, BuildStatusInput } from "./build-status.ts";
export { BitbucketClient, type BitbucketClientOptions } from "./client.ts";
export type { AtOptions, ContentApi, DirectoryEntry, PathType, RawOptions } from "./content.ts";
export type { ListOptions } from "./endpoints.ts";
export type { PageOptions } from "./paging.ts";
export type {
  ChangesOptions,
  FileChange,
  OpenPullRequestOptions,
  PullRequestChanges,
  PullRequestsApi,
} from "./pull-requests.ts";
export { browseUrl, cloneUrl, type ReposApi } from "./repos.ts";
export type {
  AccessToken,
  ApplicationProperties,
  BuildCapabilities,
  BuildState,
  BuildStatus,
  Comment,
  Commit,
  CreatedAccessToken,
  Project,
  PullRequest,
  Ref,
  Repository,
  User,
  Webhook,
} from "./schemas.ts";
export type { ServerApi } from "./server.ts";
export type { ProjectRef, RepositoryRef, ScopeRef } from "./url.ts";
export type {
  HasPermissionRequest,
  PermissionAnswer,
  PermissionFilter,
  UserSearchOptions,
  UsersApi,
} from "./users.ts";
export {
  atLeast,
  compareVersions,
  FEATURE_SINCE,
  type Feature,
  type Features,
  featuresOf,
  parseVersion,
  type Version,
} from "./version.ts";
export type { WebhookInput, WebhookListOptions, WebhooksApi } from "./webhooks.ts";
