/**
 * Bitbucket answers every failure with `{"errors":[{context,message,exceptionName}]}`. SimError carries one such
 * error through the route handlers; the server's error handler turns it into the envelope.
 */
export interface ErrorEntry {
  context: string | null;
  message: string;
  exceptionName: string | null;
}

export interface ErrorEnvelope {
  errors: ErrorEntry[];
}

export class SimError extends Error {
  readonly status: number;
  readonly exceptionName: string | null;
  readonly context: string | null;
  readonly headers: Record<string, string>;

  constructor(
    status: number,
    message: string,
    exceptionName: string | null,
    context: string | null = null,
    headers: Record<string, string> = {},
  ) {
    super(message);
    this.name = "SimError";
    this.status = status;
    this.exceptionName = exceptionName;
    this.context = context;
    this.headers = headers;
  }

  toEnvelope(): ErrorEnvelope {
    return { errors: [{ context: this.context, message: this.message, exceptionName: this.exceptionName }] };
  }
}

const EX = "com.atlassian.bitbucket.";

export const NOT_PERMITTED = "You are not permitted to access this resource";

export function notPermitted(message = NOT_PERMITTED): SimError {
  return new SimError(401, message, `${EX}AuthorisationException`);
}

export function authenticationFailed(): SimError {
  return new SimError(
    401,
    "Authentication failed. Please check your credentials and try again.",
    `${EX}auth.IncorrectPasswordAuthenticationException`,
  );
}

export function badRequest(message: string, context: string | null = null): SimError {
  return new SimError(400, message, `${EX}validation.ArgumentValidationException`, context);
}

export function conflict(message: string, exceptionName: string): SimError {
  return new SimError(409, message, `${EX}${exceptionName}`);
}

export function noSuchProject(key: string): SimError {
  return new SimError(404, `Project ${key} does not exist.`, `${EX}project.NoSuchProjectException`);
}

export function noSuchRepository(key: string, slug: string): SimError {
  return new SimError(404, `Repository ${key}/${slug} does not exist.`, `${EX}repository.NoSuchRepositoryException`);
}

export function noSuchUser(slug: string): SimError {
  return new SimError(404, `User ${slug} does not exist.`, `${EX}user.NoSuchUserException`);
}

export function noSuchCommit(id: string, slug: string): SimError {
  return new SimError(
    404,
    `Commit '${id}' does not exist in repository '${slug}'.`,
    `${EX}commit.NoSuchCommitException`,
  );
}

export function noSuchPath(path: string, at: string): SimError {
  return new SimError(404, `The path "${path}" does not exist at revision "${at}"`, `${EX}content.NoSuchPathException`);
}

export function noSuchPullRequest(id: number | string, key: string, slug: string): SimError {
  return new SimError(
    404,
    `Pull request ${id} does not exist in ${key}/${slug}.`,
    `${EX}pull.NoSuchPullRequestException`,
  );
}

export function noSuchWebhook(id: number | string): SimError {
  return new SimError(404, `No webhook with id ${id} exists.`, `${EX}webhook.NoSuchWebhookException`);
}

export function noSuchToken(id: string): SimError {
  return new SimError(404, `No access token with id ${id} exists.`, `${EX}auth.NoSuchAccessTokenException`);
}

export function notFound(message: string): SimError {
  return new SimError(404, message, null);
}
