// Trust for a pull request from a fork, decided with the user search any token may call. When that search names
// a repository Bitbucket does not have, the 9.2 spec answers 400, not an empty page: Baton must take it as "no"
// (not trusted, saying why) after one call, never as a failure to retry.
import assert from "node:assert/strict";
import { test } from "node:test";
import { resolveTrust, type TrustLookups } from "../../src/events/trust.ts";
import { BitbucketClient } from "../../src/providers/bitbucket-datacenter/index.ts";
import { pullRequestEventFromRest } from "../../src/providers/bitbucket-datacenter/rest-event.ts";
import { startSimulator } from "../../src/simulator/index.ts";

test("a fork pull request whose permission lookup Bitbucket refuses (400) is not trusted, after one call", async (t) => {
  const sim = await startSimulator({ clock: { frozen: true } });
  t.after(() => sim.close());
  sim.createUser({ name: "admin", password: "admin-pw", admin: true });
  sim.createUser({ name: "outsider", password: "outsider-pw" });
  sim.createProject({ key: "PRJ" });
  await sim.createRepository({ project: "PRJ", slug: "app", files: { "README.md": "# app\n" } });
  sim.grant({ permission: "REPO_READ", user: "outsider", project: "PRJ", repo: "app" });
  await sim.fork({ project: "PRJ", repo: "app", user: "outsider" });
  await sim.push({ project: "~OUTSIDER", repo: "app", branch: "fix", files: { "fix.txt": "fix\n" }, as: "outsider" });
  const pr = await sim.openPullRequest({
    project: "PRJ",
    repo: "app",
    from: { project: "~OUTSIDER", repo: "app", branch: "fix" },
    title: "Fix",
    as: "outsider",
  });
  const { token } = sim.createToken({
    scope: { kind: "project", project: "PRJ" },
    name: "baton",
    permissions: ["REPO_READ"],
  });
  const client = new BitbucketClient({ baseUrl: sim.url, auth: { kind: "bearer", token } });
  t.after(() => client.close());

  const rest = await client.pullRequests.get({ project: "PRJ", repository: "app" }, pr.id);
  const converted = pullRequestEventFromRest(rest, { serverUrl: sim.url, receivedAt: new Date(sim.clock.now()) });
  assert.ok(converted.ok, converted.ok ? "" : converted.error);
  const event = converted.event;
  /** What the runner asks: REPO_WRITE for the author on the repository its Repository names. */
  const lookups = (repository: string): TrustLookups => ({
    hasWrite: (user) =>
      client.users.hasPermission({
        user: user.slug ?? user.name,
        permission: "REPO_WRITE",
        project: "PRJ",
        repository,
      }),
    okToTest: async () => null,
  });

  let mark = sim.markRequests();
  const refused = await resolveTrust(event, lookups("gone"));
  assert.equal(refused.trusted, false);
  assert.equal(refused.reason, "fork-author-not-trusted");
  assert.match(refused.detail, /Bitbucket refused to say whether outsider has write access/);
  assert.match(refused.detail, /PRJ\/gone does not exist/);
  assert.deepEqual(
    sim.requests({ group: "users", since: mark }).map((r) => r.status),
    [400],
    "one user search, answered 400, not retried",
  );

  // The same question about the repository that exists is an ordinary "no".
  mark = sim.markRequests();
  const plain = await resolveTrust(event, lookups("app"));
  assert.equal(plain.trusted, false);
  assert.match(plain.detail, /outsider has no write access to PRJ\/app/);
  assert.deepEqual(
    sim.requests({ group: "users", since: mark }).map((r) => r.status),
    [200],
  );
});
