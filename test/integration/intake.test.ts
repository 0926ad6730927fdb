// The webhook intake over real HTTP: every real Bitbucket DC capture is accepted, and every bad request gets a
// clear 4xx, is counted, and leaves the intake working.
import assert from "node:assert/strict";
import { readdirSync, readFileSync } from "node:fs";
import { describe, test } from "node:test";
import type { Repository } from "../../src/api/repository.ts";
import { deliveryTarget } from "../../src/providers/bitbucket-datacenter/route.ts";
import { Repositories } from "../../src/repositories/resource.ts";
import { Events } from "../../src/runtime/kube.ts";
import { answers, deliver, listRuns, openFeaturePullRequest, pipelinesWorld } from "../support/pipelines-world.ts";
import { waitFor } from "../support/wait.ts";

const fixtures = new URL("../fixtures/bitbucket-dc/", import.meta.url);
const captures = readdirSync(fixtures)
  .filter((f) => f.startsWith("webhook-") && f.endsWith(".json"))
  .sort();

/** The capture's body, with a personal target project (`~user`, which no Repository can watch) made a team one. */
function capture(file: string): { eventKey: string; body: string } {
  const text = readFileSync(new URL(file, fixtures), "utf8");
  const json = JSON.parse(text) as Record<string, unknown>;
  const eventKey = typeof json.eventKey === "string" ? json.eventKey : "diagnostics:ping";
  const pr = json.pullRequest as { toRef: { repository: Record<string, unknown> } } | undefined;
  const target = (pr?.toRef.repository ?? json.repository ?? json.new) as
    | { project: { key: string; type?: string } }
    | undefined;
  if (target?.project.key.startsWith("~")) {
    target.project.key = target.project.key.slice(1).toUpperCase();
    target.project.type = "NORMAL";
    return { eventKey, body: JSON.stringify(json) };
  }
  return { eventKey, body: text };
}

