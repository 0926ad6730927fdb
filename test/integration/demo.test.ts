// The README's first command, in its non-interactive mode: it must keep working from a fresh clone.
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { join } from "node:path";
import { test } from "node:test";

test("make demo's non-interactive mode reaches its final state", async () => {
  const root = join(import.meta.dirname, "../..");
  const { code, output } = await new Promise<{ code: number; output: string }>((resolve) => {
    execFile(
      process.execPath,
      [join(root, "hack/demo.ts"), "--ci"],
      { cwd: root, timeout: 300_000 },
      (error, stdout, stderr) => resolve({ code: error ? 1 : 0, output: stdout + stderr }),
    );
  });
  assert.equal(code, 0, output);
  assert.match(output, /demo passed/);
});
