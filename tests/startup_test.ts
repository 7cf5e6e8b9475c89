/**
 * Start-up order (`src/run.ts`): the server is spawned as soon as the signal handlers that stop it
 * are in place, before file watching and the state dir, so that its start-up overlaps mcpmon's.
 */
import assert from "node:assert/strict";
import { run } from "../src/run.ts";
import { basicServer, fakeRuntime, fakeServer } from "./_fake_runtime.ts";

Deno.test("run() spawns the server before it starts watching, and stops it (exit 1) when watching fails", async () => {
  const h = fakeRuntime([basicServer()]);
  const order: string[] = [];
  const spawn = h.runtime.spawn.bind(h.runtime);
  h.runtime.spawn = (options) => (order.push("spawn"), spawn(options));
  h.runtime.watch = () => {
    order.push("watch");
    throw new Error("ENOSPC: the system limit of file watches is reached");
  };
  const dir = await Deno.makeTempDir();
  try {
    // A command that exists (run() checks it up front) and a watch path that exists.
    const server = fakeServer("fake", { command: Deno.execPath(), watch: [dir] });
    const code = await run(h.runtime, server, { level: "info", timestamps: false });
    assert.equal(code, 1);
    assert.deepEqual(order, ["spawn", "watch"]);
    assert.equal(h.children.length, 1);
    assert.equal(h.children[0].alive, false, "the server was stopped before run() resolved");
    assert.match(h.stderr(), /cannot watch .*: ENOSPC/);
  } finally {
    await Deno.remove(dir);
  }
});
