// A BitbucketProjectToken world for the token tests: a namespace, a simulator with a project and its admin, the
// admin credentials Secret, and helpers to watch tokens on both sides.
import type { BitbucketProjectToken } from "../../src/api/token.ts";
import { Events, type KubeClient, Secrets } from "../../src/runtime/kube.ts";
import type { Event } from "../../src/runtime/kube-types.ts";
import type { Simulator, SimulatorOptions, TokenView } from "../../src/simulator/index.ts";
import { Tokens } from "../../src/tokens/reconciler.ts";
import { createNamespace } from "./cluster.ts";
import { testKube, useSimulator } from "./operator.ts";
import { waitFor } from "./wait.ts";

export const day = 86_400_000;
export const hour = 3_600_000;

export const ADMIN_PASSWORD = "admin-pw-4c1e9b7f";
export const ROOT_PASSWORD = "root-password-e02d";

export interface TokenWorld {
  ns: string;
  sim: Simulator;
  kube: KubeClient;
}

type TestContext = Parameters<typeof createNamespace>[0];

export async function tokenWorld(
  t: TestContext,
  options: SimulatorOptions = {},
  {
    projects = ["PLATFORM"],
    adminPassword = ADMIN_PASSWORD,
  }: {
    projects?: string[];
    /** What the admin credentials Secret holds: another value than the admin's password makes it wrong. */
    adminPassword?: string;
  } = {},
): Promise<TokenWorld> {
  const ns = await createNamespace(t);
  const sim = await useSimulator(t, options);
  sim.createUser({ name: "root", password: ROOT_PASSWORD, admin: true });
  sim.createUser({ name: "admin", password: ADMIN_PASSWORD });
  for (const project of projects) {
    sim.createProject({ key: project });
    sim.grant({ permission: "PROJECT_ADMIN", user: "admin", project });
    await sim.createRepository({ project, slug: "api", files: { "README.md": "api\n" } });
  }
  const kube = await testKube();
  await kube.create(Secrets, {
    apiVersion: "v1",
    kind: "Secret",
    metadata: { name: "bb-admin", namespace: ns },
    stringData: { username: "admin", password: adminPassword },
  });
  return { ns, sim, kube };
}

export function tokenObject(
  w: TokenWorld,
  name: string,
  spec: Partial<BitbucketProjectToken["spec"]> = {},
): BitbucketProjectToken {
  return {
    apiVersion: "baton.dev/v1alpha1",
    kind: "BitbucketProjectToken",
    metadata: { name, namespace: w.ns },
    spec: {
      server: w.sim.url,
      project: "PLATFORM",
      permissions: ["REPO_READ"],
      lifetime: "720h",
      renewBefore: "240h",
      revocationGracePeriod: "2h",
      adminCredentialsRef: { name: "bb-admin" },
      secretName: `${name}-token`,
      deletionPolicy: "Revoke",
      ...spec,
    },
  };
}

export function condition(token: BitbucketProjectToken | undefined, type: string) {
  return token?.status?.conditions?.find((c) => c.type === type);
}

export function isReady(token: BitbucketProjectToken | undefined): boolean {
  return condition(token, "Ready")?.status === "True";
}

export async function getToken(w: TokenWorld, name: string): Promise<BitbucketProjectToken | undefined> {
  return w.kube.get(Tokens, { namespace: w.ns, name });
}

/** The Events recorded on one object, oldest first as the API server lists them. */
export async function tokenEvents(w: TokenWorld, name: string): Promise<Event[]> {
  const list = await w.kube.list(Events, { namespace: w.ns });
  return list.items.filter((e) => e.involvedObject?.name === name);
}

/** Waits until every named object satisfies `ok`; returns them in the same order. */
export async function waitForTokens(
  w: TokenWorld,
  names: readonly string[],
  what: string,
  ok: (token: BitbucketProjectToken) => boolean,
  timeout = 45_000,
): Promise<BitbucketProjectToken[]> {
  return waitFor(
    async () => {
      const tokens = await Promise.all(names.map((n) => getToken(w, n)));
      const pending = names.filter((_, i) => !(tokens[i] && ok(tokens[i] as BitbucketProjectToken)));
      return pending.length === 0 ? (tokens as BitbucketProjectToken[]) : undefined;
    },
    { message: `${what} (${names.length} objects)`, timeout, interval: 100 },
  );
}

/** Flux's convention: touching this annotation asks for a reconcile now (after advancing the simulator's clock). */
export async function poke(w: TokenWorld, name: string): Promise<void> {
  await w.kube.patch(
    Tokens,
    { namespace: w.ns, name },
    { metadata: { annotations: { "baton.dev/reconcile-requested-at": `${Date.now()}-${Math.random()}` } } },
  );
}

/** The token value a Secret holds, as a consumer mounting it would read it. */
export async function secretValue(w: TokenWorld, secretName: string, key = "token"): Promise<string | undefined> {
  const secret = await w.kube.get(Secrets, { namespace: w.ns, name: secretName });
  const data = secret?.data?.[key];
  return data ? Buffer.from(data, "base64").toString("utf8") : undefined;
}

/** What a consumer (a pipeline) sees when it calls Bitbucket with a token: the HTTP status of a repository read. */
export async function bitbucketAnswers(w: Pick<TokenWorld, "sim">, token: string): Promise<number> {
  const res = await fetch(`${w.sim.url}/rest/api/latest/projects/PLATFORM/repos/api`, {
    headers: { authorization: `Bearer ${token}` },
  });
  await res.body?.cancel();
  return res.status;
}

/** Tokens Baton issued for one object that still work in Bitbucket: neither revoked nor expired. */
export function liveTokens(w: TokenWorld, name: string, instance = "baton"): TokenView[] {
  const prefix = `${instance}/${w.ns}/${name}/`;
  const now = w.sim.clock.now();
  return w.sim
    .tokens()
    .filter((t) => t.name.startsWith(prefix) && (t.expiryDays === null || t.createdDate + t.expiryDays * day > now));
}

/**
 * Samples the simulator's tokens every few milliseconds and remembers the most live tokens each object ever had at
 * once: a blind retry of a token-creating PUT would show up as one more than the design allows.
 */
export function watchLiveTokens(w: TokenWorld, names: readonly string[]): { max: Map<string, number>; stop(): void } {
  const max = new Map<string, number>(names.map((n) => [n, 0]));
  const sample = () => {
    for (const name of names) max.set(name, Math.max(max.get(name) ?? 0, liveTokens(w, name).length));
  };
  sample();
  const timer = setInterval(sample, 5);
  return {
    max,
    stop() {
      clearInterval(timer);
      sample();
    },
  };
}
