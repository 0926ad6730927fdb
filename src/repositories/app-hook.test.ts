import assert from "node:assert/strict";
import { describe, test } from "node:test";
import type { Repository } from "../api/repository.ts";
import type { GitProvider, Hook, HookInput } from "../providers/provider.ts";
import { AppHooks, appHookDrift, appIdentity, claimDecision, recordedClaim, secretSourceOf } from "./app-hook.ts";
import { secretPrintOf } from "./decisions.ts";

const url = "https://baton.example.com/hooks/github";
const good: Hook = {
  id: "app",
  name: "app",
  url,
  events: [],
  active: true,
  secretSet: true,
  contentType: "json",
  insecureSsl: false,
};

describe("the App's hook drift", () => {
  test("nothing differs: nothing to repair", () => assert.deepEqual(appHookDrift(good, url, true), []));
  test("each field GitHub lets be edited is named", () => {
    assert.deepEqual(appHookDrift({ ...good, url: "https://old.example.com/hooks/github" }, url, true), ["url"]);
    assert.deepEqual(appHookDrift({ ...good, contentType: "form", insecureSsl: true }, url, true), [
      "content_type",
      "insecure_ssl",
    ]);
    assert.deepEqual(appHookDrift({ ...good, secretSet: false }, url, true), ["secret"]);
  });
  test("a masked secret Baton has no record of writing is written once", () =>
    assert.deepEqual(appHookDrift(good, url, false), ["secret"]));
  test("an App without a webhook gets every field", () =>
    assert.deepEqual(appHookDrift(undefined, url, true), ["url", "content_type", "insecure_ssl", "secret"]));
});

describe("the claim on the App's one secret", () => {
  const a = { source: "team-a/hook/secret", print: secretPrintOf("ä-secret") };
  const b = { source: "team-b/hook/secret", print: secretPrintOf("b-secret") };
  test("no claim: the first to ask takes it", () =>
    assert.deepEqual(claimDecision(undefined, b, []), { kind: "take" }));
  test("the same value shares it, whichever Secret holds it", () =>
    assert.deepEqual(claimDecision(a, { ...b, print: a.print }, ["team-a/x"]), { kind: "share" }));
  test("another value is refused while a Repository reads the claimed Secret", () =>
    assert.deepEqual(claimDecision(a, b, ["team-a/x"]), { kind: "conflict", holder: "team-a/x" }));
  test("the claimed Secret rotated: its new value is written", () =>
    assert.deepEqual(claimDecision(a, { ...a, print: secretPrintOf("rotated") }, ["team-a/x"]), { kind: "take" }));
  test("nobody reads the claimed Secret any more: the next one takes over", () =>
    assert.deepEqual(claimDecision(a, b, []), { kind: "take" }));
});

let created = 0;
function repository(namespace: string, name: string, over: Partial<Repository["status"]> = {}): Repository {
  created++;
  return {
    apiVersion: "baton.dev/v1alpha1",
    kind: "Repository",
    metadata: {
      namespace,
      name,
      uid: `${namespace}-${name}`,
      creationTimestamp: new Date(Date.UTC(2026, 0, 1, 0, 0, created)).toISOString(),
    },
    spec: {
      url: `https://github.com/octo-org/${name}`,
      githubApp: { appId: "42", privateKeyRef: { name: "app-key", key: "private-key.pem" } },
      webhook: { managed: true, scope: "repository", secretRef: { name: "hook", key: "secret" } },
      pipelines: { path: ".tekton" },
    },
    ...(over ? { status: over } : {}),
  } as Repository;
}

test("recordedClaim: the oldest Repository whose status says the hook is in sync, never one in conflict", () => {
  const synced = (print: string) => ({
    conditions: [
      {
        type: "WebhookSynced",
        status: "True" as const,
        reason: "AppWebhookSynced",
        message: "",
        lastTransitionTime: "2026-01-01T00:00:00Z",
      },
    ],
    webhook: { secretPrint: print },
  });
  const older = repository("team-a", "one", synced("print-a"));
  const newer = repository("team-b", "two", synced("print-b"));
  const unsynced = repository("team-c", "three", {});
  assert.deepEqual(recordedClaim([newer, unsynced, older]), { source: secretSourceOf(older), print: "print-a" });
  assert.equal(recordedClaim([unsynced]), undefined);
});

