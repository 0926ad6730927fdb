// The credential Baton uses for its own REST calls on a Repository, whichever way the Repository names it: a
// BitbucketProjectToken or a plain Secret (a bearer token, read fresh each time), or a GitHub App (its installation
// token, minted and renewed in memory). One function, so the runner and the status reporter never disagree.
import type { Repository } from "../api/repository.ts";
import type { AuthSource } from "../providers/http/auth.ts";
import type { RepositoryLocation } from "../repositories/decisions.ts";
import { operatorToken } from "../repositories/resource.ts";
import type { KubeClient } from "../runtime/kube.ts";
import type { AppProblem, GitHubAppCredentials } from "./github-app.ts";

export async function operatorCredential(
  kube: KubeClient,
  repository: Repository,
  location: RepositoryLocation,
  apps: GitHubAppCredentials | undefined,
  signal?: AbortSignal,
): Promise<{ credential: AuthSource } | AppProblem> {
  const spec = repository.spec;
  if (spec.githubApp !== undefined) {
    if (apps === undefined) return { reason: "UnsupportedProvider", problem: "this Baton cannot act as a GitHub App" };
    return apps.operator(repository, location, signal);
  }
  // A BitbucketProjectToken on GitHub is an externally managed fine-grained token (the token reconciler refuses
  // adminCredentialsRef there), read like any other.
  const token = await operatorToken(kube, repository);
  return "problem" in token ? token : { credential: { kind: "bearer", token: token.token } };
}
