import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { describe, it } from "node:test";
import { pullRequestEvent } from "../events/testdata.ts";
import { buildPipelineRun } from "./build.ts";
import { loadPipelineRuns, type PipelineRunDefinition } from "./load.ts";
import { createdByBaton, namedAndSigned, provenance, type SigningKey, signatureAnnotation } from "./provenance.ts";
import { cachedRun, type PipelineRun } from "./tekton.ts";

const key: SigningKey = { secret: Buffer.alloc(32, 7), createdAt: Date.parse("2026-06-01T00:00:00Z") };
const afterKey = "2026-06-02T00:00:00Z";

/** A run exactly as the runner builds it for a pull request, named and signed, as the API server then holds it. */
function batonRun(): PipelineRun {
  const text = `apiVersion: tekton.dev/v1
kind: PipelineRun
metadata:
  name: build
spec:
  pipelineSpec:
    tasks: []
`;
  const definition = loadPipelineRuns({ ".tekton/build.yaml": text }, { namespace: "team" })
    .pipelineRuns[0] as PipelineRunDefinition;
  const built = buildPipelineRun({
    definition,
    event: pullRequestEvent(),
    repository: { name: "app", namespace: "team", spec: { pipelines: { path: ".tekton" } } },
    gitAuthSecret: "baton-git-1",
    nameDigest: "0123456789abcdef",
  });
  assert.ok(built.ok);
  const signed = namedAndSigned(built.pipelineRun, key.secret, randomBytes);
  return {
    ...signed,
    metadata: { ...signed.metadata, uid: "u-1", creationTimestamp: afterKey, resourceVersion: "1" },
  } as PipelineRun;
}

function withMetadata(run: PipelineRun, change: (m: NonNullable<PipelineRun["metadata"]>) => void): PipelineRun {
  const copy = structuredClone(run);
  change(copy.metadata ?? {});
  return copy;
}

describe("provenance of a PipelineRun", () => {
  it("a run Baton built and signed verifies, also as the informer caches it", () => {
    const run = batonRun();
    assert.match(run.metadata?.name ?? "", /^build-[0-9a-f]{10}$/);
    assert.equal(run.metadata?.generateName, undefined);
    assert.equal(provenance(run, key), "signed");
    assert.equal(provenance(cachedRun(run), key), "signed");
  });

  it("a run that already has a name keeps it and is signed under it", () => {
    const run = batonRun();
    const renamed = namedAndSigned(
      { ...run, metadata: { ...run.metadata, name: "build-fixed" } },
      key.secret,
      randomBytes,
    );
    assert.equal(renamed.metadata?.name, "build-fixed");
    assert.equal(provenance(renamed, key), "signed");
  });

  it("a run labelled as Baton's without a signature is not Baton's", () => {
    const run = withMetadata(batonRun(), (m) => {
      delete m.annotations?.[signatureAnnotation];
    });
    assert.equal(provenance(run, key), "unsigned");
    assert.equal(createdByBaton(run, key), false);
  });

  it("an unsigned run the API server created before the key existed is from the previous version, and reported", () => {
    const run = withMetadata(batonRun(), (m) => {
      delete m.annotations?.[signatureAnnotation];
      m.creationTimestamp = "2026-05-31T23:59:59Z";
    });
    assert.equal(provenance(run, key), "predates-signing");
    assert.equal(createdByBaton(run, key), true);
    const sameSecond = withMetadata(run, (m) => {
      m.creationTimestamp = "2026-06-01T00:00:00Z";
    });
    assert.equal(provenance(sameSecond, key), "unsigned");
  });

  const changes: [string, (m: NonNullable<PipelineRun["metadata"]>) => void][] = [
    ["another commit", (m) => Object.assign(m.labels ?? {}, { "baton.dev/sha": "f".repeat(40) })],
    ["another pipeline (status key)", (m) => Object.assign(m.labels ?? {}, { "baton.dev/pipeline": "deploy" })],
    ["another Repository", (m) => Object.assign(m.labels ?? {}, { "baton.dev/repository": "other" })],
    ["another pull request", (m) => Object.assign(m.labels ?? {}, { "baton.dev/pull-request": "99" })],
    [
      "another branch",
      (m) => Object.assign(m.annotations ?? {}, { "pipelinesascode.tekton.dev/source-branch": "release" }),
    ],
    ["another name (the signature copied onto a new run)", (m) => Object.assign(m, { name: "build-zzzzz" })],
    ["another namespace", (m) => Object.assign(m, { namespace: "elsewhere" })],
    ["a signature of another scheme", (m) => Object.assign(m.annotations ?? {}, { [signatureAnnotation]: "v0.abc" })],
  ];
  for (const [what, change] of changes) {
    it(`${what}: forged`, () => assert.equal(provenance(withMetadata(batonRun(), change), key), "forged"));
  }

  it("another installation's key does not verify", () => {
    assert.equal(provenance(batonRun(), { ...key, secret: Buffer.alloc(32, 8) }), "forged");
  });

  it("state Baton and Tekton change later is not signed: the run stays Baton's", () => {
    const run = withMetadata(batonRun(), (m) => {
      Object.assign(m.labels ?? {}, { "pipelinesascode.tekton.dev/state": "completed", "tekton.dev/pipeline": "x" });
      Object.assign(m.annotations ?? {}, { "baton.dev/reported-state": "succeeded" });
    });
    assert.equal(provenance(run, key), "signed");
  });
});
