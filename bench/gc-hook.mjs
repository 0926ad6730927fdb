// Preloaded into the operator process by bench/memory.ts (`node --expose-gc --import bench/gc-hook.mjs dist/main.js`):
// on the IPC message "measure" it reads process.memoryUsage(), collects garbage until the heap stops shrinking, and
// answers with both readings and V8's heap statistics. Nothing else of the operator changes. Plain JavaScript, as the
// operator itself runs in the image: a TypeScript preload would load Node's type stripper into the measured process.
import { getHeapStatistics } from "node:v8";

const gc = globalThis.gc;

process.on("message", (message) => {
  if (message !== "measure") return;
  void (async () => {
    const before = process.memoryUsage();
    let last = Number.POSITIVE_INFINITY;
    for (let i = 0; i < 10 && gc; i++) {
      gc();
      await new Promise((r) => setTimeout(r, 100));
      const used = process.memoryUsage().heapUsed;
      if (used >= last * 0.995) break;
      last = used;
    }
    process.send?.({ before, after: process.memoryUsage(), heap: getHeapStatistics(), gcExposed: gc !== undefined });
  })();
});
// The IPC channel must not keep the operator alive once it has stopped on SIGTERM.
process.channel?.unref();
