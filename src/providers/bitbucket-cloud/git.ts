// How a run's git authenticates to Cloud: HTTP Basic with the literal user name `x-token-auth` and the access token
// as password (reference §1.4). Data Center's Bearer extraHeader is not known to work here.
export const gitUsername = "x-token-auth";

export function gitCredentials(token: string): { username: string; password: string } {
  return { username: gitUsername, password: token.trim() };
}
