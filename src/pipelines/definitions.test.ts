import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { DefinitionCache, FileTooLarge, FolderTooLarge, type ListedFile, type TektonSource } from "./definitions.ts";

/** A source over an in-memory folder that counts its calls. */
function source(files: Record<string, string>, options: { tooMany?: number } = {}) {
  const calls = { list: 0, read: [] as string[] };
  const src: TektonSource = {
    async list(folder) {
      calls.list++;
      if (options.tooMany !== undefined) throw new FolderTooLarge(folder, options.tooMany);
      return Object.keys(files).map((path): ListedFile => ({ path }));
    },
    async read(path, _commit, maxBytes) {
      calls.read.push(path);
      const text = files[path] ?? "";
      if (Buffer.byteLength(text) > maxBytes) throw new FileTooLarge(path, maxBytes);
      return text;
    },
  };
  return { src, calls };
}

describe("DefinitionCache", () => {
  it("reads every YAML file up to the limit", async () => {
    const files: Record<string, string> = { ".tekton/README.md": "# hi" };
    for (let i = 0; i < 3; i++) files[`.tekton/p${i}.yaml`] = `kind: PipelineRun # ${i}`;
    const { src, calls } = source(files);
    const fetched = await new DefinitionCache({ maxFiles: 3 }).fetch("r", ".tekton", "c1", src);
    assert.deepEqual([...fetched.files.keys()].sort(), [".tekton/p0.yaml", ".tekton/p1.yaml", ".tekton/p2.yaml"]);
    assert.deepEqual(fetched.problems, []);
    assert.equal(calls.read.length, 3);
  });

  it("refuses a folder with more YAML files than the limit without reading any", async () => {
    const files: Record<string, string> = {};
    for (let i = 0; i < 500; i++) files[`.tekton/tasks/t${i}.yaml`] = "kind: Task";
    const { src, calls } = source(files);
    const cache = new DefinitionCache({ maxFiles: 100 });
    const fetched = await cache.fetch("r", ".tekton", "c1", src);
    assert.deepEqual(fetched.files.size, 0);
    assert.equal(fetched.folderExists, true);
    assert.deepEqual(fetched.problems, [
      { file: ".tekton", message: "holds 500 YAML files, more than the limit of 100; none were read" },
    ]);
    assert.deepEqual(calls.read, []);
    // The listing of a commit is remembered: a second event for it costs nothing.
    await cache.fetch("r", ".tekton", "c1", src);
    assert.equal(calls.list, 1);
  });

  it("refuses a folder whose listing is too long to page through, and remembers that", async () => {
    const { src, calls } = source({}, { tooMany: 1000 });
    const cache = new DefinitionCache();
    const fetched = await cache.fetch("r", ".tekton", "c1", src);
    assert.deepEqual(fetched.problems, [{ file: ".tekton", message: "holds more than 1000 files; none were read" }]);
    assert.equal(fetched.folderExists, true);
    await cache.fetch("r", ".tekton", "c1", src);
    assert.equal(calls.list, 1);
  });

  it("reports a file over the size limit and still reads the others", async () => {
    const { src } = source({ ".tekton/huge.yaml": "x".repeat(2048), ".tekton/ok.yaml": "kind: PipelineRun" });
    const fetched = await new DefinitionCache({ fileLimitBytes: 1024 }).fetch("r", ".tekton", "c1", src);
    assert.deepEqual([...fetched.files.keys()], [".tekton/ok.yaml"]);
    assert.deepEqual(fetched.problems, [
      { file: ".tekton/huge.yaml", message: "is larger than the 1024-byte limit for a .tekton file" },
    ]);
  });
});
