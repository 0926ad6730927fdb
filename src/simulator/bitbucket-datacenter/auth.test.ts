import assert from "node:assert/strict";
import { test } from "node:test";
import { authenticate } from "./auth.ts";
import { type AccessToken, hashSecret, SimState, type TokenScope } from "./state.ts";

const DAY = 86_400_000;
const basic = (user: string, secret: string) => `Basic ${Buffer.from(`${user}:${secret}`).toString("base64")}`;

function world() {
  const state = new SimState();
  const alice = state.addUser({ name: "alice", password: "alice-pw" });
  const service = state.addUser({ name: "bbdc-prj-x", type: "SERVICE", email: null });
  const add = (id: string, scope: TokenScope, userId: number, secret: string, expiryDays: number | null = null) => {
    const token: AccessToken = {
      id,
      name: id,
      scope,
      userId,
      permissions: ["REPO_READ"],
      createdDate: 0,
      expiryDays,
      lastAuthenticated: null,
      secretHash: hashSecret(secret),
    };
    state.addToken(token);
    return token;
  };
  add("1", { kind: "user", userId: alice.id }, alice.id, "personal-secret");
  add("2", { kind: "project", projectId: 99 }, service.id, "project-secret");
  add("3", { kind: "user", userId: alice.id }, alice.id, "short-secret", 1);
  return state;
}

const off = { acceptTokenAsBasicWithXTokenAuth: false };
const on = { acceptTokenAsBasicWithXTokenAuth: true };

test("who is authenticated with which header", () => {
  const state = world();
  const cases: [string | undefined, typeof off, string][] = [
    [undefined, off, "anonymous"],
    [basic("alice", "alice-pw"), off, "alice/password/basic"],
    [basic("ALICE", "alice-pw"), off, "alice/password/basic"],
    [basic("alice", "wrong"), off, "failed"],
    ["Bearer personal-secret", off, "alice/user-token/bearer"],
    [basic("alice", "personal-secret"), off, "alice/user-token/basic"],
    ["Bearer project-secret", off, "bbdc-prj-x/project-token/bearer"],
    [basic("bbdc-prj-x", "project-secret"), off, "failed"],
    [basic("alice", "project-secret"), off, "failed"],
    [basic("x-token-auth", "project-secret"), off, "failed"],
    [basic("x-token-auth", "project-secret"), on, "bbdc-prj-x/project-token/basic"],
    [basic("x-token-auth", "personal-secret"), on, "alice/user-token/basic"],
    ["Bearer nope", off, "failed"],
    ["Token personal-secret", off, "failed"],
  ];
  for (const [header, switches, expected] of cases) {
    const outcome = authenticate(state, header, switches, 1_000);
    const got =
      outcome.kind === "authenticated"
        ? `${outcome.principal.user.name}/${outcome.principal.credential}/${outcome.principal.authKind}`
        : outcome.kind;
    assert.equal(got, expected, `${header}`);
  }
});

test("an expired token is refused; lastAuthenticated records use", () => {
  const state = world();
  assert.equal(authenticate(state, "Bearer short-secret", off, DAY - 1).kind, "authenticated");
  assert.equal(state.tokens.get("3")?.lastAuthenticated, DAY - 1);
  assert.equal(authenticate(state, "Bearer short-secret", off, DAY).kind, "failed");
});

test("a revoked token is refused", () => {
  const state = world();
  state.removeToken("2");
  assert.equal(authenticate(state, "Bearer project-secret", off, 0).kind, "failed");
});
