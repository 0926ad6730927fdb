// Hostile input at the intake and in `.tekton/`: replayed and tampered deliveries, cut-off bodies, odd content
// types, unicode branch names, oversized and booby-trapped `.tekton` folders, PipelineRuns that try to leave their
// namespace or take Baton's own Secrets. Each is refused or handled with a clear answer a user can read (HTTP
// answer, build status, pull-request comment, Event), each delivery is counted in
// baton_webhook_events_total{event,outcome}, and the operator (this very process) stays up with bounded memory.
// (What intake.test.ts already covers, unsigned, wrong secret, garbled signature, not JSON, missing field, over
// the body limit, is not repeated here.)
import assert from "node:assert/strict";
import { connect } from "node:net";
import { describe, test } from "node:test";
import type { PipelineRun } from "../../src/pipelines/tekton.ts";
import { PipelineRuns } from "../../src/pipelines/tekton.ts";
import { Events } from "../../src/runtime/kube.ts";
import { formatWebhookDate } from "../../src/simulator/clock.ts";
import { type DeliveryRecord, signBody } from "../../src/simulator/index.ts";
import { createNamespace } from "../support/cluster.ts";
import {
  listRuns,
  openFeaturePullRequest,
  param,
  pipelinesWorld,
  prRun,
  type World,
} from "../support/pipelines-world.ts";
import { waitFor } from "../support/wait.ts";

type Counts = Map<string, number>;

/** baton_webhook_events_total by "event outcome". */
async function counts(w: World): Promise<Counts> {
  const text = await w.op.manager.metrics.text();
  const out: Counts = new Map();
  for (const m of text.matchAll(/^baton_webhook_events_total\{event="([^"]*)",outcome="([^"]*)"\} (\d+)$/gm)) {
    out.set(`${m[1]} ${m[2]}`, Number(m[3]));
  }
  return out;
}

/** What was counted since `before`, without the zeros. */
function counted(before: Counts, after: Counts): Record<string, number> {
  const out: Record<string, number> = {};
  for (const [key, value] of after) {
    const delta = value - (before.get(key) ?? 0);
    if (delta !== 0) out[key] = delta;
  }
  return out;
}

interface Answer {
  status: number;
  json: Record<string, unknown>;
}

/** POSTs exactly these headers and bytes to the intake (no defaults added but what fetch itself must send). */
async function post(w: World, headers: Record<string, string>, body: string | Uint8Array): Promise<Answer> {
  const res = await fetch(w.intakeUrl, { method: "POST", headers, body });
  const text = await res.text();
  try {
    return { status: res.status, json: JSON.parse(text) as Record<string, unknown> };
  } catch {
    return { status: res.status, json: { text } };
  }
}

/** A captured delivery sent again, as an attacker who recorded it would: its headers, optionally changed. */
function replay(w: World, record: DeliveryRecord, change: { requestId?: string; body?: string } = {}) {
  return post(
    w,
    {
      "content-type": "application/json; charset=utf-8",
      "x-event-key": record.eventKey,
      "x-request-id": change.requestId ?? record.requestId,
      "x-hub-signature": record.signature ?? "",
    },
    change.body ?? record.body,
  );
}

/** Opens a pull request whose delivery Bitbucket "loses", and returns that delivery: a fresh signed event. */
async function capturedPullRequest(w: World, branch: string, title: string): Promise<DeliveryRecord> {
  await w.sim.push({ project: "PRJ", repo: "app", branch, files: { [`${title}.txt`]: `${title}\n` }, as: "dev" });
  await w.sim.settled();
  w.sim.dropNextDeliveries(1);
  const pr = await w.sim.openPullRequest({ project: "PRJ", repo: "app", from: { branch }, title, as: "dev" });
  await w.sim.settled();
  const record = w.sim.deliveries({ eventKey: "pr:opened" }).at(-1);
  assert.ok(record?.dropped && record.body.includes(`"id":${pr.id}`), `the pr:opened delivery of #${pr.id}`);
  return record;
}

function runsOf(runs: PipelineRun[], pullRequest: number): PipelineRun[] {
  return runs.filter((r) => r.metadata?.labels?.["baton.dev/pull-request"] === String(pullRequest));
}