/** A GitHub whose App hook is a value: every call counted, the secret kept to compare. */
function fakeGitHub(initial: Hook | undefined) {
  const state = { hook: initial, secret: initial ? "unknown" : "", gets: 0, patches: [] as string[][] };
  const provider = {
    async listHooks() {
      state.gets++;
      await new Promise((resolve) => setTimeout(resolve, 5));
      return state.hook ? [state.hook] : [];
    },
    async updateHook(_scope: unknown, _id: string, input: HookInput) {
      state.patches.push([input.url, input.secret ?? ""]);
      state.secret = input.secret ?? "";
      state.hook = { ...good, url: input.url };
      return state.hook;
    },
  } as unknown as GitProvider;
  return { state, provider };
}

describe("AppHooks", () => {
  const app = appIdentity("https://github.com", "42");
  const request = (repo: Repository, provider: GitProvider, secret: string) => ({
    repo,
    provider,
    credential: { kind: "bearer" as const, token: "jwt" },
    keyPrint: "k1",
    url,
    secret,
    signal: new AbortController().signal,
  });

  test("fifty Repositories of one App reconciling at once cost one read and one repair", async () => {
    const { state, provider } = fakeGitHub({ ...good, url: "https://old.example.com/hooks/github" });
    const repos = Array.from({ length: 50 }, (_, i) => repository("team-a", `repo-${i}`));
    const hooks = new AppHooks({ now: () => 1_000, driftInterval: 60_000, members: () => repos });
    const outcomes = await Promise.all(repos.map((r) => hooks.check(app, request(r, provider, "sécret-🔑"))));
    assert.equal(state.gets, 1);
    assert.deepEqual(state.patches, [[url, "sécret-🔑"]]);
    assert.ok(outcomes.every((o) => o.kind === "synced"));
    const repaired = outcomes.filter((o) => o.kind === "synced" && o.repaired.length > 0);
    assert.equal(repaired.length, 1, "one Repository tells the repair");
    assert.deepEqual(repaired[0]?.kind === "synced" && repaired[0].repaired, ["url", "secret"]);
  });

  test("a second secret is refused and never written; when its holder leaves, it takes over and wakes the rest", async () => {
    const { state, provider } = fakeGitHub(good);
    let now = 1_000;
    const holder = repository("team-a", "holder");
    const other = repository("team-b", "other");
    other.spec.webhook.secretRef = { name: "their-hook", key: "secret" };
    let members = [holder, other];
    const woken: string[] = [];
    const hooks = new AppHooks({
      now: () => now,
      driftInterval: 60_000,
      members: () => members,
      wake: (key) => woken.push(key),
    });
    assert.equal((await hooks.check(app, request(holder, provider, "first"))).kind, "synced");
    const refused = await hooks.check(app, request(other, provider, "second"));
    assert.deepEqual(refused, { kind: "conflict", holder: "team-a/holder" });
    now += 120_000;
    assert.equal((await hooks.check(app, request(holder, provider, "first"))).kind, "synced");
    assert.deepEqual(
      state.patches.map(([, secret]) => secret),
      ["first"],
      "the config is written once, by the holder",
    );
    members = [other];
    woken.length = 0;
    const taken = await hooks.check(app, request(other, provider, "second"));
    assert.equal(taken.kind, "synced");
    assert.equal(state.secret, "second");
    assert.deepEqual(woken, [], "nobody else left to wake");
  });

  test("after a restart the status record keeps a current secret from being rewritten", async () => {
    const { state, provider } = fakeGitHub(good);
    const repo = repository("team-a", "one", {
      conditions: [
        {
          type: "WebhookSynced",
          status: "True",
          reason: "AppWebhookSynced",
          message: "",
          lastTransitionTime: "2026-01-01T00:00:00Z",
        },
      ],
      webhook: { secretPrint: secretPrintOf("kept") },
    });
    const hooks = new AppHooks({ now: () => 1_000, driftInterval: 60_000, members: () => [repo] });
    const outcome = await hooks.check(app, request(repo, provider, "kept"));
    assert.equal(outcome.kind === "synced" && outcome.repaired.length, 0);
    assert.equal(state.patches.length, 0);
  });
});