describe("webhook intake", () => {
  test("accepts every real capture in test/fixtures/bitbucket-dc, signed with the Repository's secret", async (t) => {
    const w = await pipelinesWorld(t, { noWebhook: true });
    // One Repository per repository the captures talk about, all on the simulator (so nothing leaves this machine).
    const targets = new Map<string, { project: string; slug: string }>();
    for (const file of captures) {
      const target = deliveryTarget(JSON.parse(capture(file).body));
      if (target) targets.set(`${target.project}/${target.slug}`, target);
    }
    let i = 0;
    for (const target of targets.values()) {
      await w.kube.create(Repositories, {
        apiVersion: "baton.dev/v1alpha1",
        kind: "Repository",
        metadata: { name: `capture-${i++}`, namespace: w.ns },
        spec: {
          ...w.repository.spec,
          url: `${w.sim.url}/projects/${target.project}/repos/${target.slug}`,
        },
      } as Repository);
    }
    assert.ok(captures.length >= 60, `found ${captures.length} captures`);
    const outcomes = new Map<string, string>();
    for (const file of captures) {
      const { eventKey, body } = capture(file);
      // The informer may take a moment to see the Repositories just created (until then: not verified).
      let res = await deliver(w, eventKey, body);
      for (let attempt = 0; res.status === 401 && attempt < 40; attempt++) {
        await new Promise((r) => setTimeout(r, 50));
        res = await deliver(w, eventKey, body);
      }
      assert.equal(res.status, 200, `${file}: ${JSON.stringify(res.json)}`);
      outcomes.set(file, String(res.json.outcome));
    }
    assert.equal(outcomes.get("webhook-diagnostics-ping.bbs-plugin.json"), "ping");
    // Captures are years old: replays of them start nothing.
    assert.equal(outcomes.get("webhook-pr-opened.go-scm.json"), "ignored");
    assert.deepEqual(await listRuns(w), []);
  });

  test("refuses bad requests with clear 4xx answers, counts them, and keeps working", async (t) => {
    const w = await pipelinesWorld(t);
    const { body } = capture("webhook-pr-opened.nttd.json");
    // The capture, moved to this test's repository (its links still name another server: routed by key and slug).
    const moved = JSON.parse(body) as {
      date: string;
      pullRequest: { fromRef: { repository: Record<string, unknown> }; toRef: { repository: Record<string, unknown> } };
    };
    for (const repo of [moved.pullRequest.fromRef.repository, moved.pullRequest.toRef.repository]) {
      (repo.project as { key: string }).key = "PRJ";
      repo.slug = "app";
      delete repo.links;
    }
    moved.date = new Date().toISOString();
    const ours = JSON.stringify(moved);

    const unsigned = await deliver(w, "pr:opened", ours, { secret: null });
    assert.deepEqual([unsigned.status, unsigned.json.outcome], [401, "unsigned"]);
    const wrong = await deliver(w, "pr:opened", ours, { secret: "not-the-secret" });
    assert.deepEqual([wrong.status, wrong.json.outcome], [401, "unverified"]);
    const garbled = await deliver(w, "pr:opened", ours, { signature: "sha256=zz" });
    assert.deepEqual([garbled.status, garbled.json.outcome], [401, "bad-signature"]);
    assert.ok(!JSON.stringify(wrong.json).includes(w.webhookSecret));

    const notJson = await deliver(w, "pr:opened", "{not json");
    assert.deepEqual([notJson.status, notJson.json.outcome], [400, "malformed"]);
    const broken = JSON.parse(ours) as { pullRequest: { fromRef: Record<string, unknown> } };
    delete broken.pullRequest.fromRef.latestCommit;
    const invalid = await deliver(w, "pr:opened", JSON.stringify(broken));
    assert.deepEqual([invalid.status, invalid.json.outcome], [400, "malformed"]);
    assert.match(String(invalid.json.detail), /pullRequest\.fromRef\.latestCommit/);
    const mismatched = await deliver(w, "pr:merged", ours);
    assert.deepEqual([mismatched.status, mismatched.json.outcome], [400, "malformed"]);

    const elsewhere = await deliver(w, "pr:opened", body);
    assert.deepEqual([elsewhere.status, elsewhere.json.outcome], [401, "unverified"]);

    const huge = await deliver(w, "pr:opened", `{"pad":"${"x".repeat(1024 * 1024)}"}`);
    assert.deepEqual([huge.status, huge.json.outcome], [413, "too-large"]);

    const ping = await deliver(w, "diagnostics:ping", '{"test":true}', { secret: null });
    assert.deepEqual([ping.status, ping.json.outcome], [200, "ping"]);

    // Still serving: a real pull request from the simulator creates its run.
    await openFeaturePullRequest(w);
    assert.equal(answers(w, "pr:opened")[0]?.status, 200);
    assert.equal((await listRuns(w)).length, 1);

    const metrics = await w.op.manager.metrics.text();
    for (const [event, outcome, count] of [
      ["pr:opened", "unsigned", 1],
      ["pr:opened", "bad-signature", 2],
      ["pr:opened", "malformed", 2],
      ["pr:merged", "malformed", 1],
      ["pr:opened", "unknown-repository", 1],
      ["pr:opened", "too-large", 1],
      ["diagnostics:ping", "ping", 1],
      ["pr:opened", "accepted", 1],
    ] as const) {
      assert.ok(
        metrics.includes(`baton_webhook_events_total{event="${event}",outcome="${outcome}"} ${count}`),
        `${event} ${outcome} ${count}`,
      );
    }
    // Only the delivery that created a run is timed as event → PipelineRun; refusals are not.
    assert.match(metrics, /^baton_event_to_pipelinerun_seconds_count\{event="pull_request"\} 1$/m);
    for (const line of w.op.logs) assert.ok(!JSON.stringify(line).includes(w.webhookSecret));
  });

  test("tells an unauthenticated caller no namespace or Repository name; the log, metrics and Events keep them", async (t) => {
    const w = await pipelinesWorld(t, { noWebhook: true });
    const pr = (project: string, slug: string) =>
      JSON.stringify({
        eventKey: "pr:opened",
        date: new Date().toISOString(),
        actor: { name: "dev" },
        pullRequest: { id: 1, toRef: { id: "refs/heads/main", repository: { slug, project: { key: project } } } },
      });
    const watched = pr("PRJ", "app");
    const unwatched = pr("ELSEWHERE", "hidden");
    const asked = [
      await deliver(w, "pr:opened", watched, { secret: null }),
      await deliver(w, "pr:opened", watched, { secret: "not-the-secret" }),
      await deliver(w, "pr:opened", watched, { signature: "sha256=zz" }),
      await deliver(w, "pr:opened", unwatched, { secret: "not-the-secret" }),
      await deliver(w, "pr:opened", unwatched),
    ];
    for (const answer of asked) {
      assert.equal(answer.status, 401);
      const text = JSON.stringify(answer.json);
      for (const name of [w.ns, w.repository.metadata.name, "PRJ", "ELSEWHERE", "hidden"]) {
        assert.doesNotMatch(text, new RegExp(`\\b${name}\\b`, "i"), `the answer ${text} names ${name}`);
      }
    }
    // A wrong signature for a watched repository reads exactly as any signature for one nobody watches.
    assert.deepEqual(asked[1]?.json, asked[3]?.json);
    assert.deepEqual(asked[1]?.json, asked[4]?.json);

    // The operator still knows which was which.
    const logged = (outcome: string) =>
      w.op.logs.filter((l) => l.msg === "webhook delivery" && l.outcome === outcome).map((l) => String(l.detail));
    assert.ok(
      logged("bad-signature").some((d) => d.includes(`${w.ns}/${w.repository.metadata.name}`)),
      JSON.stringify(logged("bad-signature")),
    );
    assert.ok(logged("unknown-repository").some((d) => d.includes("ELSEWHERE/hidden")));
    const metrics = await w.op.manager.metrics.text();
    for (const [outcome, count] of [
      ["unsigned", 1],
      ["bad-signature", 2],
      ["unknown-repository", 2],
    ] as const) {
      assert.match(
        metrics,
        new RegExp(`^baton_webhook_events_total\\{event="pr:opened",outcome="${outcome}"\\} ${count}$`, "m"),
      );
    }
    const warning = await waitFor(
      async () =>
        (await w.kube.list(Events, { namespace: w.ns })).items.find(
          (e) => e.reason === "WebhookSignatureMismatch" && e.involvedObject?.name === w.repository.metadata.name,
        ),
      { message: "a WebhookSignatureMismatch Event on the Repository" },
    );
    assert.equal(warning.type, "Warning");
  });
  test("a captured signed delivery replayed with a new X-Request-Id starts nothing again", async (t) => {
    const w = await pipelinesWorld(t);
    await w.sim.push({ project: "PRJ", repo: "app", branch: "release", files: { "r.txt": "r\n" }, as: "dev" });
    await w.sim.push({ project: "PRJ", repo: "app", branch: "feature", files: { "a.txt": "a\n" }, as: "dev" });
    const pr = await w.sim.openPullRequest({
      project: "PRJ",
      repo: "app",
      from: { branch: "feature" },
      to: "release",
      title: "A",
      as: "dev",
    });
    // Retargeted onto main, which the pipeline watches: the pr:modified delivery starts the one run.
    await w.sim.updatePullRequest({ project: "PRJ", repo: "app", id: pr.id, to: "main", as: "dev" });
    await w.sim.settled();
    const [modified] = w.sim.deliveries({ eventKey: "pr:modified" });
    assert.ok(modified?.signature, "the simulator signed the pr:modified delivery");
    assert.equal(modified.status, 200, String(modified.responseBody));
    assert.equal((await listRuns(w)).length, 1);

    // Whoever captured it sends the same signed bytes again under a fresh request id (X-Request-Id is not signed).
    const replay = await deliver(w, "pr:modified", modified.body, { signature: modified.signature });
    assert.equal(replay.status, 200);
    assert.equal(replay.json.outcome, "duplicate", JSON.stringify(replay.json));
    assert.equal((await listRuns(w)).length, 1);
  });
});
