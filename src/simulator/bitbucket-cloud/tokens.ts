import { randomBytes, randomUUID } from "node:crypto";
import type { CloudCore, CreatedCloudToken } from "./core.ts";
import { badRequest, notFound } from "./errors.ts";
import { type Scope, scopeAllowed, type TokenKind } from "./scopes.ts";
import { type AccessToken, braced, hashSecret } from "./state.ts";

/** Access tokens: Cloud has no API for them (§1.3), so these are the UI's token pages, driven by the control API. */

export function createToken(
  core: CloudCore,
  input: {
    kind: TokenKind;
    workspace: string;
    project?: string;
    repo?: string;
    name?: string;
    scopes: Scope[];
    /** Days until expiry; null or absent means "No expiry" (§1.3). */
    expiresInDays?: number | null;
  },
): CreatedCloudToken {
  const ws = core.workspace(input.workspace);
  let target = ws.uuid;
  if (input.kind === "repository") target = core.repository(ws.slug, input.repo ?? "").uuid;
  if (input.kind === "project") {
    const project = core.state.project(ws, input.project ?? "");
    if (!project) throw notFound(`No project ${input.project} in ${ws.slug}`);
    target = project.uuid;
  }
  if (input.scopes.length === 0) throw badRequest("A token needs at least one scope");
  const refused = input.scopes.filter((s) => !scopeAllowed(input.kind, s));
  if (refused.length > 0) throw badRequest(`A ${input.kind} access token cannot hold: ${refused.join(", ")}`);
  const name = input.name ?? `${input.kind} token`;
  return storeToken(
    core,
    {
      kind: input.kind,
      name,
      target,
      workspace: ws.uuid,
      scopes: [...new Set(input.scopes)],
      account: {
        uuid: braced(),
        accountId: randomBytes(12).toString("hex"),
        displayName: name,
        nickname: name,
        email: `${randomBytes(12).toString("hex")}@bots.bitbucket.org`,
        type: "app_user",
      },
    },
    input.expiresInDays,
  );
}

/** Stores a token with a fresh secret; only the returned view carries the secret, once. */
function storeToken(
  core: CloudCore,
  fields: Pick<AccessToken, "kind" | "name" | "target" | "workspace" | "scopes" | "account">,
  expiresInDays: number | null | undefined,
): CreatedCloudToken {
  // Format after §1.3 (UNCONFIRMED, from secret scanners): ATCTT3xFfGN0 + [A-Za-z0-9_=-] + "=" + 8 upper hex.
  const secret = `ATCTT3xFfGN0${randomBytes(120).toString("base64url")}=${randomBytes(4).toString("hex").toUpperCase()}`;
  const now = core.clock.now();
  const token: AccessToken = {
    ...fields,
    id: randomUUID(),
    secretHash: hashSecret(secret),
    createdAt: now,
    expiresAt: expiresInDays ? now + expiresInDays * 86_400_000 : null,
    revoked: false,
  };
  core.state.tokens.set(token.id, token);
  return {
    id: token.id,
    kind: token.kind,
    name: token.name,
    token: secret,
    scopes: token.scopes,
    expiresAt: token.expiresAt,
  };
}

/**
 * The UI's "Rotate" (§1.3): a new secret and expiry, same name, scopes and identity; the old secret keeps at most
 * 30 minutes (less if it had less), an expired one stays invalid.
 */
export function rotateToken(core: CloudCore, id: string, expiresInDays?: number | null): CreatedCloudToken {
  const old = core.state.tokens.get(id);
  if (!old || old.revoked) throw notFound(`No token ${id}`);
  const now = core.clock.now();
  const cut = now + 30 * 60_000;
  const created = storeToken(core, old, expiresInDays);
  old.expiresAt = old.expiresAt === null ? cut : Math.min(old.expiresAt, cut);
  return created;
}

export function revokeToken(core: CloudCore, id: string): boolean {
  const token = core.state.tokens.get(id);
  if (!token || token.revoked) return false;
  token.revoked = true;
  return true;
}
