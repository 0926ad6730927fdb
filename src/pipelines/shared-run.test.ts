import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { runKey } from "../events/dedupe.ts";
import { loadFixture, pushEvent } from "../events/testdata.ts";
import { pullRequestEventFromRest } from "../providers/bitbucket-datacenter/rest-event.ts";
import { PullRequestSchema } from "../providers/bitbucket-datacenter/schemas.ts";
import { loadPipelineRuns, type PipelineRunDefinition } from "./load.ts";
import { fromPushHeader, mayMatchPullRequest, pullRequestForPush, sharedRuns } from "./shared-run.ts";

const options = { serverUrl: "https://bitbucket.example.com", receivedAt: new Date("2023-04-18T19:35:31Z") };
const pushed = "0123456789abcdef0123456789abcdef01234567";
// PR #4 of DSO/test-app, feature/test → main, as REST lists it (a payload's pull request has the REST shape).
const restPullRequest = PullRequestSchema.parse(loadFixture("webhook-pr-from-ref-updated.nttd.json").pullRequest);
const push = pushEvent({ sha: pushed, ref: "refs/heads/feature/test" });

function def(name: string, annotations: Record<string, string>): PipelineRunDefinition {
  const lines = Object.entries(annotations)
    .map(([k, v]) => `    pipelinesascode.tekton.dev/${k}: ${JSON.stringify(v)}`)
    .join("\n");
  const text = `apiVersion: tekton.dev/v1\nkind: PipelineRun\nmetadata:\n  name: ${name}\n  annotations:\n${lines || "    {}"}\nspec: {}\n`;
  return loadPipelineRuns({ [`.tekton/${name}.yaml`]: text }, { namespace: "ns" })
    .pipelineRuns[0] as PipelineRunDefinition;
}

describe("mayMatchPullRequest", () => {
  const cases: [string, Record<string, string>, boolean][] = [
    ["push and pull_request", { "on-event": "[push, pull_request]", "on-target-branch": "[main]" }, true],
    ["pull_request alone", { "on-event": "pull_request", "on-target-branch": "[main]" }, true],
    ["push only", { "on-event": "[push]", "on-target-branch": "[main]" }, false],
    ["a CEL expression (it decides alone)", { "on-cel-expression": 'event == "push"' }, true],
    ["no annotations", {}, false],
  ];
  for (const [name, annotations, expected] of cases) {
    it(name, () => assert.equal(mayMatchPullRequest(def("p", annotations)), expected));
  }
});

describe("pullRequestForPush", () => {
  it("is the pull request at the pushed commit, pushed by the pusher, under the push's run key", () => {
    const event = pullRequestForPush(push, (o) => pullRequestEventFromRest(restPullRequest, o), options);
    assert.ok(event);
    assert.equal(event.pullRequest.number, 4);
    assert.equal(event.sha, pushed, "Bitbucket may still list the previous head: the pushed commit is built");
    assert.equal(event.pullRequest.latestCommit, pushed);
    assert.equal(event.sender.name, push.sender.name);
    assert.equal(event.headers[fromPushHeader], "true");
    assert.equal(runKey(event, "both"), runKey(push, "both"));
  });
  it("is nothing for a push of another branch, of a tag, or for a fork's pull request", () => {
    assert.equal(
      pullRequestForPush(
        pushEvent({ sha: pushed, ref: "refs/heads/other" }),
        (o) => pullRequestEventFromRest(restPullRequest, o),
        options,
      ),
      undefined,
    );
    assert.equal(
      pullRequestForPush(
        pushEvent({ sha: pushed, ref: "refs/tags/feature/test" }),
        (o) => pullRequestEventFromRest(restPullRequest, o),
        options,
      ),
      undefined,
    );
    const source = restPullRequest.fromRef.repository;
    const forkRepository = { ...source, slug: "test-app-fork", id: 99, project: { ...source.project, key: "~JDOE" } };
    const fork = { ...restPullRequest, fromRef: { ...restPullRequest.fromRef, repository: forkRepository } };
    assert.equal(
      pullRequestForPush(push, (o) => pullRequestEventFromRest(fork, o), options),
      undefined,
    );
  });
});

describe("sharedRuns", () => {
  const pr = (number: number) => {
    const event = pullRequestForPush(
      push,
      (o) => pullRequestEventFromRest({ ...restPullRequest, id: number }, o),
      options,
    );
    assert.ok(event);
    return event;
  };
  it("builds a pipeline both events match as the pull request's; the lowest number wins", () => {
    const shared = sharedRuns(
      push,
      [
        { event: pr(9), matched: ["both", "pr-only"] },
        { event: pr(4), matched: ["both"] },
      ],
      ["both", "push-only"],
    );
    assert.deepEqual([...shared.keys()], ["both"]);
    assert.equal(shared.get("both")?.pullRequest.number, 4);
  });
  it("leaves the push's context where no pull request matches", () => {
    assert.equal(sharedRuns(push, [{ event: pr(4), matched: [] }], ["both"]).size, 0);
    assert.equal(sharedRuns(push, [], ["both"]).size, 0);
  });
});
