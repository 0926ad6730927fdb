import { randomBytes } from "node:crypto";
import type { GitHubCore } from "./core.ts";
import { GhError } from "./errors.ts";
import { excessPermission, type PermissionSet, withMetadata } from "./permissions.ts";
import { hashToken, type Installation, type Repository, type Token } from "./state.ts";

/** An installation token's lifetime: one hour of simulator time. */
export const INSTALLATION_TOKEN_TTL_MS = 60 * 60 * 1000;

/** Installation tokens and fine-grained PATs: minted narrowed, kept only as hashes, lapsing on the simulator clock. */
export class Tokens {
  private readonly core: GitHubCore;

  constructor(core: GitHubCore) {
    this.core = core;
  }

  private newSecret(prefix: "ghs_" | "github_pat_"): string {
    const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
    const bytes = randomBytes(prefix === "ghs_" ? 36 : 82);
    let out = prefix;
    for (const b of bytes) out += alphabet[b % alphabet.length];
    return out;
  }

  /**
   * `POST /app/installations/{id}/access_tokens`: a token narrowed to `repositories` (names) or `repository_ids`
   * and to `permissions`, refused (422) when it asks for more than the installation has.
   */
  createForInstallation(
    inst: Installation,
    request: { repositories?: string[]; repository_ids?: number[]; permissions?: PermissionSet },
  ): { secret: string; token: Token & { kind: "installation" }; repositories: Repository[] | null } {
    const covered = this.core.installationRepos(inst);
    let repositoryIds: number[] | null = null;
    if (request.repositories !== undefined || request.repository_ids !== undefined) {
      const ids = new Set<number>();
      for (const name of request.repositories ?? []) {
        const repo = covered.find((r) => r.name.toLowerCase() === name.toLowerCase());
        if (!repo)
          throw new GhError(
            422,
            "There is at least one repository that does not exist or is not accessible to the parent installation.",
          );
        ids.add(repo.id);
      }
      for (const id of request.repository_ids ?? []) {
        if (!covered.some((r) => r.id === id))
          throw new GhError(
            422,
            "There is at least one repository that does not exist or is not accessible to the parent installation.",
          );
        ids.add(id);
      }
      repositoryIds = [...ids];
    }
    let permissions = withMetadata(inst.permissions);
    if (request.permissions !== undefined) {
      if (excessPermission(request.permissions, withMetadata(inst.permissions)) !== null)
        throw new GhError(422, "The permissions requested are not granted to this installation.");
      permissions = withMetadata(request.permissions);
    }
    const secret = this.newSecret("ghs_");
    const token: Token & { kind: "installation" } = {
      kind: "installation",
      id: `ghs-${this.core.state.nextId()}`,
      installationId: inst.id,
      repositoryIds,
      permissions,
      expiresAt: this.core.clock.now() + INSTALLATION_TOKEN_TTL_MS,
    };
    this.core.state.tokens.set(hashToken(secret), token);
    return {
      secret,
      token,
      repositories: repositoryIds === null ? null : covered.filter((r) => repositoryIds.includes(r.id)),
    };
  }

  /** A fine-grained personal access token of `user` on `owner`'s repositories (all, or the named ones). */
  createPersonal(input: {
    user: string;
    owner?: string;
    name?: string;
    repositories?: string[] | null;
    permissions: PermissionSet;
    /** Default 30; null: "No expiration". */
    expiresInDays?: number | null;
    /** Epoch milliseconds on the simulator clock; wins over expiresInDays. */
    expiresAt?: number;
  }): { secret: string; token: Token & { kind: "pat" } } {
    const user = this.core.accountNamed(input.user);
    const owner = this.core.accountNamed(input.owner ?? input.user);
    const repositoryIds =
      input.repositories === undefined || input.repositories === null
        ? null
        : input.repositories.map((n) => this.core.repoAt(owner.login, n).id);
    const secret = this.newSecret("github_pat_");
    const token: Token & { kind: "pat" } = {
      kind: "pat",
      id: `pat-${this.core.state.nextId()}`,
      userId: user.id,
      name: input.name ?? "token",
      repositoryIds,
      ownerId: owner.id,
      permissions: withMetadata(input.permissions),
      expiresAt:
        input.expiresAt ??
        (input.expiresInDays === null
          ? null
          : this.core.clock.now() + (input.expiresInDays ?? 30) * 24 * 60 * 60 * 1000),
    };
    this.core.state.tokens.set(hashToken(secret), token);
    return { secret, token };
  }

  /** The token a secret names, if it exists and has not expired on the simulator clock. */
  find(secret: string): Token | undefined {
    const token = this.core.state.tokens.get(hashToken(secret));
    if (!token || (token.expiresAt !== null && token.expiresAt <= this.core.clock.now())) return undefined;
    return token;
  }

  revoke(secret: string): boolean {
    return this.core.state.tokens.delete(hashToken(secret));
  }
}