function prNumber(record: DeliveryRecord): number {
  return (JSON.parse(record.body) as { pullRequest: { id: number } }).pullRequest.id;
}

/** Sends a request line, headers and part of a body over a raw socket, then closes its side. */
function cutConnection(port: number, head: string, partial: string): Promise<string> {
  return new Promise((resolve) => {
    const socket = connect(port, "127.0.0.1", () => {
      socket.write(head + partial);
      socket.end();
    });
    let received = "";
    socket.on("data", (chunk) => {
      received += String(chunk);
    });
    socket.on("error", () => undefined);
    socket.on("close", () => resolve(received));
  });
}

// Kubernetes label values: at most 63 characters, alphanumerics at both ends, `-_.` inside.
const labelValuePattern = /^(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?$/;

describe("hostile input", () => {
  test("replayed, tampered, stale, cut-off and oddly typed deliveries are refused or deduplicated, and counted", async (t) => {
    const w = await pipelinesWorld(t);
    const pr = await openFeaturePullRequest(w);
    const original = w.sim.deliveries({ eventKey: "pr:opened" })[0];
    assert.ok(original);
    assert.equal(original.status, 200);
    assert.equal(runsOf(await listRuns(w), pr.id).length, 1);
    const before = await counts(w);

    // Replays. The same delivery again (a "Resend", or a recorded request): answered once, nothing new runs.
    const resent = await replay(w, original);
    assert.deepEqual([resent.status, resent.json.outcome], [200, "duplicate"]);
    // The same signed body under a new request id: its content was seen (the request id is not signed).
    const renamed = await replay(w, original, { requestId: "replayed-under-a-new-id" });
    assert.deepEqual([renamed.status, renamed.json.outcome], [200, "duplicate"]);
    assert.equal(runsOf(await listRuns(w), pr.id).length, 1);
    // A captured signature does not carry over to a changed body, however small the change.
    const moved = original.body.replace(`"title":"A"`, `"title":"B"`);
    assert.notEqual(moved, original.body);
    const tampered = await replay(w, original, { requestId: "tampered", body: moved });
    assert.deepEqual([tampered.status, tampered.json.outcome], [401, "unverified"]);

    // A delivery recorded long ago, never seen by Baton, replayed with its own valid signature once it is older
    // than the replay window (6 h): it starts nothing, even though its run key is new. (Signed here with the
    // webhook secret, as Bitbucket signed it 7 h ago: the test cannot wait that long.)
    const late = await capturedPullRequest(w, "late", "late");
    const old = late.body.replace(/"date":"[^"]*"/, `"date":"${formatWebhookDate(Date.now() - 7 * 3_600_000)}"`);
    assert.notEqual(old, late.body);
    const stale = await post(
      w,
      {
        "content-type": "application/json; charset=utf-8",
        "x-event-key": late.eventKey,
        "x-request-id": late.requestId,
        "x-hub-signature": signBody(w.webhookSecret, old),
      },
      old,
    );
    assert.deepEqual([stale.status, stale.json.outcome], [200, "ignored"]);
    assert.deepEqual(
      (stale.json.ignored as { reason: string }[]).map((i) => i.reason),
      ["stale-delivery"],
    );
    assert.equal(runsOf(await listRuns(w), prNumber(late)).length, 0);

    // Truncated bodies. The repository, and so the secret to check against, is named inside the body: a body cut
    // mid-way cannot be checked and is refused as not JSON, with the signature of the whole (cut by a proxy) or
    // one of what arrived.
    const fresh = await capturedPullRequest(w, "typed", "typed");
    const half = fresh.body.slice(0, Math.floor(fresh.body.length / 2));
    const cut = await replay(w, fresh, { requestId: "cut", body: half });
    assert.deepEqual([cut.status, cut.json.outcome, cut.json.detail], [400, "malformed", "the body is not JSON"]);
    const cutSigned = await post(
      w,
      {
        "content-type": "application/json",
        "x-event-key": "pr:opened",
        "x-request-id": "cut-signed",
        "x-hub-signature": signBody(w.webhookSecret, half),
      },
      half,
    );
    assert.deepEqual([cutSigned.status, cutSigned.json.outcome], [400, "malformed"]);
    // A Content-Length larger than what arrives before the sender hangs up: counted, the process unharmed.
    const port = Number(new URL(w.intakeUrl).port);
    const head =
      "POST /hooks/bitbucket HTTP/1.1\r\nHost: baton\r\nContent-Type: application/json\r\n" +
      `X-Event-Key: pr:opened\r\nX-Request-Id: hung-up\r\nX-Hub-Signature: ${fresh.signature}\r\n` +
      `Content-Length: ${Buffer.byteLength(fresh.body)}\r\n\r\n`;
    await cutConnection(port, head, half);
    await waitFor(async () => (counted(before, await counts(w))["pr:opened malformed"] ?? 0) >= 3, {
      message: "the cut-off request to be counted",
    });

    // Content types. Bitbucket always sends application/json, but the header is not covered by the signature, so
    // Baton does not decide by it: the signed bytes must be JSON, whatever Content-Type claims. A signed JSON body
    // as text/plain, or with no Content-Type at all, is handled exactly like one sent as application/json …
    const headers = (record: DeliveryRecord, requestId: string): Record<string, string> => ({
      "x-event-key": record.eventKey,
      "x-request-id": requestId,
      "x-hub-signature": record.signature ?? "",
    });
    const plain = await post(w, { ...headers(fresh, fresh.requestId), "content-type": "text/plain" }, fresh.body);
    assert.deepEqual([plain.status, plain.json.outcome], [200, "accepted"], JSON.stringify(plain.json));
    assert.equal(runsOf(await listRuns(w), prNumber(fresh)).length, 1);
    const untyped = await capturedPullRequest(w, "untyped", "untyped");
    // A Uint8Array body makes fetch send no Content-Type.
    const none = await post(w, headers(untyped, untyped.requestId), new TextEncoder().encode(untyped.body));
    assert.deepEqual([none.status, none.json.outcome], [200, "accepted"], JSON.stringify(none.json));
    assert.equal(runsOf(await listRuns(w), prNumber(untyped)).length, 1);
    // … and a re-send as a form is the same event again (deduplicated), not a new one.
    const formJson = await post(
      w,
      { ...headers(fresh, "form-json"), "content-type": "application/x-www-form-urlencoded" },
      fresh.body,
    );
    assert.deepEqual([formJson.status, formJson.json.outcome], [200, "duplicate"]);
    // What a form or multipart sender really sends is not JSON: refused, and the answer says what was sent.
    const formBody = `payload=${encodeURIComponent(fresh.body)}`;
    const form = await post(
      w,
      {
        ...headers(fresh, "form"),
        "x-hub-signature": signBody(w.webhookSecret, formBody),
        "content-type": "application/x-www-form-urlencoded",
      },
      formBody,
    );
    assert.deepEqual([form.status, form.json.outcome], [400, "malformed"]);
    assert.match(String(form.json.detail), /not JSON.*application\/x-www-form-urlencoded/);
    const multipartBody = [
      "--hostile",
      'Content-Disposition: form-data; name="payload"',
      "Content-Type: application/json",
      "",
      fresh.body,
      "--hostile--",
      "",
    ].join("\r\n");
    const multipart = await post(
      w,
      {
        ...headers(fresh, "multipart"),
        "x-hub-signature": signBody(w.webhookSecret, multipartBody),
        "content-type": "multipart/form-data; boundary=hostile",
      },
      multipartBody,
    );
    assert.deepEqual([multipart.status, multipart.json.outcome], [400, "malformed"]);
    assert.match(String(multipart.json.detail), /not JSON.*multipart\/form-data/);
    // Unsigned, the content type changes nothing either: the signature is checked first.
    const unsignedForm = await post(
      w,
      { "x-event-key": "pr:opened", "x-request-id": "unsigned-form", "content-type": "text/plain" },
      fresh.body,
    );
    assert.deepEqual([unsignedForm.status, unsignedForm.json.outcome], [401, "unsigned"]);

    assert.deepEqual(counted(before, await counts(w)), {
      "pr:opened duplicate": 3,
      "pr:opened bad-signature": 1,
      "pr:opened ignored": 1,
      "pr:opened malformed": 5,
      "pr:opened accepted": 2,
      "pr:opened unsigned": 1,
      // The pushes of the branches above (their runs match only pull requests).
      "repo:refs_changed accepted": 3,
    });

    // Still serving: an ordinary pull request gets its run.
    await w.sim.push({ project: "PRJ", repo: "app", branch: "ordinary", files: { "o.txt": "o\n" }, as: "dev" });
    const ordinary = await w.sim.openPullRequest({
      project: "PRJ",
      repo: "app",
      from: { branch: "ordinary" },
      title: "ordinary",
      as: "dev",
    });
    await w.sim.settled();
    assert.equal(runsOf(await listRuns(w), ordinary.id).length, 1);
    for (const line of w.op.logs) assert.ok(!JSON.stringify(line).includes(w.webhookSecret));
  });

  test("a resend racing the first attempt is answered only once the run exists", async (t) => {
    // Only pull-request events, so that no push of the branch has listed .tekton at the commit beforehand.
    const w = await pipelinesWorld(t, { events: ["pr:opened"] });
    const record = await capturedPullRequest(w, "racing", "racing");
    // Bitbucket is slow to list .tekton for the first attempt; the resend arrives meanwhile.
    w.sim.injectFaults({ count: 1, delayMs: 600, group: "content" });
    const first = replay(w, record);
    await new Promise((r) => setTimeout(r, 200));
    const resend = await replay(w, record);
    const runsAtAnswer = runsOf(await listRuns(w), prNumber(record)).length;
    assert.deepEqual([resend.status, resend.json.outcome], [200, "duplicate"]);
    assert.equal(runsAtAnswer, 1, "a 2xx for the resend means the run exists");
    assert.deepEqual([(await first).status, (await first).json.outcome], [200, "accepted"]);
  });

  test("a unicode and emoji branch name: the run is created, labels stay valid, params carry the real name", async (t) => {
    const branch = "feature/ünïcødé-🚀";
    const withBranch = prRun
      .replace(
        '    - name: pr\n      value: "{{ pull_request_number }}"\n',
        '    - name: pr\n      value: "{{ pull_request_number }}"\n    - name: branch\n      value: "{{ source_branch }}"\n',
      )
      .replace("      - name: pr\n    workspaces:", "      - name: pr\n      - name: branch\n    workspaces:");
    assert.ok(withBranch.includes("{{ source_branch }}") && withBranch.includes("      - name: branch\n"));
    const w = await pipelinesWorld(t);
    await w.sim.push({ project: "PRJ", repo: "app", branch, files: { ".tekton/build.yaml": withBranch }, as: "dev" });
    const pr = await w.sim.openPullRequest({ project: "PRJ", repo: "app", from: { branch }, title: "🚀", as: "dev" });
    await w.sim.settled();
    // The push of the branch and its pull request, both answered.
    assert.deepEqual(
      w.sim.deliveries().map((d) => [d.eventKey, d.status]),
      [
        ["repo:refs_changed", 200],
        ["pr:opened", 200],
      ],
    );
    const [run, ...more] = runsOf(await listRuns(w), pr.id);
    assert.ok(run, "the run of the pull request");
    assert.equal(more.length, 0);
    for (const [key, value] of Object.entries(run.metadata?.labels ?? {})) {
      assert.ok(value.length <= 63 && labelValuePattern.test(value), `label ${key}=${value}`);
    }
    assert.equal(param(run, "branch"), branch);
    assert.equal(run.metadata?.annotations?.["pipelinesascode.tekton.dev/source-branch"], branch);
    const status = w.sim.buildStatuses({ commit: pr.fromRef.latestCommit }).find((s) => s.name === "build");
    assert.deepEqual([status?.state, status?.ref], ["INPROGRESS", `refs/heads/${branch}`]);
  });

  test("hostile .tekton folders: huge files, too many files, alias bombs, other namespaces, Baton's Secrets", async (t) => {
    const w = await pipelinesWorld(t);
    const elsewhere = await createNamespace(t);
    const problems = async (commit: string) => {
      await waitFor(() => w.sim.buildStatuses({ commit }).some((s) => s.state === "FAILED"), {
        message: `FAILED statuses on ${commit}`,
      });
      return w.sim.buildStatuses({ commit }).filter((s) => s.state === "FAILED");
    };
    const definitions = (name: string, body: string) =>
      `apiVersion: tekton.dev/v1\nkind: PipelineRun\nmetadata:\n  name: ${name}\n${body}`;
    const pipelineSpec =
      "  pipelineSpec:\n    tasks:\n      - name: noop\n        taskSpec:\n          steps:\n" +
      "            - name: echo\n              image: alpine\n              script: echo\n";
    const onPullRequest =
      '  annotations:\n    pipelinesascode.tekton.dev/on-event: "[pull_request]"\n' +
      '    pipelinesascode.tekton.dev/on-target-branch: "[main]"\n';
    const line = "# padding so that this file is far larger than any PipelineRun needs to be.\n";
    const hostile: Record<string, string> = {
      // 5 MiB: refused from its Content-Length, never held in memory whole.
      ".tekton/huge.yaml": `${definitions("huge", `${onPullRequest}spec:\n${pipelineSpec}`)}${line.repeat(Math.ceil((5 * 1024 * 1024) / line.length))}`,
      // "Billion laughs": nine levels of nine aliases, 9^9 strings if expanded.
      ".tekton/bomb.yaml": definitions(
        "bomb",
        `${onPullRequest}spec:\n  params:\n    - name: lol\n      value: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]\n` +
          ["b", "c", "d", "e", "f", "g", "h", "i"]
            .map(
              (name, i) =>
                `    - name: ${name}\n      value: &${name} [${Array(9)
                  .fill(`*${i === 0 ? "a" : ["b", "c", "d", "e", "f", "g", "h"][i - 1]}`)
                  .join(",")}]\n`,
            )
            .join("") +
          pipelineSpec,
      ),
      ".tekton/escape.yaml": definitions("escape", `  namespace: ${elsewhere}\n${onPullRequest}spec:\n${pipelineSpec}`),
      ".tekton/target.yaml": definitions(
        "target",
        `${onPullRequest}    pipelinesascode.tekton.dev/target-namespace: ${elsewhere}\nspec:\n${pipelineSpec}`,
      ),
      ".tekton/webhook-secret.yaml": definitions(
        "webhook-secret",
        `${onPullRequest}spec:\n${pipelineSpec}  workspaces:\n    - name: loot\n      secret:\n        secretName: hook\n`,
      ),
      ".tekton/token.yaml": definitions(
        "token",
        `${onPullRequest}spec:\n  taskRunTemplate:\n    podTemplate:\n      volumes:\n        - name: loot\n` +
          `          projected:\n            sources:\n              - secret:\n                  name: bb-token\n${pipelineSpec}`,
      ),
      // The name comes from the pull request's title, which its author chooses: checked after substitution.
      ".tekton/titled.yaml": definitions(
        "titled",
        `${onPullRequest}spec:\n${pipelineSpec}  workspaces:\n    - name: loot\n      secret:\n        secretName: "{{ body.pullRequest.title }}"\n`,
      ),
    };
    const rssBefore = process.memoryUsage().rss;

    await w.sim.push({ project: "PRJ", repo: "app", branch: "hostile", files: hostile, as: "dev" });
    const pr = await w.sim.openPullRequest({
      project: "PRJ",
      repo: "app",
      from: { branch: "hostile" },
      title: "hook",
      as: "dev",
    });
    await w.sim.settled();
    const commit = pr.fromRef.latestCommit;
    const answer = w.sim.deliveries({ eventKey: "pr:opened" })[0];
    assert.equal(answer?.status, 200, answer?.responseBody ?? "");
    // The one ordinary PipelineRun in the folder still runs, in the Repository's namespace and nowhere else.
    const runs = runsOf(await listRuns(w), pr.id);
    assert.deepEqual(
      runs.map((r) => r.metadata?.labels?.["baton.dev/pipeline"]),
      ["build"],
    );
    assert.deepEqual((await w.kube.list(PipelineRuns, { namespace: elsewhere })).items, []);

    // Each PipelineRun that cannot run gets a FAILED build status naming its file and saying what is wrong; files
    // that could not be read far enough to know their PipelineRun share one (it names the first of them).
    const statuses = await problems(commit);
    const said = (name: string) => statuses.find((s) => s.name === name)?.description ?? "";
    assert.match(said("baton-definitions"), /^\.tekton\/huge\.yaml: is larger than the 262144-byte limit/);
    assert.match(
      said("escape"),
      new RegExp(`sets metadata\\.namespace to ${elsewhere}; runs are created in .*${w.ns}`),
    );
    assert.match(said("target"), new RegExp(`asks for target-namespace ${elsewhere}`));
    assert.match(said("webhook-secret"), /references Secret hook .*Baton's own credentials/);
    assert.match(said("token"), /references Secret bb-token .*Baton's own credentials/);
    assert.match(said("titled"), /references Secret hook .*Baton's own credentials/);
    // … and one comment on the pull request lists them all, one row per file, and so does a Warning Event.
    const comments = w.sim.comments({ project: "PRJ", repo: "app", id: pr.id });
    assert.equal(comments.length, 1);
    const rows = (comments[0]?.text ?? "").split("\n").filter((l) => l.startsWith("| .tekton/"));
    assert.deepEqual(
      rows.map((r) => r.split(" ")[1]),
      ["huge", "bomb", "escape", "target", "token", "webhook-secret", "titled"].map((f) => `.tekton/${f}.yaml`),
    );
    assert.match(rows[1] ?? "", /uses YAML aliases too heavily/);
    const warnings = await waitFor(
      async () =>
        (await w.kube.list(Events, { namespace: w.ns })).items.filter(
          (e) => (e as { reason?: string }).reason === "InvalidPipelineRun",
        ),
      { message: "an InvalidPipelineRun Event" },
    );
    assert.match(String((warnings[0] as { message?: string }).message), /\.tekton\/bomb\.yaml/);

    // 500 files in the folder: refused as a whole, from the listing, before any is read.
    const many: Record<string, string> = {};
    for (let i = 0; i < 500; i++) {
      many[`.tekton/tasks/task-${String(i).padStart(3, "0")}.yaml`] =
        `apiVersion: tekton.dev/v1\nkind: Task\nmetadata:\n  name: task-${i}\nspec:\n  steps: []\n`;
    }
    const reads = w.sim.requestCount({ group: "content" });
    await w.sim.push({ project: "PRJ", repo: "app", branch: "many", files: many, as: "dev" });
    const crowded = await w.sim.openPullRequest({
      project: "PRJ",
      repo: "app",
      from: { branch: "many" },
      title: "many",
      as: "dev",
    });
    await w.sim.settled();
    assert.equal(w.sim.deliveries({ eventKey: "pr:opened" }).at(-1)?.status, 200);
    assert.deepEqual(runsOf(await listRuns(w), crowded.id), []);
    const crowdedStatuses = await problems(crowded.fromRef.latestCommit);
    assert.match(
      crowdedStatuses.find((s) => s.name === "baton-definitions")?.description ?? "",
      /\.tekton: holds 501 YAML files, more than the limit of 100/,
    );
    // One listing for the push, none for the pull request (the same commit), no file reads.
    assert.ok(w.sim.requestCount({ group: "content" }) - reads <= 2, "no file of the crowded folder was read");

    // All this cost memory only for as long as it took (a loose bound: the simulator shares this process).
    const grown = (process.memoryUsage().rss - rssBefore) / (1024 * 1024);
    t.diagnostic(`rss grew by ${grown.toFixed(0)} MiB`);
    assert.ok(grown < 128, `rss grew by ${grown.toFixed(0)} MiB`);

    // Still serving: an ordinary pull request gets its run.
    await w.sim.push({ project: "PRJ", repo: "app", branch: "ordinary", files: { "o.txt": "o\n" }, as: "dev" });
    const ordinary = await w.sim.openPullRequest({
      project: "PRJ",
      repo: "app",
      from: { branch: "ordinary" },
      title: "ordinary",
      as: "dev",
    });
    await w.sim.settled();
    assert.equal(runsOf(await listRuns(w), ordinary.id).length, 1);
    const total = await counts(w);
    assert.equal(total.get("pr:opened accepted"), 3);
    assert.equal(total.get("pr:opened error") ?? 0, 0);
  });
});
