// Run with --v8-flags=--expose-gc: restarts a fake server a few times, then
// tells whether the first generation (and its initialize result) can be
// collected. Prints one JSON line.
import { basicServer, fakeServer, initializeClient, startRouter } from "./_fake_runtime.ts";

const s = startRouter([basicServer()], [fakeServer("fake", { restartTool: false })]);
await initializeClient(s.h, false);
const first = new WeakRef(s.router.backend.current!);
const firstResult = new WeakRef(s.router.backend.current!.initResult!);
for (let i = 0; i < 5; i++) await s.router.restart(`restart ${i}`);
s.h.children.splice(0, s.h.children.length - 1); // the harness's own references
for (let i = 0; i < 5; i++) {
  (globalThis as unknown as { gc(): void }).gc();
  await new Promise((resolve) => setTimeout(resolve, 10));
}
console.log(JSON.stringify({
  generation: first.deref() === undefined,
  initResult: firstResult.deref() === undefined,
}));
await s.close();
